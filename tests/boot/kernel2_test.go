package boot

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// TestSecondKernel boots a subset of the suite on Debian 13's kernel, which ships as
// distributions ship kernels now: a merged /usr/lib/modules tree of .ko.xz modules, which the
// kernel decompresses itself. Its images keep the modules .ko.xz; the init hands each file to
// finit_module compressed (rd.debug's "decompressed by the kernel"), and the root is mounted:
// a plain ext4 root by UUID through the generic image and through a host-only one, a LUKS
// root opened with a typed passphrase, and LVM on MD. The builder's disks are plain files,
// the same whichever kernel boots them.
func TestSecondKernel(t *testing.T) {
	k := tb.secondKernel(t)
	cases := []struct {
		name  string
		boot  func(t *testing.T) *vm.VM
		root  *regexp.Regexp // the root's device
		wants []string       // modules the root needs, each loaded from its .ko.xz by the kernel
		// unpacked: the image carries them uncompressed in its compressed archive instead
		// (a host-only image's modules), and the kernel decompressed none at load
		unpacked bool
	}{
		{name: "generic-ext4-uuid", root: regexp.MustCompile(`^/dev/vda$`),
			wants: []string{"virtio_blk", "ext4"},
			boot: func(t *testing.T) *vm.VM {
				uuid := uuidFor(1201)
				disk := wholeDisk(t, rootFS(t, "ext4", uuid, "root"))
				return bootOn(t, k, vm.Config{Append: "root=UUID=" + uuid + " rd.debug",
					Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}}})
			}},
		{name: "hostonly-ext4", root: regexp.MustCompile(`^/dev/vda$`),
			wants: []string{"virtio_blk", "ext4"}, unpacked: true,
			boot: func(t *testing.T) *vm.VM {
				mounts := filepath.Join(t.TempDir(), "mounts")
				writeFile(t, mounts, "/dev/vda / ext4 rw,relatime 0 0\n")
				img := tb.imageFor(t, k, "hostonly", "-hostonly", "-sysfs", fixture.QEMUSysfs(t), "-mounts", mounts)
				uuid := uuidFor(1202)
				disk := wholeDisk(t, rootFS(t, "ext4", uuid, "root"))
				return bootOn(t, k, vm.Config{Initrd: img, Append: "root=UUID=" + uuid + " rd.debug",
					Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}}})
			}},
		{name: "luks2-typed", root: regexp.MustCompile(`^/dev/dm-0$`),
			wants: []string{"virtio_blk", "dm_crypt", "ext4"},
			boot: func(t *testing.T) *vm.VM {
				s := builder.Disk(t, "luks2-pbkdf2")
				v := bootOn(t, k, vm.Config{Drives: s.Drives(t), Append: luksAppend(s.Recipe, "rd.debug") + " ro"})
				expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
				send(t, v, builder.Passphrase)
				return v
			}},
		{name: "lvm-on-md", root: regexp.MustCompile(`^/dev/dm-\d+$`),
			wants: []string{"virtio_blk", "raid1", "dm_mod", "ext4"},
			boot: func(t *testing.T) *vm.VM {
				r, _ := builder.Lookup("lvm-on-md")
				s := builder.Disk(t, r.Name)
				return bootOn(t, k, vm.Config{Drives: s.Drives(t), Append: "root=UUID=" + r.RootUUID + " ro rd.debug"})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := tc.boot(t)
			f := facts(t, v)
			bootedOn(t, f, "", "ext4")
			if !tc.root.MatchString(f.RootSource) {
				t.Errorf("root source %q, want %s", f.RootSource, tc.root)
			}
			if got := f.Extra["kernel"]; got != k.Release {
				t.Errorf("booted kernel %q, want %s", got, k.Release)
			}
			for _, m := range tc.wants {
				// The file may spell the name with '-' (dm-crypt.ko.xz).
				file := strings.ReplaceAll(m, "_", "[-_]")
				re := regexp.MustCompile(`loaded ` + m + ` \(.*\) from ` + file + `\.ko\.xz, decompressed by the kernel in `)
				if tc.unpacked {
					re = regexp.MustCompile(`loaded ` + m + ` \(.*\) from ` + file + `\.ko in `)
				}
				if !re.MatchString(v.Output()) {
					t.Errorf("no line %q: %s not loaded as the image carries it", re, m)
				}
			}
			if tc.unpacked && strings.Contains(v.Output(), "decompressed by the kernel") {
				t.Errorf("a module decompressed by the kernel at load: the host-only image carries them uncompressed")
			}
			if strings.Contains(v.Output(), ".ko.zst") {
				t.Errorf("a .ko.zst in the log: the image recompressed the tree's modules")
			}
			exited(t, v, factsTimeout)
		})
	}
}
