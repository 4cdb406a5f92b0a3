package initramfs

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestModuleName(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"kernel/drivers/block/virtio_blk.ko", "virtio_blk", true},
		{"kernel/fs/nls/nls_iso8859-1.ko.xz", "nls_iso8859_1", true},
		{"crc32c-intel.ko.zst", "crc32c_intel", true},
		{"a/b.ko.gz", "b", true},
		{"modules.dep", "", false},
		{".ko", "", false},
		{"kernel/x.ko.bz2", "", false},
	}
	for _, c := range cases {
		got, ok := ModuleName(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ModuleName(%q) = %q, %v", c.in, got, ok)
		}
	}
}

func FuzzModuleName(f *testing.F) {
	for _, s := range []string{"kernel/fs/ext4/ext4.ko", "x.ko.xz", "/.ko.zst", "a-b_c.ko.gz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, ok := ModuleName(p)
		if ok && (name == "" || strings.Contains(name, "-")) {
			t.Errorf("ModuleName(%q) = %q", p, name)
		}
	})
}

func TestSelectionMatch(t *testing.T) {
	mods := []ModuleFile{
		{Name: "virtio_blk", Path: "kernel/drivers/block/virtio_blk.ko"},
		{Name: "floppy", Path: "kernel/drivers/block/floppy.ko"},
		{Name: "e1000", Path: "kernel/drivers/net/ethernet/intel/e1000/e1000.ko"},
		{Name: "nls_utf8", Path: "kernel/fs/nls/nls_utf8.ko"},
		{Name: "nls_koi8_r", Path: "kernel/fs/nls/nls_koi8-r.ko"},
		{Name: "custom", Path: "updates/custom.ko"},
	}
	sel := Selection{
		Prefixes: []string{"drivers/block/", "updates/"},
		Exclude:  []string{"drivers/block/floppy"},
		Names:    []string{"nls_utf8", "nls-koi8-r", "not_in_tree"},
	}
	want := []string{"custom", "nls_koi8_r", "nls_utf8", "virtio_blk"}
	if got := sel.Match(mods); !reflect.DeepEqual(got, want) {
		t.Errorf("Match = %q, want %q", got, want)
	}
}

func TestScanModulesDebian(t *testing.T) {
	mods, err := ScanModules(debianModDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 3000 {
		t.Errorf("only %d modules", len(mods))
	}
	if !slices.IsSortedFunc(mods, func(a, b ModuleFile) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("not sorted by path")
	}
	if _, err := ScanModules(t.TempDir()); err == nil {
		t.Error("no error for an empty tree")
	}
}

func TestSelectModulesAndOmit(t *testing.T) {
	moddir := debianModDir(t)
	ix := debianIndex(t)
	mods, err := ScanModules(moddir)
	if err != nil {
		t.Fatal(err)
	}
	sysfs, mounts := fixtureSysfs(t)
	base := Config{ModDir: moddir, HostOnly: true, SysFS: sysfs, Mounts: mounts}
	cases := []struct {
		name          string
		modules, omit []string
		has, hasNot   []string
		err           bool
	}{
		{name: "host only", has: []string{"virtio_blk", "ext4", "jbd2", "crc32c_generic", "ahci"}, hasNot: []string{"xfs", "sd_mod"}},
		{name: "extra by name and alias", modules: []string{"xfs", "fs-vfat", "crypto-crc32c", "sd-mod"},
			has: []string{"xfs", "vfat", "fat", "crc32c_intel", "sd_mod", "scsi_mod"}},
		{name: "builtin extra", modules: []string{"unix"}, has: []string{"virtio_blk"}},
		{name: "omit leaf", omit: []string{"virtio_blk"}, has: []string{"ext4"}, hasNot: []string{"virtio_blk"}},
		{name: "omit dependency", omit: []string{"libata"}, hasNot: []string{"libata", "ahci", "libahci"}, has: []string{"virtio_blk"}},
		{name: "unknown extra", modules: []string{"no_such_module"}, err: true},
		{name: "unknown omit", omit: []string{"no_such_module"}, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.Modules, cfg.Omit = c.modules, c.omit
			names, err := selectWith(cfg, mods, ix)
			if c.err {
				if err == nil {
					t.Fatalf("no error; got %q", names)
				}
				if !strings.Contains(err.Error(), "unknown module") {
					t.Errorf("error %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range c.has {
				if !slices.Contains(names, h) {
					t.Errorf("lacks %s: %q", h, names)
				}
			}
			for _, h := range c.hasNot {
				if slices.Contains(names, h) {
					t.Errorf("has %s", h)
				}
			}
		})
	}
}
