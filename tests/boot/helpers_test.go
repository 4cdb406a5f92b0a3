package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// Timeouts for one boot under TCG (about 6 s for the kernel alone, more with two VMs).
const (
	bootTimeout  = 150 * time.Second
	factsTimeout = 120 * time.Second
	promptWait   = 90 * time.Second
)

// rootTree lays out a root filesystem tree for cmd/testinit in a fresh directory and returns
// it; extra maps paths inside the root to file contents (mode 0755).
func rootTree(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := vm.RootDir(dir, filepath.Join(tb.build, "testinit")); err != nil {
		t.Fatal(err)
	}
	for p, content := range extra {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testinitBytes is the test real init, for copying to other paths of a root.
func testinitBytes(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tb.build, "testinit"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// rootFS is a filesystem holding the test root tree.
func rootFS(t *testing.T, fstype, uuid, label string) *vm.FS {
	return &vm.FS{Type: fstype, UUID: uuid, Label: label, SrcDir: rootTree(t, nil)}
}

// makeDisk builds a disk image in the test's temp dir.
func makeDisk(t *testing.T, name string, d vm.Disk) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".img")
	if err := vm.MakeDisk(path, d); err != nil {
		t.Fatal(err)
	}
	return path
}

// wholeDisk is a disk that is one filesystem.
func wholeDisk(t *testing.T, fs *vm.FS) string {
	return makeDisk(t, "disk", vm.Disk{FS: fs})
}

// bootVM boots the first test kernel with the given initramfs (default: the generic image).
func bootVM(t *testing.T, cfg vm.Config) *vm.VM {
	t.Helper()
	return bootOn(t, tb.first, cfg)
}

// bootOn boots kernel k with the given initramfs (default: k's generic image).
func bootOn(t *testing.T, k *testKernel, cfg vm.Config) *vm.VM {
	t.Helper()
	cfg.Kernel = k.Image
	if cfg.Initrd == "" {
		cfg.Initrd = tb.imageFor(t, k, "generic")
	}
	// Prepended: words after "--" in the test's own command line must stay last.
	if !strings.Contains(cfg.Append, "panic=") {
		cfg.Append = "panic=-1 " + cfg.Append
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = bootTimeout
	}
	return vm.Boot(t, cfg)
}

// facts waits for the real init's facts line and parses it.
func facts(t *testing.T, v *vm.VM) vm.Facts {
	t.Helper()
	if _, err := v.Expect(regexp.MustCompile(regexp.QuoteMeta(vm.FactsPrefix)), factsTimeout); err != nil {
		t.Fatalf("the real init did not report: %v", err)
	}
	f, err := vm.ParseFacts(v.Output())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// expect waits for a console line matching re.
func expect(t *testing.T, v *vm.VM, re string, timeout time.Duration) string {
	t.Helper()
	line, err := v.Expect(regexp.MustCompile(re), timeout)
	if err != nil {
		t.Fatalf("waiting for %q: %v", re, err)
	}
	return line
}

// send types a line at the rescue prompt.
func send(t *testing.T, v *vm.VM, line string) {
	t.Helper()
	if err := v.Send(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// bootedOn checks that the real init runs as PID 1 on the expected root device and type.
func bootedOn(t *testing.T, f vm.Facts, source, fstype string) {
	t.Helper()
	if f.PID != 1 {
		t.Errorf("real init runs as pid %d, want 1", f.PID)
	}
	if source != "" && f.RootSource != source {
		t.Errorf("root source %q, want %q", f.RootSource, source)
	}
	if fstype != "" && f.RootFSType != fstype {
		t.Errorf("root fstype %q, want %q", f.RootFSType, fstype)
	}
	if !f.Proc || !f.Sys || !f.Dev || !f.Run {
		t.Errorf("API filesystems not handed over: proc=%v sys=%v dev=%v run=%v", f.Proc, f.Sys, f.Dev, f.Run)
	}
}

// modprobeStarts are the console's lines for starts of the init's modprobe personality
// (init/main.go's logModprobe): the kernel's requests for modules nothing had loaded yet.
func modprobeStarts(out string) []string {
	var starts []string
	for _, l := range strings.Split(out, "\n") {
		if _, after, ok := strings.Cut(l, "earlyroot: modprobe "); ok {
			starts = append(starts, strings.TrimSpace(after))
		}
	}
	return starts
}

// noModprobeStarts checks that the boot needed no modprobe process: the init loaded all the
// kernel would have asked for (a plain disk's path, through any controller).
func noModprobeStarts(t *testing.T, v *vm.VM) {
	t.Helper()
	if starts := modprobeStarts(v.Output()); len(starts) > 0 {
		t.Errorf("the kernel started the modprobe helper for %q: the init loads these itself", starts)
	}
}

// exited waits for QEMU to end by itself and checks that the guest powered off, as the test
// init does: -no-reboot turns a reboot (and, under panic=-1, a kernel panic) into an exit too,
// which only QEMU's shutdown reason tells apart.
func exited(t *testing.T, v *vm.VM, within time.Duration) {
	t.Helper()
	shutdownBy(t, v, within, vm.ShutdownPoweroff)
}

// shutdownBy waits for QEMU to end by itself and checks its shutdown reason
// (vm.ShutdownPoweroff, vm.ShutdownReset).
func shutdownBy(t *testing.T, v *vm.VM, within time.Duration, reason string) {
	t.Helper()
	if err := v.WaitTimeout(within); errors.Is(err, vm.ErrTimeout) {
		t.Fatalf("QEMU did not exit by itself within %v: %v", within, err)
	} else if err != nil {
		t.Fatalf("QEMU: %v", err)
	}
	if r := v.ShutdownReason(); r != reason {
		t.Errorf("QEMU shutdown reason %q, want %q", r, reason)
	}
}

// hasOption reports whether a comma-separated option list holds opt.
func hasOption(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// uuidFor makes a distinct, readable UUID per test.
func uuidFor(n int) string {
	return fmt.Sprintf("%08x-1111-4222-8333-%012x", n, n)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var reRescuePrompt = regexp.MustCompile(`earlyroot# `)
