package initramfs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestModaliases(t *testing.T) {
	sysfs, _ := fixtureSysfs(t)
	got, err := Modaliases(sysfs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{aliasAHCI, aliasVirtioPCI, aliasUnmatched, aliasVirtioBlk, aliasVirtioNet}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Modaliases:\n got %q\nwant %q", got, want)
	}
	if _, err := Modaliases(t.TempDir()); err == nil {
		t.Error("no error for a sysfs without devices/")
	}
}

func TestRootMount(t *testing.T) {
	cases := []struct {
		name, text string
		want       Mount
		ok         bool
	}{
		{"plain", "rootfs / rootfs rw 0 0\n" + fixtureRootLine, Mount{"/dev/vda1", "/", "ext4"}, true},
		{"last wins", "/dev/sda1 / ext4 ro 0 0\n/dev/mapper/root / btrfs rw 0 0\n", Mount{"/dev/mapper/root", "/", "btrfs"}, true},
		{"escaped", "/dev/disk\\040x / xfs rw 0 0\n", Mount{"/dev/disk x", "/", "xfs"}, true},
		{"no root", "proc /proc proc rw 0 0\n", Mount{}, false},
		{"only rootfs", "rootfs / rootfs rw 0 0\n", Mount{}, false},
		{"short lines", "/dev/sda1\n\n", Mount{}, false},
	}
	for _, c := range cases {
		p := filepath.Join(t.TempDir(), "mounts")
		os.WriteFile(p, []byte(c.text), 0o644)
		got, err := RootMount(p)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: RootMount = %+v, %v", c.name, got, err)
		}
	}
	if _, err := RootMount(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing mount table")
	}
}

func TestStackModules(t *testing.T) {
	sysfs := t.TempDir()
	writeTree(t, sysfs, map[string]string{
		"block/dm-0/dm/name":        "cryptroot\n",
		"block/dm-0/dm/uuid":        "CRYPT-LUKS2-0123-cryptroot\n",
		"block/dm-0/slaves/md0/x":   "",
		"block/md0/md/level":        "raid1\n",
		"block/dm-1/dm/name":        "vg-root\n",
		"block/dm-1/dm/uuid":        "LVM-abc\n",
		"block/md1/md/level":        "raid5\n",
		"block/md2/md/level":        "raid10\n",
		"block/md2/md2p1/partition": "1\n",
		"block/dm-3/slaves/md2p1/x": "",
	})
	// A partitioned array's partition is found through /sys/class/block.
	if err := os.MkdirAll(filepath.Join(sysfs, "class", "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../block/md2/md2p1", filepath.Join(sysfs, "class", "block", "md2p1")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src  string
		want []string
	}{
		{"/dev/mapper/cryptroot", []string{"af_alg", "algif_skcipher", "dm_crypt", "dm_mod", "md_mod", "raid1"}},
		{"/dev/dm-1", []string{"dm_mod"}},
		{"/dev/mapper/unknown", []string{"dm_mod"}},
		{"/dev/md1", []string{"md_mod", "raid456"}},
		{"/dev/md2p1", []string{"md_mod", "raid10"}},
		{"/dev/dm-3", []string{"dm_mod", "md_mod", "raid10"}},
		{"/dev/vda1", []string{}},
	}
	for _, c := range cases {
		if got := StackModules(sysfs, c.src); !reflect.DeepEqual(got, c.want) {
			t.Errorf("StackModules(%s) = %q, want %q", c.src, got, c.want)
		}
	}
}

// hostFstab is a host's /etc/fstab: the root, /usr, and mounts marked x-initrd.mount
// (/var with a trailing slash, /srv mounted twice, /opt not mounted, /tmp on tmpfs, which
// needs nothing of the image), /home not marked.
const hostFstab = `# /etc/fstab
UUID=1111 /        ext4 errors=remount-ro 0 1
UUID=2222 /usr     xfs  defaults,x-initrd.mount 0 2
UUID=3333 /var/    btrfs defaults,x-initrd.mount 0 2
UUID=4444 /home    ext4 defaults 0 2
UUID=5555 /srv     ext4 x-initrd.mount,nofail 0 2
UUID=6666 /opt     ext4 x-initrd.mount 0 2
tmpfs     /tmp     tmpfs x-initrd.mount 0 0
/dev/vdz  none     swap sw,x-initrd.mount 0 0
`

func TestHostMounts(t *testing.T) {
	const table = "rootfs / rootfs rw 0 0\n/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n" +
		"/dev/md0 /usr xfs rw 0 0\n/dev/mapper/vg-var /var btrfs rw 0 0\n/dev/vdb1 /home ext4 rw 0 0\n" +
		"/dev/vdc1 /srv ext4 rw 0 0\n/dev/vdc2 /srv vfat rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
	root := Mount{"/dev/vda1", "/", "ext4"}
	usr := Mount{"/dev/md0", "/usr", "xfs"}
	cases := []struct {
		name, mounts string
		fstab        string // the host's /etc/fstab; "" is none
		want         []Mount
		err          string // part of the error expected
	}{
		{name: "no fstab", mounts: table, want: []Mount{root, usr}},
		{name: "root only", mounts: "rootfs / rootfs rw 0 0\n" + fixtureRootLine, fstab: hostFstab, want: []Mount{{"/dev/vda1", "/", "ext4"}}},
		{name: "x-initrd.mount", mounts: table, fstab: hostFstab,
			want: []Mount{root, usr, {"/dev/mapper/vg-var", "/var", "btrfs"}, {"/dev/vdc2", "/srv", "vfat"}}},
		{name: "empty fstab", mounts: table, fstab: "# nothing\n", want: []Mount{root, usr}},
		{name: "root marked", mounts: table, fstab: "/dev/vda1 / ext4 x-initrd.mount\n/dev/vdb1 /home//x/.. ext4 x-initrd.mount\n",
			want: []Mount{root, usr, {"/dev/vdb1", "/home", "ext4"}}},
		{name: "no root", mounts: "rootfs / rootfs rw 0 0\n/dev/md0 /usr xfs rw 0 0\n", fstab: hostFstab, err: "no / in"},
		{name: "unreadable fstab", mounts: table, fstab: "dir", err: "host fstab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			mounts, hostRoot := filepath.Join(dir, "mounts"), filepath.Join(dir, "root")
			writeTree(t, dir, map[string]string{"mounts": c.mounts})
			switch c.fstab {
			case "":
			case "dir":
				must(t, os.MkdirAll(filepath.Join(hostRoot, "etc", "fstab"), 0o755))
			default:
				writeTree(t, hostRoot, map[string]string{"etc/fstab": c.fstab})
			}
			got, err := HostMounts(mounts, hostRoot)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("HostMounts = %+v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("HostMounts = %+v, %v\nwant %+v", got, err, c.want)
			}
		})
	}
	if _, err := HostMounts(filepath.Join(t.TempDir(), "missing"), t.TempDir()); err == nil {
		t.Error("no error for a missing mount table")
	}
}

func TestHostModulesDebian(t *testing.T) {
	ix := debianIndex(t)
	sysfs, mounts := fixtureSysfs(t)
	got, err := HostModules(ix, sysfs, mounts, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"virtio_pci", "virtio_blk", "ahci", "ext4"} {
		if !slices.Contains(got, want) {
			t.Errorf("host modules %q lack %s", got, want)
		}
	}
	if slices.Contains(got, "virtio_net") {
		t.Error("host modules include the network driver virtio_net")
	}
	if len(got) > 10 {
		t.Errorf("host modules: %d, too many: %q", len(got), got)
	}
}

// Besides the root's, a host-only image carries the filesystem and device-stack modules of
// /usr and of the host's x-initrd.mount filesystems: exactly those, on top of the fixture
// machine's own (its drivers and ext4 for its root).
func TestHostModulesMounts(t *testing.T) {
	ix := debianIndex(t)
	sysfs, mounts := fixtureSysfs(t)
	base, err := HostModules(ix, sysfs, mounts, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"xfs", "btrfs", "vfat", "md_mod", "raid1", "raid456", "dm_mod", "dm_crypt", "af_alg", "algif_skcipher"} {
		if slices.Contains(base, m) {
			t.Fatalf("the fixture machine's modules %q hold %s already", base, m)
		}
	}
	writeTree(t, sysfs, map[string]string{
		"block/md0/md/level":         "raid1\n",
		"block/md1/md/level":         "raid5\n",
		"block/dm-0/dm/name":         "vg-srv\n",
		"block/dm-0/dm/uuid":         "LVM-abc\n",
		"block/dm-0/slaves/md1/x":    "",
		"block/dm-1/dm/name":         "cryptvar\n",
		"block/dm-1/dm/uuid":         "CRYPT-LUKS2-0123-cryptvar\n",
		"block/dm-1/slaves/vda2/dev": "",
	})
	root := "rootfs / rootfs rw 0 0\n" + fixtureRootLine
	devDir := t.TempDir() // the links mdadm and lvm make
	must(t, os.MkdirAll(filepath.Join(devDir, "md"), 0o755))
	must(t, os.MkdirAll(filepath.Join(devDir, "vg"), 0o755))
	for link, target := range map[string]string{"md/data": "../md0", "vg/srv": "../dm-0", "md0": "", "dm-0": ""} {
		if target == "" {
			writeTree(t, devDir, map[string]string{link: ""})
			continue
		}
		must(t, os.Symlink(target, filepath.Join(devDir, link)))
	}
	cases := []struct {
		name, mounts, fstab string // fstab "" is none
		extra               []string
	}{
		{name: "/usr on xfs", mounts: root + "/dev/vda2 /usr xfs rw 0 0\n", extra: []string{"xfs"}},
		{name: "/usr on ext4 too", mounts: root + "/dev/vda2 /usr ext4 rw 0 0\n"},
		{name: "/usr on md raid1", mounts: root + "/dev/md0 /usr btrfs rw 0 0\n", extra: []string{"btrfs", "md_mod", "raid1"}},
		{name: "/usr on md raid1 by its name", mounts: root + "/dev/md/data /usr btrfs rw 0 0\n", extra: []string{"btrfs", "md_mod", "raid1"}},
		{name: "/usr on an LV by its VG path", mounts: root + "/dev/vg/srv /usr vfat rw 0 0\n", extra: []string{"vfat", "dm_mod", "md_mod", "raid456"}},
		{name: "/usr on tmpfs", mounts: root + "tmpfs /usr tmpfs rw 0 0\n"},
		{name: "x-initrd.mount on lvm on raid5", mounts: root + "/dev/mapper/vg-srv /srv vfat rw 0 0\n",
			fstab: "/dev/vg/srv /srv vfat x-initrd.mount 0 0\n", extra: []string{"vfat", "dm_mod", "md_mod", "raid456"}},
		{name: "x-initrd.mount on luks", mounts: root + "/dev/mapper/cryptvar /var xfs rw 0 0\n",
			fstab: "/dev/mapper/cryptvar /var xfs defaults,x-initrd.mount 0 0\n", extra: []string{"xfs", "dm_mod", "dm_crypt", "af_alg", "algif_skcipher"}},
		{name: "not marked", mounts: root + "/dev/mapper/cryptvar /var xfs rw 0 0\n",
			fstab: "/dev/mapper/cryptvar /var xfs defaults 0 0\n"},
		{name: "marked, not mounted", mounts: root, fstab: "/dev/md0 /srv btrfs x-initrd.mount 0 0\n"},
		{name: "no fstab", mounts: root + "/dev/mapper/cryptvar /var xfs rw 0 0\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"mounts": c.mounts})
			if c.fstab != "" {
				writeTree(t, dir, map[string]string{"root/etc/fstab": c.fstab})
			}
			got, err := HostModules(ix, sysfs, filepath.Join(dir, "mounts"), filepath.Join(dir, "root"), devDir)
			if err != nil {
				t.Fatal(err)
			}
			want := sortedCopy(append(slices.Clone(base), c.extra...))
			if !slices.Equal(got, want) {
				t.Errorf("host modules:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func FuzzRootMount(f *testing.F) {
	f.Add("rootfs / rootfs rw 0 0\n" + fixtureRootLine)
	f.Add("/dev/disk\\040x / xfs rw 0 0\n\\ / \\0\n")
	f.Add("sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n/dev/nvme0n1p2 / btrfs rw,subvol=/@ 0 0\n")
	if real, err := os.ReadFile("/proc/mounts"); err == nil {
		f.Add(string(real))
	}
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "mounts")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := RootMount(p)
		if err == nil && (m.Target != "/" || m.FSType == "" || m.FSType == "rootfs") {
			t.Errorf("bad mount %+v", m)
		}
	})
}
