// Package distro proves earlyroot on a real distribution rather than on the test init: a
// Debian 12 root made by debootstrap (internal/debroot, cached), with systemd as /sbin/init
// and a normal /etc/fstab, boots through earlyroot's images to multi-user.target, and
// earlyroot's Debian package, installed in a chroot of that root before Debian's own kernel
// package, makes the kernel's image, which boots, and removes it with the kernel.
//
// A systemd service in the root writes what the boot looked like to the serial console
// (lines starting "EARLYROOT-DISTRO ", and cmd/testinit's facts line), then powers off.
//
// The tests boot QEMU and run with EARLYROOT_BOOT=1 (make boot, make test), after make build,
// make deb and make kernel, as root (debootstrap, chroot).
package distro

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// bootEnv is the variable that enables the boot tests; make boot (and so make test) sets it.
const bootEnv = "EARLYROOT_BOOT"

// repo is the repository root, build its build/ directory (init, testinit, mkinitramfs and the
// .deb).
var repo, build string

func TestMain(m *testing.M) {
	flag.Parse()
	r, err := fixture.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "distro tests:", err)
		os.Exit(1)
	}
	repo, build = r, filepath.Join(r, "build")
	os.Exit(m.Run())
}

// needBoot skips a boot test unless $EARLYROOT_BOOT is 1, and fails it when build/ lacks what
// it boots.
func needBoot(t *testing.T) {
	t.Helper()
	if os.Getenv(bootEnv) != "1" {
		t.Skipf("boots QEMU: runs with %s=1 (make boot, make test)", bootEnv)
	}
	if testing.Short() {
		t.Skip("boots QEMU: not in -short mode")
	}
	for _, bin := range []string{"init", "testinit", "mkinitramfs"} {
		if _, err := os.Stat(filepath.Join(build, bin)); err != nil {
			t.Fatalf("build/%s missing: run make build first", bin)
		}
	}
}
