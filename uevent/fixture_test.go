package uevent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// recorded is one datagram of the top-level testdata/qemu/qemu-boot.uevents.
type recorded struct {
	phase string
	msg   []byte
}

// loadRecorded reads the raw netlink messages recorded in a QEMU boot.
func loadRecorded(tb testing.TB) []recorded {
	tb.Helper()
	f, err := os.Open(fixture.QEMUUevents())
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

// extractSysfs unpacks the sysfs of the same QEMU boot into a temporary sysfs root.
func extractSysfs(tb testing.TB) string { return fixture.QEMUSysfs(tb) }
