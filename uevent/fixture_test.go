package uevent

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// recorded is one datagram of testdata/qemu-boot.uevents.
type recorded struct {
	phase string
	msg   []byte
}

// loadRecorded reads the raw netlink messages recorded in a QEMU boot.
func loadRecorded(tb testing.TB) []recorded {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "qemu-boot.uevents"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		phase, quoted, ok := strings.Cut(text, " ")
		if !ok {
			tb.Fatalf("qemu-boot.uevents:%d: no phase", line)
		}
		s, err := strconv.Unquote(quoted)
		if err != nil {
			tb.Fatalf("qemu-boot.uevents:%d: %v", line, err)
		}
		out = append(out, recorded{phase: phase, msg: []byte(s)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatal("no recorded messages")
	}
	return out
}

// extractSysfs unpacks testdata/qemu-sysfs.tar.gz (a subset of /sys/devices
// from the same QEMU boot) into a temporary directory and returns it as a
// sysfs root. The tree is kept as a tarball because Go module zips drop
// symlinks and reject ':' in file names.
func extractSysfs(tb testing.TB) string {
	return fixture.UnpackTarGz(tb, filepath.Join("testdata", "qemu-sysfs.tar.gz"))
}
