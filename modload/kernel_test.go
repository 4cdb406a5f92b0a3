package modload

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	testfixture "github.com/earlyroot/earlyroot/internal/fixture"
)

// needKernel returns the module directory of the Debian test kernel unpacked by
// scripts/fetch-kernel.sh, or skips the test (fails it under make test).
func needKernel(tb testing.TB) string {
	tb.Helper()
	k := testfixture.NeedKernel(tb)
	abs, err := filepath.Abs(k.ModDir)
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
		kver := filepath.Base(src)
		d.dir = filepath.Join(d.root, "lib", "modules", kver)
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
		if out, err := exec.Command(depmod, "-b", d.root, kver).CombinedOutput(); err != nil {
			d.err = fmt.Errorf("depmod -b %s %s: %v: %s", d.root, kver, err, out)
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
