package modload

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The real Debian kernel tree unpacked by scripts/fetch-kernel.sh.
const testKver = "6.1.0-56-amd64"

var kernelModDir = filepath.Join("..", ".cache", "kernel", testKver, "lib", "modules", testKver)

// needKernel returns the real module directory or skips the test.
func needKernel(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(kernelModDir, "modules.order")); err != nil {
		tb.Skipf("kernel cache absent (%v): run scripts/fetch-kernel.sh to test against the real module tree", err)
	}
	abs, err := filepath.Abs(kernelModDir)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

var depmodOnce struct {
	sync.Once
	root, dir string
	err       error
}

// depmodDir returns a copy of the real module directory (kernel/ is a
// symlink) in which depmod has written its files, or skips the test.
func depmodDir(tb testing.TB) string {
	tb.Helper()
	src := needKernel(tb)
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
			if _, e := os.Stat(p); e == nil {
				depmod, err = p, nil
			}
		}
	}
	if err != nil {
		tb.Fatalf("depmod not found (%v): install kmod to compare with depmod's output", err)
	}
	d := &depmodOnce
	d.Do(func() {
		d.root, d.err = os.MkdirTemp("", "modload-depmod-")
		if d.err != nil {
			return
		}
		d.dir = filepath.Join(d.root, "lib", "modules", testKver)
		if d.err = os.MkdirAll(d.dir, 0o755); d.err != nil {
			return
		}
		if d.err = os.Symlink(filepath.Join(src, "kernel"), filepath.Join(d.dir, "kernel")); d.err != nil {
			return
		}
		for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
			var data []byte
			if data, d.err = os.ReadFile(filepath.Join(src, f)); d.err != nil {
				return
			}
			if d.err = os.WriteFile(filepath.Join(d.dir, f), data, 0o644); d.err != nil {
				return
			}
		}
		if out, err := exec.Command(depmod, "-b", d.root, testKver).CombinedOutput(); err != nil {
			d.err = fmt.Errorf("depmod -b %s %s: %v: %s", d.root, testKver, err, out)
		}
	})
	if d.err != nil {
		tb.Fatalf("prepare depmod copy: %v", d.err)
	}
	return d.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if depmodOnce.root != "" {
		os.RemoveAll(depmodOnce.root)
	}
	os.Exit(code)
}
