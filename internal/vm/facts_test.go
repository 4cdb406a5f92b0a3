package vm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

// realFacts is a facts line captured from cmd/testinit booted as /init.
const realFacts = `EARLYROOT-FACTS {"pid":1,"rootfstype":"rootfs","rootsource":"rootfs","rootoptions":"rw","proc":false,"sys":false,"dev":false,"run":false,"argv":["/init"],"uptime":2.85,"extra":{"cmdline":"console=ttyS0 panic=-1 quiet","cwd":"/","earlyroot_log":"absent","env":"HOME=/ TERM=linux","fds":"0=/dev/console 1=/dev/console 2=/dev/console 4=anon_inode:[eventpoll] 5=anon_inode:[eventfd]","hostname":"","kernel":"6.1.0-56-amd64","memfree_kb":"438988","modules":"","mounts":"/:rootfs /proc:proc /sys:sysfs","proc_fstype":"proc","root_superopts":"rw,size=229188k,nr_inodes=57297,inode64","sys_fstype":"sysfs"}}`

func TestParseFacts(t *testing.T) {
	out := "[    2.9] Run /init as init process\r\n" + realFacts + "\r\n[    3.0] reboot: Power down\r\n"
	f, err := ParseFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.PID != 1 || f.RootFSType != "rootfs" || f.UptimeSec != 2.85 || !reflect.DeepEqual(f.Argv, []string{"/init"}) ||
		f.Extra["kernel"] != "6.1.0-56-amd64" || f.Proc {
		t.Errorf("ParseFacts = %+v", f)
	}

	// A line broken by a kernel message is skipped for a later good one.
	broken := realFacts[:60] + "[ 3.1] random: crng init done\n"
	if f, err := ParseFacts(broken + realFacts + "\n"); err != nil || f.PID != 1 {
		t.Errorf("broken then good: %+v, %v", f, err)
	}
	if _, err := ParseFacts(broken); err == nil || errors.Is(err, ErrNoFacts) {
		t.Errorf("broken only: err = %v, want a parse error", err)
	}
	// A kernel message right after the complete facts, on the same line.
	if f, err := ParseFacts(realFacts + "[    4.5] earlyroot: switch_root: initramfs deleted\n"); err != nil || f.PID != 1 {
		t.Errorf("facts then a kernel message: %+v, %v", f, err)
	}
	if _, err := ParseFacts("no facts here\n"); !errors.Is(err, ErrNoFacts) {
		t.Errorf("no facts: err = %v, want ErrNoFacts", err)
	}
}

func FuzzParseFacts(f *testing.F) {
	f.Add(realFacts)
	f.Add("EARLYROOT-FACTS {}")
	f.Add("EARLYROOT-FACTS {\"argv\":null,\"extra\":{\"a\":\"b\"}}\r\nEARLYROOT-FACTS x")
	f.Fuzz(func(t *testing.T, s string) {
		fa, err := ParseFacts(s)
		if err == nil && !strings.Contains(s, FactsPrefix) {
			t.Errorf("facts %+v parsed without a prefix", fa)
		}
	})
}

func newTestVM() *VM {
	return &VM{done: make(chan struct{}), changed: make(chan struct{})}
}

func TestExpect(t *testing.T) {
	v := newTestVM()
	v.feed([]byte("boot\r\nline one\nline two\n"))
	if l, err := v.Expect(regexp.MustCompile(`line`), time.Second); err != nil || l != "line one" {
		t.Fatalf("first = %q, %v", l, err)
	}
	if l, err := v.Expect(regexp.MustCompile(`line`), time.Second); err != nil || l != "line two" {
		t.Fatalf("second = %q, %v", l, err)
	}
	// Already consumed: "boot" is behind the position now.
	if _, err := v.Expect(regexp.MustCompile(`boot`), 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("consumed line matched again: %v", err)
	}
	// A line arriving in pieces matches only when complete enough.
	go func() {
		time.Sleep(20 * time.Millisecond)
		v.feed([]byte("EARLYROOT-FACTS {\"pi"))
		time.Sleep(20 * time.Millisecond)
		v.feed([]byte("d\":1}\r\n"))
	}()
	l, err := v.Expect(regexp.MustCompile(`^EARLYROOT-FACTS .*\}$`), 2*time.Second)
	if err != nil || l != `EARLYROOT-FACTS {"pid":1}` {
		t.Fatalf("split line = %q, %v", l, err)
	}
	// A pause mid-line longer than the prompt settle time does not cut
	// a line that does not end like a prompt.
	go func() {
		v.feed([]byte("EARLYROOT-FACTS {\"pid\":"))
		time.Sleep(3 * promptSettle)
		v.feed([]byte("1,\"argv\":[\"/sbin/init\"]}\n"))
	}()
	if l, err := v.Expect(regexp.MustCompile(`EARLYROOT-FACTS`), 2*time.Second); err != nil || !strings.HasSuffix(l, "]}") {
		t.Fatalf("slow line = %q, %v", l, err)
	}
	// ExpectFacts skips a garbled line for the next good one.
	v.feed([]byte(realFacts[:50] + "[ 1.0] usb 1-1: new device\n" + realFacts + "\r\n"))
	if f, err := v.ExpectFacts(time.Second); err != nil || f.PID != 1 || f.Extra["kernel"] != "6.1.0-56-amd64" {
		t.Fatalf("ExpectFacts = %+v, %v", f, err)
	}
	// A prompt without newline matches once output settles.
	v.feed([]byte("earlyroot# "))
	if l, err := v.Expect(regexp.MustCompile(`^earlyroot# $`), 2*time.Second); err != nil || l != "earlyroot# " {
		t.Fatalf("prompt = %q, %v", l, err)
	}
	v.feed([]byte("ls\nafter\n"))
	if l, err := v.Expect(regexp.MustCompile(`after`), time.Second); err != nil || l != "after" {
		t.Fatalf("after prompt = %q, %v", l, err)
	}
	// Exit before the pattern.
	v.waitErr = errors.New("exit status 1")
	close(v.done)
	if _, err := v.Expect(regexp.MustCompile(`never`), time.Minute); !errors.Is(err, ErrExited) {
		t.Fatalf("after exit: %v, want ErrExited", err)
	}
	if got := tail(v.Output(), 2); got != "earlyroot# ls\nafter" {
		t.Errorf("tail = %q", got)
	}
}

// AppendInitramfs leaves what it appends to as it was, and appends what WriteInitramfs
// writes.
func TestAppendInitramfs(t *testing.T) {
	files := []InitramfsFile{{Name: "init", Data: []byte("x"), Mode: 0o755}, {Name: "target", Dir: true}}
	out := filepath.Join(t.TempDir(), "i.cpio")
	if err := WriteInitramfs(out, files); err != nil {
		t.Fatal(err)
	}
	alone, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("image bytes\x00")
	got, err := AppendInitramfs(bytes.Clone(prefix), files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(bytes.Clone(prefix), alone...)) {
		t.Errorf("AppendInitramfs = %q…, want the prefix and then WriteInitramfs's %d bytes", got[:min(len(got), 40)], len(alone))
	}
	if _, err := AppendInitramfs(nil, []InitramfsFile{{Name: "a", Data: []byte("1")}, {Name: "a", Data: []byte("2")}}); err == nil {
		t.Error("a file added twice: no error")
	}
}

func TestWriteInitramfs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "i.cpio")
	err := WriteInitramfs(out, []InitramfsFile{
		{Name: "init", Src: bin},
		{Name: "/etc/conf/a.txt", Data: []byte("a")},
		{Name: "bin/sh", Link: "busybox"},
		{Name: "etc", Dir: true},
		{Name: "newroot", Dir: true, Mode: 0o700},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpio.Record{}
	var order []string
	for _, r := range recs {
		got[r.Name] = r
		order = append(order, r.Name)
	}
	want := map[string]uint64{
		"dev": cpio.S_IFDIR | 0o755, "init": cpio.S_IFREG | 0o755, "etc": cpio.S_IFDIR | 0o755,
		"etc/conf": cpio.S_IFDIR | 0o755, "etc/conf/a.txt": cpio.S_IFREG | 0o644, "bin": cpio.S_IFDIR | 0o755,
		"bin/sh": cpio.S_IFLNK | 0o777, "newroot": cpio.S_IFDIR | 0o700, "dev/console": cpio.S_IFCHR | 0o600,
	}
	for name, mode := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s missing (have %q)", name, order)
			continue
		}
		if r.Mode != mode {
			t.Errorf("%s mode %o, want %o", name, r.Mode, mode)
		}
	}
	if c := got["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console is %d:%d", c.Rmajor, c.Rminor)
	}
	if b, _ := io.ReadAll(io.NewSectionReader(got["init"], 0, int64(got["init"].FileSize))); string(b) != "ELF" {
		t.Errorf("init contents %q", b)
	}
	if err := WriteInitramfs(out, []InitramfsFile{{Name: "a"}, {Name: "a"}}); err == nil {
		t.Error("duplicate entry: no error")
	}
	if err := WriteInitramfs(out, []InitramfsFile{{Name: "/"}}); err == nil {
		t.Error("empty name: no error")
	}
}
