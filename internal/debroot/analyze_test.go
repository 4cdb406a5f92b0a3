package debroot

import (
	"strings"
	"testing"
	"time"
)

func TestParseStartup(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name, in string
		want     Startup
		err      string
	}{
		{"initrd", "Startup finished in 2.118s (kernel) + 1.307s (initrd) + 20.5s (userspace) = 23.925s",
			Startup{Kernel: 2118 * ms, Initrd: 1307 * ms, HasInitrd: true, Userspace: 20500 * ms, Total: 23925 * ms}, ""},
		{"no initrd", "Startup finished in 9.9s (kernel) + 30.001s (userspace) = 39.901s",
			Startup{Kernel: 9900 * ms, Userspace: 30001 * ms, Total: 39901 * ms}, ""},
		{"minutes", "Startup finished in 850ms (kernel) + 12.5s (initrd) + 1min 2.3s (userspace) = 1min 15.650s",
			Startup{Kernel: 850 * ms, Initrd: 12500 * ms, HasInitrd: true, Userspace: 62300 * ms, Total: 75650 * ms}, ""},
		{"whole minutes and microseconds", "Startup finished in 950us (kernel) + 2min (userspace) = 2min 950us",
			Startup{Kernel: 950 * time.Microsecond, Userspace: 2 * time.Minute, Total: 2*time.Minute + 950*time.Microsecond}, ""},
		{"hours", "Startup finished in 1s (kernel) + 1h 2min 3s (userspace) = 1h 2min 4s",
			Startup{Kernel: time.Second, Userspace: time.Hour + 2*time.Minute + 3*time.Second, Total: time.Hour + 2*time.Minute + 4*time.Second}, ""},
		{"firmware and loader", "Startup finished in 3.2s (firmware) + 1.1s (loader) + 2s (kernel) + 5s (userspace) = 11.3s",
			Startup{Firmware: 3200 * ms, Loader: 1100 * ms, Kernel: 2 * time.Second, Userspace: 5 * time.Second, Total: 11300 * ms}, ""},
		{"spaces around", "  Startup finished in 1s (kernel) + 2s (userspace) = 3s\r\n",
			Startup{Kernel: time.Second, Userspace: 2 * time.Second, Total: 3 * time.Second}, ""},
		{"as the report carries it", "Startup finished in 1.915s (kernel) + 984ms (initrd) + 12.365s (userspace) = 15.265s ",
			Startup{Kernel: 1915 * ms, Initrd: 984 * ms, HasInitrd: true, Userspace: 12365 * ms, Total: 15265 * ms}, ""},
		{"not finished", "Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).", Startup{}, "no \"Startup finished in\""},
		{"no total", "Startup finished in 1s (kernel) + 2s (userspace)", Startup{}, "no total"},
		{"no userspace", "Startup finished in 1s (kernel) + 2s (initrd) = 3s", Startup{}, "want kernel and userspace"},
		{"unknown stage", "Startup finished in 1s (kernel) + 1s (bios) + 2s (userspace) = 4s", Startup{}, "unknown stage"},
		{"twice", "Startup finished in 1s (kernel) + 1s (kernel) + 2s (userspace) = 4s", Startup{}, "twice"},
		{"no unit", "Startup finished in 1 (kernel) + 2s (userspace) = 3s", Startup{}, "no unit"},
		{"bad number", "Startup finished in x.ys (kernel) + 2s (userspace) = 3s", Startup{}, "not a number"},
		{"negative", "Startup finished in -1s (kernel) + 2s (userspace) = 3s", Startup{}, "not a number"},
		{"empty", "", Startup{}, "no \"Startup"},
	} {
		got, err := ParseStartup(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: ParseStartup = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func FuzzParseStartup(f *testing.F) {
	f.Add("Startup finished in 2.118s (kernel) + 1.307s (initrd) + 1min 20.5s (userspace) = 1min 23.925s")
	f.Add("Startup finished in 9.9s (kernel) + 30ms (userspace) = 30.001s")
	f.Add("Startup finished in 1e308min (kernel) + 2s (userspace) = 3s")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStartup(s)
		if err != nil {
			return
		}
		for _, d := range []time.Duration{st.Firmware, st.Loader, st.Kernel, st.Initrd, st.Userspace, st.Total} {
			if d < 0 {
				t.Fatalf("negative duration from %q: %+v", s, st)
			}
		}
		if !st.HasInitrd && st.Initrd != 0 {
			t.Fatalf("initrd time without an initrd stage from %q", s)
		}
	})
}
