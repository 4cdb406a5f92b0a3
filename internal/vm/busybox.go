package vm

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/modload"
)

// BusyboxGuest is a throwaway guest for testing a program against the test kernel's real
// drivers (device-mapper, md, AF_ALG, the disk buses): an initramfs of the host's busybox,
// kernel modules and files, whose /init mounts /proc, /sys and /dev, loads the modules and
// runs a script.
type BusyboxGuest struct {
	// Modules are loaded with insmod in this order, each after its dependencies (from
	// the kernel's modules.dep); built-in ones are skipped. The guest has no modprobe
	// unless Files bring one, so modules the kernel would request belong here.
	Modules []string
	// Files are added beside /bin/busybox and /init, e.g. the program under test.
	Files []InitramfsFile
	// Script is the shell /init runs last, with busybox's applets on PATH and the shell
	// function "disks N SECONDS" (wait for N block devices, then list them as
	// "DISK name sectors serial=…" lines). It should end with poweroff -f.
	Script string
}

// busyboxPrologue is the start of a BusyboxGuest's /init.
const busyboxPrologue = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read m; do insmod /lib/modules/$m || echo "insmod $m failed"; done </modules.list
# disks <count> <seconds>: wait for <count> block devices, then list them.
disks() {
	i=0
	while [ $i -lt $(($2 * 5)) ]; do
		n=$(ls /sys/block | grep -v -e '^loop' -e '^ram' | wc -l)
		[ $n -ge $1 ] && break
		usleep 200000
		i=$((i + 1))
	done
	if [ $n -lt $1 ]; then
		echo "DISKS-MISSING have $n want $1"
		ls /sys/class/scsi_host /sys/class/scsi_device /sys/class/sas_phy /sys/class/sas_end_device 2>&1 | tr '\n' ' '
		echo
		dmesg | tail -20
	fi
	for d in /sys/block/*; do
		b=${d##*/}
		case $b in loop*|ram*) continue;; esac
		s=$(cat $d/serial $d/device/serial 2>/dev/null | tr -dc 'A-Za-z0-9_.-')
		[ -z "$s" ] && s=$(cat $d/device/vpd_pg80 2>/dev/null | tr -dc 'A-Za-z0-9_.-')
		echo "DISK $b $(cat $d/size) serial=$s"
	done
}
`

// WriteBusyboxInitramfs writes g's initramfs for the kernel k to path.
func WriteBusyboxInitramfs(path string, k Kernel, g BusyboxGuest) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox guest: %w", err)
	}
	order, err := moduleOrder(k.ModDir, g.Modules)
	if err != nil {
		return fmt.Errorf("busybox guest: %w", err)
	}
	files := []InitramfsFile{
		{Name: "bin/busybox", Src: bb, Mode: 0o755},
		{Name: "init", Data: []byte(busyboxPrologue + g.Script), Mode: 0o755},
		{Name: "modules.list", Data: []byte(strings.Join(order, "\n") + "\n")},
	}
	for _, p := range order {
		files = append(files, InitramfsFile{Name: "lib/modules/" + p, Src: filepath.Join(k.ModDir, p)})
	}
	return WriteInitramfs(path, append(files, g.Files...))
}

// moduleOrder returns the files (relative to moddir) of mods, their dependencies and soft
// dependencies (ext4's crc32c), each after what it needs, without repeats.
func moduleOrder(moddir string, mods []string) ([]string, error) {
	if len(mods) == 0 {
		return nil, nil
	}
	ix, err := modload.Build(moddir)
	if err != nil {
		return nil, err
	}
	var order []string
	seen := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		m, ok := ix.Module(name)
		if !ok {
			if ix.Builtin(name) {
				return nil
			}
			return fmt.Errorf("module %s not in %s", name, moddir)
		}
		var before, after []string
		for _, s := range m.SoftPre {
			before = append(before, ix.Resolve(s)...)
		}
		for _, s := range m.SoftPost {
			after = append(after, ix.Resolve(s)...)
		}
		for _, d := range append(before, m.Deps...) {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		order = append(order, m.Path)
		for _, d := range after {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	}
	for _, name := range mods {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// RunBusybox boots g for a test: it skips without busybox, writes the initramfs, boots it
// with cfg (whose Kernel and Initrd it sets) and waits up to timeout for the verdict line
// "MARKER PASS" or "MARKER FAIL …", then for the guest to power off. It logs and returns the
// console lines that start with marker, and fails the test on FAIL, on a timeout or when
// the guest does not power off.
func RunBusybox(t testing.TB, k Kernel, g BusyboxGuest, cfg Config, marker string, timeout time.Duration) []string {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("skipping: busybox not installed")
	}
	cfg.Kernel, cfg.Initrd = k.Image, filepath.Join(t.TempDir(), "guest.cpio")
	if err := WriteBusyboxInitramfs(cfg.Initrd, k, g); err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = timeout + time.Minute
	}
	v := Boot(t, cfg)
	verdict, err := v.Expect(regexp.MustCompile(`^`+regexp.QuoteMeta(marker)+` (PASS|FAIL)`), timeout)
	var lines []string
	for _, l := range strings.Split(v.Output(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, marker) {
			t.Log(l)
			lines = append(lines, l)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(verdict, marker+" PASS") {
		t.Fatalf("guest: %s", verdict)
	}
	if err := v.WaitTimeout(time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := v.ShutdownReason(); r != ShutdownPoweroff {
		t.Fatalf("QEMU shutdown reason %q, want %q", r, ShutdownPoweroff)
	}
	return lines
}
