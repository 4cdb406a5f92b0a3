package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// DefaultBootTimeout bounds a VM started by Boot without Config.Timeout.
const DefaultBootTimeout = 5 * time.Minute

// Boot starts cfg for a test: the console is streamed to a log file under
// os.TempDir()/earlyroot-vm (kept after the test; its path is logged), QEMU
// is killed by t.Cleanup, and when the test has failed the last 60 console
// lines are logged. A missing Timeout becomes DefaultBootTimeout. Start
// errors end the test with t.Fatal.
func Boot(t testing.TB, cfg Config) *VM {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultBootTimeout
	}
	logf, err := consoleLog(t.Name())
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	if cfg.Console != nil {
		cfg.Console = io.MultiWriter(logf, cfg.Console)
	} else {
		cfg.Console = logf
	}
	if a, err := Args(cfg); err == nil {
		fmt.Fprintf(logf, "# %s\n", strings.Join(a, " "))
	}
	v, err := Start(context.Background(), cfg)
	if err != nil {
		logf.Close()
		t.Fatalf("boot: %v", err)
	}
	t.Logf("vm console log: %s", logf.Name())
	t.Cleanup(func() {
		v.Close()
		logf.Close()
		if t.Failed() {
			t.Logf("vm console log: %s; last 60 lines:\n%s", logf.Name(), v.Tail(60))
			if s := strings.TrimSpace(v.Stderr()); s != "" {
				t.Logf("qemu stderr:\n%s", s)
			}
		}
	})
	return v
}

func consoleLog(testName string) (*os.File, error) {
	dir := filepath.Join(os.TempDir(), "earlyroot-vm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	safe := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(testName, "_")
	return os.CreateTemp(dir, safe+"-*.log")
}

// Kernel is an unpacked kernel package as laid out by scripts/fetch-kernel.sh:
// Dir/boot/vmlinuz-Release and Dir/lib/modules/Release.
type Kernel = fixture.Kernel

// NeedKernel returns the test kernel (fixture.NeedKernel: skipped when absent, failed with
// $EARLYROOT_REQUIRE_KERNEL=1), and skips when qemu-system-x86_64 is not installed.
func NeedKernel(t testing.TB) Kernel {
	t.Helper()
	k := fixture.NeedKernel(t)
	if _, err := exec.LookPath(QEMUBinary); err != nil {
		t.Skipf("skipping VM test: %v", err)
	}
	return k
}

// BuildStatic builds the Go package pkg (e.g. "./cmd/testinit", relative to
// the repo root) as a static binary at out (CGO_ENABLED=0, -trimpath,
// stripped).
func BuildStatic(pkg, out string) error {
	root, err := fixture.RepoRoot()
	if err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w: %s", pkg, err, strings.TrimSpace(buf.String()))
	}
	return nil
}

// BuildTestinit builds cmd/testinit into t.TempDir() and returns its path.
func BuildTestinit(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "testinit")
	if err := BuildStatic("./cmd/testinit", out); err != nil {
		t.Fatal(err)
	}
	return out
}
