package modload

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
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

// loadImage returns the uncompressed bytes of the compressed module file p, which the
// loader inserts because the kernel does not decompress its format. Only zstd is decoded:
// mkinitramfs puts an xz or gzip module in an image only for a kernel that decompresses
// that format itself, so the init needs no xz or gzip decoder (tree.go has them, for the
// host tools).
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
