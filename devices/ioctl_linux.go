package devices

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlUint64 issues an ioctl that stores a uint64 through its argument.
func ioctlUint64(fd int, req uint, v *uint64) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(v)))
	if errno != 0 {
		return errno
	}
	return nil
}
