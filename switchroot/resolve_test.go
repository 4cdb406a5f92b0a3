package switchroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// newRootTree builds a fake new root: name → content. A content starting with "->" makes a
// symbolic link, "dir" a directory, "fifo" a FIFO, "noexec" a 0644 file, anything else an
// executable file.
func newRootTree(t *testing.T, tree map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "newroot")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range tree {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(c, "->"):
			err = os.Symlink(c[2:], p)
		case c == "dir":
			err = os.MkdirAll(p, 0o755)
		case c == "fifo":
			err = unix.Mkfifo(p, 0o755)
		case c == "noexec":
			err = os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644)
		default:
			err = os.WriteFile(p, []byte(c), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheckInit(t *testing.T) {
	host := t.TempDir()
	hostFile := filepath.Join(host, "hostinit")
	if err := os.WriteFile(hostFile, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	tree := map[string]string{
		"lib/systemd/systemd": "elf",
		"bin/sh":              "elf",
		"bin/noexec":          "noexec",
		"bin/fifo":            "fifo",
		"sbin/init":           "->/lib/systemd/systemd",
		"sbin/rel":            "->../lib/systemd/systemd",
		"sbin/chain1":         "->chain2",
		"sbin/chain2":         "->/usr/sbin/chain3",
		"usr/sbin/chain3":     "->../../bin/sh",
		"sbin/escape":         "->../../../../../../../bin/sh",
		"sbin/outside":        "->" + hostFile,
		"sbin/outsiderel":     "->../../../../../../../.." + hostFile,
		"sbin/loop1":          "->loop2",
		"sbin/loop2":          "->/sbin/loop1",
		"sbin/self":           "->self",
		"sbin/dangling":       "->/nonexistent/init",
		"sbin/todir":          "->/lib",
		"sbin/tonoexec":       "->/bin/noexec",
		"libdir":              "->lib",
		"lib64":               "->/usr/lib64",
		"usr/lib64/ld.so":     "elf",
	}
	// A chain of exactly maxSymlinks links works; one more is a loop.
	for i := 1; i <= maxSymlinks+1; i++ {
		tree[fmt.Sprintf("long/%d", i)] = fmt.Sprintf("->/long/%d", i+1)
	}
	tree[fmt.Sprintf("long/%d", maxSymlinks+2)] = "->/bin/sh"
	root := newRootTree(t, tree)

	tests := []struct {
		init     string
		resolved string
		err      error
	}{
		{"/bin/sh", "/bin/sh", nil},
		{"bin/sh", "/bin/sh", nil},
		{"/bin/../bin/./sh", "/bin/sh", nil},
		{"/sbin/init", "/lib/systemd/systemd", nil},
		{"/sbin/rel", "/lib/systemd/systemd", nil},
		{"/sbin/chain1", "/bin/sh", nil},
		{"/sbin/escape", "/bin/sh", nil},
		{"/../../bin/sh", "/bin/sh", nil},
		{"/libdir/systemd/systemd", "/lib/systemd/systemd", nil},
		{"/lib64/ld.so", "/usr/lib64/ld.so", nil},
		{"/libdir/../bin/sh", "/bin/sh", nil},
		{fmt.Sprintf("/long/%d", 3), "/bin/sh", nil},
		{"/long/1", "", ErrLoop},
		{"/sbin/outside", "", ErrNoSuchFile},
		{"/sbin/outsiderel", "", ErrNoSuchFile},
		{"/sbin/loop1", "", ErrLoop},
		{"/sbin/self", "", ErrLoop},
		{"/sbin/dangling", "", ErrNoSuchFile},
		{"/sbin/missing", "", ErrNoSuchFile},
		{"/sbin", "", ErrIsDir},
		{"/", "", ErrIsDir},
		{"/sbin/todir", "", ErrIsDir},
		{"/bin/noexec", "", ErrNotExecutable},
		{"/sbin/tonoexec", "", ErrNotExecutable},
		{"/bin/fifo", "", ErrNotRegular},
		{"/bin/sh/init", "", ErrNotDir},
	}
	for _, tt := range tests {
		t.Run(tt.init, func(t *testing.T) {
			execPath, resolved, err := checkInit(root, tt.init)
			if !errors.Is(err, tt.err) {
				t.Fatalf("checkInit(%q) error = %v, want %v", tt.init, err, tt.err)
			}
			if err != nil {
				var ie *InitError
				if !errors.As(err, &ie) {
					t.Fatalf("error %T is not an *InitError", err)
				}
				if !strings.HasPrefix(err.Error(), "switch_root: "+root) {
					t.Errorf("error %q does not name the path under %s", err, root)
				}
				return
			}
			if resolved != tt.resolved {
				t.Errorf("resolved = %q, want %q", resolved, tt.resolved)
			}
			if want := filepath.Clean("/" + tt.init); execPath != want {
				t.Errorf("execPath = %q, want %q (the name as given)", execPath, want)
			}
		})
	}
}

func TestInitErrorMessage(t *testing.T) {
	root := newRootTree(t, map[string]string{"sbin/init": "->/lib/systemd/systemd"})
	_, _, err := checkInit(root, "/bin/init")
	if want := "switch_root: " + root + "/bin/init: no such file"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	_, _, err = checkInit(root, "/sbin/init")
	if want := "switch_root: " + root + "/sbin/init (-> /lib/systemd/systemd): no such file"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestFindInit(t *testing.T) {
	tests := []struct {
		name string
		tree map[string]string
		init string
		want string // "" = error
	}{
		{"first default", map[string]string{"sbin/init": "elf", "bin/sh": "elf"}, "", "/sbin/init"},
		{"skips non-executable", map[string]string{"sbin/init": "noexec", "etc/init": "elf"}, "", "/etc/init"},
		{"skips dangling link", map[string]string{"sbin/init": "->/lib/systemd/systemd", "bin/init": "elf"}, "", "/bin/init"},
		{"falls back to sh", map[string]string{"bin/sh": "->busybox", "bin/busybox": "elf"}, "", "/bin/sh"},
		{"nothing", map[string]string{"etc": "dir"}, "", ""},
		{"init= honoured", map[string]string{"sbin/init": "elf", "opt/init": "elf"}, "/opt/init", "/opt/init"},
		{"init= missing, no fallback", map[string]string{"sbin/init": "elf"}, "/opt/init", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootTree(t, tt.tree)
			got, _, err := findInit(root, tt.init)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("findInit = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findInit = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
