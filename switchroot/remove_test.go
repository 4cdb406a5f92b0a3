package switchroot

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// makeTree creates files ("x"), directories (trailing "/") and symbolic links ("a->b").
func makeTree(t *testing.T, dir string, specs ...string) {
	t.Helper()
	for _, s := range specs {
		name, target, isLink := strings.Cut(s, "->")
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case isLink:
			err = os.Symlink(target, p)
		case strings.HasSuffix(s, "/"):
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, []byte(name), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listTree lists everything below dir, relative, directories with a trailing "/".
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// otherDevice wraps the real lstat so that the paths in others (and everything below them)
// appear to be on device dev+1, and records every path looked at.
func otherDevice(others []string, seen *[]string) func(int, string, string) (entry, error) {
	return func(dirfd int, name, p string) (entry, error) {
		*seen = append(*seen, p)
		e, err := lstatAt(dirfd, name, p)
		for _, o := range others {
			if p == o || strings.HasPrefix(p, o+"/") {
				e.dev++
			}
		}
		return e, err
	}
}

func TestRemoveAllBoundary(t *testing.T) {
	outside := t.TempDir()
	makeTree(t, outside, "keep/file")
	dir := t.TempDir()
	makeTree(t, dir,
		"init", "etc/passwd", "lib/modules/6.1/kernel/x.ko", "empty/",
		"bin/busybox", "bin/sh->busybox", "lib64->lib", "outlink->"+outside, "outfile->"+outside+"/keep/file",
		"newroot/sbin/init", "newroot/etc/fstab",
		"mnt/data/precious", "mnt/data/sub/more", "mnt/plain",
		"run/other/file",
	)
	others := []string{filepath.Join(dir, "newroot"), filepath.Join(dir, "mnt/data")}
	var seen []string
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	w := walker{lstat: otherDevice(others, &seen)}
	if err := w.removeAll(dir, st.Dev); err != nil {
		t.Fatalf("removeAll: %v", err)
	}
	want := []string{
		"mnt/", "mnt/data/", "mnt/data/precious", "mnt/data/sub/", "mnt/data/sub/more",
		"newroot/", "newroot/etc/", "newroot/etc/fstab", "newroot/sbin/", "newroot/sbin/init",
	}
	if got := listTree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left after removeAll:\n got %q\nwant %q", got, want)
	}
	if got := listTree(t, outside); len(got) != 2 {
		t.Errorf("symbolic link target touched: %q", got)
	}
	for _, p := range seen {
		for _, o := range others {
			if strings.HasPrefix(p, o+"/") {
				t.Errorf("walker looked below the other device: %s", p)
			}
		}
	}
}

func TestRemoveAllStartOnOtherDevice(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "a/b")
	var seen []string
	w := walker{lstat: otherDevice([]string{dir}, &seen)}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Dir(dir), &st); err != nil {
		t.Fatal(err)
	}
	if err := w.removeAll(dir, st.Dev); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, dir); len(got) != 2 {
		t.Errorf("removed from another device: left %q", got)
	}
}

func TestRemoveAllContinuesPastErrors(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "a/1", "b/bad/x", "c/3", "d")
	bad := filepath.Join(dir, "b/bad")
	w := walker{lstat: func(dirfd int, name, p string) (entry, error) {
		if p == bad {
			return entry{}, &os.PathError{Op: "lstat", Path: p, Err: unix.EIO}
		}
		return lstatAt(dirfd, name, p)
	}}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	err := w.removeAll(dir, st.Dev)
	if !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), bad) {
		t.Errorf("error = %v, want EIO naming %s", err, bad)
	}
	want := []string{"b/", "b/bad/", "b/bad/x"}
	if got := listTree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left %q, want %q", got, want)
	}
}

func TestRemoveAllNotDir(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "f", "l->f")
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"f", "l", "missing"} {
		if err := RemoveAll(filepath.Join(dir, p), st.Dev); err == nil {
			t.Errorf("RemoveAll(%s) succeeded on a non-directory", p)
		}
	}
	if got := listTree(t, dir); len(got) != 2 {
		t.Errorf("left %q", got)
	}
}

// TestRemoveAllRealMount mounts a real tmpfs inside the tree: RemoveAll must leave it, and
// everything in it, alone.
func TestRemoveAllRealMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (the st_dev boundary is also covered by TestRemoveAllBoundary)")
	}
	dir := t.TempDir()
	makeTree(t, dir, "a/b/c", "mnt/data/", "x")
	mnt := filepath.Join(dir, "mnt/data")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount tmpfs (no CAP_SYS_ADMIN in this container?): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	makeTree(t, mnt, "precious", "sub/more")
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(dir, st.Dev); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	want := []string{"mnt/", "mnt/data/", "mnt/data/precious", "mnt/data/sub/", "mnt/data/sub/more"}
	if got := listTree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left %q, want %q", got, want)
	}
}
