package switchroot

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The end-to-end test re-executes the test binary as PID 1 of new PID and mount namespaces
// (stage "pid1"): it builds a tmpfs "initramfs", chroots into it and calls Switch, which
// execs the test binary again from the new root (stage "init"), and that one writes a report.

const (
	envStage = "SWITCHROOT_TEST_STAGE"
	envDir   = "SWITCHROOT_TEST_DIR"
	envCase  = "SWITCHROOT_TEST_CASE"
	envLeak  = "SWITCHROOT_TEST_LEAK"
)

// nsReport is what stage "init" (or "pid1" when Switch fails) writes to results/report.json.
type nsReport struct {
	Pid       int
	Args      []string
	Env       []string
	OldRoot   []string          // what is left of the initramfs
	Exists    map[string]bool   // paths in the new root
	Fds       map[string]string // fd → readlink, without the Go runtime's anon inodes
	ConsoleOK bool              // fds 0-2 are the new root's /dev/console (a 1:3 node here)
	Serial    string            // content of the --deserialize fd
	SwitchErr string
}

// testDeleter is argv[0] of the test binary started as Options.DeleteWith.
const testDeleter = "switchroot-test-deleter"

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == testDeleter {
		os.Exit(DeleterMain(resultsLog))
	}
	switch os.Getenv(envStage) {
	case "pid1":
		os.Exit(stagePID1())
	case "init":
		os.Exit(stageInit())
	}
	os.Exit(m.Run())
}

func TestSwitchInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for new mount and PID namespaces")
	}
	if f, err := elf.Open(os.Args[0]); err == nil {
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				f.Close()
				t.Skip("test binary is dynamically linked (-race or cgo): its interpreter is not in the fake new root")
			}
		}
		f.Close()
	}
	for _, c := range []string{"plain", "shared", "systemd", "noinit", "movefail"} {
		t.Run(c, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "results"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = []string{envStage + "=pid1", envDir + "=" + dir, envCase + "=" + c}
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
			out, err := cmd.CombinedOutput()
			log, _ := os.ReadFile(filepath.Join(dir, "results", "log"))
			if err != nil {
				if errors.Is(err, unix.EPERM) || strings.Contains(string(out), "operation not permitted") {
					t.Skipf("namespaces not permitted here: %s", out)
				}
				t.Fatalf("stage pid1: %v\n%s\nlog:\n%s", err, out, log)
			}
			data, err := os.ReadFile(filepath.Join(dir, "results", "report.json"))
			if err != nil {
				t.Fatalf("no report: %v\n%s\nlog:\n%s", err, out, log)
			}
			var r nsReport
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			t.Logf("report: %s\nlog:\n%s", data, log)
			checkReport(t, c, r)
			// systemd's case has /proc in the new root, so the deletion runs in the child;
			// the others have none, and Switch falls back to deleting inline.
			inline := strings.Contains(string(log), "deleting it now")
			switch {
			case c == "systemd" && inline:
				t.Errorf("the deletion did not run in a child process")
			case c == "plain" && !inline:
				t.Errorf("no inline fallback without /proc in the new root")
			}
			if c == "systemd" && !regexp.MustCompile(`switch_root: initramfs deleted in \S+: Shmem \d+ -> \d+ kB`).Match(log) {
				t.Errorf("no memory report in the log")
			}
		})
	}
}

func checkReport(t *testing.T, c string, r nsReport) {
	t.Helper()
	if c == "noinit" || c == "movefail" {
		want := "/newroot/sbin/init: no such file"
		if c == "movefail" {
			want = "switch_root: move /newroot to /: invalid argument"
			for p, want := range map[string]bool{"/dev/marker": true, "/run/marker": true, "/newroot/dev/marker": false, "/newroot/run/marker": false} {
				if r.Exists[p] != want {
					t.Errorf("after the failed switch, %s exists = %v, want %v (API mounts moved back)", p, r.Exists[p], want)
				}
			}
		}
		if !strings.Contains(r.SwitchErr, want) {
			t.Errorf("Switch error = %q, want %q", r.SwitchErr, want)
		}
		if strings.Join(r.OldRoot, " ") != strings.Join(initramfsTree, " ") {
			t.Errorf("initramfs after a failed check:\n got %q\nwant %q", r.OldRoot, initramfsTree)
		}
		return
	}
	if r.Pid != 1 {
		t.Errorf("init runs as pid %d", r.Pid)
	}
	wantArgs := "/sbin/init arg1 arg2"
	if c == "systemd" {
		if len(r.Args) < 5 {
			t.Fatalf("args %q", r.Args)
		}
		wantArgs = "/sbin/init --switched-root --system --deserialize " + r.Args[4] + " arg1 arg2"
		if !strings.HasPrefix(r.Serial, "initrd-timestamp=") || !strings.HasSuffix(r.Serial, "\n\n") {
			t.Errorf("serialization = %q", r.Serial)
		}
		if !strings.Contains(r.Fds[r.Args[4]], "memfd:") {
			t.Errorf("fd %s is %q, want the memfd", r.Args[4], r.Fds[r.Args[4]])
		}
	}
	if got := strings.Join(r.Args, " "); got != wantArgs {
		t.Errorf("argv = %q, want %q", got, wantArgs)
	}
	if strings.Join(r.Env, " ") != envCase+"="+c+" "+envStage+"=init" {
		t.Errorf("env = %q", r.Env)
	}
	// newroot/ was moved away before the deletion and is an empty directory by then.
	if want := []string{"mnt/", "mnt/data/"}; strings.Join(r.OldRoot, " ") != strings.Join(want, " ") {
		t.Errorf("left of the initramfs: %q, want %q", r.OldRoot, want)
	}
	for _, p := range []string{"/dev/console", "/dev/marker", "/run/marker"} {
		if !r.Exists[p] {
			t.Errorf("%s missing in the new root (API mount not moved)", p)
		}
	}
	if r.Exists["/proc/marker"] {
		t.Errorf("/proc was not a mount point but was moved")
	}
	if !r.ConsoleOK {
		t.Errorf("fds 0-2 are not the new root's console: %q", r.Fds)
	}
	for fd, target := range r.Fds {
		if strings.HasPrefix(target, "pipe:") {
			t.Errorf("fd %s (%s) leaked into the init", fd, target)
		}
	}
}

// initramfsTree is the initramfs built by stage pid1, as listTree shows it.
var initramfsTree = []string{
	"bin/", "bin/busybox", "bin/sh", "dev/", "etc/", "etc/passwd", "init",
	"lib/", "lib/modules/", "lib/modules/x.ko", "mnt/", "mnt/data/", "newroot/", "proc/", "proc/marker", "run/",
}

func nsFail(dir string, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, msg)
	os.WriteFile(filepath.Join(dir, "results", "log"), []byte(msg+"\n"), 0o644)
	return 1
}

// stagePID1 builds the initramfs and switches into the new root.
func stagePID1() int {
	dir, c := os.Getenv(envDir), os.Getenv(envCase)
	ir := filepath.Join(dir, "initramfs")
	nr := filepath.Join(ir, "newroot")
	self, err := os.Executable()
	if err != nil {
		return nsFail(dir, "executable: %v", err)
	}
	steps := []func() error{
		func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
		func() error { return os.Mkdir(ir, 0o755) },
		func() error { return unix.Mount("initramfs", ir, "tmpfs", 0, "size=64m") },
		func() error {
			return mkTree(ir, "init", "etc/passwd", "lib/modules/x.ko", "bin/busybox", "bin/sh->busybox",
				"newroot/", "mnt/data/", "dev/", "run/", "proc/marker")
		},
		func() error { return unix.Mount("newroot", nr, "tmpfs", 0, "size=64m") },
		func() error { return unix.Mount("data", filepath.Join(ir, "mnt/data"), "tmpfs", 0, "size=1m") },
		func() error { return mkTree(filepath.Join(ir, "mnt/data"), "precious") },
		func() error { return unix.Mount("dev", filepath.Join(ir, "dev"), "tmpfs", 0, "size=1m") },
		func() error { return mkTree(filepath.Join(ir, "dev"), "marker") },
		func() error {
			return unix.Mknod(filepath.Join(ir, "dev/console"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
		},
		func() error {
			return unix.Mknod(filepath.Join(ir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		},
		func() error { return unix.Mount("run", filepath.Join(ir, "run"), "tmpfs", 0, "size=1m") },
		func() error {
			if c != "systemd" {
				return nil // /proc stays a plain directory: Switch must skip it
			}
			return unix.Mount("proc", filepath.Join(ir, "proc"), "proc", 0, "")
		},
		func() error { return mkTree(filepath.Join(ir, "run"), "marker") },
		func() error { return mkTree(nr, "results/", "oldview/", "etc/fstab") },
		func() error {
			return unix.Mount(filepath.Join(dir, "results"), filepath.Join(nr, "results"), "", unix.MS_BIND, "")
		},
		func() error { return unix.Mount(ir, filepath.Join(nr, "oldview"), "", unix.MS_BIND, "") },
		func() error {
			switch c {
			case "plain", "shared", "movefail":
				return installInit(self, nr, "bin/testinit", "sbin/init->../bin/testinit")
			case "systemd":
				return installInit(self, nr, "usr/lib/systemd/systemd", "sbin/init->/usr/lib/systemd/systemd")
			}
			return nil
		},
		func() error {
			if c != "shared" {
				return nil
			}
			// And /run of the new root is a link: the mount must land in the new root.
			if err := mkTree(nr, "var/run/", "run->/var/run"); err != nil {
				return err
			}
			// MS_MOVE refuses to move a mount whose parent is shared: Switch must cope.
			return unix.Mount("", ir, "", unix.MS_REC|unix.MS_SHARED, "")
		},
		func() error { return unix.Chroot(ir) },
		func() error { return unix.Chdir("/") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return nsFail(dir, "setup step %d: %v", i, err)
		}
	}
	logFd, err := unix.Open("/newroot/results/log", unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nsFail(dir, "log: %v", err)
	}
	logFile := os.NewFile(uintptr(logFd), "log")
	logf := func(format string, args ...any) { fmt.Fprintf(logFile, format+"\n", args...) }
	var p [2]int
	if err := unix.Pipe2(p[:], 0); err != nil { // not close-on-exec: Switch must stop it
		return nsFail(dir, "pipe: %v", err)
	}
	sys := realSystem()
	if c == "movefail" {
		// The last step before the deletion fails: nothing may be lost.
		sys.mount = func(source, target, fstype string, flags uintptr, data string) error {
			if source == "." && target == "/" {
				return unix.EINVAL
			}
			return unix.Mount(source, target, fstype, flags, data)
		}
	}
	err = sys.switchRoot(Options{
		NewRoot:     "/newroot",
		Args:        []string{"arg1", "arg2"},
		Env:         []string{envStage + "=init", envCase + "=" + c},
		Mounts:      []string{"/dev", "/proc", "/run"},
		InitrdStart: time.Now().Add(-time.Second),
		Logf:        logf,
		DeleteWith:  []string{testDeleter},
	})
	r := nsReport{SwitchErr: fmt.Sprint(err)}
	report := "/newroot/results/report.json"
	if _, err := os.Stat("/results"); err == nil {
		// Switch failed after the chroot.
		report = "/results/report.json"
		r.OldRoot, _ = listDir("/oldview")
	} else {
		r.OldRoot, _ = listDir("/")
		r.Exists = map[string]bool{}
		for _, p := range []string{"/dev/marker", "/run/marker", "/newroot/dev/marker", "/newroot/run/marker"} {
			_, err := os.Lstat(p)
			r.Exists[p] = err == nil
		}
	}
	return writeReport(report, r, logf)
}

func installInit(self, nr, path, link string) error {
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	dst := filepath.Join(nr, path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return mkTree(nr, link)
}

// mkTree is makeTree without testing.T: files, "dir/", "link->target".
func mkTree(dir string, specs ...string) error {
	for _, s := range specs {
		name, target, isLink := strings.Cut(s, "->")
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
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
			return err
		}
	}
	return nil
}

// listDir lists everything below dir, relative and sorted, directories with a "/".
func listDir(dir string) ([]string, error) {
	out := []string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() {
			out = append(out, rel)
			return nil
		}
		out = append(out, rel+"/")
		if isMountPoint(p) {
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func isMountPoint(p string) bool {
	var a, b unix.Stat_t
	return unix.Lstat(p, &a) == nil && unix.Lstat(filepath.Dir(p), &b) == nil && a.Dev != b.Dev
}

// stageInit runs as the real init after the switch and reports what it finds.
// resultsLog appends a line to the results log, from the new root.
func resultsLog(format string, args ...any) {
	f, err := os.OpenFile("/results/log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		fmt.Fprintf(f, format+"\n", args...)
		f.Close()
	}
}

// reapAll waits until the process has no children left (the deleter child it inherited).
func reapAll() {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); errors.Is(err, unix.ECHILD) {
			return
		}
	}
}

func stageInit() int {
	logf := resultsLog
	reapAll()
	r := nsReport{Pid: os.Getpid(), Args: os.Args, Env: os.Environ(), Exists: map[string]bool{}, Fds: map[string]string{}}
	sort.Strings(r.Env)
	r.OldRoot, _ = listDir("/oldview")
	for _, p := range []string{"/dev/console", "/dev/marker", "/run/marker", "/proc/marker"} {
		_, err := os.Lstat(p)
		r.Exists[p] = err == nil
	}
	r.ConsoleOK = true
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
			r.ConsoleOK = false
		}
	}
	if len(os.Args) > 4 && os.Args[3] == "--deserialize" {
		if fd, err := strconv.Atoi(os.Args[4]); err == nil {
			b := make([]byte, 4096)
			n, _ := unix.Read(fd, b)
			r.Serial = string(b[:n])
		}
	}
	if err := os.MkdirAll("/proc", 0o755); err == nil {
		if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			logf("mount proc: %v", err)
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			if target != "" && !strings.HasPrefix(target, "anon_inode:") && !strings.HasPrefix(target, "/proc/") {
				r.Fds[e.Name()] = target
			}
		}
	}
	return writeReport("/results/report.json", r, logf)
}

func writeReport(path string, r nsReport, logf func(string, ...any)) int {
	data, err := json.Marshal(r)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		logf("report: %v", err)
		return 1
	}
	return 0
}
