package luks

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// LUKS2 binary header layout (integers big-endian). Each copy is the 4096-byte binary header
// followed by the JSON area; hdr_size counts both.
const (
	binHeaderSize  = 4096
	csumOffset     = 448
	csumSize       = 64
	minLUKS2Header = 16 << 10
	maxLUKS2Header = 4 << 20
)

// secondaryOffsets are where the secondary header may sit: right after a primary of each
// allowed size (16 KiB … 4 MiB).
var secondaryOffsets = func() []int64 {
	var o []int64
	for s := int64(minLUKS2Header); s <= maxLUKS2Header; s <<= 1 {
		o = append(o, s)
	}
	return o
}()

// errNoMagic: nothing that looks like a LUKS2 header copy is there.
var errNoMagic = errors.New("no LUKS2 magic")

// binHeader is one checked LUKS2 header copy.
type binHeader struct {
	hdrSize   uint64
	seqid     uint64
	label     string
	subsystem string
	uuid      string
	offset    uint64
	meta      *metadata
}

// parseBinHeader checks the fixed fields of a 4096-byte binary header found at offset at.
func parseBinHeader(b []byte, at uint64) (*binHeader, error) {
	if len(b) < binHeaderSize {
		return nil, fmt.Errorf("header is %d bytes, want %d", len(b), binHeaderSize)
	}
	want := magic1
	if at != 0 {
		want = magic2
	}
	if !bytes.Equal(b[:6], want) {
		return nil, errNoMagic
	}
	be := binary.BigEndian
	if v := be.Uint16(b[6:]); v != 2 {
		return nil, fmt.Errorf("version %d, want 2", v)
	}
	h := &binHeader{
		hdrSize:   be.Uint64(b[8:]),
		seqid:     be.Uint64(b[16:]),
		label:     cString(b[24:72]),
		uuid:      cString(b[168:208]),
		subsystem: cString(b[208:256]),
		offset:    be.Uint64(b[256:]),
	}
	if !validHeaderSize(h.hdrSize) {
		return nil, fmt.Errorf("header size %d is not a power of two between 16 KiB and 4 MiB", h.hdrSize)
	}
	if h.offset != at {
		return nil, fmt.Errorf("header says it is at offset %d, found at %d", h.offset, at)
	}
	if !validUUID(h.uuid) {
		return nil, fmt.Errorf("malformed UUID %q", h.uuid)
	}
	return h, nil
}

func validHeaderSize(n uint64) bool {
	return n >= minLUKS2Header && n <= maxLUKS2Header && n&(n-1) == 0
}

// checkCopy verifies a whole header copy (binary header plus JSON area) and parses its JSON.
func checkCopy(b []byte, at uint64) (*binHeader, error) {
	h, err := parseBinHeader(b, at)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) < h.hdrSize {
		return nil, fmt.Errorf("header truncated: %d of %d bytes", len(b), h.hdrSize)
	}
	b = b[:h.hdrSize]
	algo := cString(b[72:104])
	newHash, err := hashByName(algo)
	if err != nil {
		return nil, fmt.Errorf("checksum algorithm: %w", err)
	}
	sum := newHash()
	if sum.Size() > csumSize {
		return nil, fmt.Errorf("checksum algorithm %s is too long", algo)
	}
	sum.Write(b[:csumOffset])
	sum.Write(make([]byte, csumSize))
	sum.Write(b[csumOffset+csumSize:])
	if subtle.ConstantTimeCompare(sum.Sum(nil), b[csumOffset:csumOffset+sum.Size()]) != 1 {
		return nil, fmt.Errorf("%s checksum mismatch", algo)
	}
	h.meta, err = parseMetadata(b[binHeaderSize:])
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if h.meta.jsonSize != 0 && h.meta.jsonSize != h.hdrSize-binHeaderSize {
		return nil, fmt.Errorf("json: json_size %d, but the JSON area is %d bytes", h.meta.jsonSize, h.hdrSize-binHeaderSize)
	}
	return h, nil
}

// readCopy reads and checks the header copy at offset at.
func readCopy(r io.ReaderAt, at int64, size int64) (*binHeader, error) {
	bin := make([]byte, binHeaderSize)
	if _, err := r.ReadAt(bin, at); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w (end of device)", errNoMagic)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	h, err := parseBinHeader(bin, uint64(at))
	if err != nil {
		return nil, err
	}
	if size > 0 && uint64(at)+h.hdrSize > uint64(size) {
		return nil, fmt.Errorf("header of %d bytes runs past the device's end", h.hdrSize)
	}
	full := make([]byte, h.hdrSize)
	if _, err := r.ReadAt(full, at); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return checkCopy(full, uint64(at))
}

func openLUKS2(r io.ReaderAt, size int64) (*Header, error) {
	primary, perr := readCopy(r, 0, size)
	var secondary *binHeader
	var serr error
	// With a readable primary the secondary sits right after it; otherwise look everywhere a
	// secondary may be.
	candidates := secondaryOffsets
	if primary != nil {
		candidates = []int64{int64(primary.hdrSize)}
	}
	for _, at := range candidates {
		if size > 0 && at+binHeaderSize > size {
			break
		}
		h, err := readCopy(r, at, size)
		if h != nil {
			secondary, serr = h, nil
			break
		}
		if serr == nil || !errors.Is(err, errNoMagic) {
			serr = fmt.Errorf("at %d: %w", at, err)
		}
	}
	if serr == nil && secondary == nil {
		serr = errNoMagic
	}
	var use *binHeader
	switch {
	case primary != nil && secondary != nil:
		use = primary
		if secondary.seqid > primary.seqid {
			use = secondary
		}
	case primary != nil:
		use = primary
	case secondary != nil:
		use = secondary
	case errors.Is(perr, errNoMagic) && errors.Is(serr, errNoMagic):
		return nil, ErrNotLUKS
	default:
		return nil, fmt.Errorf("luks2: no valid header: primary: %v; secondary: %v", perr, serr)
	}
	h := &Header{
		Version: 2, Label: use.label, Subsystem: use.subsystem, Seqid: use.seqid,
		Secondary: use != primary, uuid: use.uuid,
	}
	if err := use.meta.fill(h, use.hdrSize, size); err != nil {
		return nil, fmt.Errorf("luks2: %w", err)
	}
	return h, nil
}
