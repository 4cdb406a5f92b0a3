package boot

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// resume=: a swap holding a hibernation image has its MAJ:MIN written to
// /sys/power/resume before the root is mounted (the kernel then restores the image; the
// fake's write returns, so the boot goes on); a plain swap, or a resume device that never
// appears, leaves the file alone and the boot goes on. The swap is never written to.
func TestResumeWritesDevice(t *testing.T) {
	for _, tc := range []struct {
		name, swap, resume string
		want               string // /sys/power/resume afterwards
		log                string
	}{
		{"hibernated", "swsuspend", "/dev/vdb", "254:1", "hibernation image on " + "DEV/vdb, resuming"},
		{"plain swap", "swap", "/dev/vdb", "", "holds no hibernation image; normal boot"},
		{"no device", "swap", "UUID=5a5a5a5a-0000-4000-8000-00000000005a", "", "device not found within 3s; not resuming"},
		{"no resume=", "swsuspend", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "root=/dev/vda rd.timeout=10 rd.shell=0 panic=-1"
			if tc.resume != "" {
				cmd += " resume=" + tc.resume
			}
			f := newFakeSystem(t, cmd)
			write(t, f.path("sys/power/resume"), "")
			var mountedAfter string
			f.onMount = func(source, target string) error {
				data, _ := os.ReadFile(f.path("sys/power/resume"))
				mountedAfter = string(data)
				return nil
			}
			f.onDiscover = func() {
				f.plugAt("vda", "ext4", 0)
				f.plugAt("vdb", tc.swap, 1)
			}
			run(t, f)
			out := f.output()
			if f.switched == nil {
				t.Fatalf("no switch_root:\n%s", out)
			}
			if mountedAfter != tc.want {
				t.Errorf("/sys/power/resume held %q when the root was mounted, want %q\n%s", mountedAfter, tc.want, out)
			}
			if log := strings.ReplaceAll(tc.log, "DEV", f.path("dev")); log != "" && !strings.Contains(out, log) {
				t.Errorf("the log lacks %q:\n%s", log, out)
			}
			swap, err := os.ReadFile(f.path("dev/vdb"))
			must(t, err)
			if !bytes.Equal(swap, fixture.DiskImage(t, tc.swap)) {
				t.Errorf("the swap device was written to")
			}
		})
	}
}
