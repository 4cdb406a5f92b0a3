package initramfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
)

// treeIndex returns modload's index of the module tree. modload reads
// depmod's modules.dep and modules.alias when the tree has them; else it
// decompresses every module to read its .modinfo, which for a tree of
// .ko.xz files (Debian's packages ship no depmod files) is slow with a Go
// xz decoder. Then, when kmod's depmod is installed, it is run on a shadow
// of the tree (links to the tree's entries, so the tree itself is never
// written) and the index is read from its output; without depmod, or if it
// fails, modload reads the modules.
func treeIndex(ctx context.Context, moddir, kver, tmp string) (*modload.Index, error) {
	if !hasDepmodFiles(moddir) && hasCompressedModules(moddir) {
		if depmod := findDepmod(); depmod != "" {
			if shadow, err := depmodShadow(ctx, depmod, moddir, kver, tmp); err == nil {
				if ix, err := modload.Build(shadow); err == nil {
					return ix, nil
				}
			}
		}
	}
	ix, err := modload.Build(moddir)
	if err != nil {
		return nil, fmt.Errorf("module index of %s: %w", moddir, err)
	}
	return ix, nil
}

func hasDepmodFiles(moddir string) bool {
	for _, f := range []string{"modules.dep", "modules.alias"} {
		if _, err := os.Stat(filepath.Join(moddir, f)); err != nil {
			return false
		}
	}
	return true
}

// hasCompressedModules reports whether the first module file found below
// moddir/kernel is compressed (trees are compressed all alike).
func hasCompressedModules(moddir string) bool {
	found := false
	filepath.WalkDir(filepath.Join(moddir, "kernel"), func(p string, d os.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if _, ok := ModuleName(d.Name()); ok && !d.IsDir() {
			found = !strings.HasSuffix(d.Name(), ".ko")
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

func findDepmod() string {
	if p, err := exec.LookPath("depmod"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// depmodShadow makes tmp/lib/modules/<kver> with a link to every entry of
// moddir, runs depmod -b tmp on it and returns the shadow module dir.
func depmodShadow(ctx context.Context, depmod, moddir, kver, tmp string) (string, error) {
	abs, err := filepath.Abs(moddir)
	if err != nil {
		return "", err
	}
	base := filepath.Join(tmp, "depmod")
	shadow := filepath.Join(base, "lib", "modules", kver)
	if err := os.MkdirAll(shadow, 0o755); err != nil {
		return "", err
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(abs, e.Name()), filepath.Join(shadow, e.Name())); err != nil {
			return "", err
		}
	}
	out, err := exec.CommandContext(ctx, depmod, "-b", base, kver).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("depmod: %w: %s", err, out)
	}
	return shadow, nil
}
