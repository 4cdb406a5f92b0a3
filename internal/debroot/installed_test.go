package debroot

import (
	"maps"
	"testing"
)

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"lines", "EARLYROOT-DISTRO state=running\r\nEARLYROOT-DISTRO failed=\n", map[string]string{"state": "running", "failed": ""}},
		{"interleaved", "[   12.5] systemd[1]: Started x.EARLYROOT-DISTRO analyze=Startup finished in 1s (kernel) + 2s (initrd)\n",
			map[string]string{"analyze": "Startup finished in 1s (kernel) + 2s (initrd)"}},
		{"value with =", "EARLYROOT-DISTRO hostonly=ok size=12\n", map[string]string{"hostonly": "ok size=12"}},
		{"first wins", "EARLYROOT-DISTRO state=running\nEARLYROOT-DISTRO state=degraded\n", map[string]string{"state": "running"}},
		{"no key", "EARLYROOT-DISTRO =x\nEARLYROOT-DISTRO nokey\nEARLYROOT-DISTRO a b=c\n", map[string]string{}},
		{"nothing", "Linux version 6.1\n", map[string]string{}},
	} {
		if got := ParseReport(tc.in); !maps.Equal(got, tc.want) {
			t.Errorf("%s: ParseReport = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add("EARLYROOT-DISTRO state=running\nEARLYROOT-DISTRO failed=\r\n")
	f.Add("xEARLYROOT-DISTRO =\n")
	f.Fuzz(func(t *testing.T, s string) {
		for k := range ParseReport(s) {
			if k == "" {
				t.Fatalf("empty key from %q", s)
			}
		}
	})
}
