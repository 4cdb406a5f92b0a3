package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
	"github.com/earlyroot/earlyroot/modload"
)

// guestModules are what dmcheck needs in the guest: the scratch disk's driver,
// device-mapper, dm-crypt, and the XTS mode with the ECB mode it is built on (AES itself is
// built into Debian's kernel). The guest has no modprobe to answer the kernel's own
// "crypto-…" requests, so they are loaded beforehand.
var guestModules = []string{"virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "ecb", "xts"}

const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m || echo "DMCHECK insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
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
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("skipping: busybox not installed")
	}
	ix, err := modload.Build(k.ModDir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	seen := map[string]bool{}
	for _, name := range guestModules {
		m, ok := ix.Module(name)
		if !ok {
			t.Fatalf("module %s not in %s", name, k.ModDir)
		}
		for _, dep := range append(m.Deps, name) {
			if seen[dep] {
				continue
			}
			seen[dep] = true
			dm, ok := ix.Module(dep)
			if !ok {
				t.Fatalf("dependency %s of %s missing", dep, name)
			}
			order = append(order, dm.Path)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dmcheck")
	if err := vm.BuildStatic("./cmd/dmcheck", bin); err != nil {
		t.Fatal(err)
	}
	files := []vm.InitramfsFile{
		{Name: "bin/busybox", Src: bb, Mode: 0o755},
		{Name: "bin/dmcheck", Src: bin, Mode: 0o755},
		{Name: "init", Data: []byte(guestInit), Mode: 0o755},
		{Name: "modules.list", Data: []byte(strings.Join(order, "\n") + "\n")},
	}
	for _, p := range order {
		files = append(files, vm.InitramfsFile{Name: "lib/modules/" + p, Src: filepath.Join(k.ModDir, p)})
	}
	initrd := filepath.Join(dir, "guest.cpio")
	if err := vm.WriteInitramfs(initrd, files); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "scratch.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	v := vm.Boot(t, vm.Config{Kernel: k.Image, Initrd: initrd, Append: "panic=-1 quiet",
		Drives: []vm.Drive{{Path: disk, Serial: "scratch"}}})
	line, err := v.Expect(regexp.MustCompile(`^DMCHECK (PASS|FAIL)`), 4*time.Minute)
	for _, l := range strings.Split(v.Output(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "DMCHECK") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "DMCHECK PASS") {
		t.Fatalf("dmcheck: %s", line)
	}
	if err := v.WaitTimeout(time.Minute); err != nil {
		t.Error(err)
	}
}
