package switchroot

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Options describe the switch.
type Options struct {
	NewRoot     string    // the mounted real root, "/newroot"
	Init        string    // init= inside the new root; "" tries /sbin/init /etc/init /bin/init /bin/sh
	Args        []string  // argv[1:] for the init
	Env         []string  // the init's environment (nil: empty)
	Mounts      []string  // API mounts to move into the new root; nil: /dev /proc /sys /run
	InitrdStart time.Time // when the initramfs started, handed to systemd as its initrd timestamp

	// Logf, when set, receives what Switch cannot return because it goes on past it: a mount
	// that could not be moved, files the deletion could not remove, a console that could not
	// be reopened. Switch calls it before the point of no return only for skipped mounts.
	Logf func(format string, args ...any)
}

// defaultMounts are the API mounts moved when Options.Mounts is nil.
var defaultMounts = []string{"/dev", "/proc", "/sys", "/run"}

// Errors of the environment checks, wrapped with the details.
var (
	ErrNotPID1       = errors.New("not running as PID 1")
	ErrNotRAMRoot    = errors.New("/ is not a ramfs or tmpfs")
	ErrNotMountPoint = errors.New("new root is not a mount point")
)

// system is what Check looks at, injectable for tests.
type system struct {
	getpid func() int
	statfs func(path string, buf *unix.Statfs_t) error
	stat   func(path string, st *unix.Stat_t) error
}

func realSystem() system {
	return system{getpid: os.Getpid, statfs: unix.Statfs, stat: unix.Stat}
}

// plan is the outcome of the checks: everything Switch needs.
type plan struct {
	newRoot  string
	rootDev  uint64
	initPath string // to exec after the chroot, e.g. "/sbin/init"
	resolved string // after symbolic links inside the new root, e.g. "/lib/systemd/systemd"
}

// Check verifies, without side effects, that Switch may delete the initramfs: PID 1, "/"
// a ramfs or tmpfs, Options.NewRoot a mount point on another device, and an executable init
// inside it. It returns the path of the init that Switch will run (inside the new root).
func Check(opt Options) (initPath string, err error) {
	p, err := realSystem().check(opt)
	if err != nil {
		return "", err
	}
	return p.initPath, nil
}

func (s system) check(opt Options) (plan, error) {
	if pid := s.getpid(); pid != 1 {
		return plan{}, fmt.Errorf("switch_root: pid %d: %w", pid, ErrNotPID1)
	}
	var fsst unix.Statfs_t
	if err := s.statfs("/", &fsst); err != nil {
		return plan{}, fmt.Errorf("switch_root: statfs /: %w", err)
	}
	if m := uint32(fsst.Type); m != unix.RAMFS_MAGIC && m != unix.TMPFS_MAGIC {
		return plan{}, fmt.Errorf("switch_root: file system type %#x: %w", m, ErrNotRAMRoot)
	}
	if opt.NewRoot == "" {
		return plan{}, fmt.Errorf("switch_root: no new root given: %w", ErrNotMountPoint)
	}
	newRoot, err := filepath.Abs(opt.NewRoot)
	if err != nil {
		return plan{}, fmt.Errorf("switch_root: %s: %w", opt.NewRoot, err)
	}
	rootDev, err := s.devOf("/")
	if err != nil {
		return plan{}, err
	}
	if err := s.checkMountPoint(newRoot, rootDev); err != nil {
		return plan{}, err
	}
	initPath, resolved, err := findInit(newRoot, opt.Init)
	if err != nil {
		return plan{}, err
	}
	return plan{newRoot: newRoot, rootDev: rootDev, initPath: initPath, resolved: resolved}, nil
}

func (s system) devOf(path string) (uint64, error) {
	var st unix.Stat_t
	if err := s.stat(path, &st); err != nil {
		return 0, fmt.Errorf("switch_root: stat %s: %w", path, err)
	}
	return st.Dev, nil
}

// checkMountPoint requires newRoot to be a directory on a device other than "/" and its
// parent directory's.
func (s system) checkMountPoint(newRoot string, rootDev uint64) error {
	if newRoot == "/" {
		return fmt.Errorf("switch_root: new root /: %w", ErrNotMountPoint)
	}
	var st unix.Stat_t
	if err := s.stat(newRoot, &st); err != nil {
		return fmt.Errorf("switch_root: stat %s: %w", newRoot, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("switch_root: %s: not a directory", newRoot)
	}
	parent := filepath.Dir(newRoot)
	parentDev, err := s.devOf(parent)
	if err != nil {
		return err
	}
	if st.Dev == rootDev || st.Dev == parentDev {
		return fmt.Errorf("switch_root: %s: same device as / or %s: %w", newRoot, parent, ErrNotMountPoint)
	}
	return nil
}

// Switch runs Check, then moves the API mounts into the new root, deletes the initramfs,
// moves the new root onto "/", chroots into it and executes the init. It returns only on
// error: before the deletion the system is intact; after it, only what is compiled into the
// running binary is left.
func Switch(opt Options) error {
	p, err := realSystem().check(opt)
	if err != nil {
		return err
	}
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	argv := append([]string{p.initPath}, opt.Args...)
	keep := -1
	if IsSystemd(p.resolved) {
		fd, err := serializationFD(serialize(opt.InitrdStart))
		if err != nil {
			logf("switch_root: systemd serialization: %v (starting systemd without it)", err)
		}
		if fd >= 0 {
			keep = fd
		}
		argv = SystemdArgs(p.initPath, opt.Args, keep)
	}
	if err := enterNewRoot(p, opt.Mounts, logf); err != nil {
		if keep >= 0 {
			unix.Close(keep)
		}
		return err
	}
	reopenConsole("/dev/console", logf)
	if err := closeOnExec(keep); err != nil {
		logf("switch_root: close descriptors: %v", err)
	}
	signal.Reset()
	err = unix.Exec(p.initPath, argv, opt.Env)
	return fmt.Errorf("switch_root: exec %s: %w", p.initPath, err)
}

// enterNewRoot is steps 5 to 8: private "/", move the API mounts, delete the initramfs,
// move the new root onto "/" and chroot into it.
func enterNewRoot(p plan, mounts []string, logf func(string, ...any)) error {
	if mounts == nil {
		mounts = defaultMounts
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("switch_root: make / private: %w", err)
	}
	for _, m := range mounts {
		moveMount(m, p.newRoot, p.rootDev, logf)
	}
	if err := unix.Chdir(p.newRoot); err != nil {
		return fmt.Errorf("switch_root: chdir %s: %w", p.newRoot, err)
	}
	if err := RemoveAll("/", p.rootDev); err != nil {
		logf("switch_root: delete initramfs: %v", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch_root: move %s to /: %w", p.newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch_root: chroot %s: %w", p.newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switch_root: chdir /: %w", err)
	}
	return nil
}

// moveMount moves the mount at m (e.g. "/dev") to newRoot+m. A directory that is missing or
// not a mount point is skipped; a move that fails is reported and the mount lazily
// detached, so that it neither survives hidden under the new root nor keeps the old root
// busy.
func moveMount(m, newRoot string, rootDev uint64, logf func(string, ...any)) {
	var st unix.Stat_t
	if err := unix.Stat(m, &st); err != nil {
		logf("switch_root: skip %s: %v", m, err)
		return
	}
	if st.Dev == rootDev {
		logf("switch_root: skip %s: not a mount point", m)
		return
	}
	target := filepath.Join(newRoot, m)
	err := os.MkdirAll(target, 0o755)
	if err == nil {
		err = unix.Mount(m, target, "", unix.MS_MOVE, "")
	}
	if err == nil {
		return
	}
	logf("switch_root: move %s to %s: %v; detaching it", m, target, err)
	if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
		logf("switch_root: detach %s: %v", m, err)
	}
}
