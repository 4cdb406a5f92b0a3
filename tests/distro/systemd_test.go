package distro

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// usrUUID is the UUID of the /usr filesystem of TestSystemdSplitUsr.
const usrUUID = "d15740c0-1111-4222-8333-0000000000e2"

// TestSystemdSplitUsr boots the Debian 12 root with /usr on a partition of its own, as the
// root's /etc/fstab says: Debian's merged /usr has systemd itself there (/sbin/init ->
// /lib/systemd/systemd, /lib -> usr/lib), so the boot only reaches it if the initramfs mounts
// /usr. systemd must then run as on a single root: no failed unit, no warning of its own, and
// /usr remounted read-write with the fstab's options (the initramfs mounts it read-only, as
// the root).
func TestSystemdSplitUsr(t *testing.T) {
	needBoot(t)
	t.Parallel()
	k := vm.NeedKernel(t)
	tree := debroot.Copy(t, debroot.Need(t, debroot.Bookworm))
	prepareRoot(t, tree)
	addModules(t, tree, k) // through /lib -> usr/lib: onto the /usr filesystem
	img := filepath.Join(t.TempDir(), "initrd.img")
	if out, err := exec.Command(filepath.Join(build, "mkinitramfs"), "-o", img, "-kver", k.Release, "-moddir", k.ModDir,
		"-init", filepath.Join(build, "init"), "-config", t.TempDir(), "-root", tree,
		"-modcache", filepath.Join(fixture.CacheDir(), "modules")).CombinedOutput(); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	usr := filepath.Join(t.TempDir(), "usr")
	if err := os.Rename(filepath.Join(tree, "usr"), usr); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tree, "usr"), 0o755); err != nil {
		t.Fatal(err)
	}
	fstab := debroot.Fstab + "UUID=" + usrUUID + " /usr ext4 rw,noatime 0 2\n"
	if err := os.WriteFile(filepath.Join(tree, "etc/fstab"), []byte(fstab), 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(t.TempDir(), "root.img")
	if err := vm.MakeDisk(disk, vm.Disk{Table: "gpt", Parts: []vm.Part{
		{FS: &vm.FS{Type: "ext4", UUID: debroot.RootUUID, Label: "debroot", SrcDir: tree, SizeMB: 512}, Name: "root"},
		{FS: &vm.FS{Type: "ext4", UUID: usrUUID, Label: "debusr", SrcDir: usr, SizeMB: 2048}, Name: "usr"},
	}}); err != nil {
		t.Fatal(err)
	}
	rep, f := bootReport(t, k.Image, img, disk)
	checkBoot(t, rep, f)
	if !strings.Contains(" "+f.Extra["mounts"]+" ", " /usr:ext4 ") {
		t.Errorf("mounts: %s, want /usr:ext4", f.Extra["mounts"])
	}
	mnt := strings.Fields(rep["usr_mount"]) // findmnt's columns: FSTYPE OPTIONS
	if len(mnt) != 2 || mnt[0] != "ext4" || !contains(strings.Split(mnt[1], ","), "rw") || !contains(strings.Split(mnt[1], ","), "noatime") {
		t.Errorf("/usr in the booted system: %q, want ext4 remounted rw,noatime as its fstab says", rep["usr_mount"])
	}
}
