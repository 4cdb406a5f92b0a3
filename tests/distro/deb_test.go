package distro

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/debroot"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// TestDebianPackage installs earlyroot's package (make deb), then Debian's own package of the
// test kernel, in a chroot of the debootstrapped root, as on a Debian machine. The kernel
// package's hooks must make /boot/initrd.img-VERSION with earlyroot's init, and it must boot
// the root, with the kernel the package installed, to a clean multi-user.target. In that boot
// the guest makes a host-only image with the installed generator (on its own hardware), which
// boots too. Purging the kernel package removes the image.
func TestDebianPackage(t *testing.T) {
	needBoot(t)
	t.Parallel() // the two tests boot one VM at a time each; make boot runs -parallel 2
	k := vm.NeedKernel(t)
	kdeb, err := k.Package()
	if err != nil {
		t.Fatal(err)
	}
	edeb := earlyrootDeb(t)
	tree := debroot.Copy(t, debroot.Need(t, debroot.Bookworm))
	for _, deb := range []string{edeb, kdeb} {
		run(t, "cp", deb, filepath.Join(tree, "tmp"))
		inChroot(t, tree, "dpkg", "-i", "/tmp/"+filepath.Base(deb))
		os.Remove(filepath.Join(tree, "tmp", filepath.Base(deb)))
	}

	initrd := filepath.Join(tree, "boot", "initrd.img-"+k.Release)
	img, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatalf("the kernel package made no image: %v", err)
	}
	init, err := os.ReadFile(filepath.Join(tree, "usr/lib/earlyroot/init"))
	if err != nil {
		t.Fatal(err)
	}
	if built, err := os.ReadFile(filepath.Join(build, "init")); err != nil || !bytes.Equal(built, init) {
		t.Fatalf("%s holds another init than build/init (%v): run make deb", filepath.Base(edeb), err)
	}
	if got := archiveFile(t, img, "init"); !bytes.Equal(got, init) {
		t.Fatalf("%s: /init (%d bytes) is not the package's /usr/lib/earlyroot/init (%d bytes)", initrd, len(got), len(init))
	}
	// Kept outside the tree: purging the kernel below removes both from /boot.
	keep := t.TempDir()
	kernel, generic := filepath.Join(keep, "vmlinuz"), filepath.Join(keep, "initrd.img")
	run(t, "cp", filepath.Join(tree, "boot", "vmlinuz-"+k.Release), kernel)
	run(t, "cp", initrd, generic)

	prepareRoot(t, tree)
	disk := rootDisk(t, tree)

	kpkg := strings.SplitN(filepath.Base(kdeb), "_", 2)[0]
	inChroot(t, tree, "dpkg", "--purge", kpkg)
	if _, err := os.Stat(initrd); !os.IsNotExist(err) {
		t.Errorf("purging %s left %s (stat: %v)", kpkg, initrd, err)
	}

	t.Run("generic", func(t *testing.T) {
		rep, f := bootReport(t, kernel, generic, disk)
		checkBoot(t, rep, f)
		if h := rep["hostonly"]; !strings.HasPrefix(h, "made ") {
			t.Fatalf("host-only image in the guest: %q", h)
		}
	})
	t.Run("hostonly", func(t *testing.T) {
		hostonly := filepath.Join(keep, "initrd.img-hostonly")
		dumpFromDisk(t, disk, "/boot/initrd.img-hostonly", hostonly)
		hi, gi := fileSize(t, hostonly), fileSize(t, generic)
		if hi >= gi {
			t.Errorf("host-only image %d bytes, not smaller than the generic %d", hi, gi)
		}
		rep, f := bootReport(t, kernel, hostonly, disk)
		checkBoot(t, rep, f)
		if _, made := rep["hostonly"]; made {
			t.Errorf("the host-only image was made again: %q", rep["hostonly"])
		}
	})
}

// earlyrootDeb is the package make deb built (the only one in build/).
func earlyrootDeb(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(build, "earlyroot_*_amd64.deb"))
	if len(m) != 1 {
		t.Fatalf("want one build/earlyroot_*_amd64.deb (make deb), found %q", m)
	}
	return m[0]
}

// inChroot runs a command in the chroot of tree with a clean environment, as root does on
// the installed system. dpkg and the kernel's maintainer scripts need nothing mounted.
func inChroot(t *testing.T, tree string, args ...string) string {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{tree}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root"}
	out, err := cmd.CombinedOutput()
	t.Logf("chroot %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("chroot %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// archiveFile returns the content of name in the image, whatever its archives
// (initramfs.ImageRecords).
func archiveFile(t *testing.T, img []byte, name string) []byte {
	t.Helper()
	recs, err := initramfs.ImageRecords(img)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	r, ok := recs[name]
	if !ok {
		t.Fatalf("image has no %s", name)
	}
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpFromDisk copies a file out of the root filesystem of disk (its first partition, at
// 1 MiB) with debugfs, without mounting it.
func dumpFromDisk(t *testing.T, disk, src, dst string) {
	t.Helper()
	run(t, "debugfs", "-R", "dump "+src+" "+dst, disk+"?offset=1048576")
	if fileSize(t, dst) == 0 {
		t.Fatalf("%s dumped from %s is empty", src, disk)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
