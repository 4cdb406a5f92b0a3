package initramfs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/earlyroot/earlyroot/modload"
)

// sameIndex fails t when a and b disagree on any module, on the fixture
// machine's modaliases or on a few aliases the loader resolves by name.
func sameIndex(t *testing.T, a, b *modload.Index) {
	t.Helper()
	if !reflect.DeepEqual(a.Modules(), b.Modules()) {
		t.Fatalf("modules differ:\n%q\n%q", a.Modules(), b.Modules())
	}
	for _, n := range a.Modules() {
		ma, _ := a.Module(n)
		mb, _ := b.Module(n)
		if !reflect.DeepEqual(ma, mb) {
			t.Errorf("module %s: %+v vs %+v", n, ma, mb)
		}
	}
	for _, q := range []string{aliasVirtioPCI, aliasVirtioBlk, aliasAHCI, aliasVirtioNet, "fs-ext4", "crypto-crc32c", "crc32c"} {
		if la, lb := a.Lookup(q), b.Lookup(q); !reflect.DeepEqual(la, lb) {
			t.Errorf("lookup %s: %q vs %q", q, la, lb)
		}
	}
}

// xzTree writes a tree of .ko.xz files (kbuild's format) made from a few
// modules of the Debian tree, with their builtin lists.
func xzTree(t *testing.T) string {
	t.Helper()
	src := debianModDir(t)
	dir := filepath.Join(t.TempDir(), "lib", "modules", debianKver)
	for _, m := range []string{
		"kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
		"kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko",
		"kernel/fs/mbcache.ko", "kernel/lib/crc16.ko", "kernel/arch/x86/crypto/crc32c-intel.ko",
		"kernel/drivers/scsi/qla1280.ko",
	} {
		data, err := os.ReadFile(filepath.Join(src, m))
		if err != nil {
			t.Fatal(err)
		}
		z, err := CompressModule(data, XZ)
		if err != nil {
			t.Fatal(err)
		}
		writeTree(t, dir, map[string]string{m + ".xz": string(z)})
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		writeTree(t, dir, map[string]string{f: string(data)})
	}
	return dir
}

// A .ko.xz tree without depmod files is indexed from depmod's output on a
// shadow of the tree, with the same facts modload reads from the modules,
// and the tree is left unwritten.
func TestTreeIndexDepmod(t *testing.T) {
	if findDepmod() == "" {
		t.Skip("depmod (kmod) not installed: the shadow index cannot be made")
	}
	tree := xzTree(t)
	if !hasCompressedModules(tree) || hasDepmodFiles(tree) {
		t.Fatal("fixture is not a compressed tree without depmod files")
	}
	tmp := t.TempDir()
	got, err := treeIndex(context.Background(), tree, debianKver, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "depmod", "lib", "modules", debianKver, "modules.dep")); err != nil {
		t.Errorf("depmod did not run: %v", err)
	}
	if hasDepmodFiles(tree) {
		t.Error("depmod wrote into the module tree")
	}
	want, err := modload.Build(tree)
	if err != nil {
		t.Fatal(err)
	}
	sameIndex(t, got, want)
	if len(got.Modules()) != 12 {
		t.Errorf("%d modules: %q", len(got.Modules()), got.Modules())
	}
}

// The image's index narrowed from the tree's (module paths changed by the
// compression) is the index modload makes of the staged modules.
func TestSubsetIndexMatchesStaged(t *testing.T) {
	cfg := hostConfig(t)
	cfg.Modules = []string{"xfs", "qla1280"}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ScanModules(cfg.ModDir)
	if err != nil {
		t.Fatal(err)
	}
	names, _, err := selectModules(cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	read := func(cfg Config) *modload.Index {
		stage := t.TempDir()
		loading, _, _, err := kernelSupport(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stageModules(context.Background(), cfg, zstdEncoder{}, loading, mods, names, nil, stage); err != nil {
			t.Fatal(err)
		}
		ix, err := modload.ReadIndexFile(filepath.Join(stage, IndexFile))
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	subset := read(cfg)
	cfg.Index = nil // no tree index: the staged tree is read
	sameIndex(t, subset, read(cfg))
	jobs := []stageJob{{name: "virtio_blk", rel: "kernel/drivers/block/virtio_blk.ko.zst"}}
	if m, ok := subsetIndex(debianIndex(t), []string{"virtio_blk"}, jobs).Module("virtio_blk"); !ok || m.Path != jobs[0].rel {
		t.Errorf("subsetIndex's virtio_blk = %+v, want the staged path %s", m, jobs[0].rel)
	}
	if subsetIndex(debianIndex(t), []string{"virtio_blk", "sd_mod"}, jobs) != nil {
		t.Error("subsetIndex narrowed the tree's index to a module that was not staged")
	}
}
