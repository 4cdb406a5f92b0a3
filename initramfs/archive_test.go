package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

func sampleArchive(t *testing.T) *Archive {
	t.Helper()
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("hello from a host file\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := NewArchive()
	for _, err := range []error{
		a.AddBytes("/etc/initrd-release", 0o644, []byte("NAME=earlyroot\n")),
		a.AddDir("proc", 0o755),
		a.AddFile("lib/modules/6.1/kernel/x.ko", 0o644, src),
		a.AddFile("bin/payload", 0, src),
		a.AddSymlink("sbin/modprobe", "/init"),
		a.AddCharDev("dev/console", 0o600, 5, 1),
		a.AddDir("tmp", 0o1777),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestArchiveRecords(t *testing.T) {
	a := sampleArchive(t)
	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(buf.Bytes()))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	seen := map[string]bool{}
	for i, r := range recs {
		names = append(names, r.Name)
		if r.UID != 0 || r.GID != 0 || r.MTime != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d", r.Name, r.UID, r.GID, r.MTime)
		}
		if r.Ino != uint64(i+1) {
			t.Errorf("%s: ino %d, want %d", r.Name, r.Ino, i+1)
		}
		if d := filepath.Dir(r.Name); d != "." && !seen[d] {
			t.Errorf("%s comes before its parent %s", r.Name, d)
		}
		seen[r.Name] = true
	}
	want := "bin bin/payload dev dev/console etc etc/initrd-release lib lib/modules lib/modules/6.1 " +
		"lib/modules/6.1/kernel lib/modules/6.1/kernel/x.ko proc sbin sbin/modprobe tmp"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names:\n got %s\nwant %s", got, want)
	}
	byName := map[string]cpio.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	checks := []struct {
		name string
		mode uint64
	}{
		{"bin/payload", cpio.S_IFREG | 0o700},
		{"lib/modules/6.1/kernel/x.ko", cpio.S_IFREG | 0o644},
		{"sbin/modprobe", cpio.S_IFLNK | 0o777},
		{"dev/console", cpio.S_IFCHR | 0o600},
		{"tmp", cpio.S_IFDIR | 0o1777},
		{"lib", cpio.S_IFDIR | 0o755},
	}
	for _, c := range checks {
		if got := byName[c.name].Mode; got != c.mode {
			t.Errorf("%s: mode %o, want %o", c.name, got, c.mode)
		}
	}
	if r := byName["dev/console"]; r.Rmajor != 5 || r.Rminor != 1 {
		t.Errorf("dev/console: %d,%d", r.Rmajor, r.Rminor)
	}
}

func TestArchiveReproducible(t *testing.T) {
	var b1, b2 bytes.Buffer
	if _, err := sampleArchive(t).WriteTo(&b1); err != nil {
		t.Fatal(err)
	}
	if _, err := sampleArchive(t).WriteTo(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("two identical archives differ")
	}
}

func TestArchiveCpioTool(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	var buf bytes.Buffer
	if _, err := sampleArchive(t).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	if !strings.Contains(string(out), "sbin/modprobe\n") || !strings.Contains(string(out), "lib/modules/6.1/kernel/x.ko\n") {
		t.Errorf("cpio -t output:\n%s", out)
	}
}

func TestArchiveErrors(t *testing.T) {
	a := NewArchive()
	if err := a.AddBytes("etc/x", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
	}{
		{"duplicate file", a.AddBytes("/etc/x", 0o644, nil)},
		{"file as parent", a.AddBytes("etc/x/y", 0o644, nil)},
		{"file over implicit dir", a.AddBytes("etc", 0o644, nil)},
		{"empty name", a.AddBytes("/", 0o644, nil)},
		{"missing source", a.AddFile("a", 0, "/nonexistent/file")},
		{"directory source", a.AddFile("a", 0, t.TempDir())},
		{"empty symlink", a.AddSymlink("l", "")},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := a.AddDir("etc", 0o700); err != nil {
		t.Errorf("re-adding a directory: %v", err)
	}
	if !a.Has("etc") || !a.Has("/etc/x") || a.Has("etc/y") {
		t.Error("Has is wrong")
	}
}

func TestArchiveSourceChanged(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("abc"), 0o644)
	a := NewArchive()
	if err := a.AddFile("f", 0, src); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, []byte("abcdef"), 0o644)
	if _, err := a.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("no error for a source that changed size")
	}
}
