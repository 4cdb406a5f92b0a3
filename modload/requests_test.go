package modload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSysctl makes a kernel.modprobe file holding value; it returns its path.
func writeSysctl(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "modprobe")
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readSysctl(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWithoutRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before string // "" : no file
		setup  bool   // Options.RequestSysctl set
		during string
		after  string
	}{
		{name: "default helper", before: "/sbin/modprobe\n", setup: true, during: "\n", after: "/sbin/modprobe\n"},
		{name: "set on the command line", before: "/usr/local/sbin/mp\n", setup: true, during: "\n", after: "/usr/local/sbin/mp\n"},
		{name: "off already", before: "\n", setup: true, during: "\n", after: "\n"},
		{name: "no option", before: "/sbin/modprobe\n", setup: false, during: "/sbin/modprobe\n", after: "/sbin/modprobe\n"},
		{name: "no file", setup: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "absent")
			if tc.before != "" {
				p = writeSysctl(t, tc.before)
			}
			opt := Options{}
			if tc.setup {
				opt.RequestSysctl = p
			}
			l := NewLoader(&Index{}, t.TempDir(), opt)
			ran := false
			err := l.WithoutRequests(func() {
				ran = true
				if tc.before != "" {
					if got := readSysctl(t, p); got != tc.during {
						t.Errorf("setting during f = %q, want %q", got, tc.during)
					}
				}
			})
			if !ran {
				t.Fatal("f did not run")
			}
			if err != nil {
				t.Errorf("WithoutRequests: %v", err)
			}
			if tc.before == "" {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("a missing setting was created: %v", err)
				}
				return
			}
			if got := readSysctl(t, p); got != tc.after {
				t.Errorf("setting after f = %q, want %q", got, tc.after)
			}
		})
	}
}

// A panic in f leaves the setting restored.
func TestWithoutRequestsPanic(t *testing.T) {
	p := writeSysctl(t, "/sbin/modprobe\n")
	l := NewLoader(&Index{}, t.TempDir(), Options{RequestSysctl: p})
	func() {
		defer func() { _ = recover() }()
		l.WithoutRequests(func() { panic("step failed") })
	}()
	if got := readSysctl(t, p); got != "/sbin/modprobe\n" {
		t.Errorf("setting after a panic = %q", got)
	}
}

// A module insert and a Requesting step never run while the requests are off: each waits
// for the other.
func TestWithoutRequestsExcludesInserts(t *testing.T) {
	e := newLoaderEnv(t)
	p := writeSysctl(t, "/sbin/modprobe\n")
	l := e.loader(Options{RequestSysctl: p})
	var seen []string // the setting as each insert saw it
	e.k.before = func(string) { seen = append(seen, readSysctl(t, p)) }

	inWindow := make(chan struct{})
	release := make(chan struct{})
	windowDone := make(chan struct{})
	go func() {
		defer close(windowDone)
		l.WithoutRequests(func() {
			close(inWindow)
			<-release
		})
	}()
	<-inWindow
	loaded := make(chan Result)
	go func() { loaded <- l.Load("chain-a") }()
	stepRan := make(chan string)
	go func() { l.Requesting(func() { stepRan <- readSysctl(t, p) }) }()
	select {
	case r := <-loaded:
		t.Fatalf("a load finished while the requests were off: %+v", r)
	case got := <-stepRan:
		t.Fatalf("a requesting step ran while the requests were off (setting %q)", got)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-windowDone
	if r := <-loaded; r.Status != Loaded {
		t.Errorf("Load(chain-a) = %+v", r)
	}
	if got := <-stepRan; got != "/sbin/modprobe\n" {
		t.Errorf("the requesting step saw %q", got)
	}
	for _, s := range seen {
		if s != "/sbin/modprobe\n" {
			t.Errorf("an insert saw the setting %q", s)
		}
	}
	if len(seen) == 0 {
		t.Error("no insert reached the kernel")
	}
}

// A setting that cannot be set back is an error for the caller to report.
func TestWithoutRequestsRestoreFails(t *testing.T) {
	p := writeSysctl(t, "/sbin/modprobe\n")
	l := NewLoader(&Index{}, t.TempDir(), Options{RequestSysctl: p})
	err := l.WithoutRequests(func() {
		// The file turns into something no write reaches.
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	if err == nil || !strings.Contains(err.Error(), `set back "/sbin/modprobe"`) {
		t.Errorf("WithoutRequests = %v; want the setting named", err)
	}
}
