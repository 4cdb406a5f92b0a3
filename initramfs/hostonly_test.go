package initramfs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

func TestHostModulesDebian(t *testing.T) {
	ix := debianIndex(t)
	sysfs, mounts := fixtureSysfs(t)
	got, err := HostModules(ix, sysfs, mounts)
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
