package modload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

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

// decompress returns the uncompressed module image from r for the given
// algorithm, refusing images larger than maxModule.
func decompress(algo string, r io.Reader) ([]byte, error) {
	return Decompress(algo, r, maxModule)
}

// Decompress returns the data r holds compressed with algo, named as the
// kernel names it in /sys/module/compression ("zstd", "xz", "gzip"; ""
// for none), refusing more than limit bytes of output (and, for zstd, more
// than the largest module image whatever limit says). It is the one
// decoder of each format: the loader's for module files, and mkinitramfs's
// for the modules and firmware it recompresses.
func Decompress(algo string, r io.Reader, limit int) ([]byte, error) {
	var dr io.Reader
	switch algo {
	case "":
		dr = r
	case "zstd":
		return decompressZstd(r, limit)
	case "xz":
		// The xz decoder reads its input a byte at a time: a file would
		// cost a read(2) per byte.
		if _, ok := r.(io.ByteReader); !ok {
			r = bufio.NewReaderSize(r, 64<<10)
		}
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		dr = xr
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gr.Close()
		dr = gr
	default:
		return nil, fmt.Errorf("unknown compression %q", algo)
	}
	data, err := io.ReadAll(io.LimitReader(dr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(algo, "read"), err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: image larger than %d bytes", nameOr(algo, "read"), limit)
	}
	return data, nil
}

// zstdDecoder is the process's one zstd decoder, made at the first zstd
// file: its setup costs more than decoding a small module, and it serves
// concurrent loads (up to GOMAXPROCS at a time).
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxModule))
})

// decompressZstd decodes a whole zstd file at once: with the frame's content size
// known the output is allocated once, and no stream goroutine hands blocks over, which
// makes it several times faster than reading a zstd stream to its end.
func decompressZstd(r io.Reader, limit int) ([]byte, error) {
	in, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(in) > limit {
		return nil, fmt.Errorf("zstd: compressed image larger than %d bytes", limit)
	}
	zr, err := zstdDecoder()
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	data, err := zr.DecodeAll(in, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("zstd: image larger than %d bytes", limit)
	}
	return data, nil
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readModuleFile returns the uncompressed bytes of the module file p, in any format: a
// tree's module, for the index and the image generator.
func readModuleFile(p string) ([]byte, error) {
	return decodeFile(p, func(r io.Reader) ([]byte, error) { return decompress(compression(p), r) })
}

// loadImage returns the uncompressed bytes of the compressed module file p, which the
// loader inserts because the kernel does not decompress its format. Only zstd is decoded:
// mkinitramfs puts an xz or gzip module in an image only for a kernel that decompresses
// that format itself, so the init links no xz or gzip decoder.
func loadImage(p string) ([]byte, error) {
	if algo := compression(p); algo != "zstd" {
		return nil, fmt.Errorf("%s: the kernel does not decompress %s modules (/sys/module/compression) and the init decodes zstd only", p, algo)
	}
	return decodeFile(p, func(r io.Reader) ([]byte, error) { return decompressZstd(r, maxModule) })
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

// readModinfoFile returns the parsed .modinfo section of module file p.
func readModinfoFile(p string) (modinfo, error) {
	var ra io.ReaderAt
	if compression(p) == "" {
		f, err := os.Open(p)
		if err != nil {
			return modinfo{}, err
		}
		defer f.Close()
		ra = f
	} else {
		data, err := readModuleFile(p)
		if err != nil {
			return modinfo{}, err
		}
		ra = bytes.NewReader(data)
	}
	sec, err := modinfoSection(ra)
	if err != nil {
		return modinfo{}, fmt.Errorf("%s: %w", p, err)
	}
	mi, err := parseModinfo(sec)
	if err != nil {
		return modinfo{}, fmt.Errorf("%s: %w", p, err)
	}
	return mi, nil
}

var errNoModinfo = errors.New("no .modinfo section")

// modinfoSection returns the contents of the .modinfo section of the ELF
// file in r. A malformed file gives an error, never a panic.
func modinfoSection(r io.ReaderAt) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("malformed ELF: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errNoModinfo
	}
	if sec.Type == elf.SHT_NOBITS {
		return nil, errNoModinfo
	}
	if sec.Size > maxModinfo {
		return nil, fmt.Errorf(".modinfo section of %d bytes is too large", sec.Size)
	}
	if sec.Flags&elf.SHF_COMPRESSED != 0 {
		return nil, errors.New("compressed .modinfo section")
	}
	data = make([]byte, sec.Size)
	if _, err := sec.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return data, nil
}
