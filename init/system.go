package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/bootlog"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/switchroot"
)

// apiMount is one of the kernel API filesystems the init mounts first.
type apiMount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

var apiMounts = []apiMount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000"},
}

// mountAPI mounts /proc, /sys, /dev, /run and /dev/pts. It returns the errors instead of
// logging them: the log needs /dev/kmsg, which needs /dev.
func mountAPI() []error {
	var errs []error
	for _, m := range apiMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", m.target, err))
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	ensureStdio()
	return errs
}

// ensureStdio gives PID 1 a console on fds 0, 1 and 2 when the kernel could not open one
// (no /dev/console in the archive): devtmpfs has it now.
func ensureStdio() {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		if i != fd {
			_ = unix.Dup2(fd, i)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// openLogger opens /dev/kmsg and the console for the boot log. Writes to /dev/kmsg are
// rate-limited to 10 per 5 s unless printk_devkmsg is on; a boot log needs them all.
func openLogger() *bootlog.Logger {
	_ = os.WriteFile("/proc/sys/kernel/printk_devkmsg", []byte("on\n"), 0o644)
	kmsg, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		l := bootlog.New(nil, os.Stdout)
		l.Warnf("open /dev/kmsg: %v (logging to the console only)", err)
		return l
	}
	l := bootlog.New(kmsg, os.Stdout)
	l.SetKernelConsoleLevel(kernelConsoleLevel())
	return l
}

// kernelConsoleLevel is the kernel's console_loglevel (0 when unknown): kmsg records below
// it are printed on the console by the kernel itself.
func kernelConsoleLevel() int {
	data, err := os.ReadFile("/proc/sys/kernel/printk")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// childReaper reaps orphans reparented to PID 1. The rescue shell pauses it while it runs a
// child of its own, whose exit status it waits for itself.
type childReaper struct {
	mu sync.Mutex
}

var reaper childReaper

func reapChildren() {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGCHLD)
	for range sig {
		reaper.mu.Lock()
		for {
			var status unix.WaitStatus
			pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		reaper.mu.Unlock()
	}
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// moduleDir is /lib/modules/<uname -r>.
func moduleDir() string {
	return "/lib/modules/" + kernelRelease()
}

// procStatus returns one field of /proc/self/status ("VmHWM" → "5312 kB").
func procStatus(field string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime() (user, sys time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}

// enableModprobe makes the image's /sbin/modprobe (a link to modload.ModprobeTarget) lead
// to this binary, which answers as modprobe; see modload.ModprobeTarget for why the link
// is made only now.
func enableModprobe() error {
	if err := os.MkdirAll(filepath.Dir(modload.ModprobeTarget), 0o755); err != nil {
		return fmt.Errorf("modprobe helper: %w", err)
	}
	if err := os.Symlink("/init", modload.ModprobeTarget); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("modprobe helper: %w", err)
	}
	return nil
}

// disableModprobe removes the helper link before switch_root: /run moves into the real
// root, where /init does not exist.
func disableModprobe() { _ = os.RemoveAll(filepath.Dir(modload.ModprobeTarget)) }

// deleterName is argv[0] of the child switch_root starts to delete the old initramfs
// (switchroot.Options.DeleteWith).
const deleterName = "earlyroot-delete-initramfs"

// deleteInitramfs is the main of that child: it runs in the real root, after the chroot,
// with the old root as fd 3, and logs to the kernel log.
func deleteInitramfs() int {
	log := bootlog.New(nil, nil)
	if kmsg, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
		defer kmsg.Close()
		log = bootlog.New(kmsg, nil)
		log.SetTargets(true, false)
	}
	return switchroot.DeleterMain(log.Infof)
}
