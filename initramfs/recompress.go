package initramfs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
)

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

// kernelSupport reads the kernel's .config, when cfg names one, once for the
// whole build: what the module stage and the firmware stage need from it, and
// the archive compressions its initramfs unpacker reads (nil when unknown).
func kernelSupport(cfg Config) (moduleLoading, FirmwareLoading, map[Compression]bool, error) {
	if cfg.KernelConfig == "" {
		return moduleLoading{}, FirmwareLoading{}, nil, nil
	}
	k, err := ReadKernelConfig(cfg.KernelConfig)
	if err != nil {
		return moduleLoading{}, FirmwareLoading{}, nil, err
	}
	return moduleLoading{known: true, kernel: k.ModuleDecompress}, k.Firmware, k.Unpack, nil
}

func (l moduleLoading) keep(srcSuffix, wantSuffix string) bool {
	if srcSuffix == wantSuffix || !l.known {
		return true
	}
	k, _ := l.kernel.ModuleSuffix()
	return l.kernel != None && k == srcSuffix
}

// compressedSuffixes are the file suffixes of the compressions modules and
// firmware come in.
var compressedSuffixes = []string{".xz", ".zst", ".gz"}

// compressedSuffix returns ".xz", ".zst" or ".gz" for a compressed module
// path, "" for a plain .ko.
func compressedSuffix(p string) string {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(p, ".ko"+s) {
			return s
		}
	}
	return ""
}

// decompressBytes undoes the compression named by suffix (".xz", ".zst",
// ".gz") with modload's decoders, refusing output larger than limit.
func decompressBytes(z []byte, suffix string, limit int) ([]byte, error) {
	c, err := ParseCompression(strings.TrimPrefix(suffix, "."))
	if err != nil || c == None || c == LZ4 {
		return nil, fmt.Errorf("unknown compression suffix %q", suffix)
	}
	// A Compression's name is the kernel's, which modload takes.
	return modload.Decompress(string(c), bytes.NewReader(z), limit)
}
