package switchroot

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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

	// Logf, when set, receives the problems Switch works around instead of failing (a mount
	// skipped or not movable, the systemd serialization missing, files the deletion could
	// not remove, a console that could not be reopened) and, after an inline deletion, the
	// memory it released ("switch_root: initramfs deleted in 40ms: Shmem 9000 -> 200 kB,
	// ...", from /proc/meminfo when /proc was moved). Every message starts with
	// "switch_root: ".
	Logf func(format string, args ...any)

	// DeleteWith, when set, is the argv of a helper that deletes the old root in a child
	// process, as util-linux switch_root does in a forked child: the real init starts at
	// once instead of after the deletion. The helper is this same binary
	// (/proc/self/exe, which still names it after the chroot), started with the old root as
	// fd 3; its main calls [DeleterMain]. The child becomes a child of the real
	// init, which reaps it as every init does. When it cannot be started (no /proc in the
	// new root, say) the deletion is done inline, as without DeleteWith.
	DeleteWith []string
}

// defaultMounts are the API mounts moved when Options.Mounts is nil.
var defaultMounts = []string{"/dev", "/proc", "/sys", "/run"}

// Errors of the environment checks, wrapped with the details.
var (
	ErrNotPID1       = errors.New("not running as PID 1")
	ErrNotRAMRoot    = errors.New("/ is not a ramfs or tmpfs")
	ErrNotMountPoint = errors.New("new root is not a mount point")
)

// system is what Check looks at and the mount call of Switch, injectable for tests.
type system struct {
	getpid func() int
	statfs func(path string, buf *unix.Statfs_t) error
	stat   func(path string, st *unix.Stat_t) error
	mount  func(source, target, fstype string, flags uintptr, data string) error
}

func realSystem() system {
	return system{getpid: os.Getpid, statfs: unix.Statfs, stat: unix.Stat, mount: unix.Mount}
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
	return realSystem().switchRoot(opt)
}

func (s system) switchRoot(opt Options) error {
	p, err := s.check(opt)
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
	if err := s.enterNewRoot(p, opt, logf); err != nil {
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
	if keep >= 0 {
		unix.Close(keep)
	}
	return fmt.Errorf("switch_root: exec %s: %w", p.initPath, err)
}

// enterNewRoot is steps 5 to 8: private "/", move the API mounts, move the new root onto "/"
// and chroot into it, then delete the old root through a descriptor opened before. Up to
// the chroot nothing is deleted, so an error leaves the initramfs whole for the rescue shell.
func (s system) enterNewRoot(p plan, opt Options, logf func(string, ...any)) error {
	mounts := opt.Mounts
	if mounts == nil {
		mounts = defaultMounts
	}
	if err := s.mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("switch_root: make / private: %w", err)
	}
	var moved [][2]string // source, target
	for _, m := range mounts {
		if target, ok := s.moveMount(m, p.newRoot, p.rootDev, logf); ok {
			moved = append(moved, [2]string{m, target})
		}
	}
	// undo puts the API mounts back for the rescue shell when the switch fails here.
	undo := func(err error) error {
		for i := len(moved) - 1; i >= 0; i-- {
			if merr := s.mount(moved[i][1], moved[i][0], "", unix.MS_MOVE, ""); merr != nil {
				logf("switch_root: move %s back to %s: %v", moved[i][1], moved[i][0], merr)
			}
		}
		unix.Chdir("/")
		return err
	}
	if err := unix.Chdir(p.newRoot); err != nil {
		return undo(fmt.Errorf("switch_root: chdir %s: %w", p.newRoot, err))
	}
	oldRoot, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return undo(fmt.Errorf("switch_root: open /: %w", err))
	}
	defer unix.Close(oldRoot)
	if err := s.mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return undo(fmt.Errorf("switch_root: move %s to /: %w", p.newRoot, err))
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch_root: chroot %s: %w", p.newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switch_root: chdir /: %w", err)
	}
	if len(opt.DeleteWith) > 0 {
		err := startDeleter(oldRoot, opt.DeleteWith)
		if err == nil {
			return nil
		}
		logf("switch_root: delete the initramfs in a child: %v; deleting it now", err)
	}
	if err := DeleteOldRoot(oldRoot, logf); err != nil {
		logf("switch_root: delete initramfs: %v", err)
	}
	return nil
}

// startDeleter starts the DeleteWith helper with the old root as its fd 3 and /dev/null of
// the new root as its stdio (a Go program cannot start without fds 0-2), at the lowest
// priority, and leaves it running. The priority is set here rather than only by the helper
// itself: its Go runtime's start is a burst of CPU work at the very moment the real init
// starts, and on one CPU the two shared it evenly. StartProcess returns once the child has
// exec'd (a vfork), so the child runs at its parent's priority only until this call.
func startDeleter(oldRoot int, argv []string) error {
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	dup, err := unix.FcntlInt(uintptr(oldRoot), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup old root: %w", err)
	}
	root := os.NewFile(uintptr(dup), "oldroot")
	defer root.Close()
	proc, err := os.StartProcess("/proc/self/exe", argv, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{},
		Files: []*os.File{null, null, null, root},
	})
	if err != nil {
		return err
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, proc.Pid, 19) // DeleterMain sets it too
	return proc.Release()
}

// DeleteOldRoot deletes the contents of the old root, open as fd, and logs through logf the
// memory that released. It is the deletion Switch runs inline, and what the DeleteWith
// helper's main calls (with fd 3): there it first lowers its own priority, so that the real
// init, starting at the same time, goes first.
func DeleteOldRoot(fd int, logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("old root: %w", err)
	}
	start := time.Now()
	shmem0, unev0, memErr := MemInfo("/proc")
	err := deleteOldRoot(fd, st.Dev)
	if shmem1, unev1, merr := MemInfo("/proc"); err == nil && merr == nil && memErr == nil {
		logf("switch_root: initramfs deleted in %v: Shmem %d -> %d kB, Unevictable %d -> %d kB",
			time.Since(start).Round(time.Millisecond), shmem0, shmem1, unev0, unev1)
	}
	return err
}

// DeleterMain is the body of the DeleteWith helper: check that fd 3 really is the old root
// (checkOldRoot), drop to the lowest priority, delete it, log. It returns the exit status.
// The binary answers to the helper's argv[0] wherever it is started, so the checks stand
// between a mistaken start (by hand, with some tmpfs open as fd 3) and a deleted tree.
func DeleterMain(logf func(format string, args ...any)) int {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := checkOldRoot(3, os.Getppid()); err != nil {
		logf("switch_root: not deleting: %v", err)
		return 2
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 19)
	if err := DeleteOldRoot(3, logf); err != nil {
		logf("switch_root: delete initramfs: %v", err)
		return 1
	}
	return 0
}

// checkOldRoot checks what the helper is given before it deletes anything: it was started
// by PID 1 (ppid), and fd is the file system this process's root is mounted over — after
// switch_root, the kernel's rootfs under the real root moved onto "/", and nothing else: a
// tmpfs such as /run is mounted *on* the root, not under it. deleteOldRoot then checks once
// more that it is a ramfs or tmpfs.
func checkOldRoot(fd, ppid int) error {
	if ppid != 1 {
		return fmt.Errorf("started by process %d, not by PID 1's switch_root", ppid)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE|unix.STATX_MNT_ID, &stx); err != nil {
		return fmt.Errorf("old root (fd %d): %w", fd, err)
	}
	if stx.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("old root (fd %d): not a directory", fd)
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("old root: %w", err)
	}
	under, ok := rootParentMount(info)
	if !ok {
		return errors.New("old root: no mount on / in /proc/self/mountinfo")
	}
	if stx.Mnt_id != under {
		return fmt.Errorf("old root (fd %d): mount %d, but / is mounted over mount %d", fd, stx.Mnt_id, under)
	}
	return nil
}

// rootParentMount returns, from the contents of /proc/self/mountinfo, the ID of the mount
// that the topmost mount on "/" is mounted over (field 2 of its line, proc(5)).
func rootParentMount(mountinfo []byte) (uint64, bool) {
	var parent uint64
	found := false
	for _, line := range strings.Split(string(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != "/" {
			continue
		}
		id, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		parent, found = id, true // a later line is mounted on top of an earlier one
	}
	return parent, found
}

// deleteOldRoot empties the old root, opened as fd, after checking once more that it is a
// ramfs or tmpfs on the device Check saw.
func deleteOldRoot(fd int, dev uint64) error {
	var fsst unix.Statfs_t
	if err := unix.Fstatfs(fd, &fsst); err != nil {
		return fmt.Errorf("statfs old root: %w", err)
	}
	if m := uint32(fsst.Type); m != unix.RAMFS_MAGIC && m != unix.TMPFS_MAGIC {
		return fmt.Errorf("old root: file system type %#x: %w, not deleting it", m, ErrNotRAMRoot)
	}
	return walker{lstat: lstatAt}.removeFD(fd, "/", dev)
}

// moveMount moves the mount at m (e.g. "/dev") to newRoot+m and returns where it went. A directory that is missing or
// not a mount point is skipped; a move that fails is reported and the mount lazily
// detached, so that it neither survives hidden under the new root nor keeps the old root
// busy.
func (s system) moveMount(m, newRoot string, rootDev uint64, logf func(string, ...any)) (target string, ok bool) {
	var st unix.Stat_t
	if err := unix.Stat(m, &st); err != nil {
		logf("switch_root: skip %s: %v", m, err)
		return "", false
	}
	if st.Dev == rootDev {
		logf("switch_root: skip %s: not a mount point", m)
		return "", false
	}
	target, err := mountTarget(newRoot, m)
	if err == nil {
		err = s.mount(m, target, "", unix.MS_MOVE, "")
	}
	if err == nil {
		return target, true
	}
	if target == "" {
		target = filepath.Join(newRoot, m)
	}
	logf("switch_root: move %s to %s: %v; detaching it", m, target, err)
	if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
		logf("switch_root: detach %s: %v", m, err)
	}
	return "", false
}

// mountTarget is the directory in the new root on which the mount m ("/run") goes, with
// symbolic links resolved inside the new root: a "run -> /var/run" link in the new root must
// lead to newRoot/var/run, not to /var/run of the initramfs, where the mount would be lost.
// A missing target is created when its parent exists.
func mountTarget(newRoot, m string) (string, error) {
	r, err := Resolve(newRoot, m)
	if errors.Is(err, ErrNoSuchFile) {
		parent, perr := Resolve(newRoot, filepath.Dir(filepath.Clean("/"+m)))
		if perr != nil {
			return "", perr
		}
		target := filepath.Join(newRoot, parent, filepath.Base(m))
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
		r, err = Resolve(newRoot, m)
	}
	if err != nil {
		return "", err
	}
	target := filepath.Join(newRoot, r)
	fi, err := os.Lstat(target)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s: %w", target, ErrNotDir)
	}
	return target, nil
}
