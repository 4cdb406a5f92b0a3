package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
	"github.com/u-root/u-root/pkg/cpio"
)

// An image is one or more newc archives back to back, each plain or compressed, with zero
// padding between them: the kernel unpacks them in order into one tree, a later file
// replacing an earlier one. earlyroot writes up to three: the early microcode archive
// (plain, first, where the kernel's early loader looks), the files that are compressed
// already (the modules: plain, as compressing them twice only costs the kernel time), and
// everything else (the init, the module index: compressed, see Config.InitCompression).

// Segment is one archive of an image.
type Segment struct {
	Offset      int64       // where it starts in the image
	Compression Compression // None for a plain archive
	// Archive is the newc archive: a slice of the image when it is plain (so that writing
	// to it patches the image), decompressed otherwise.
	Archive []byte
}

// maxSegment bounds a decompressed segment.
const maxSegment = 1 << 30

// ReadSegments splits an image into its archives. A compressed archive is the last: the
// kernel reads on after one, but the decoders here take the rest of the image as one
// stream, and earlyroot writes none that is not last.
func ReadSegments(img []byte) ([]Segment, error) {
	var segs []Segment
	off := 0
	for {
		for off < len(img) && img[off] == 0 {
			off++
		}
		if off == len(img) {
			break
		}
		rest := img[off:]
		if bytes.HasPrefix(rest, []byte("070701")) {
			if off%4 != 0 {
				return segs, fmt.Errorf("image offset %d: archive not 4-byte aligned (the kernel would not read it)", off)
			}
			n, err := newcLen(rest)
			if err != nil {
				return segs, fmt.Errorf("image offset %d: %w", off, err)
			}
			segs = append(segs, Segment{Offset: int64(off), Compression: None, Archive: rest[:n:n]})
			off += n
			continue
		}
		c := sniffCompression(rest)
		if c == None || c == LZ4 {
			return segs, fmt.Errorf("image offset %d: neither a newc archive nor zstd, xz or gzip data", off)
		}
		data, err := modload.Decompress(string(c), bytes.NewReader(rest), maxSegment)
		if err != nil {
			return segs, fmt.Errorf("image offset %d: %w", off, err)
		}
		segs = append(segs, Segment{Offset: int64(off), Compression: c, Archive: data})
		break
	}
	if len(segs) == 0 {
		return nil, errors.New("image holds no archive")
	}
	return segs, nil
}

// sniffCompression names the compression whose magic starts b, None for none known.
func sniffCompression(b []byte) Compression {
	for _, m := range []struct {
		magic string
		c     Compression
	}{
		{"\x28\xb5\x2f\xfd", Zstd},
		{"\xfd7zXZ\x00", XZ},
		{"\x1f\x8b", Gzip},
		{"\x02\x21\x4c\x18", LZ4},
	} {
		if bytes.HasPrefix(b, []byte(m.magic)) {
			return m.c
		}
	}
	return None
}

// newcLen is the length of the newc archive at the start of b, its trailer and the padding
// to 4 bytes included. u-root's reader parses it; the extent of what it read through the
// headers is where the archive ends.
func newcLen(b []byte) (int, error) {
	ra := newArchiveReader(b)
	rr := cpio.Newc.Reader(ra)
	for {
		_, err := rr.ReadRecord()
		if err == nil {
			continue
		}
		// The reader ends with io.EOF at the trailer, and at a truncated archive: only
		// in the first case was the trailer's name the last thing it read.
		if !errors.Is(err, io.EOF) || !bytes.HasSuffix(b[:ra.end], []byte(cpio.Trailer+"\x00")) {
			return 0, fmt.Errorf("newc archive without a trailer: %w", err)
		}
		return int(min((ra.end+3)&^3, int64(len(b)))), nil
	}
}

// newc header layout: the magic, then 13 fields of 8 hex digits; namesize is the 12th.
const (
	newcHeaderLen = 6 + 13*8
	newcNameSize  = 6 + 11*8
)

// archiveReader is what u-root's newc reader reads an archive through. It records how far
// into the archive reads have reached (newcLen), and it refuses a header whose name runs
// past the archive: the reader allocates the name's declared size (up to 4 GiB) before
// reading it.
type archiveReader struct {
	r    *bytes.Reader
	end  int64
	size int64
}

func newArchiveReader(b []byte) *archiveReader {
	return &archiveReader{r: bytes.NewReader(b), size: int64(len(b))}
}

func (a *archiveReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := a.r.ReadAt(p, off)
	if n > 0 { // a read at or past the end (a header's sizes pointing beyond it) reaches nothing
		a.end = max(a.end, off+int64(n))
	}
	if n == newcHeaderLen && bytes.HasPrefix(p, []byte("070701")) {
		name, perr := strconv.ParseUint(string(p[newcNameSize:newcNameSize+8]), 16, 32)
		if perr == nil && int64(name) > a.size-off-newcHeaderLen {
			return n, fmt.Errorf("newc header at %d: a name of %d bytes runs past the archive", off, name)
		}
	}
	return n, err
}

// ImageRecords reads every file of an image: each segment's records in order, a later
// record of the same name replacing an earlier one, as the kernel's unpacker does. A
// plain segment's file data are sections of img.
func ImageRecords(img []byte) (map[string]cpio.Record, error) {
	segs, err := ReadSegments(img)
	if err != nil {
		return nil, err
	}
	out := map[string]cpio.Record{}
	for _, s := range segs {
		recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(newArchiveReader(s.Archive))})
		if err != nil {
			return nil, fmt.Errorf("image offset %d: %w", s.Offset, err)
		}
		for _, r := range recs {
			out[r.Name] = r
		}
	}
	return out, nil
}

// splitCompressed moves the regular files whose content is compressed already (modules and
// firmware as .zst, .xz or .gz) out of a into a second archive, which it returns; a keeps
// everything else. Their directories stay in a, which the kernel unpacks first.
func (a *Archive) splitCompressed() *Archive {
	b := NewArchive()
	b.MTime = a.MTime
	for n, e := range a.entries {
		if e.Mode&cpio.S_IFMT == cpio.S_IFREG && compressedName(n) {
			b.entries[n] = e
			delete(a.entries, n)
		}
	}
	return b
}

// compressedName says whether a file's name ends in a compressed format's suffix.
func compressedName(n string) bool {
	return slices.ContainsFunc(compressedSuffixes, func(s string) bool { return strings.HasSuffix(n, s) })
}
