package distro

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/debroot"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// prepareRoot turns a copy of the debootstrap tree into the root of an installed system
// (debroot.Prepare), with build/testinit as the facts reporter.
func prepareRoot(t *testing.T, tree string) {
	t.Helper()
	if err := debroot.Prepare(tree, filepath.Join(build, "testinit")); err != nil {
		t.Fatal(err)
	}
}

// addModules copies the test kernel's module tree into the root and runs depmod there.
func addModules(t *testing.T, tree string, k fixture.Kernel) {
	t.Helper()
	if err := debroot.AddModules(tree, k); err != nil {
		t.Fatal(err)
	}
}

// rootDisk makes the root's GPT disk in the test's temporary directory.
func rootDisk(t *testing.T, tree string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.img")
	if err := debroot.MakeDisk(tree, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Under TCG a systemd boot to multi-user.target takes a minute or more on a busy machine.
const (
	systemdBootTimeout = 10 * time.Minute
	reportTimeout      = 9 * time.Minute
)

// bootReport boots kernel and initrd on disk, waits for the report service's last line and
// for the guest to power off, and returns the report and the facts.
func bootReport(t *testing.T, kernel, initrd, disk string) (map[string]string, vm.Facts) {
	t.Helper()
	v := vm.Boot(t, vm.Config{Kernel: kernel, Initrd: initrd, Append: debroot.Cmdline, MemMB: 1024,
		Drives: []vm.Drive{{Path: disk}}, Timeout: systemdBootTimeout})
	start := time.Now()
	if _, err := v.Expect(regexp.MustCompile(regexp.QuoteMeta(debroot.ReportPrefix+debroot.ReportDone+"=")), reportTimeout); err != nil {
		t.Fatalf("no report from the booted system: %v", err)
	}
	t.Logf("booted and reported in %v", time.Since(start).Round(time.Second))
	if err := v.WaitTimeout(2 * time.Minute); err != nil {
		t.Errorf("the guest did not power off: %v", err)
	} else if r := v.ShutdownReason(); r != vm.ShutdownPoweroff {
		t.Errorf("QEMU shutdown reason %q, want %q", r, vm.ShutdownPoweroff)
	}
	rep := debroot.ParseReport(v.Output())
	t.Logf("report: %q", rep)
	f, err := vm.ParseFacts(v.Output())
	if err != nil {
		t.Fatal(err)
	}
	return rep, f
}

// checkBoot asserts what issue 18 asks of a real root booted through earlyroot.
func checkBoot(t *testing.T, rep map[string]string, f vm.Facts) {
	t.Helper()
	if got := rep["state"]; got != "running" {
		t.Errorf("systemctl is-system-running = %q, want running (failed: %q, jobs: %q)", got, rep["failed"], rep["jobs"])
	}
	if got := rep["failed"]; got != "" {
		t.Errorf("failed units: %s", got)
	}
	// What systemd itself (PID 1) warned about, from the journal, which keeps what it said on
	// the console before journald ran: a hand-off it dislikes (its serialization, the API file
	// systems, /run) shows here even when no unit fails.
	if got := rep["pid1_warnings"]; got != "" {
		t.Errorf("systemd warned: %s", got)
	}
	if n := rep["pid1_messages"]; n == "" || n == "0" {
		t.Errorf("the journal holds %q messages of systemd: the query for its warnings finds nothing at all", n)
	}
	if st, err := debroot.ParseStartup(rep["analyze"]); err != nil || !st.HasInitrd {
		t.Errorf("systemd-analyze = %q (%v), want the initrd stage in it", rep["analyze"], err)
	}
	if f.RootFSType != "ext4" {
		t.Errorf("root fstype %q, want ext4", f.RootFSType)
	}
	opts := strings.Split(f.RootOptions, ",")
	for _, o := range []string{"rw", "noatime"} {
		if !contains(opts, o) {
			t.Errorf("root mount options %q lack %s (fstab: %q)", f.RootOptions, o, strings.TrimSpace(debroot.Fstab))
		}
	}
	if so := f.Extra["root_superopts"]; !contains(strings.Split(so, ","), "errors=remount-ro") {
		t.Errorf("root super options %q lack errors=remount-ro", so)
	}
	if l := f.Extra["earlyroot_log"]; l == "absent" || l == "0" || l == "" {
		t.Errorf("/run/initramfs/earlyroot.log: %s", l)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// run runs a host command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
