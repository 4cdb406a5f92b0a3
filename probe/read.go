package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxRead bounds any single read issued by the probers.
const maxRead = 1 << 20

// errRange reports a read outside the device; probers treat it as "no match".
var errRange = errors.New("read outside device")

// reader is a bounded view of a device.
type reader struct {
	r    io.ReaderAt
	size int64
}

// read returns n bytes at off, or errRange when [off, off+n) is not inside
// the device, or the I/O error.
func (d *reader) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || n > maxRead || off > d.size || int64(n) > d.size-off {
		return nil, fmt.Errorf("%w: %d bytes at %d (size %d)", errRange, n, off, d.size)
	}
	buf := make([]byte, n)
	m, err := d.r.ReadAt(buf, off)
	if m == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
}

func le16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
func be16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
func be32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
func be64(b []byte, off int) uint64 { return binary.BigEndian.Uint64(b[off:]) }

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// uuidString formats 16 bytes as blkid does (lower-case 8-4-4-4-12); an
// all-zero UUID is reported as empty, as blkid omits it.
func uuidString(b []byte) string {
	if len(b) < 16 || allZero(b[:16]) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidString formats a mixed-endian GUID (EFI) in lower case.
func guidString(b []byte) string {
	if len(b) < 16 || allZero(b[:16]) {
		return ""
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le32(b, 0), le16(b, 4), le16(b, 6), b[8:10], b[10:16])
}

// cstring returns b up to the first NUL, with trailing white space removed
// (blkid_probe_set_label semantics) and invalid UTF-8 replaced.
func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return rtrim(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// rtrim trims trailing white space as blkid_rtrim_whitespace does.
func rtrim(s string) string { return strings.TrimRight(s, " \t\n\r\v\f") }

// utf16String decodes UTF-16 (little or big endian) up to the first NUL.
func utf16String(b []byte, big bool) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		var c uint16
		if big {
			c = be16(b, i)
		} else {
			c = le16(b, i)
		}
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	s := string(utf16.Decode(u))
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

func isRange(err error) bool { return errors.Is(err, errRange) }
