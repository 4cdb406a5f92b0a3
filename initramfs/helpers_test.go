package initramfs

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/modload"
)

// debianKernel is the Debian test kernel (make kernel), "" fields when there is none: the
// tests that use it call debianModDir first, which skips (or fails, under make test).
var debianKernel, _ = fixture.FindKernel()

// debianKver is its release ("6.1.0-57-amd64").
var debianKver = debianKernel.Release

// debianModDir is the Debian test kernel's module tree.
func debianModDir(t testing.TB) string {
	t.Helper()
	return fixture.NeedKernel(t).ModDir
}

var debianIndexOnce = sync.OnceValues(func() (*modload.Index, error) {
	return modload.Build(debianKernel.ModDir)
})

// debianIndex is modload's index of the whole Debian tree, built once.
func debianIndex(t testing.TB) *modload.Index {
	t.Helper()
	debianModDir(t)
	ix, err := debianIndexOnce()
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// fakeInit is a stand-in init binary: the image only needs a file.
func fakeInit(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(p, []byte("\x7fELF stand-in init\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTree creates files (path → content) below dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Modaliases of a QEMU q35 guest with a virtio-blk disk, an AHCI
// controller and a USB keyboard.
const (
	aliasVirtioPCI  = "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"
	aliasVirtioBlk  = "virtio:d00000002v00001AF4"
	aliasAHCI       = "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"
	aliasUSBKbd     = "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00"
	aliasUnmatched  = "platform:no-such-device"
	aliasVirtioNet  = "virtio:d00000001v00001AF4"
	fixtureRootLine = "/dev/vda1 / ext4 rw,relatime 0 0\n"
)

// fixtureSysfs builds a small sysfs with a few devices and a symlink loop
// (which must not be followed), plus a matching mount table.
func fixtureSysfs(t testing.TB) (sysfs, mounts string) {
	t.Helper()
	dir := t.TempDir()
	sysfs = filepath.Join(dir, "sys")
	writeTree(t, sysfs, map[string]string{
		"devices/pci0000:00/0000:00:04.0/modalias":         aliasVirtioPCI + "\n",
		"devices/pci0000:00/0000:00:04.0/virtio1/modalias": aliasVirtioBlk + "\n",
		"devices/pci0000:00/0000:00:1f.2/modalias":         aliasAHCI + "\n",
		"devices/platform/foo/modalias":                    aliasUnmatched + "\n",
		"devices/pci0000:00/0000:00:03.0/virtio0/modalias": aliasVirtioNet + "\n",
		"devices/pci0000:00/0000:00:1f.2/vendor":           "0x8086\n",
		"block/vda/dev":                                    "254:0\n",
	})
	if err := os.Symlink("../..", filepath.Join(sysfs, "devices/pci0000:00/0000:00:04.0/subsystem")); err != nil {
		t.Fatal(err)
	}
	mounts = filepath.Join(dir, "mounts")
	if err := os.WriteFile(mounts, []byte("rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n"+fixtureRootLine), 0o644); err != nil {
		t.Fatal(err)
	}
	return sysfs, mounts
}
