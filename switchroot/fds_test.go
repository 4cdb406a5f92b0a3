package switchroot

import (
	"testing"

	"golang.org/x/sys/unix"
)

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// TestCloseOnExec marks this test process's descriptors close-on-exec, which is harmless
// here: the test binary does not exec.
func TestCloseOnExec(t *testing.T) {
	for name, mark := range map[string]func(keep int) error{
		"close_range": closeRangeExcept,
		"proc":        func(keep int) error { return closeOnExecProc("/proc/self/fd", keep) },
	} {
		t.Run(name, func(t *testing.T) {
			var p [2]int
			if err := unix.Pipe2(p[:], 0); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			if err := mark(p[0]); err != nil {
				if name == "close_range" && err == unix.ENOSYS {
					t.Skip("close_range(2) not supported by this kernel")
				}
				t.Fatal(err)
			}
			if cloexec(t, p[0]) {
				t.Errorf("kept fd %d was marked close-on-exec", p[0])
			}
			if !cloexec(t, p[1]) {
				t.Errorf("fd %d was not marked close-on-exec", p[1])
			}
			for fd := 0; fd <= 2; fd++ {
				var st unix.Stat_t
				if unix.Fstat(fd, &st) == nil && cloexec(t, fd) {
					t.Errorf("fd %d was marked close-on-exec", fd)
				}
			}
		})
	}
}
