package modload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// DictFile is the zstd dictionary of a module tree whose .ko.zst files were compressed
// with one, at the tree's top (beside modules.builtin). mkinitramfs trains it on the
// image's modules, which then share what they have in common (ELF layout, symbol names,
// the kernel's boilerplate) instead of each frame carrying it; such a frame names the
// dictionary's ID and decodes only with it, so only the init, never the kernel, decodes
// such modules.
const DictFile = "modules.zstd-dict"

// compression returns the algorithm name of a module file as the kernel
// spells it in /sys/module/compression ("zstd", "xz", "gzip"), or "" for a
// plain .ko.
func compression(p string) string {
	switch {
	case strings.HasSuffix(p, ".ko.zst"):
		return "zstd"
	case strings.HasSuffix(p, ".ko.xz"):
		return "xz"
	case strings.HasSuffix(p, ".ko.gz"):
		return "gzip"
	}
	return ""
}

// ZstdDecoder decodes zstd module files, those that need a module tree's dictionary
// among them when it was made with one. Its setup costs more than decoding a small
// module, so one serves a tree's every module, concurrent loads included (up to
// GOMAXPROCS at a time).
type ZstdDecoder struct {
	d    *zstd.Decoder
	dict uint32 // the dictionary's ID; 0 for none
}

// NewZstdDecoder returns a decoder of zstd module files, with the dictionary dict (a
// zstd dictionary as the zstd program's --train writes it), or none when dict is nil.
func NewZstdDecoder(dict []byte) (*ZstdDecoder, error) {
	opts := []zstd.DOption{zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxModule)}
	var id uint32
	if dict != nil {
		d, err := zstd.InspectDictionary(dict)
		if err != nil {
			return nil, fmt.Errorf("zstd dictionary: %w", err)
		}
		id = d.ID()
		opts = append(opts, zstd.WithDecoderDicts(dict))
	}
	d, err := zstd.NewReader(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return &ZstdDecoder{d: d, dict: id}, nil
}

// OpenZstdDecoder returns the decoder of the zstd module files of moddir: with its
// dictionary (DictFile) when it has one.
func OpenZstdDecoder(moddir string) (*ZstdDecoder, error) {
	dict, err := os.ReadFile(filepath.Join(moddir, DictFile))
	if errors.Is(err, os.ErrNotExist) {
		return plainZstd()
	}
	if err != nil {
		return nil, err
	}
	d, err := NewZstdDecoder(dict)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(moddir, DictFile), err)
	}
	return d, nil
}

// plainZstd is the process's one decoder without a dictionary, made at its first use.
var plainZstd = sync.OnceValues(func() (*ZstdDecoder, error) { return NewZstdDecoder(nil) })

// Decode decodes a whole zstd file at once, refusing more than limit bytes of output:
// with the frame's content size known the output is allocated once, and no stream
// goroutine hands blocks over, which makes it several times faster than reading a zstd
// stream to its end.
func (d *ZstdDecoder) Decode(in []byte, limit int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(in); err == nil && h.DictionaryID != 0 && h.DictionaryID != d.dict {
		if d.dict == 0 {
			return nil, fmt.Errorf("zstd: the frame needs dictionary %d, and the module tree has none (%s)", h.DictionaryID, DictFile)
		}
		return nil, fmt.Errorf("zstd: the frame needs dictionary %d, and the module tree's (%s) is %d", h.DictionaryID, DictFile, d.dict)
	}
	data, err := d.d.DecodeAll(in, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("zstd: image larger than %d bytes", limit)
	}
	return data, nil
}

// read decodes the zstd file r holds, refusing more than limit bytes of input or output.
func (d *ZstdDecoder) read(r io.Reader, limit int) ([]byte, error) {
	in, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(in) > limit {
		return nil, fmt.Errorf("zstd: compressed image larger than %d bytes", limit)
	}
	return d.Decode(in, limit)
}

// decompressZstd decodes the zstd file r holds with the decoder without a dictionary.
func decompressZstd(r io.Reader, limit int) ([]byte, error) {
	d, err := plainZstd()
	if err != nil {
		return nil, err
	}
	return d.read(r, limit)
}

// needsDict says whether the zstd module file p names a dictionary, which the kernel
// does not have: the loader decodes such a file itself even when the kernel decompresses
// zstd. A file that cannot be read answers false, and the kernel reports it.
func needsDict(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [zstd.HeaderMaxSize]byte
	n, _ := io.ReadFull(f, buf[:])
	var h zstd.Header
	return h.Decode(buf[:n]) == nil && h.DictionaryID != 0
}

// loadImage returns the uncompressed bytes of the compressed module file p, which the
// loader inserts because the kernel does not decompress its format (or the file needs
// the tree's dictionary). Only zstd is decoded: mkinitramfs puts an xz or gzip module in
// an image only for a kernel that decompresses that format itself, so the init needs no
// xz or gzip decoder (tree.go has them, for the host tools).
func loadImage(p string, dec func() (*ZstdDecoder, error)) ([]byte, error) {
	if algo := compression(p); algo != "zstd" {
		return nil, fmt.Errorf("%s: the kernel does not decompress %s modules (/sys/module/compression) and the init decodes zstd only", p, algo)
	}
	d, err := dec()
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", p, err)
	}
	return decodeFile(p, func(r io.Reader) ([]byte, error) { return d.read(r, maxModule) })
}

// decodeFile returns what decode makes of the file p.
func decodeFile(p string, decode func(io.Reader) ([]byte, error)) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", p, err)
	}
	return data, nil
}
