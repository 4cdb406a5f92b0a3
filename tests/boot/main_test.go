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

// bench is what every boot test shares: the kernels, the built binaries and the images.
type bench struct {
	root  string // repository root
	build string // build/ with init, testinit, mkinitramfs
	work  string // temporary directory for images

	first *testKernel // Debian 12's, which every test boots unless it asks for another

	secondOnce sync.Once
	second     *testKernel // Debian 13's, found at the first test that asks for it
}

// testKernel is one kernel the tests boot, with the images made for it.
type testKernel struct {
	fixture.Kernel
	flags []string // mkinitramfs flags every image for this kernel gets

	mu     sync.Mutex
	images map[string]*imageOnce
}

func newTestKernel(k fixture.Kernel, flags ...string) *testKernel {
	return &testKernel{Kernel: k, flags: flags, images: map[string]*imageOnce{}}
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
	b := &bench{root: root, build: filepath.Join(root, "build")}
	for _, bin := range []string{"init", "testinit", "mkinitramfs"} {
		if _, err := os.Stat(filepath.Join(b.build, bin)); err != nil {
			return nil, fmt.Errorf("build/%s missing: run make build first", bin)
		}
	}
	k, err := fixture.FindKernel()
	if err != nil {
		return nil, err
	}
	b.first = newTestKernel(k)
	b.work, err = os.MkdirTemp("", "earlyroot-boot-")
	if err != nil {
		return nil, err
	}
	return b, nil
}

// secondKernel returns Debian 13's kernel (merged /usr, every module .ko.xz, decompressed
// by the kernel itself), whose images are made with its .config so that the modules stay
// .ko.xz; the test is skipped when the kernel is missing, or failed with
// EARLYROOT_REQUIRE_KERNEL=1.
func (b *bench) secondKernel(t testing.TB) *testKernel {
	t.Helper()
	k := fixture.NeedSecondKernel(t)
	b.secondOnce.Do(func() {
		// No root filesystem hint (the default takes the host's) and no modules for the
		// kernel to unpack (the default has the virtio disk's): the generic images carry
		// every module as the tree has it, .ko.xz.
		flags := []string{"-roothint", "none", "-unpack", "none"}
		if c := k.Config(); c != "" {
			flags = append(flags, "-kconfig", c)
		}
		b.second = newTestKernel(k, flags...)
	})
	return b.second
}

// image builds (once per name) an initramfs for the first kernel with build/mkinitramfs and
// the given flags.
func (b *bench) image(t testing.TB, name string, flags ...string) string {
	t.Helper()
	return b.imageFor(t, b.first, name, flags...)
}

// generic is the default image every test boots unless it needs another.
func (b *bench) generic(t testing.TB) string { return b.image(t, "generic") }

// imageFor builds (once per kernel and name) an initramfs for k.
func (b *bench) imageFor(t testing.TB, k *testKernel, name string, flags ...string) string {
	t.Helper()
	k.mu.Lock()
	io, ok := k.images[name]
	if !ok {
		io = &imageOnce{}
		k.images[name] = io
	}
	k.mu.Unlock()
	io.once.Do(func() {
		dir := filepath.Join(b.work, k.Release)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			io.err = err
			return
		}
		io.path = filepath.Join(dir, name+".img")
		// An empty configuration directory and no console settings: the host's
		// /etc/earlyroot, keymap and font do not change the images under test (a test's
		// own -keymap and -font come later and win).
		noConfig := filepath.Join(b.work, "no-config")
		if err := os.MkdirAll(noConfig, 0o755); err != nil {
			io.err = err
			return
		}
		args := append([]string{"-o", io.path, "-kver", k.Release, "-moddir", k.ModDir,
			"-init", filepath.Join(b.build, "init"), "-config", noConfig, "-keymap", "none", "-font", "none",
			"-modcache", filepath.Join(fixture.CacheDir(), "modules")}, k.flags...)
		args = append(args, flags...)
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
