// Package boot holds earlyroot's QEMU boot tests: a real Debian kernel boots an initramfs made
// by build/mkinitramfs with build/init, against root disks made by internal/vm, and each test
// checks what the real root's init (cmd/testinit) reports.
//
// They run with EARLYROOT_BOOT=1 (make boot / make test), after `make build` and `make kernel`.
package boot

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
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

// bootEnv is the variable that enables the boot tests; make boot (and so make test) sets it.
const bootEnv = "EARLYROOT_BOOT"

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(bootEnv) != "1" {
		// Run only TestBootTestsSkipped, which reports the skip: go test -v shows SKIP, and
		// the line below shows whenever the output is printed.
		fmt.Printf("SKIP: the QEMU boot tests in tests/boot did not run: set %s=1 (make boot, make test)\n", bootEnv)
		flag.Set("test.run", "^TestBootTestsSkipped$")
		os.Exit(m.Run())
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

// TestBootTestsSkipped makes a run without EARLYROOT_BOOT=1 visible as a skipped test
// instead of an "ok" for a package where nothing ran.
func TestBootTestsSkipped(t *testing.T) {
	if tb == nil {
		t.Skipf("boot tests skipped: they boot QEMU and run with %s=1 (make boot, make test)", bootEnv)
	}
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
	k, err := fixture.FindKernel()
	if err != nil {
		return nil, err
	}
	b.kernelDir, b.kver, b.kernel, b.moddir = k.Dir, k.Release, k.Image, k.ModDir
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
		// An empty configuration directory and no console settings: the host's
		// /etc/earlyroot, keymap and font do not change the images under test (a test's
		// own -keymap and -font come later and win).
		noConfig := filepath.Join(b.work, "no-config")
		if err := os.MkdirAll(noConfig, 0o755); err != nil {
			io.err = err
			return
		}
		args := append([]string{"-o", io.path, "-kver", b.kver, "-moddir", b.moddir,
			"-init", filepath.Join(b.build, "init"), "-config", noConfig, "-keymap", "none", "-font", "none"}, flags...)
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
