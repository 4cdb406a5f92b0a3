package modload

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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

// decompress returns the uncompressed image from r for the given algorithm,
// refusing images larger than maxModule.
func decompress(algo string, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch algo {
	case "":
		dr = r
	case "zstd":
		return decompressZstd(r)
	case "xz":
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
	data, err := io.ReadAll(io.LimitReader(dr, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(algo, "read"), err)
	}
	if len(data) > maxModule {
		return nil, fmt.Errorf("%s: image larger than %d bytes", nameOr(algo, "read"), maxModule)
	}
	return data, nil
}

// decompressZstd decodes a whole zstd module file at once: with the frame's content size
// known the output is allocated once, and no stream goroutine hands blocks over, which
// makes it several times faster than reading a zstd stream to its end.
func decompressZstd(r io.Reader) ([]byte, error) {
	in, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(in) > maxModule {
		return nil, fmt.Errorf("zstd: compressed image larger than %d bytes", maxModule)
	}
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModule))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	defer zr.Close()
	data, err := zr.DecodeAll(in, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(data) > maxModule {
		return nil, fmt.Errorf("zstd: image larger than %d bytes", maxModule)
	}
	return data, nil
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readModuleImage returns the uncompressed bytes of the module file p.
func readModuleImage(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := decompress(compression(p), f)
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
		data, err := readModuleImage(p)
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
