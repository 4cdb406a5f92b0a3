package boot

import (
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
	expect(t, v, `rd.break=pre-switch`, promptWait)
	expect(t, v, `earlyroot# `, 20*time.Second)
	send(t, v, "ls /newroot/sbin")
	expect(t, v, `\binit\b`, 20*time.Second)
	send(t, v, "blkid")
	expect(t, v, `/dev/vda:.*UUID="`+uuid+`".*TYPE="ext4"`, 20*time.Second)
	send(t, v, "continue")
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}

// rd.shell=0 with a missing root: the diagnosis, then a reboot (QEMU exits with -no-reboot)
// and no prompt.
func TestNoShellReboots(t *testing.T) {
	t.Parallel()
	v := bootVM(t, vm.Config{
		Append: "root=LABEL=nowhere rd.timeout=3 rd.shell=0 panic=1",
		Drives: []vm.Drive{{Path: wholeDisk(t, &vm.FS{Type: "ext4"}), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `the boot stopped: root device root=LABEL=nowhere did not appear`, promptWait)
	exited(t, v, 60*time.Second)
	if _, err := v.Expect(reRescuePrompt, time.Second); err == nil {
		t.Errorf("a rescue prompt was offered despite rd.shell=0")
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
		send(t, v, "mount -t vfat /dev/vdb /mnt/esp")
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
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}
