package boot

import (
	"strconv"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// A virtio-blk ext4 root boots with no module named anywhere: virtio_pci and virtio_blk come
// from uevents, ext4 and its crc32c softdep are loaded before the mount, and a module
// parameter on the command line reaches the module.
func TestModulesFromUevents(t *testing.T) {
	for _, c := range []struct {
		name  string
		image func(*testing.T) string
		files []string // the files modules are loaded from, when the test checks them
	}{
		{"ko.zst", func(t *testing.T) string { return tb.image(t, "nounpack", "-roothint", "none", "-unpack", "none") },
			[]string{"virtio_blk.ko.zst", "ext4.ko.zst"}},
		// the default layout for a system whose root is ext4: its modules and the virtio
		// disk's plain in the zstd-compressed archive with the init, the others .ko.zst in
		// the plain one
		{"unpacked", func(t *testing.T) string { return tb.image(t, "hint-ext4", "-roothint", "ext4") },
			[]string{"virtio_pci.ko", "virtio_blk.ko", "ext4.ko"}},
		{"ko-in-zstd-archive", func(t *testing.T) string {
			return tb.image(t, "plainko", "-compress", "zstd", "-modcompress", "none")
		}, []string{"ext4.ko"}},
		// the init's archive xz-compressed after the plain one of modules, and one plain
		// archive of everything
		{"init-archive-xz", func(t *testing.T) string { return tb.image(t, "initxz", "-initcompress", "xz") }, nil},
		{"one-plain-archive", func(t *testing.T) string { return tb.image(t, "oneplain", "-initcompress", "none") }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(3)
			disk := wholeDisk(t, rootFS(t, "ext4", uuid, "root"))
			v := bootVM(t, vm.Config{
				Initrd: c.image(t),
				Append: "root=UUID=" + uuid + " virtio_blk.queue_depth=64 rd.debug",
				Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}},
			})
			f := facts(t, v)
			bootedOn(t, f, "/dev/vda", "ext4")
			if got := f.Extra["virtio_blk_queue_depth"]; got != "64" {
				t.Errorf("virtio_blk queue_depth = %q, want 64", got)
			}
			kernelLogComplete(t, f)
			noModprobeStarts(t, v)
			mods := "," + f.Extra["modules"] + ","
			for _, m := range []string{"virtio_pci", "virtio_blk", "ext4", "crc32c_generic"} {
				if !contains(mods, ","+m+",") {
					t.Errorf("module %s not loaded; loaded: %s", m, f.Extra["modules"])
				}
			}
			for _, file := range c.files {
				if !strings.Contains(v.Output(), ") from "+file+" in ") {
					t.Errorf("no module loaded from %s", file)
				}
			}
			exited(t, v, factsTimeout)
		})
	}
}

// With two CPUs, the filesystem the image names as its root's (-roothint) loads while the
// root is being found; a wrong hint costs a module load and nothing else: the root's own
// probe decides what is mounted.
func TestRootFSHint(t *testing.T) {
	for _, c := range []struct {
		name, hint, fstype string
	}{
		{"right", "xfs", "xfs"},
		{"wrong", "btrfs", "ext4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(81)
			disk := wholeDisk(t, rootFS(t, c.fstype, uuid, "root"))
			v := bootVM(t, vm.Config{
				Initrd: tb.image(t, "roothint-"+c.hint, "-roothint", c.hint),
				Append: "root=UUID=" + uuid + " rd.debug",
				Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}},
				CPUs:   2,
			})
			expect(t, v, `loading `+c.hint+` at once: the root filesystem the image was made for`, factsTimeout)
			f := facts(t, v)
			bootedOn(t, f, "/dev/vda", c.fstype)
			mods := "," + f.Extra["modules"] + ","
			for _, m := range []string{c.hint, c.fstype} {
				if !contains(mods, ","+m+",") {
					t.Errorf("module %s not loaded; loaded: %s", m, f.Extra["modules"])
				}
			}
			exited(t, v, factsTimeout)
		})
	}
}

// kernelLogComplete checks that the boot log of an rd.debug boot reached the kernel log
// whole, past the kernel's allowance of 10 records per open file of /dev/kmsg, and that
// the kernel's rate limit is still on for the booted system.
func kernelLogComplete(t *testing.T, f vm.Facts) {
	t.Helper()
	if got := f.Extra["printk_devkmsg"]; got != "ratelimit" {
		t.Errorf("printk_devkmsg = %q in the booted system, want the kernel's default, ratelimit", got)
	}
	// Such a boot logs about 24 lines; through one open file the kernel would have kept
	// 10 of them, plus the deletion helper's line.
	if n, err := strconv.Atoi(f.Extra["kmsg_earlyroot"]); err != nil || n < 16 {
		t.Errorf("%q earlyroot records in the kernel log, want 16 or more from an rd.debug boot", f.Extra["kmsg_earlyroot"])
	}
	if got := f.Extra["kmsg_ratelimited"]; got != "0" {
		t.Errorf("%q kernel log records report lines lost to the rate limit, want 0", got)
	}
}
