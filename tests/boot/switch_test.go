package boot

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// The real init runs as PID 1 with the API filesystems moved, and the initramfs memory is
// released by the deletion.
func TestSwitchReleasesInitramfs(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(61)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid,
		Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk}},
	})
	f := facts(t, v)
	bootedOn(t, f, "/dev/vda", "ext4")
	for _, k := range []string{"dev_fstype", "run_fstype", "proc_fstype", "sys_fstype"} {
		if f.Extra[k] == "" {
			t.Errorf("%s not reported: %v", k, f.Extra["mounts"])
		}
	}
	if f.Extra["dev_fstype"] != "devtmpfs" || f.Extra["run_fstype"] != "tmpfs" {
		t.Errorf("mounts handed over: %s", f.Extra["mounts"])
	}
	if fds := f.Extra["fds"]; strings.Contains(fds, "socket") || strings.Contains(fds, "/lib/modules") || strings.Contains(fds, "kmsg") {
		t.Errorf("the initramfs leaked file descriptors into the real init: %s", fds)
	}
	// The deletion runs in a child of the real init, which reaps it before powering off: its
	// report comes before or after the facts line.
	exited(t, v, factsTimeout)
	m := regexp.MustCompile(`earlyroot: switch_root: initramfs deleted in \S+: Shmem \d+ -> \d+ kB, Unevictable (\d+) -> (\d+) kB`).FindStringSubmatch(v.Output())
	if m == nil {
		t.Fatalf("no report of the initramfs deletion on the console")
	}
	before, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[2])
	if before-after < 1024 {
		t.Errorf("deleting the initramfs released %d kB of %d kB (want the image's size, several MB)", before-after, before)
	}
}

// init= runs that program with its arguments.
func TestInitParameter(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(62)
	fs := &vm.FS{Type: "ext4", UUID: uuid, SrcDir: rootTree(t, map[string]string{"bin/custom": testinitBytes(t)})}
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " init=/bin/custom -- arg1",
		Drives: []vm.Drive{{Path: wholeDisk(t, fs), Bus: vm.BusVirtioBlk}},
	})
	f := facts(t, v)
	if len(f.Argv) < 2 || f.Argv[0] != "/bin/custom" || f.Argv[len(f.Argv)-1] != "arg1" {
		t.Errorf("argv = %q, want [/bin/custom … arg1]", f.Argv)
	}
}

// A new root without any init ends in the rescue shell with nothing deleted.
func TestNoInitOnRoot(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(63)
	dir := t.TempDir() // an empty root: no /sbin/init, /etc/init, /bin/init, /bin/sh
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid,
		Drives: []vm.Drive{{Path: wholeDisk(t, &vm.FS{Type: "ext4", UUID: uuid, SrcDir: dir}), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `the boot stopped: .*sbin/init`, factsTimeout)
	expect(t, v, `earlyroot# `, 20*time.Second)
	send(t, v, "ls /")
	expect(t, v, `\binit\b`, 20*time.Second) // the initramfs is intact
	send(t, v, "ls /lib/modules")
	expect(t, v, `\d+\.\d+\.\d+-`, 20*time.Second)
	// The kernel's module requests still reach the init: the helper link is in place.
	send(t, v, "ls /run/earlyroot")
	expect(t, v, `\bmodprobe\b`, 20*time.Second)
}

// A disk mounted under the initramfs (at rd.break) survives the switch with its files.
func TestMountedDiskSurvives(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(64)
	data := wholeDisk(t, &vm.FS{Type: "ext4", Label: "data", SrcDir: dataTree(t)})
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " rd.break=pre-switch",
		Drives: []vm.Drive{
			{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: vm.BusVirtioBlk},
			{Path: data, Bus: vm.BusVirtioBlk},
		},
	})
	expect(t, v, `earlyroot# `, promptWait)
	send(t, v, "mkdir -p /mnt/data")
	send(t, v, "mount -t ext4 /dev/disk/by-label/data /mnt/data")
	send(t, v, "ls /mnt/data")
	expect(t, v, `keep\.txt`, 20*time.Second)
	send(t, v, "continue")
	f := facts(t, v)
	bootedOn(t, f, "", "ext4") // two virtio disks: either may be vda
	exited(t, v, factsTimeout)
	out, err := exec.Command("debugfs", "-R", "cat /keep.txt", data).Output()
	if err != nil || strings.TrimSpace(string(out)) != "precious" {
		t.Errorf("keep.txt on the data disk after the boot: %q, %v", out, err)
	}
}

func dataTree(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, dir+"/keep.txt", "precious\n")
	writeFile(t, dir+"/sub/more.txt", "more\n")
	return dir
}
