package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// guestModules are what dmcheck needs in the guest: the scratch disk's driver,
// device-mapper, dm-crypt, and the XTS mode with the ECB mode it is built on (AES itself is
// built into Debian's kernel). The guest has no modprobe to answer the kernel's own
// "crypto-…" requests, so they are loaded beforehand.
var guestModules = []string{"virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "ecb", "xts"}

const guestScript = `disks 1 10
/bin/dmcheck /dev/vda
dmesg | grep -i -e device-mapper -e crypt | sed 's/^/DMCHECK dmesg: /'
poweroff -f
`

// TestGuest boots the test kernel with a busybox initramfs holding dmcheck and the dm
// modules, and runs dmcheck against a scratch virtio disk: package dm against the real
// device-mapper.
func TestGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping VM boot in -short mode")
	}
	k := vm.NeedKernel(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "dmcheck")
	if err := vm.BuildStatic("./cmd/dmcheck", bin); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "scratch.img")
	if err := vm.CreateSparse(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	g := vm.BusyboxGuest{Modules: guestModules, Script: guestScript,
		Files: []vm.InitramfsFile{{Name: "bin/dmcheck", Src: bin, Mode: 0o755}}}
	vm.RunBusybox(t, k, g, vm.Config{Append: "panic=-1 quiet", Drives: []vm.Drive{{Path: disk, Serial: "scratch"}}},
		"DMCHECK", 4*time.Minute)
}
