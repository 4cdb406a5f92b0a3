package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
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
// ".gz") with modload's decoders, refusing output larger than limit.
func decompressBytes(z []byte, suffix string, limit int) ([]byte, error) {
	algo, ok := map[string]string{".xz": "xz", ".zst": "zstd", ".gz": "gzip"}[suffix]
	if !ok {
		return nil, fmt.Errorf("unknown compression suffix %q", suffix)
	}
	return modload.Decompress(algo, bytes.NewReader(z), limit)
}
