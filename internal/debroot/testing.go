package debroot

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// Need returns the cached tree of s for a test, making it first when the cache has none
// (debootstrap from the Debian mirror, minutes). A test that cannot have it (not root, no
// debootstrap, -short and not made yet) is skipped, or failed with $EARLYROOT_REQUIRE_KERNEL=1
// as fixture.NeedKernel does, so that make test never skips it silently.
func Need(tb testing.TB, s Spec) string {
	tb.Helper()
	cache := fixture.CacheDir()
	if dir, ok := Cached(cache, s); ok {
		return dir
	}
	var why string
	switch {
	case os.Geteuid() != 0:
		why = "debootstrap needs root"
	case testing.Short():
		why = "-short makes no debootstrap root"
	default:
		if _, err := exec.LookPath("debootstrap"); err != nil {
			why = "no debootstrap (apt-get install debootstrap)"
		}
	}
	if why != "" {
		msg := fmt.Sprintf("debroot: %s root %s is not made yet and cannot be: %s", s.Suite, s.Key(), why)
		if os.Getenv(fixture.RequireKernelEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Logf("debroot: making the %s root %s with debootstrap (minutes, once)", s.Suite, s.Key())
	dir, err := Build(context.Background(), cache, s)
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Copy copies the tree at dir into the test's temporary directory (owners, modes, links and
// device nodes kept) and returns the copy, which the test may change.
func Copy(tb testing.TB, dir string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "root")
	if err := CopyTree(dir, dst); err != nil {
		tb.Fatal(err)
	}
	return dst
}
