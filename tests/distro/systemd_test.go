package distro

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/internal/debroot"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// TestSystemdRoot boots the debootstrapped Debian 12 root, systemd as /sbin/init, through the
// generic image of build/mkinitramfs, and checks that systemd reaches multi-user.target with
// no failed unit, counts the initramfs stage, mounts the root as /etc/fstab says, and finds
// earlyroot's log in /run/initramfs.
func TestSystemdRoot(t *testing.T) {
	needBoot(t)
	t.Parallel() // the two tests boot one VM at a time each; make boot runs -parallel 2
	k := vm.NeedKernel(t)
	tree := debroot.Copy(t, debroot.Need(t, debroot.Bookworm))
	prepareRoot(t, tree)
	addModules(t, tree, k)
	disk := rootDisk(t, tree)
	img := filepath.Join(t.TempDir(), "initrd.img")
	// The host's /etc/earlyroot does not change the image under test; its console settings
	// are the tree's, as for an image made for that system.
	noConfig := t.TempDir()
	if out, err := exec.Command(filepath.Join(build, "mkinitramfs"), "-o", img, "-kver", k.Release, "-moddir", k.ModDir,
		"-init", filepath.Join(build, "init"), "-config", noConfig, "-root", tree,
		"-modcache", filepath.Join(fixture.CacheDir(), "modules")).CombinedOutput(); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	rep, f := bootReport(t, k.Image, img, disk)
	checkBoot(t, rep, f)
}
