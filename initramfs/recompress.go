package initramfs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
)

// moduleLoading decides whether a module file that is already compressed
// in the tree goes into the image as it is, or is recompressed with
// Config.ModCompression: kept when the kernel decompresses its format itself
// (the init then hands the file to finit_module as it is), or when it is
// zstd and zstd is asked for (the init decodes zstd, and only zstd, itself).
// A .ko.xz of a kernel whose .config is unknown is recompressed.
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
	if srcSuffix == wantSuffix && srcSuffix == zstdSuffix {
		return true
	}
	return l.kernelTakes(srcSuffix)
}

// zstdSuffix is the suffix of the module files the init decodes itself.
const zstdSuffix = ".zst"

// kernelTakes says whether the kernel is known to decompress modules with this suffix.
func (l moduleLoading) kernelTakes(suffix string) bool {
	k, _ := l.kernel.ModuleSuffix()
	return l.known && l.kernel != None && k == suffix
}

// check refuses a module compression that the image could not load: the init decodes
// zstd modules only, so xz and gzip ones need a kernel known to decompress that format.
func (l moduleLoading) check(c Compression, kconfig string) error {
	suffix, err := c.ModuleSuffix()
	if err != nil || suffix == "" || suffix == zstdSuffix || l.kernelTakes(suffix) {
		return err
	}
	if !l.known {
		return fmt.Errorf("module compression %s: the init decodes zstd modules only, and with no kernel .config (-kconfig) it is unknown whether the kernel decompresses %s modules", c, c)
	}
	return fmt.Errorf("module compression %s: the init decodes zstd modules only, and the kernel does not decompress %s modules (%s: no CONFIG_MODULE_DECOMPRESS with CONFIG_MODULE_COMPRESS_%s)", c, c, kconfig, strings.ToUpper(string(c)))
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
