package initramfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/earlyroot/earlyroot/modload"
)

// firmwareImageDir is where firmware goes in the image: the last directory
// of the kernel's firmware search path, which every kernel searches.
const firmwareImageDir = "lib/firmware"

// maxFirmware bounds one decompressed firmware file.
const maxFirmware = 256 << 20

// FirmwareLoading says which compressed firmware files the kernel's
// firmware loader decompresses itself (CONFIG_FW_LOADER_COMPRESS_XZ and
// _ZSTD). A file the kernel cannot load compressed goes into the image
// decompressed.
type FirmwareLoading struct {
	XZ, Zstd bool
}

// KernelFeatures is what an image needs from its kernel's .config: which
// compressed files the kernel decompresses itself.
type KernelFeatures struct {
	Firmware FirmwareLoading // what the firmware loader decompresses
	// ModuleDecompress is the CONFIG_MODULE_COMPRESS_* format when
	// CONFIG_MODULE_DECOMPRESS is set (finit_module then takes the file as
	// it is), else None.
	ModuleDecompress Compression
	// Unpack holds the archive compressions the initramfs unpacker reads
	// (CONFIG_RD_GZIP, _XZ, _ZSTD, _LZ4).
	Unpack map[Compression]bool
}

// ReadKernelConfig reads the kernel's .config p (/boot/config-<kver>).
// Kernels before 5.19 had only CONFIG_FW_LOADER_COMPRESS, which meant xz.
func ReadKernelConfig(p string) (KernelFeatures, error) {
	f, err := os.Open(p)
	if err != nil {
		return KernelFeatures{}, fmt.Errorf("kernel config: %w", err)
	}
	defer f.Close()
	k := KernelFeatures{Unpack: map[Compression]bool{}}
	rd := map[string]Compression{"CONFIG_RD_GZIP=y": Gzip, "CONFIG_RD_XZ=y": XZ, "CONFIG_RD_ZSTD=y": Zstd, "CONFIG_RD_LZ4=y": LZ4}
	fwCompress, fwSplit, modDecompress := false, false, false
	modFormat := None
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch line {
		case "CONFIG_FW_LOADER_COMPRESS=y":
			fwCompress = true
		case "CONFIG_FW_LOADER_COMPRESS_XZ=y":
			k.Firmware.XZ = true
		case "CONFIG_FW_LOADER_COMPRESS_ZSTD=y":
			k.Firmware.Zstd = true
		case "CONFIG_MODULE_DECOMPRESS=y":
			modDecompress = true
		case "CONFIG_MODULE_COMPRESS_XZ=y":
			modFormat = XZ
		case "CONFIG_MODULE_COMPRESS_ZSTD=y":
			modFormat = Zstd
		case "CONFIG_MODULE_COMPRESS_GZIP=y":
			modFormat = Gzip
		}
		if c, ok := rd[line]; ok {
			k.Unpack[c] = true
		}
		if strings.Contains(line, "CONFIG_FW_LOADER_COMPRESS_") {
			fwSplit = true
		}
	}
	if err := sc.Err(); err != nil {
		return KernelFeatures{}, fmt.Errorf("kernel config %s: %w", p, err)
	}
	switch {
	case !fwCompress:
		k.Firmware = FirmwareLoading{}
	case !fwSplit:
		k.Firmware.XZ = true
	}
	if modDecompress {
		k.ModuleDecompress = modFormat
	} else {
		k.ModuleDecompress = None
	}
	return k, nil
}

// kernelConfigPath finds the .config of kernel kver: /boot/config-<kver>,
// or boot/config-<kver> in the tree that holds moddir (an unpacked kernel
// package: <dir>/lib/modules/<kver> and <dir>/boot). "" when there is none.
func kernelConfigPath(moddir, kver string) string {
	name := "config-" + kver
	cands := []string{filepath.Join("/boot", name)}
	if abs, err := filepath.Abs(moddir); err == nil {
		// <dir>/lib/modules/<kver> or <dir>/usr/lib/modules/<kver>
		for d := filepath.Dir(filepath.Dir(abs)); d != filepath.Dir(d); d = filepath.Dir(d) {
			if b := filepath.Base(d); b != "lib" && b != "usr" {
				cands = append([]string{filepath.Join(d, "boot", name)}, cands...)
				break
			}
		}
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// firmwareFile is one firmware file found for the image.
type firmwareFile struct {
	name   string // as the module names it, e.g. "qlogic/1040.bin"
	src    string // host file
	suffix string // "", ".xz" or ".zst": the compression of src
}

// firmwareSuffixes are tried in the kernel's order: the plain file in every
// search directory first, then .zst, then .xz.
var firmwareSuffixes = []string{"", ".zst", ".xz"}

// findFirmware looks name up below fwdir in the kernel's search order
// (updates/<kver>, updates, <kver>, the top). ok is false when no file
// exists.
func findFirmware(fwdir, kver, name string) (firmwareFile, bool) {
	dirs := []string{path.Join("updates", kver), "updates", kver, "."}
	for _, suf := range firmwareSuffixes {
		for _, d := range dirs {
			p := filepath.Join(fwdir, filepath.FromSlash(d), filepath.FromSlash(name)+suf)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return firmwareFile{name: name, src: p, suffix: suf}, true
			}
		}
	}
	return firmwareFile{}, false
}

// validFirmwareName refuses names that would leave the firmware directory.
func validFirmwareName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return false
	}
	return !slices.Contains(strings.Split(name, "/"), "..")
}

// moduleFirmware reads the firmware names of the module files (full paths)
// with a few workers, through modload's .modinfo reader. The result is
// indexed like mods.
func moduleFirmware(ctx context.Context, mods []string) ([][]string, error) {
	out := make([][]string, len(mods))
	errs := make([]error, len(mods))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(runtime.GOMAXPROCS(0), 1), 8, max(len(mods), 1)) {
		wg.Go(func() {
			for i := range next {
				if errs[i] = ctx.Err(); errs[i] == nil {
					out[i], errs[i] = modload.Firmware(mods[i])
				}
			}
		})
	}
	for i := range mods {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("module firmware: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("module firmware: %w", err)
	}
	return out, nil
}

// stagedFirmware is the firmware part of the image.
type stagedFirmware struct {
	files    []stagedFile // relative to firmwareImageDir
	warnings []string
}

// stageFirmware finds the firmware the modules (name → module file) ask
// for below fwdir. A file the kernel can load compressed goes in as it is;
// one it cannot is decompressed into stage. A module whose firmware is
// missing gives one warning naming the missing files.
func stageFirmware(ctx context.Context, fwdir, kver string, fl FirmwareLoading, names, paths []string, stage string) (stagedFirmware, error) {
	var st stagedFirmware
	lists, err := moduleFirmware(ctx, paths)
	if err != nil {
		return st, err
	}
	seen := map[string]bool{}
	for i, list := range lists {
		var missing []string
		for _, name := range list {
			if !validFirmwareName(name) {
				missing = append(missing, fmt.Sprintf("%q (not a relative path)", name))
				continue
			}
			if seen[name] {
				continue
			}
			f, ok := findFirmware(fwdir, kver, name)
			if !ok {
				missing = append(missing, name)
				continue
			}
			seen[name] = true
			sf, err := placeFirmware(f, fl, stage)
			if err != nil {
				return st, fmt.Errorf("firmware %s of %s: %w", name, names[i], err)
			}
			st.files = append(st.files, sf)
		}
		if len(missing) > 0 {
			st.warnings = append(st.warnings, fmt.Sprintf("firmware of %s not found in %s: %s", names[i], fwdir, strings.Join(missing, ", ")))
		}
	}
	slices.SortFunc(st.files, func(a, b stagedFile) int { return strings.Compare(a.rel, b.rel) })
	return st, nil
}

// placeFirmware returns where f goes in the image (relative to
// firmwareImageDir) and from which host file.
func placeFirmware(f firmwareFile, fl FirmwareLoading, stage string) (stagedFile, error) {
	if f.suffix == "" || f.suffix == ".xz" && fl.XZ || f.suffix == ".zst" && fl.Zstd {
		return stagedFile{rel: f.name + f.suffix, src: f.src}, nil
	}
	data, err := decompressFirmware(f)
	if err != nil {
		return stagedFile{}, err
	}
	dst := filepath.Join(stage, filepath.FromSlash(f.name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return stagedFile{}, err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return stagedFile{}, err
	}
	return stagedFile{rel: f.name, src: dst}, nil
}

func decompressFirmware(f firmwareFile) ([]byte, error) {
	z, err := os.ReadFile(f.src)
	if err != nil {
		return nil, err
	}
	data, err := decompressBytes(z, f.suffix, maxFirmware)
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", f.src, err)
	}
	return data, nil
}
