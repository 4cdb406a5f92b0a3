// Package debroot makes a real Debian root file system tree with debootstrap, for the tests
// that prove earlyroot on a distribution's own systemd and its own kernel packages rather than
// on the test init. debootstrap takes minutes and needs the Debian mirror, so the tree is made
// once and cached outside the checkout, under a name that hashes everything that made it (the
// suite, the package list, the build script): a change to any of them makes a new tree, and
// an unchanged one is reused by every clone. Concurrent callers, from any process, build it
// once: the others wait on its lock file. Tests copy the tree before changing it.
package debroot

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

//go:embed build.sh
var buildScript string

// Spec says what root to make.
type Spec struct {
	Suite    string   // Debian suite, "bookworm"
	Packages []string // added to debootstrap's minbase variant
}

// Bookworm is the root of the distribution tests: Debian 12 with systemd as /sbin/init, udev
// and kmod, the way a minimal installation boots. dbus is there because systemd-logind needs
// it (Debian's systemd only recommends it, and debootstrap installs no recommends);
// linux-base is a dependency of Debian's kernel packages, so that the .deb test installs the
// test kernel's package without reaching the network.
var Bookworm = Spec{
	Suite:    "bookworm",
	Packages: []string{"systemd", "systemd-sysv", "udev", "kmod", "dbus", "linux-base"},
}

// Key is a short hash of everything that makes the tree: the suite, the packages and the
// build script.
func (s Spec) Key() string {
	h := sha256.New()
	fmt.Fprintf(h, "suite=%s\npackages=%s\nscript:\n%s", s.Suite, strings.Join(s.Packages, ","), buildScript)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Dir is where the tree of s is cached under cacheDir (earlyroot's cache directory).
func (s Spec) Dir(cacheDir string) string {
	return filepath.Join(cacheDir, "debroot-"+s.Key())
}

// complete marks a finished tree, beside it, so that a half-copied or interrupted tree is
// never taken for one.
func complete(dir string) string { return dir + ".complete" }

// Cached returns the tree of s when the cache already holds it.
func Cached(cacheDir string, s Spec) (string, bool) {
	dir := s.Dir(cacheDir)
	if _, err := os.Stat(complete(dir)); err != nil {
		return "", false
	}
	return dir, true
}

// Build returns the tree of s, making it with debootstrap first when the cache has none. It
// needs root (debootstrap makes device nodes and chroots) and writes debootstrap's output to
// log. A failed build leaves its output in DIR.failed.log.
func Build(ctx context.Context, cacheDir string, s Spec) (string, error) {
	if dir, ok := Cached(cacheDir, s); ok {
		return dir, nil
	}
	if len(s.Packages) == 0 || s.Suite == "" {
		return "", errors.New("debroot: spec has no suite or no packages")
	}
	dir := s.Dir(cacheDir)
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("debroot: %w", err)
	}
	unlock, err := fixture.LockCache(ctx, dir+".lock")
	if err != nil {
		return "", fmt.Errorf("debroot: %w", err)
	}
	defer unlock()
	if dir, ok := Cached(cacheDir, s); ok {
		return dir, nil // made by whoever held the lock
	}
	if err := build(ctx, s, dir); err != nil {
		return "", fmt.Errorf("debroot %s %s: %w", s.Suite, s.Key(), err)
	}
	return dir, nil
}

// build runs the script into a temporary directory beside dir and renames it into place.
func build(ctx context.Context, s Spec, dir string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("%w (apt-get install debootstrap)", err)
	}
	tmp := dir + ".build"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logPath := dir + ".failed.log"
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "sh", "-c", buildScript, "build.sh", tmp, s.Suite, strings.Join(s.Packages, ","))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build script: %w (log: %s)", err, logPath)
	}
	// A tree left by an earlier interrupted build has no marker: it is replaced.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if err := os.WriteFile(complete(dir), []byte(marker(s)), 0o644); err != nil {
		return err
	}
	logf.Close()
	if err := os.Rename(logPath, dir+".log"); err != nil {
		return err
	}
	return prune(filepath.Dir(dir), s)
}

// marker is the content of a tree's .complete file: its suite, so that prune knows which
// trees the new one replaces.
func marker(s Spec) string { return "suite=" + s.Suite + "\n" }

// prune removes the trees of s's suite that other keys made (a changed package list or build
// script): each is hundreds of megabytes that nothing uses any more. Trees of other suites stay.
func prune(cacheDir string, s Spec) error {
	markers, _ := filepath.Glob(filepath.Join(cacheDir, "debroot-*.complete"))
	for _, m := range markers {
		dir := strings.TrimSuffix(m, ".complete")
		if dir == s.Dir(cacheDir) {
			continue
		}
		if b, err := os.ReadFile(m); err != nil || string(b) != marker(s) {
			continue
		}
		// The marker goes first: a tree without one is never used, even half removed.
		for _, p := range []string{m, dir, dir + ".log", dir + ".failed.log"} {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("prune %s: %w", dir, err)
			}
		}
	}
	return nil
}
