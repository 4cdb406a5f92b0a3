package switchroot

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestIsSystemd(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/lib/systemd/systemd", true},
		{"/usr/lib/systemd/systemd", true},
		{"/opt/systemd/bin/systemd", true},
		{"/sbin/init", false},
		{"/bin/busybox", false},
		{"/usr/lib/systemd/systemd-udevd", false},
		{"/bin/sh", false},
	}
	for _, tt := range tests {
		if got := IsSystemd(tt.path); got != tt.want {
			t.Errorf("IsSystemd(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestSystemdArgs(t *testing.T) {
	tests := []struct {
		init string
		args []string
		fd   int
		want string
	}{
		{"/sbin/init", nil, 3, "/sbin/init --switched-root --system --deserialize 3"},
		{"/lib/systemd/systemd", []string{"single", "systemd.unit=rescue.target"}, 7,
			"/lib/systemd/systemd --switched-root --system --deserialize 7 single systemd.unit=rescue.target"},
		{"/sbin/init", []string{"quiet"}, -1, "/sbin/init --switched-root --system quiet"},
	}
	for _, tt := range tests {
		got := SystemdArgs(tt.init, tt.args, tt.fd)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("SystemdArgs(%q, %q, %d) = %q, want %q", tt.init, tt.args, tt.fd, got, tt.want)
		}
	}
}

func TestFormatSerialization(t *testing.T) {
	tests := []struct {
		real, mono int64
		want       string
	}{
		{1700000000123456, 1234567, "initrd-timestamp=1700000000123456 1234567\n\n"},
		{1700000000123456, 0, "initrd-timestamp=1700000000123456 0\n\n"},
		{0, 5, "\n"},
	}
	for _, tt := range tests {
		if got := string(formatSerialization(tt.real, tt.mono)); got != tt.want {
			t.Errorf("formatSerialization(%d, %d) = %q, want %q", tt.real, tt.mono, got, tt.want)
		}
	}
}

func TestSerialize(t *testing.T) {
	if got := string(serialize(time.Time{})); got != "\n" {
		t.Errorf("serialize(zero) = %q, want an empty section", got)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	monoBefore := time.Duration(ts.Nano()) - 2*time.Second
	start := time.Now().Add(-2 * time.Second)
	out := string(serialize(start))
	var real, mono int64
	if _, err := fmt.Sscanf(out, "initrd-timestamp=%d %d\n", &real, &mono); err != nil {
		t.Fatalf("serialize = %q: %v", out, err)
	}
	if !strings.HasSuffix(out, "\n\n") || strings.Count(out, "\n") != 2 {
		t.Errorf("serialize = %q, want one line and the empty end-of-section line", out)
	}
	if real != start.UnixMicro() {
		t.Errorf("realtime = %d, want %d", real, start.UnixMicro())
	}
	if d := time.Duration(mono)*time.Microsecond - monoBefore; d < -time.Millisecond || d > time.Second {
		t.Errorf("monotonic = %d µs, %v away from the expected %d µs", mono, d, monoBefore.Microseconds())
	}
}

func TestSerializationFD(t *testing.T) {
	data := []byte("initrd-timestamp=1 2\n\n")
	fd, err := serializationFD(data)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC != 0 {
		t.Error("serialization fd is close-on-exec; systemd would not inherit it")
	}
	if fd <= 2 {
		t.Errorf("serialization fd %d collides with the console", fd)
	}
	buf := make([]byte, 100)
	n, err := unix.Read(fd, buf)
	if err != nil || string(buf[:n]) != string(data) {
		t.Errorf("read back %q, %v; want %q from offset 0", buf[:n], err, data)
	}
}
