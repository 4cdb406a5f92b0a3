// Package sparse keeps the parts of a disk image that parsers read (LVM
// labels and metadata, MD superblocks) as a small file, so unit tests can
// run on what the real tools wrote without carrying whole images. An
// Image is an io.ReaderAt of the full size that reads zeros outside the
// kept sectors.
package sparse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const sector = 512

// Image is a device of Size bytes of which only Chunks are stored.
type Image struct {
	Size   int64   `json:"size"`
	Chunks []Chunk `json:"chunks"`
}

// Chunk is stored data at a byte offset.
type Chunk struct {
	Off  int64  `json:"off"`
	Data []byte `json:"data"`
}

// ReadAt reads like the full device: zeros where nothing is stored.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("sparse: negative offset %d", off)
	}
	if off >= im.Size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > im.Size-off {
		n = int(im.Size - off)
	}
	clear(p[:n])
	for _, c := range im.Chunks {
		lo, hi := max(off, c.Off), min(off+int64(n), c.Off+int64(len(c.Data)))
		if lo < hi {
			copy(p[lo-off:hi-off], c.Data[lo-c.Off:hi-c.Off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// extract keeps the non-zero sectors of r (size bytes) inside the given
// [start, end) byte ranges; ranges are clipped to the device.
func extract(r io.ReaderAt, size int64, ranges ...[2]int64) (*Image, error) {
	im := &Image{Size: size}
	buf := make([]byte, sector)
	for _, rg := range ranges {
		start, end := max(0, rg[0])/sector*sector, min(size, rg[1])
		for off := start; off+sector <= end; off += sector {
			if _, err := r.ReadAt(buf, off); err != nil {
				return nil, fmt.Errorf("sparse: read at %d: %w", off, err)
			}
			if bytes.Count(buf, []byte{0}) == len(buf) {
				continue
			}
			if k := len(im.Chunks) - 1; k >= 0 && im.Chunks[k].Off+int64(len(im.Chunks[k].Data)) == off {
				im.Chunks[k].Data = append(im.Chunks[k].Data, buf...)
			} else {
				im.Chunks = append(im.Chunks, Chunk{Off: off, Data: append([]byte(nil), buf...)})
			}
		}
	}
	sort.Slice(im.Chunks, func(i, j int) bool { return im.Chunks[i].Off < im.Chunks[j].Off })
	return im, nil
}

// Load reads an Image saved by Save.
func Load(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	im := &Image{}
	if err := json.Unmarshal(b, im); err != nil {
		return nil, fmt.Errorf("sparse %s: %w", path, err)
	}
	for _, c := range im.Chunks {
		if c.Off < 0 || c.Off+int64(len(c.Data)) > im.Size {
			return nil, fmt.Errorf("sparse %s: chunk at %d outside %d bytes", path, c.Off, im.Size)
		}
	}
	return im, nil
}

// Save writes the image as JSON.
func (im *Image) Save(path string) error {
	b, err := json.MarshalIndent(im, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// BuilderImage returns the path of disk (e.g. "m0") of the newest built
// set of recipe in the builder's cache (cacheDir/disks/<recipe>-<key>/
// <disk>.img, the layout of internal/builder), for regenerating fixtures.
func BuilderImage(cacheDir, recipe, disk string) (string, error) {
	paths, err := filepath.Glob(filepath.Join(cacheDir, "disks", recipe+"-*", disk+".img"))
	if err != nil {
		return "", err
	}
	var best string
	var bestTime time.Time
	for _, p := range paths {
		// "<recipe>-<key>": the key is hex, so "md-raid1-1.2" does
		// not pick up a set of "md-raid1-1.2-foo".
		key := strings.TrimPrefix(filepath.Base(filepath.Dir(p)), recipe+"-")
		if strings.ContainsFunc(key, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }) {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.ModTime().After(bestTime) {
			best, bestTime = p, st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no built %s/%s.img under %s", recipe, disk, filepath.Join(cacheDir, "disks"))
	}
	return best, nil
}

// FromFile extracts the given ranges of the image file at path. Negative
// bounds count from the end of the device, and a range with a negative
// start and an end of 0 runs to the end: {-128 << 10, 0} is the last
// 128 KiB.
func FromFile(path string, ranges ...[2]int64) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	abs := make([][2]int64, len(ranges))
	for i, r := range ranges {
		if r[0] < 0 && r[1] == 0 {
			r[1] = size
		}
		for j := range r {
			if r[j] < 0 {
				r[j] += size
			}
		}
		abs[i] = r
	}
	return extract(f, size, abs...)
}
