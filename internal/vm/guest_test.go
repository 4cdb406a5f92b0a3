package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These tests boot the real kernel with a busybox initramfs that loads the
// storage drivers itself, to prove that what args() asks QEMU for shows up
// in the guest as disks, that Send reaches the console, that Hotplug
// works, and that a RootDir/MakeDisk root boots cmd/testinit.

// guestInitramfs writes a BusyboxGuest initramfs with the modules (and their
// dependencies) and script.
func guestInitramfs(t *testing.T, k Kernel, mods []string, script string) string {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("skipping: busybox not installed")
	}
	out := filepath.Join(t.TempDir(), "guest.cpio")
	if err := WriteBusyboxInitramfs(out, k, BusyboxGuest{Modules: mods, Script: script}); err != nil {
		t.Fatal(err)
	}
	return out
}

// poweredOff waits for QEMU to exit and checks that the guest powered off: a clean exit alone
// could also be a reboot or, under panic=-1, a kernel panic (-no-reboot turns both into an
// exit).
func poweredOff(t *testing.T, v *VM, within time.Duration) {
	t.Helper()
	if err := v.WaitTimeout(within); err != nil {
		t.Fatal(err)
	}
	if r := v.ShutdownReason(); r != ShutdownPoweroff {
		t.Errorf("QEMU shutdown reason %q, want %q", r, ShutdownPoweroff)
	}
}

func emptyImage(t *testing.T, mb int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("empty%d.img", mb))
	if err := CreateSparse(p, int64(mb)<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

// guestAppend is the guest kernel command line; EARLYROOT_VM_VERBOSE=1
// drops "quiet" to debug a failing boot from its console log.
func guestAppend() string {
	if os.Getenv("EARLYROOT_VM_VERBOSE") == "1" {
		return "panic=-1 loglevel=7"
	}
	return "panic=-1 quiet"
}

var busModules = map[string][]string{
	BusVirtioBlk:  {"virtio_pci", "virtio_blk"},
	BusVirtioSCSI: {"virtio_pci", "virtio_scsi", "sd_mod"},
	BusAHCI:       {"ahci", "sd_mod"},
	BusIDE:        {"ata_piix", "sd_mod"},
	BusNVMe:       {"nvme"},
	BusUSBStorage: {"xhci_pci", "usb_storage", "sd_mod"},
	BusUSBUAS:     {"xhci_pci", "uas", "sd_mod"},
	BusLSI:        {"sym53c8xx", "sd_mod"},
	BusMegasas:    {"megaraid_sas", "sd_mod"},
	BusMPTSAS:     {"mptsas", "sd_mod"},
	BusAM53C974:   {"am53c974", "sd_mod"},
}

// TestGuestBuses boots once per bus with two disks (8 and 12 MiB) and
// checks the guest sees both, with the first one's serial where the
// driver exposes it.
func TestGuestBuses(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping VM boots in -short mode")
	}
	k := NeedKernel(t)
	img8, img12 := emptyImage(t, 8), emptyImage(t, 12)
	for _, bus := range Buses {
		t.Run(bus, func(t *testing.T) {
			t.Parallel()
			initrd := guestInitramfs(t, k, busModules[bus], "disks 2 60\necho GUEST-DONE\npoweroff -f\n")
			v := Boot(t, Config{Kernel: k.Image, Initrd: initrd, Append: guestAppend(),
				Drives: []Drive{{Path: img8, Bus: bus, Serial: "ser8", ReadOnly: true}, {Path: img12, Bus: bus, ReadOnly: true}}})
			if _, err := v.Expect(regexp.MustCompile(`^GUEST-DONE`), 3*time.Minute); err != nil {
				t.Fatal(err)
			}
			poweredOff(t, v, time.Minute)
			disks := regexp.MustCompile(`(?m)^DISK (\S+) (\d+) serial=(\S*)`).FindAllStringSubmatch(v.Output(), -1)
			sizes := map[string]string{}
			for _, d := range disks {
				sizes[d[2]] = d[1] + " serial=" + d[3]
				t.Logf("%s: %s %s sectors serial=%q", bus, d[1], d[2], d[3])
			}
			s8, ok8 := sizes["16384"]
			_, ok12 := sizes["24576"]
			if !ok8 || !ok12 || len(disks) != 2 {
				t.Fatalf("guest disks %q, want an 8 MiB and a 12 MiB disk", disks)
			}
			// The serial surfaces in sysfs for these drivers (usb-storage
			// reports the USB device serial elsewhere; nvme the controller's).
			switch bus {
			case BusVirtioBlk, BusNVMe, BusVirtioSCSI, BusLSI, BusMegasas, BusMPTSAS, BusAM53C974, BusAHCI, BusIDE, BusUSBUAS:
				if !strings.Contains(s8, "ser8") {
					t.Errorf("8 MiB disk %s: serial ser8 not visible", s8)
				}
			}
		})
	}
}

// TestGuestSendAndHotplug checks console input and QMP hot-plug of a
// virtio-blk and a virtio-scsi disk.
func TestGuestSendAndHotplug(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping VM boots in -short mode")
	}
	k := NeedKernel(t)
	script := `echo GUEST-READY
read line
echo "GOT <$line>"
disks 2 120
echo GUEST-DONE
poweroff -f
`
	initrd := guestInitramfs(t, k, []string{"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod"}, script)
	v := Boot(t, Config{Kernel: k.Image, Initrd: initrd, Append: guestAppend(), Monitor: true})
	if _, err := v.Expect(regexp.MustCompile(`^GUEST-READY`), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := v.Send("hello vm\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Expect(regexp.MustCompile(`^GOT <hello vm>`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := v.Hotplug(Drive{Path: emptyImage(t, 8), Serial: "hot1"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Hotplug(Drive{Path: emptyImage(t, 12), Bus: BusVirtioSCSI, Serial: "hot2", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Expect(regexp.MustCompile(`^GUEST-DONE`), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	out := v.Output()
	for _, want := range []string{"DISK vda 16384 serial=hot1", "DISK sda 24576 serial=hot2"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if err := v.Hotplug(Drive{Path: "/x", Bus: BusNVMe}); err == nil {
		t.Error("nvme hot-plug: no error")
	}
	if _, err := v.QMP("query-status", nil); err != nil && v.WaitTimeout(time.Minute) != nil {
		t.Errorf("query-status: %v", err)
	}
	poweredOff(t, v, time.Minute)
}

// TestGuestSwitchRoot builds a GPT disk whose root partition is a RootDir
// with cmd/testinit, mounts it from a busybox initramfs, moves the API
// mounts like a real initramfs would, switch_roots, and checks the facts.
func TestGuestSwitchRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping VM boots in -short mode")
	}
	k := NeedKernel(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := RootDir(root, BuildTestinit(t)); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(t.TempDir(), "disk.img")
	err := MakeDisk(disk, Disk{Table: "gpt", Parts: []Part{
		{SizeMB: 4, Name: "spacer"},
		{FS: &FS{Type: "ext4", Label: "testroot", SrcDir: root}, PartUUID: "6a0f0b52-5d5c-4c21-9d0e-3c8f1d2e0a11", Name: "root"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	script := `disks 1 60
mkdir -p /newroot
mount -t ext4 -o ro /dev/vda2 /newroot || echo MOUNT-FAILED
mkdir -p /run
for m in /proc /sys /dev; do mount --move $m /newroot$m; done
exec switch_root /newroot /sbin/init from-busybox
`
	initrd := guestInitramfs(t, k, []string{"virtio_pci", "virtio_blk", "ext4"}, script)
	v := Boot(t, Config{Kernel: k.Image, Initrd: initrd, Append: guestAppend(),
		Drives: []Drive{{Path: disk, Serial: "rootdisk"}}})
	f, err := v.ExpectFacts(3 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	poweredOff(t, v, time.Minute)
	if f.PID != 1 || f.RootFSType != "ext4" || f.RootSource != "/dev/vda2" || !strings.HasPrefix(f.RootOptions, "ro") {
		t.Errorf("root: pid %d %s %s %s", f.PID, f.RootFSType, f.RootSource, f.RootOptions)
	}
	if !f.Proc || !f.Sys || !f.Dev || f.Run {
		t.Errorf("pre-mounted proc=%v sys=%v dev=%v run=%v, want true true true false", f.Proc, f.Sys, f.Dev, f.Run)
	}
	if strings.Join(f.Argv, " ") != "/sbin/init from-busybox" {
		t.Errorf("argv %q", f.Argv)
	}
	if f.Extra["hostname"] != "earlyroot-test" || f.Extra["dev_fstype"] != "devtmpfs" {
		t.Errorf("extra %v", f.Extra)
	}
	if !strings.Contains(","+f.Extra["modules"]+",", ",virtio_blk,") {
		t.Errorf("modules %q lack virtio_blk", f.Extra["modules"])
	}
	t.Logf("facts: %+v", f)
}
