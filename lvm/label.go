package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrNotFound says that a device carries no LVM2 label.
var ErrNotFound = errors.New("no lvm2 label")

const (
	sectorSize    = 512
	labelScan     = 4 // sectors searched for the label
	labelID       = "LABELONE"
	labelType     = "LVM2 001"
	mdaHeaderSize = 512
	mdaMagic      = " LVM2 x[5A%r0N*>"
	// crcInitial seeds LVM's CRC-32 (IEEE polynomial, no final
	// inversion).
	crcInitial = 0xf597a6cf
	// maxMetadata bounds the text read from one metadata area.
	maxMetadata = 64 << 20
)

// Area is a region of a PV, in bytes. A data area of size 0 runs to the
// end of the device.
type Area struct {
	Offset, Size uint64
}

// Label is what a PV's label sector says.
type Label struct {
	Sector        int    // sector holding the label
	PVUUID        string // as lvm prints it: 6-4-4-4-4-4-6
	DevSize       uint64 // bytes, as recorded when the PV was created
	DataAreas     []Area
	MetadataAreas []Area
	// ExtVersion and ExtFlags come from the pv_header extension (0
	// when absent); flag 1 means the PV is used by a VG.
	ExtVersion, ExtFlags uint32
}

// crc computes LVM's checksum of b, continuing from seed.
func crc(seed uint32, b []byte) uint32 { return ^crc32.Update(^seed, crc32.IEEETable, b) }

// ReadLabel reads the LVM2 label of a device of size bytes.
func ReadLabel(r io.ReaderAt, size int64) (*Label, error) {
	n := int64(labelScan * sectorSize)
	if size < n {
		n = size / sectorSize * sectorSize
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	buf := make([]byte, n)
	if m, err := r.ReadAt(buf, 0); int64(m) != n {
		return nil, fmt.Errorf("lvm label: read: %w", orEOF(err))
	}
	for s := 0; s < int(n/sectorSize); s++ {
		sec := buf[s*sectorSize : (s+1)*sectorSize]
		if string(sec[0:8]) != labelID {
			continue
		}
		l, err := parseLabel(sec, s)
		if err != nil {
			return nil, fmt.Errorf("lvm label in sector %d: %w", s, err)
		}
		return l, nil
	}
	return nil, ErrNotFound
}

func parseLabel(sec []byte, s int) (*Label, error) {
	le := binary.LittleEndian
	if got := le.Uint64(sec[8:]); got != uint64(s) {
		return nil, fmt.Errorf("records sector %d", got)
	}
	if got, want := crc(crcInitial, sec[20:]), le.Uint32(sec[16:]); got != want {
		return nil, fmt.Errorf("checksum %#08x, want %#08x", want, got)
	}
	if t := string(sec[24:32]); t != labelType {
		return nil, fmt.Errorf("type %q, want %q", t, labelType)
	}
	off := int(le.Uint32(sec[20:]))
	if off < 32 || off > sectorSize-40 {
		return nil, fmt.Errorf("pv_header offset %d", off)
	}
	h := sec[off:]
	l := &Label{Sector: s, DevSize: le.Uint64(h[32:])}
	var err error
	if l.PVUUID, err = formatID(h[:32]); err != nil {
		return nil, fmt.Errorf("pv uuid: %w", err)
	}
	p := 40
	list := func() ([]Area, error) {
		var as []Area
		for {
			if p+16 > len(h) {
				return nil, errors.New("area list runs past the label sector")
			}
			a := Area{le.Uint64(h[p:]), le.Uint64(h[p+8:])}
			p += 16
			if a.Offset == 0 {
				return as, nil
			}
			as = append(as, a)
		}
	}
	if l.DataAreas, err = list(); err != nil {
		return nil, fmt.Errorf("data areas: %w", err)
	}
	if l.MetadataAreas, err = list(); err != nil {
		return nil, fmt.Errorf("metadata areas: %w", err)
	}
	if p+8 <= len(h) {
		l.ExtVersion, l.ExtFlags = le.Uint32(h[p:]), le.Uint32(h[p+4:])
	}
	return l, nil
}

// idChars are the characters of an LVM id.
const idChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#"

// formatID checks a 32-character LVM id and adds lvm's dashes.
func formatID(b []byte) (string, error) {
	for _, c := range b {
		if bytes.IndexByte([]byte(idChars), c) < 0 {
			return "", fmt.Errorf("invalid character %q", c)
		}
	}
	s := string(b)
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32], nil
}

// Metadata is the committed text of one metadata area.
type Metadata struct {
	Area Area   // the metadata area on the PV
	Text []byte // the text, without its terminating NUL
}

// ReadMetadata reads the committed metadata text of every metadata area
// of a PV. An area marked ignored (pvchange --metadataignore) holds no
// metadata and is skipped; an area whose header or text is damaged is an
// error only when no area could be read.
func ReadMetadata(r io.ReaderAt, size int64, l *Label) ([]Metadata, error) {
	var out []Metadata
	var errs []error
	for _, a := range l.MetadataAreas {
		md, ok, err := readArea(r, size, a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("metadata area at %d: %w", a.Offset, err))
		case ok:
			out = append(out, md)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("lvm pv %s: %w", l.PVUUID, errors.Join(errs...))
	}
	return out, nil
}

func readArea(r io.ReaderAt, size int64, a Area) (Metadata, bool, error) {
	md := Metadata{Area: a}
	if a.Size < 2*mdaHeaderSize || a.Offset > uint64(size) || a.Size > uint64(size)-a.Offset {
		return md, false, fmt.Errorf("area of %d bytes outside the %d-byte device", a.Size, size)
	}
	h := make([]byte, mdaHeaderSize)
	if m, err := r.ReadAt(h, int64(a.Offset)); m != len(h) {
		return md, false, fmt.Errorf("read header: %w", orEOF(err))
	}
	le := binary.LittleEndian
	if string(h[4:20]) != mdaMagic {
		return md, false, errors.New("no metadata area header (bad magic)")
	}
	if got, want := crc(crcInitial, h[4:]), le.Uint32(h[0:]); got != want {
		return md, false, fmt.Errorf("header checksum %#08x, want %#08x", want, got)
	}
	if v := le.Uint32(h[20:]); v != 1 {
		return md, false, fmt.Errorf("header version %d", v)
	}
	if start := le.Uint64(h[24:]); start != a.Offset {
		return md, false, fmt.Errorf("header says it starts at %d", start)
	}
	// raw_locns[0] is the committed metadata.
	off, n := le.Uint64(h[40:]), le.Uint64(h[48:])
	sum, flags := le.Uint32(h[56:]), le.Uint32(h[60:])
	if flags&1 != 0 || off == 0 { // RAW_LOCN_IGNORED, or empty
		return md, false, nil
	}
	ring := a.Size - mdaHeaderSize
	if off < mdaHeaderSize || off >= a.Size || n > ring || n > maxMetadata {
		return md, false, fmt.Errorf("metadata of %d bytes at %d does not fit the area", n, off)
	}
	// The text may wrap from the end of the area to just after the
	// header.
	text := make([]byte, n)
	first := min(n, a.Size-off)
	if m, err := r.ReadAt(text[:first], int64(a.Offset+off)); uint64(m) != first {
		return md, false, fmt.Errorf("read metadata: %w", orEOF(err))
	}
	if first < n {
		if m, err := r.ReadAt(text[first:], int64(a.Offset+mdaHeaderSize)); uint64(m) != n-first {
			return md, false, fmt.Errorf("read wrapped metadata: %w", orEOF(err))
		}
	}
	if got := crc(crcInitial, text); got != sum {
		return md, false, fmt.Errorf("metadata checksum %#08x, want %#08x", sum, got)
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	md.Text = text
	return md, true, nil
}

func orEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadPV reads a PV's label and the volume group described by each of its
// metadata areas. A PV without metadata areas (pvcreate
// --metadatacopies 0) returns its label and no VG: another PV of the VG
// carries the metadata.
func ReadPV(r io.ReaderAt, size int64) (*Label, []*VG, error) {
	l, err := ReadLabel(r, size)
	if err != nil {
		return nil, nil, err
	}
	mds, err := ReadMetadata(r, size, l)
	if err != nil {
		return l, nil, err
	}
	var vgs []*VG
	for _, md := range mds {
		root, err := ParseText(md.Text)
		if err != nil {
			return l, nil, fmt.Errorf("lvm pv %s: metadata area at %d: %w", l.PVUUID, md.Area.Offset, err)
		}
		vg, err := NewVG(root)
		if err != nil {
			return l, nil, fmt.Errorf("lvm pv %s: metadata area at %d: %w", l.PVUUID, md.Area.Offset, err)
		}
		vgs = append(vgs, vg)
	}
	return l, vgs, nil
}
