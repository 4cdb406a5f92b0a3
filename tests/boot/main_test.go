// Package boot holds earlyroot's QEMU boot tests: a real Debian kernel boots an initramfs made
// by build/mkinitramfs with build/init, against root disks made by internal/vm, and each test
// checks what the real root's init (cmd/testinit) reports.
//
// They run with EARLYROOT_BOOT=1 (make boot / make test), after `make build` and `make kernel`.
package boot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// bench is what every boot test shares: the kernel, the built binaries and the images.
type bench struct {
	root      string // repository root
	build     string // build/ with init, testinit, mkinitramfs
	kernelDir string // unpacked Debian kernel package
	kver      string
	kernel    string // vmlinuz
	moddir    string
	work      string // temporary directory for images

	mu     sync.Mutex
	images map[string]*imageOnce
}

type imageOnce struct {
	once sync.Once
	path string
	err  error
}

var tb *bench

func TestMain(m *testing.M) {
	if os.Getenv("EARLYROOT_BOOT") != "1" {
		fmt.Println("boot tests skipped: they run under QEMU with EARLYROOT_BOOT=1 (make boot)")
		os.Exit(0)
	}
	b, err := setupBench()
	if err != nil {
		fmt.Fprintln(os.Stderr, "boot tests:", err)
		os.Exit(1)
	}
	tb = b
	code := m.Run()
	os.RemoveAll(b.work)
	os.Exit(code)
}

func setupBench() (*bench, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	b := &bench{root: root, build: filepath.Join(root, "build"), images: map[string]*imageOnce{}}
	for _, bin := range []string{"init", "testinit", "mkinitramfs"} {
		if _, err := os.Stat(filepath.Join(b.build, bin)); err != nil {
			return nil, fmt.Errorf("build/%s missing: run make build first", bin)
		}
	}
	out, err := exec.Command(filepath.Join(root, "scripts/fetch-kernel.sh"), filepath.Join(root, ".cache/kernel")).Output()
	if err != nil {
		return nil, fmt.Errorf("fetch-kernel.sh: %w", err)
	}
	b.kernelDir = strings.TrimSpace(string(out))
	if !filepath.IsAbs(b.kernelDir) {
		b.kernelDir = filepath.Join(root, b.kernelDir)
	}
	b.kver = filepath.Base(b.kernelDir)
	b.kernel = filepath.Join(b.kernelDir, "boot", "vmlinuz-"+b.kver)
	b.moddir = filepath.Join(b.kernelDir, "lib/modules", b.kver)
	b.work, err = os.MkdirTemp("", "earlyroot-boot-")
	if err != nil {
		return nil, err
	}
	return b, nil
}

// image builds (once per name) an initramfs with build/mkinitramfs and the given flags.
func (b *bench) image(t testing.TB, name string, flags ...string) string {
	t.Helper()
	b.mu.Lock()
	io, ok := b.images[name]
	if !ok {
		io = &imageOnce{}
		b.images[name] = io
	}
	b.mu.Unlock()
	io.once.Do(func() {
		io.path = filepath.Join(b.work, name+".img")
		args := append([]string{"-o", io.path, "-kver", b.kver, "-moddir", b.moddir,
			"-init", filepath.Join(b.build, "init")}, flags...)
		out, err := exec.Command(filepath.Join(b.build, "mkinitramfs"), args...).CombinedOutput()
		if err != nil {
			io.err = fmt.Errorf("mkinitramfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if io.err != nil {
		t.Fatal(io.err)
	}
	return io.path
}

// generic is the default image every test boots unless it needs another.
func (b *bench) generic(t testing.TB) string { return b.image(t, "generic") }
