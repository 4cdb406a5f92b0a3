package switchroot

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// IsSystemd reports whether resolved, an init path inside the new root after symbolic
// links, is systemd.
func IsSystemd(resolved string) bool {
	switch resolved {
	case "/lib/systemd/systemd", "/usr/lib/systemd/systemd":
		return true
	}
	return path.Base(resolved) == "systemd"
}

// SystemdArgs is the argv for systemd after a switch-root, as systemd itself builds it when
// it leaves its own initrd: the init, --switched-root --system, --deserialize FD when fd is
// not negative, then args. --switched-root also tells systemd to do its full early setup
// even though it deserializes (a bare --deserialize means a re-exec, which skips it).
func SystemdArgs(initPath string, args []string, fd int) []string {
	argv := []string{initPath, "--switched-root", "--system"}
	if fd >= 0 {
		argv = append(argv, "--deserialize", strconv.Itoa(fd))
	}
	return append(argv, args...)
}

// serialize is the manager section of a systemd serialization carrying the time the
// initramfs started ("initrd-timestamp=REALTIME MONOTONIC", both in µs, as systemd's own
// initrd would hand over) and the empty line that ends the section. The other timestamps
// (firmware, loader, kernel, userspace) are measured by systemd on the real root. A zero
// start gives an empty section.
func serialize(start time.Time) []byte {
	if start.IsZero() {
		return []byte("\n")
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return []byte("\n")
	}
	now := time.Duration(ts.Nano())
	mono := now - time.Since(start)
	if mono < 0 {
		mono = 0
	}
	return formatSerialization(start.UnixMicro(), mono.Microseconds())
}

// formatSerialization writes the manager section for the given initrd timestamp.
func formatSerialization(realUsec, monoUsec int64) []byte {
	if realUsec <= 0 {
		return []byte("\n")
	}
	return fmt.Appendf(nil, "initrd-timestamp=%d %d\n\n", realUsec, monoUsec)
}

// serializationFD returns a memfd (without close-on-exec, so that systemd inherits it)
// holding data, positioned at its start as systemd reads it from there.
func serializationFD(data []byte) (int, error) {
	fd, err := unix.MemfdCreate("earlyroot-serialization", 0)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	if fd <= 2 {
		// fds 0-2 were closed (no initial console): move it out of the way of the console.
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("memfd_create: dup: %w", err)
		}
		fd = nfd
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write serialization: %w", err)
		}
		b = b[n:]
	}
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seek serialization: %w", err)
	}
	return fd, nil
}
