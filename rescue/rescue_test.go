package rescue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixture builds a fake /proc and /dev/kmsg in a temp dir.
type fixture struct {
	dir    string
	proc   string
	kmsg   string
	mounts []string
	umount []string
	failFS map[string]bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, proc: filepath.Join(dir, "proc"), kmsg: filepath.Join(dir, "kmsg"), failFS: map[string]bool{}}
	must(t, os.MkdirAll(f.proc, 0o755))
	write(t, filepath.Join(f.proc, "cmdline"), "root=/dev/vda1 ro quiet\n")
	write(t, filepath.Join(f.proc, "mounts"), "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n")
	write(t, filepath.Join(f.proc, "filesystems"), "nodev\tsysfs\nnodev\tproc\n\text4\n\txfs\n")
	write(t, f.kmsg, "6,1,5140900,-;virtio_blk virtio1: [vda] 2048 512-byte logical blocks\n"+
		" SUBSYSTEM=virtio\n DEVICE=+virtio:virtio1\n"+
		"4,2,12000000,-;EXT4-fs (vda1): warning\n"+
		"garbage line\n")
	return f
}

func (f *fixture) env(in string) (Env, *strings.Builder) {
	var out strings.Builder
	return Env{
		In:      strings.NewReader(in),
		Out:     &out,
		ProcDir: f.proc,
		DevKmsg: f.kmsg,
		Shells:  [][]string{{filepath.Join(f.dir, "no-such-shell")}},
		Mount: func(src, dst, fstype string, flags uintptr, data string) error {
			f.mounts = append(f.mounts, fmt.Sprintf("%s %s %s %#x %s", src, dst, fstype, flags, data))
			if f.failFS[fstype] {
				return unix.EINVAL
			}
			return nil
		},
		Unmount: func(target string, flags int) error {
			f.umount = append(f.umount, fmt.Sprintf("%s %d", target, flags))
			return nil
		},
	}, &out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(data), 0o644))
}

func TestActions(t *testing.T) {
	tests := []struct {
		in   string
		want Action
	}{
		{"continue\n", ActionContinue},
		{"reboot\n", ActionReboot},
		{"poweroff\n", ActionPoweroff},
		{"", ActionEOF},
		{"echo hi\n", ActionEOF},
		{"poweroff", ActionPoweroff}, // no final newline
		{"\n\n  continue  now\n", ActionContinue},
		{"exit\nreboot\n", ActionReboot},
		{"reboot\r\n", ActionReboot},
		{"echo a\rcontinue\r", ActionContinue},
	}
	f := newFixture(t)
	for _, tt := range tests {
		env, _ := f.env(tt.in)
		if got := Run(env); got != tt.want {
			t.Errorf("Run(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTranscript(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   string
		want []string // substrings expected in order
		not  []string
	}{
		{"prompt and diagnosis", "continue\n", []string{"DIAG\n", "earlyroot# "}, nil},
		{"unknown", "foo bar\n", []string{"earlyroot: foo: unknown command (try help)\n"}, nil},
		{"exit", "exit\n", []string{"earlyroot: exit: use continue, reboot or poweroff\n"}, nil},
		{"echo quoting", `echo 'a  b' "c \"d\"" e\ f # comment` + "\n", []string{"a  b c \"d\" e f\n"}, []string{"comment"}},
		{"echo -n", "echo -n x\n", []string{"earlyroot# xearlyroot# "}, nil},
		{"split error", "echo 'open\n", []string{"earlyroot: unterminated single quote\n"}, nil},
		{"cmdline", "cmdline\n", []string{"root=/dev/vda1 ro quiet\n"}, nil},
		{"mount list", "mount\n", []string{"proc /proc proc rw 0 0\n"}, nil},
		{"dmesg", "dmesg\n", []string{
			"[    5.140900] virtio_blk virtio1: [vda] 2048 512-byte logical blocks\n",
			"[   12.000000] EXT4-fs (vda1): warning\n",
			"garbage line\n",
		}, []string{"SUBSYSTEM"}},
		{"cat", "cat " + filepath.Join(f.proc, "cmdline") + "\n", []string{"root=/dev/vda1"}, nil},
		{"cat missing", "cat /nonexistent/x\n", []string{"earlyroot: cat: open /nonexistent/x: no such file or directory\n"}, nil},
		{"cat usage", "cat\n", []string{"earlyroot: cat: usage"}, nil},
		{"cat dir", "cat " + f.proc + "\n", []string{"is a directory"}, nil},
		{"ls", "ls " + f.proc + "\n", []string{"cmdline\nfilesystems\nmounts\n"}, nil},
		{"ls bad opt", "ls -z\n", []string{"earlyroot: ls: unknown option -z\n"}, nil},
		{"ls missing", "ls /nonexistent\n", []string{"earlyroot: ls: lstat /nonexistent"}, nil},
		{"help", "help\n", []string{"continue", "dmesg", "ls [-l]", "from init: lsmod\n"}, nil},
		{"sh no shell", "sh\n", []string{"earlyroot: sh: no shell found (tried "}, nil},
		{"mount usage", "mount /dev/x\n", []string{"earlyroot: mount: usage"}, nil},
		{"umount usage", "umount\n", []string{"earlyroot: umount: usage"}, nil},
		{"mkdir usage", "mkdir\n", []string{"earlyroot: mkdir: usage"}, nil},
		{"eof newline", "", []string{"earlyroot# \n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out := f.env(tt.in)
			env.Diagnosis = func(w io.Writer) { io.WriteString(w, "DIAG\n") }
			env.Builtins = map[string]Builtin{
				"lsmod": func(args []string, out io.Writer) error { return nil },
			}
			Run(env)
			got := out.String()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("output contains %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestLsLong(t *testing.T) {
	f := newFixture(t)
	d := filepath.Join(f.dir, "tree")
	must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	write(t, filepath.Join(d, "file"), "12345")
	must(t, os.Symlink("file", filepath.Join(d, "link")))
	env, out := f.env("ls -l " + d + " " + filepath.Join(d, "link") + "\n")
	Run(env)
	for _, w := range []string{
		d + ":\n",
		"-rw-r--r--          5 file\n",
		"lrwxrwxrwx          4 link -> file\n",
		"drwxr-xr-x ",
		" sub\n",
		filepath.Join(d, "link") + " -> file\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("ls -l output lacks %q:\n%s", w, out.String())
		}
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		env, out := f.env("ls -l /dev/null\n")
		Run(env)
		if !strings.Contains(out.String(), "crw-rw-rw-       1, 3 /dev/null\n") {
			t.Errorf("ls -l /dev/null: %q", out.String())
		}
	}
}

func TestMkdir(t *testing.T) {
	f := newFixture(t)
	a := filepath.Join(f.dir, "a")
	deep := filepath.Join(f.dir, "x", "y", "z")
	env, out := f.env("mkdir " + a + "\nmkdir " + filepath.Join(f.dir, "p", "q") + "\nmkdir -p " + deep + "\n")
	Run(env)
	for _, d := range []string{a, deep} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}
	if !strings.Contains(out.String(), "earlyroot: mkdir: mkdir "+filepath.Join(f.dir, "p", "q")) {
		t.Errorf("missing parent not reported:\n%s", out.String())
	}
}

func TestMount(t *testing.T) {
	tests := []struct {
		in   string
		fail []string
		want []string
		out  string
	}{
		{"mount -t ext4 -o ro,noatime,data=ordered /dev/vda1 /mnt",
			nil, []string{"/dev/vda1 /mnt ext4 0x401 data=ordered"}, ""},
		{"mount /dev/vda1 /mnt", []string{"ext4"},
			[]string{"/dev/vda1 /mnt ext4 0x0 ", "/dev/vda1 /mnt xfs 0x0 "}, "mounted /dev/vda1 on /mnt as xfs\n"},
		{"mount -t ext4,btrfs /dev/vda1 /mnt", nil, []string{"/dev/vda1 /mnt ext4 0x0 "}, "mounted /dev/vda1 on /mnt as ext4"},
		{"mount -o bind /a /b", nil, []string{"/a /b  0x1000 "}, ""},
		{"mount -o remount,rw /", nil, []string{"none /  0x20 "}, ""},
		{"mount -o remount -o ro /", nil, []string{"none /  0x21 "}, ""},
		{"mount -t xfs /dev/x /mnt", []string{"xfs"}, []string{"/dev/x /mnt xfs 0x0 "}, "earlyroot: mount: mount /dev/x on /mnt (type \"xfs\", flags 0x0, data \"\"): invalid argument\n"},
		{"mount -x /a /b", nil, nil, "unknown option -x"},
	}
	for _, tt := range tests {
		f := newFixture(t)
		for _, fs := range tt.fail {
			f.failFS[fs] = true
		}
		env, out := f.env(tt.in + "\n")
		Run(env)
		if !reflect.DeepEqual(f.mounts, tt.want) {
			t.Errorf("%q: mounts %q, want %q", tt.in, f.mounts, tt.want)
		}
		if !strings.Contains(out.String(), tt.out) {
			t.Errorf("%q: output %q lacks %q", tt.in, out.String(), tt.out)
		}
	}
}

func TestUmount(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env("umount /a\numount -l -f /b /c\n")
	Run(env)
	want := []string{"/a 0", fmt.Sprintf("/b %d", unix.MNT_DETACH|unix.MNT_FORCE), fmt.Sprintf("/c %d", unix.MNT_DETACH|unix.MNT_FORCE)}
	if !reflect.DeepEqual(f.umount, want) {
		t.Errorf("umount calls %q, want %q", f.umount, want)
	}
}

func TestBuiltins(t *testing.T) {
	f := newFixture(t)
	env, out := f.env("lsmod a b\nls\nboom\nfail\ncontinue\n")
	var gotArgs []string
	env.Builtins = map[string]Builtin{
		"lsmod": func(args []string, out io.Writer) error {
			gotArgs = args
			io.WriteString(out, "virtio_blk 1\n")
			return nil
		},
		"ls":       func(args []string, out io.Writer) error { io.WriteString(out, "overridden ls\n"); return nil },
		"boom":     func(args []string, out io.Writer) error { panic("kaboom") },
		"fail":     func(args []string, out io.Writer) error { return errors.New("it failed") },
		"continue": func(args []string, out io.Writer) error { panic("must not run") },
	}
	env.Diagnosis = func(io.Writer) { panic("diag broke") }
	if a := Run(env); a != ActionContinue {
		t.Errorf("Run = %v", a)
	}
	if !reflect.DeepEqual(gotArgs, []string{"a", "b"}) {
		t.Errorf("lsmod args %q", gotArgs)
	}
	for _, w := range []string{
		"earlyroot: diagnosis: panic: diag broke\n",
		"virtio_blk 1\n",
		"overridden ls\n",
		"earlyroot: boom: panic: kaboom\n",
		"earlyroot: fail: it failed\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

func TestShell(t *testing.T) {
	f := newFixture(t)
	sh := filepath.Join(f.dir, "fakesh")
	write(t, sh, "#!/bin/sh\necho \"shell ran: $*\"\nexit 3\n")
	must(t, os.Chmod(sh, 0o755))
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh on the host")
	}
	env, out := f.env("sh -c x\ncontinue\n")
	env.Shells = [][]string{{filepath.Join(f.dir, "missing")}, {sh, "--login"}}
	if a := Run(env); a != ActionContinue {
		t.Errorf("Run = %v, want continue (input stolen by the shell?)", a)
	}
	for _, w := range []string{"shell ran: --login -c x\n", "earlyroot: sh: " + sh + " --login -c x: exit status 3\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// oneByteReader hides io.ByteReader and counts what it hands out.
type oneByteReader struct {
	r    io.Reader
	read int
}

func (o *oneByteReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read += n
	return n, err
}

func TestNoReadAhead(t *testing.T) {
	f := newFixture(t)
	in := "continue\nrest of input"
	r := &oneByteReader{r: strings.NewReader(in)}
	env, _ := f.env("")
	env.In = r
	if a := Run(env); a != ActionContinue {
		t.Fatalf("Run = %v", a)
	}
	if r.read != len("continue\n") {
		t.Errorf("read %d bytes, want %d", r.read, len("continue\n"))
	}
}

// stuckReader returns 0, nil forever.
type stuckReader struct{}

func (stuckReader) Read(p []byte) (int, error) { return 0, nil }

func TestStuckReader(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env("")
	env.In = stuckReader{}
	if a := Run(env); a != ActionEOF {
		t.Errorf("Run = %v", a)
	}
}

func TestLongLine(t *testing.T) {
	f := newFixture(t)
	env, out := f.env("echo " + strings.Repeat("x", MaxLine+10) + "\necho ok\n")
	Run(env)
	if !strings.Contains(out.String(), "earlyroot: line longer than") || !strings.Contains(out.String(), "ok\n") {
		t.Errorf("output %.200q", out.String())
	}
	if strings.Contains(out.String(), "xxxxxxxxxx") {
		t.Errorf("long line executed")
	}
}

func TestNilEnv(t *testing.T) {
	if a := Run(Env{}); a != ActionEOF {
		t.Errorf("Run(Env{}) = %v", a)
	}
}

func TestActionString(t *testing.T) {
	for a, s := range map[Action]string{ActionContinue: "continue", ActionReboot: "reboot", ActionPoweroff: "poweroff", ActionEOF: "eof", 9: "Action(9)"} {
		if a.String() != s {
			t.Errorf("%d.String() = %q", int(a), a.String())
		}
	}
}

func TestDmesgRealKmsg(t *testing.T) {
	// Reading the real /dev/kmsg must stop at EAGAIN instead of blocking, and print its
	// records as dmesg does; without the right to read it, the shell says why.
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skip("no /dev/kmsg on this machine")
	}
	var out strings.Builder
	done := make(chan Action, 1)
	go func() { done <- Run(Env{In: strings.NewReader("dmesg\n"), Out: &out, DevKmsg: "/dev/kmsg"}) }()
	select {
	case a := <-done:
		if a != ActionEOF {
			t.Errorf("Run = %v, want eof", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dmesg on the real /dev/kmsg did not return: it blocked instead of stopping at EAGAIN")
	}
	got := out.String()
	if strings.Contains(got, "earlyroot: dmesg: ") {
		if !strings.Contains(got, "permission denied") && !strings.Contains(got, "operation not permitted") {
			t.Errorf("dmesg failed for another reason than the right to read /dev/kmsg:\n%s", got)
		}
		t.Skip("not allowed to read /dev/kmsg here: " + got)
	}
	record := regexp.MustCompile(`(?m)^\[ *[0-9]+\.[0-9]{6}\] `)
	if n := len(record.FindAllString(got, -1)); n == 0 {
		t.Errorf("dmesg printed no record of the kernel log:\n%.2000s", got)
	}
	if !strings.HasPrefix(got, Prompt) || !strings.HasSuffix(got, Prompt+"\n") {
		t.Errorf("dmesg output not between two prompts:\n%.500s", got)
	}
}

func TestSplitLine(t *testing.T) {
	tests := []struct {
		line string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"   \t ", nil, nil},
		{"a b\tc", []string{"a", "b", "c"}, nil},
		{`'a b' "c d"`, []string{"a b", "c d"}, nil},
		{`'' ""`, []string{"", ""}, nil},
		{`a'b'"c"d`, []string{"abcd"}, nil},
		{`'a\b'`, []string{`a\b`}, nil},
		{`"a\b \" \\ \$"`, []string{`a\b " \ $`}, nil},
		{`a\ b \'c`, []string{"a b", "'c"}, nil},
		{`# all comment`, nil, nil},
		{`a #c d`, []string{"a"}, nil},
		{`a#b`, []string{"a#b"}, nil},
		{`"#x"`, []string{"#x"}, nil},
		{`\#x`, []string{"#x"}, nil},
		{`'open`, nil, ErrSingleQuote},
		{`"open`, nil, ErrDoubleQuote},
		{`"a\"`, nil, ErrDoubleQuote},
		{`a\`, nil, ErrBackslash},
	}
	for _, tt := range tests {
		got, err := SplitLine(tt.line)
		if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitLine(%q) = %q, %v; want %q, %v", tt.line, got, err, tt.want, tt.err)
		}
	}
}

// quote quotes a word so that SplitLine returns it unchanged.
func quote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func FuzzSplitLine(f *testing.F) {
	for _, s := range []string{
		"ls -l /dev", `mount -t ext4 -o ro,data=ordered /dev/vda1 /newroot`,
		`echo 'a b' "c \"d\"" e\ f # comment`, `sh -c 'cat /proc/cmdline'`,
		`modprobe virtio_blk`, `"unterminated`, `a\`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitLine(line)
		if err != nil {
			if words != nil {
				t.Fatalf("words %q with error %v", words, err)
			}
			return
		}
		var q []string
		for _, w := range words {
			q = append(q, quote(w))
		}
		again, err := SplitLine(strings.Join(q, " "))
		if err != nil || (len(words) > 0 && !reflect.DeepEqual(again, words)) {
			t.Fatalf("round trip %q -> %q, %v", words, again, err)
		}
	})
}

func FuzzFormatRecord(f *testing.F) {
	for _, s := range []string{
		"6,339,5140900,-;virtio_blk virtio1: [vda] 2048 512-byte logical blocks",
		"4,2,12000000,c;EXT4-fs (vda1): warning", ";", "1,2;x", "a,b,c;d", "6,1,18446744073709551615,-;max",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got := formatRecord(line)
		if _, text, ok := strings.Cut(line, ";"); ok && !strings.HasSuffix(got, text) {
			t.Fatalf("formatRecord(%q) = %q loses the text", line, got)
		}
	})
}

func TestShellFileStdin(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh on the host")
	}
	f := newFixture(t)
	sh := filepath.Join(f.dir, "fakesh")
	write(t, sh, "#!/bin/sh\nread line\necho \"child read: $line\"\n")
	must(t, os.Chmod(sh, 0o755))
	r, w, err := os.Pipe()
	must(t, err)
	defer r.Close()
	go func() {
		io.WriteString(w, "sh\nfor the child\npoweroff\n")
		w.Close()
	}()
	env, out := f.env("")
	env.In = r
	env.Shells = [][]string{{sh}}
	if a := Run(env); a != ActionPoweroff {
		t.Errorf("Run = %v, want poweroff", a)
	}
	if !strings.Contains(out.String(), "child read: for the child\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin, other := filepath.Join(dir, "bin"), filepath.Join(dir, "other")
	must(t, os.MkdirAll(bin, 0o755))
	must(t, os.MkdirAll(other, 0o755))
	write(t, filepath.Join(bin, "plain"), "not executable")
	write(t, filepath.Join(other, "plain"), "#!/bin/sh\n")
	must(t, os.Chmod(filepath.Join(other, "plain"), 0o755))
	write(t, filepath.Join(bin, "sh"), "#!/bin/sh\n")
	must(t, os.Chmod(filepath.Join(bin, "sh"), 0o755))
	must(t, os.MkdirAll(filepath.Join(other, "dir"), 0o755))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"sh", bin + ":" + other, filepath.Join(bin, "sh")},
		{"plain", bin + ":" + other, filepath.Join(other, "plain")}, // the first is not executable
		{"dir", other, ""},              // a directory is no program
		{"sh", "relative:" + other, ""}, // relative entries are skipped
		{"sh", "", ""},
	} {
		got, ok := lookPath(tc.name, tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("lookPath(%q, %q) = %q, %v; want %q", tc.name, tc.path, got, ok, tc.want)
		}
	}
	t.Chdir(dir)
	if got, ok := lookPath("sh", "bin"); ok {
		t.Errorf("lookPath with a relative $PATH entry found %q", got)
	}
}
