package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// A normal boot logs each phase's duration and a summary line, and leaves its log in
// /run/initramfs/earlyroot.log.
func TestBootLog(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(71)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid,
		Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `earlyroot: wait for root took [0-9.]+ ?[mµ]?s`, factsTimeout)
	expect(t, v, `earlyroot: mount root took [0-9.]+ ?[mµ]?s`, 30*time.Second)
	expect(t, v, `earlyroot: root /dev/vda \(ext4\) mounted in \d+ ms; \d+ modules; switching to /sbin/init`, 30*time.Second)
	f := facts(t, v)
	if n, _ := strconv.Atoi(f.Extra["earlyroot_log"]); n < 200 {
		t.Errorf("/run/initramfs/earlyroot.log: %q bytes, want the boot log", f.Extra["earlyroot_log"])
	}
}

// rd.break=pre-switch stops at the prompt; ls, blkid and continue work and the boot goes on.
func TestBreakPreSwitch(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(72)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " rd.break=pre-switch",
		Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "brk")), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `rd.break=pre-switch: root mounted`, promptWait)
	expect(t, v, `earlyroot# `, 20*time.Second)
	send(t, v, "ls /newroot/sbin")
	expect(t, v, `\binit\b`, 20*time.Second)
	send(t, v, "blkid")
	expect(t, v, `/dev/vda:.*UUID="`+uuid+`".*TYPE="ext4"`, 20*time.Second)
	send(t, v, "continue")
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}

// rd.shell=0 with a missing root: the diagnosis, no prompt, then after panic= seconds what
// rd.emergency= says (default reboot), told apart by QEMU's shutdown reason.
func TestNoShellReboots(t *testing.T) {
	for _, c := range []struct{ name, append, reason string }{
		{"default", "", vm.ShutdownReset},
		{"poweroff", "rd.emergency=poweroff", vm.ShutdownPoweroff},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := bootVM(t, vm.Config{
				Append: "root=LABEL=nowhere rd.timeout=3 rd.shell=0 panic=1 " + c.append,
				Drives: []vm.Drive{{Path: wholeDisk(t, &vm.FS{Type: "ext4"}), Bus: vm.BusVirtioBlk}},
			})
			expect(t, v, `the boot stopped: root device root=LABEL=nowhere did not appear`, promptWait)
			shutdownBy(t, v, 60*time.Second, c.reason)
			if reRescuePrompt.MatchString(v.Output()) {
				t.Errorf("a rescue prompt was offered despite rd.shell=0")
			}
		})
	}
}

// The kernel's own module requests (request_module → /sbin/modprobe → our init binary) work:
// mounting a vfat disk from the rescue shell loads vfat and its NLS tables on demand.
func TestKernelModprobe(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(73)
	dir := t.TempDir()
	writeFile(t, dir+"/hello.txt", "hello\n")
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " rd.break=pre-switch",
		Drives: []vm.Drive{
			{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk},
			{Path: wholeDisk(t, &vm.FS{Type: "vfat", Label: "ESP", SrcDir: dir}), Bus: vm.BusVirtioBlk},
		},
	})
	expect(t, v, `earlyroot# `, promptWait)
	send(t, v, "mkdir -p /mnt/esp")
	// A mount racing the kernel's own exclusive open of a new disk can fail with EBUSY;
	// a user would type it again, and so does the test, once.
	for try := 1; ; try++ {
		send(t, v, "mount -t vfat /dev/disk/by-label/ESP /mnt/esp")
		send(t, v, "ls /mnt/esp")
		if _, err := v.Expect(regexp.MustCompile(`(?i)hello\.txt`), 30*time.Second); err == nil {
			break
		} else if try == 2 {
			t.Fatalf("vfat mount from the rescue shell: %v", err)
		}
	}
	send(t, v, "lsmod")
	expect(t, v, `^vfat\s`, 20*time.Second)
	send(t, v, "umount /mnt/esp")
	send(t, v, "continue")
	// Two virtio disks: the kernel does not promise which is vda (the one ext4 is the root).
	bootedOn(t, facts(t, v), "", "ext4")
}

// rd.break=pre-mount stops before the root is mounted; continue mounts it and boots on.
func TestBreakPreMount(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(74)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " rd.break=pre-mount",
		Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `rd.break=pre-mount: stopped`, promptWait)
	expect(t, v, `earlyroot# `, 20*time.Second)
	// The root is not mounted yet: /newroot holds no sbin (after rd.break=pre-switch it does).
	send(t, v, "ls /newroot/sbin")
	expect(t, v, `ls: .*/newroot/sbin: no such file or directory`, 20*time.Second)
	send(t, v, "continue")
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}

// resume= with a swap device: without a hibernation image the boot goes on; with one (here a
// forged signature over an invalid image) its MAJ:MIN goes to /sys/power/resume, the kernel
// rejects the image, and the boot still goes on.
func TestResume(t *testing.T) {
	for _, c := range []struct {
		name, signature, log string
	}{
		{"plain-swap", "", `holds no hibernation image; normal boot`},
		{"hibernated", "S1SUSPEND", `hibernation image on /dev/vd[ab], resuming`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(75)
			swapUUID := "5a5a5a5a-0000-4000-8000-00000000005a"
			v := bootVM(t, vm.Config{
				Append: "root=UUID=" + uuid + " resume=UUID=" + swapUUID,
				Drives: []vm.Drive{
					{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk},
					{Path: swapImage(t, swapUUID, c.signature), Bus: vm.BusVirtioBlk},
				},
			})
			expect(t, v, c.log, promptWait)
			bootedOn(t, facts(t, v), "", "ext4") // two virtio disks: either may be vda
		})
	}
}

// swapImage makes a 16 MB swap area with mkswap; a signature replaces SWAPSPACE2 (as a
// hibernating kernel does).
func swapImage(t *testing.T, uuid, signature string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swap.img")
	if err := os.WriteFile(path, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkswap", "-U", uuid, path).CombinedOutput(); err != nil {
		t.Fatalf("mkswap: %v\n%s", err, out)
	}
	if signature != "" {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte(signature), 4096-10); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
