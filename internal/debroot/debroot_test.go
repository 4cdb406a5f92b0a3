package debroot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyHashesWhatMakesTheTree(t *testing.T) {
	base := Bookworm.Key()
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"suite", Spec{Suite: "trixie", Packages: Bookworm.Packages}},
		{"one package fewer", Spec{Suite: "bookworm", Packages: Bookworm.Packages[1:]}},
		{"one package more", Spec{Suite: "bookworm", Packages: append(append([]string{}, Bookworm.Packages...), "vim")}},
	} {
		if k := tc.spec.Key(); k == base {
			t.Errorf("%s: key %s unchanged", tc.name, k)
		}
	}
	if len(base) != 16 || Bookworm.Key() != base {
		t.Errorf("key %q: want 16 hex digits, stable", base)
	}
	if got := Bookworm.Dir("/c"); got != "/c/debroot-"+base {
		t.Errorf("Dir = %s", got)
	}
}

func TestCachedNeedsTheMarker(t *testing.T) {
	cache := t.TempDir()
	dir := Bookworm.Dir(cache)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := Cached(cache, Bookworm); ok {
		t.Fatal("a tree without its .complete marker (an interrupted build) was taken as made")
	}
	if err := os.WriteFile(complete(dir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, ok := Cached(cache, Bookworm); !ok || got != dir {
		t.Fatalf("Cached = %s, %v; want %s", got, ok, dir)
	}
}

func TestBuildRefusesAnEmptySpec(t *testing.T) {
	if _, err := Build(context.Background(), t.TempDir(), Spec{Suite: "bookworm"}); err == nil || !strings.Contains(err.Error(), "no packages") {
		t.Fatalf("Build with no packages: %v", err)
	}
}

// TestBookwormRoot makes (or finds) the cached root and checks that it is the system the
// distribution tests want: systemd as /sbin/init, udev, kmod, an empty machine-id.
func TestBookwormRoot(t *testing.T) {
	dir := Need(t, Bookworm)
	for _, p := range []string{"lib/systemd/systemd", "bin/udevadm", "bin/kmod", "usr/bin/dbus-daemon", "usr/bin/linux-version", "usr/bin/dpkg"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("root lacks %s: %v", p, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "sbin", "init")); err != nil || !strings.HasSuffix(l, "systemd/systemd") {
		t.Errorf("/sbin/init -> %q, %v; want systemd", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "machine-id")); err != nil || len(b) != 0 {
		t.Errorf("/etc/machine-id = %q, %v; want empty (each boot gets its own)", b, err)
	}
}

// TestPrune: a new tree replaces the trees of its suite made by other keys, and leaves other
// suites' trees, and anything not marked complete, alone.
func TestPrune(t *testing.T) {
	cache := t.TempDir()
	trixie := Spec{Suite: "trixie", Packages: Bookworm.Packages}
	old := Spec{Suite: "bookworm", Packages: []string{"systemd"}}
	mk := func(s Spec, marked bool) string {
		dir := s.Dir(cache)
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+".log", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if marked {
			if err := os.WriteFile(complete(dir), []byte(marker(s)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	cur, oldDir, other := mk(Bookworm, true), mk(old, true), mk(trixie, true)
	if err := prune(cache, Bookworm); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{oldDir, oldDir + ".log", complete(oldDir)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived the prune: %v", p, err)
		}
	}
	for _, p := range []string{cur, complete(cur), other, complete(other)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s pruned: %v", p, err)
		}
	}
}
