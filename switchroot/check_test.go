package switchroot

import (
	"errors"
	"os"
	"path/filepath"
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
