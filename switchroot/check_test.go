package switchroot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckNotPID1(t *testing.T) {
	if os.Getpid() == 1 {
		t.Skip("running as PID 1")
	}
	root := newRootTree(t, map[string]string{"sbin/init": "elf"})
	_, err := Check(Options{NewRoot: root})
	if !errors.Is(err, ErrNotPID1) {
		t.Fatalf("Check as pid %d = %v, want ErrNotPID1", os.Getpid(), err)
	}
}

// fakeSystem is PID 1 on a tmpfs "/" (dev 1), with devs giving other devices per path;
// paths not listed are on dev 1.
func fakeSystem(pid int, magic int64, devs map[string]uint64) system {
	return system{
		getpid: func() int { return pid },
		statfs: func(path string, buf *unix.Statfs_t) error {
			buf.Type = magic
			return nil
		},
		stat: func(path string, st *unix.Stat_t) error {
			if err := unix.Stat(path, st); err != nil {
				return err
			}
			st.Dev = 1
			if d, ok := devs[path]; ok {
				st.Dev = d
			}
			return nil
		},
	}
}

func TestSystemCheck(t *testing.T) {
	root := newRootTree(t, map[string]string{
		"sbin/init":           "->/lib/systemd/systemd",
		"lib/systemd/systemd": "elf",
		"bin/sh":              "elf",
	})
	parent := filepath.Dir(root)
	file := filepath.Join(root, "bin/sh")
	other := map[string]uint64{root: 2}
	tests := []struct {
		name     string
		sys      system
		opt      Options
		initPath string
		resolved string
		err      error
	}{
		{"tmpfs", fakeSystem(1, unix.TMPFS_MAGIC, other), Options{NewRoot: root}, "/sbin/init", "/lib/systemd/systemd", nil},
		{"ramfs", fakeSystem(1, unix.RAMFS_MAGIC, other), Options{NewRoot: root, Init: "/bin/sh"}, "/bin/sh", "/bin/sh", nil},
		{"not pid 1", fakeSystem(42, unix.TMPFS_MAGIC, other), Options{NewRoot: root}, "", "", ErrNotPID1},
		{"ext4 root", fakeSystem(1, unix.EXT4_SUPER_MAGIC, other), Options{NewRoot: root}, "", "", ErrNotRAMRoot},
		{"same device", fakeSystem(1, unix.TMPFS_MAGIC, nil), Options{NewRoot: root}, "", "", ErrNotMountPoint},
		{"same device as parent", fakeSystem(1, unix.TMPFS_MAGIC, map[string]uint64{root: 2, parent: 2}), Options{NewRoot: root}, "", "", ErrNotMountPoint},
		{"new root /", fakeSystem(1, unix.TMPFS_MAGIC, other), Options{NewRoot: "/"}, "", "", ErrNotMountPoint},
		{"no new root", fakeSystem(1, unix.TMPFS_MAGIC, other), Options{}, "", "", ErrNotMountPoint},
		{"new root missing", fakeSystem(1, unix.TMPFS_MAGIC, other), Options{NewRoot: root + "/nope"}, "", "", unix.ENOENT},
		{"new root a file", fakeSystem(1, unix.TMPFS_MAGIC, map[string]uint64{file: 2}), Options{NewRoot: file}, "", "", nil},
		{"init missing", fakeSystem(1, unix.TMPFS_MAGIC, other), Options{NewRoot: root, Init: "/bin/init"}, "", "", ErrNoSuchFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.sys.check(tt.opt)
			if tt.name == "new root a file" {
				if err == nil {
					t.Fatal("check accepted a file as the new root")
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("check = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if p.initPath != tt.initPath || p.resolved != tt.resolved || p.rootDev != 1 || p.newRoot != root {
				t.Errorf("plan = %+v, want init %q resolved %q dev 1 root %q", p, tt.initPath, tt.resolved, root)
			}
		})
	}
}

func TestCheckErrorMessage(t *testing.T) {
	root := newRootTree(t, map[string]string{"etc": "dir"})
	_, err := fakeSystem(1, unix.TMPFS_MAGIC, map[string]uint64{root: 2}).check(Options{NewRoot: root, Init: "/sbin/init"})
	if want := "switch_root: " + root + "/sbin/init: no such file"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestMountTarget(t *testing.T) {
	root := newRootTree(t, map[string]string{
		"dev":          "dir",
		"run":          "->/var/run",
		"var/run":      "dir",
		"proc":         "file",
		"sys":          "->/nowhere",
		"mnt":          "->/var/mnt",
		"var/mnt":      "dir",
		"deep/missing": "->/x/y",
	})
	tests := []struct {
		m, want string // want "" = error
	}{
		{"/dev", "/dev"},
		{"/run", "/var/run"},
		{"/new", "/new"},               // created
		{"/mnt/data", "/var/mnt/data"}, // created through the link, inside the new root
		{"/proc", ""},
		{"/sys", ""}, // dangling: its parent /nowhere is missing
		{"/no/such/parent", ""},
	}
	for _, tt := range tests {
		got, err := mountTarget(root, tt.m)
		if tt.want == "" {
			if err == nil {
				t.Errorf("mountTarget(%s) = %s, want an error", tt.m, got)
			}
			continue
		}
		if err != nil || got != filepath.Join(root, tt.want) {
			t.Errorf("mountTarget(%s) = %q, %v; want %s", tt.m, got, err, filepath.Join(root, tt.want))
		}
	}
}

// TestCheckOldRoot: the deletion helper refuses a start not made by PID 1, a file, and any
// directory but the file system the process's root is mounted over. (The accepted case is
// the namespace test's, after a real switch.)
func TestCheckOldRoot(t *testing.T) {
	open := func(p string, flags int) int {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fd   int
		ppid int
		want string
	}{
		{"not-started-by-pid1", open("/", unix.O_DIRECTORY), 4242, "not by PID 1"},
		{"some-directory", open(t.TempDir(), unix.O_DIRECTORY), 1, "but / is mounted over"},
		{"our-own-root", open("/", unix.O_DIRECTORY), 1, "but / is mounted over"},
		{"not-a-directory", open(file, 0), 1, "not a directory"},
	} {
		err := checkOldRoot(c.fd, c.ppid)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: checkOldRoot = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestRootParentMount(t *testing.T) {
	for _, c := range []struct {
		name, info string
		want       uint64
		ok         bool
	}{
		{"after-switch-root", "25 1 254:0 / / ro,relatime - ext4 /dev/vda ro\n26 25 0:5 / /dev rw - devtmpfs udev rw\n", 1, true},
		{"stacked", "22 1 0:2 / / rw - rootfs rootfs rw\n30 22 254:0 / / ro - ext4 /dev/vda ro\n", 22, true},
		{"no-root-line", "26 25 0:5 / /dev rw - devtmpfs udev rw\n", 0, false},
		{"garbage", "x y z\n\n25 abc 254:0 / / ro\n", 0, false},
		{"empty", "", 0, false},
	} {
		got, ok := rootParentMount([]byte(c.info))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: rootParentMount = %d, %v, want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func FuzzRootParentMount(f *testing.F) {
	f.Add([]byte("25 1 254:0 / / ro,relatime - ext4 /dev/vda ro\n26 25 0:5 / /dev rw - devtmpfs udev rw\n"))
	f.Add([]byte("x y z\n"))
	f.Fuzz(func(t *testing.T, info []byte) {
		if id, ok := rootParentMount(info); !ok && id != 0 {
			t.Fatalf("no root line, but id %d", id)
		}
	})
}
