package switchroot

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// reopenConsole makes fds 0, 1 and 2 the console of the new root. The descriptors inherited
// from the kernel point at /dev/console of the initramfs, a deleted inode they would keep
// alive. O_NOCTTY: PID 1 must not acquire a controlling terminal (^C would signal it). On
// failure the old descriptors stay.
func reopenConsole(path string, logf func(string, ...any)) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		logf("switch_root: open %s: %v", path, err)
		return
	}
	for i := 0; i <= 2; i++ {
		if fd == i {
			// Already in place, but opened close-on-exec.
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				logf("switch_root: console fd %d: %v", i, err)
			}
			continue
		}
		if err := unix.Dup3(fd, i, 0); err != nil {
			logf("switch_root: console fd %d: %v", i, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// closeOnExec marks every descriptor above 2 close-on-exec, except keep (when not negative),
// so that the init inherits only the console and the serialization. Marking instead of
// closing leaves the Go runtime's own descriptors working until the exec.
func closeOnExec(keep int) error {
	err := closeRangeExcept(keep)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return closeOnExecProc("/proc/self/fd", keep)
}

// closeRangeExcept uses close_range(2) (Linux 5.11+) with CLOSE_RANGE_CLOEXEC.
func closeRangeExcept(keep int) error {
	const last = ^uint(0)
	if keep < 3 {
		return unix.CloseRange(3, last, unix.CLOSE_RANGE_CLOEXEC)
	}
	if keep > 3 {
		if err := unix.CloseRange(3, uint(keep-1), unix.CLOSE_RANGE_CLOEXEC); err != nil {
			return err
		}
	}
	return unix.CloseRange(uint(keep+1), last, unix.CLOSE_RANGE_CLOEXEC)
}

// closeOnExecProc is the fallback for older kernels: it sets FD_CLOEXEC on each descriptor
// listed in fdDir.
func closeOnExecProc(fdDir string, keep int) error {
	d, err := os.Open(fdDir)
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	var errs []error
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 || fd == keep {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			errs = append(errs, fmt.Errorf("fd %d: %w", fd, err))
		}
	}
	return errors.Join(errs...)
}
