package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ReadModuleDecompress returns the module compression the kernel's
// finit_module decompresses itself, from its .config: the
// CONFIG_MODULE_COMPRESS_* format when CONFIG_MODULE_DECOMPRESS is set, else
// None.
func ReadModuleDecompress(p string) (Compression, error) {
	f, err := os.Open(p)
	if err != nil {
		return None, fmt.Errorf("kernel config: %w", err)
	}
	defer f.Close()
	decompress := false
	format := None
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		switch sc.Text() {
		case "CONFIG_MODULE_DECOMPRESS=y":
			decompress = true
		case "CONFIG_MODULE_COMPRESS_XZ=y":
			format = XZ
		case "CONFIG_MODULE_COMPRESS_ZSTD=y":
			format = Zstd
		case "CONFIG_MODULE_COMPRESS_GZIP=y":
			format = Gzip
		}
	}
	if err := sc.Err(); err != nil {
		return None, fmt.Errorf("kernel config %s: %w", p, err)
	}
	if !decompress {
		return None, nil
	}
	return format, nil
}

// moduleLoading decides whether a module file that is already compressed
// in the tree goes into the image as it is, or is recompressed with
// Config.ModCompression: kept when it already has that format, when the
// kernel decompresses its format itself (the init then hands the file to
// finit_module as it is), or when the kernel's .config is unknown (the init
// decompresses any format, only more slowly).
type moduleLoading struct {
	known  bool
	kernel Compression // what the kernel decompresses; None for nothing
}

func (l moduleLoading) keep(srcSuffix, wantSuffix string) bool {
	if srcSuffix == wantSuffix || !l.known {
		return true
	}
	k, _ := l.kernel.ModuleSuffix()
	return l.kernel != None && k == srcSuffix
}

// compressedSuffix returns ".xz", ".zst" or ".gz" for a compressed module
// path, "" for a plain .ko.
func compressedSuffix(p string) string {
	for _, s := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(p, ".ko"+s) {
			return s
		}
	}
	return ""
}

// decompressBytes undoes the compression named by suffix (".xz", ".zst",
// ".gz"), refusing output larger than limit.
func decompressBytes(z []byte, suffix string, limit int) ([]byte, error) {
	var r io.Reader
	switch suffix {
	case ".xz":
		xr, err := xz.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		r = xr
	case ".zst":
		zr, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case ".gz":
		gr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gr.Close()
		r = gr
	default:
		return nil, fmt.Errorf("unknown compression suffix %q", suffix)
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(suffix, "."), err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", strings.TrimPrefix(suffix, "."), limit)
	}
	return data, nil
}
