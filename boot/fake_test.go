package boot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/switchroot"
	"github.com/earlyroot/earlyroot/uevent"
)

// ext4UUID is the UUID of probe/testdata/ext4.img.gz (see its .blkid).
const ext4UUID = "4e8f1c5a-3333-4b5b-9b0e-0123456789ab"

// fakeSystem is a System over a temporary tree: proc/, sys/ and dev/ are plain
// directories, block devices are image files in dev/, and every call with an effect on the
// machine is recorded instead of made.
type fakeSystem struct {
	t    *testing.T
	root string
	out  *os.File // the console: a file takes writes from several goroutines whole
	in   *script

	mu       sync.Mutex
	handle   func(uevent.Event)
	mounts   []string // "SOURCE TARGET FSTYPE FLAGS DATA"
	unmounts []string
	reboots  []int
	sleeps   []time.Duration
	hung     bool
	switched *switchroot.Options
	present  [][2]string // devices there at discovery: name, probe fixture image
	// onMount, when set, runs inside Mount before it succeeds or fails with its error.
	onMount func(source, target string) error
	// onDiscover, when set, runs when discovery starts, after the coldplugged devices.
	onDiscover func()
	layers     Layers // the storage layers' kernel interfaces (stack_test.go)
}

func newFakeSystem(t *testing.T, cmdline string) *fakeSystem {
	t.Helper()
	f := &fakeSystem{t: t, root: t.TempDir(), in: &script{}}
	out, err := os.Create(filepath.Join(t.TempDir(), "console"))
	must(t, err)
	t.Cleanup(func() { out.Close() })
	f.out = out
	for _, d := range []string{"proc/sys/kernel", "sys", "dev", "run", "etc/modprobe.d"} {
		must(t, os.MkdirAll(f.path(d), 0o755))
	}
	write(t, f.path("proc/cmdline"), cmdline+"\n")
	write(t, f.path("proc/sys/kernel/printk"), "7\t4\t1\t7\n")
	write(t, f.path("proc/modules"), "virtio_blk 20480 2 - Live 0x0000000000000000\next4 1011712 1 - Live 0x0000000000000000\n")
	write(t, f.path("proc/filesystems"), "nodev\tproc\n\text4\n")
	write(t, f.path("proc/mounts"), "proc /proc proc rw 0 0\n")
	write(t, f.path("dev/kmsg"), "6,339,5140900,-;virtio_blk virtio1: [vda] 2048 512-byte logical blocks\n")
	return f
}

func (f *fakeSystem) path(p string) string { return filepath.Join(f.root, p) }

// output is everything written to the console so far.
func (f *fakeSystem) output() string {
	data, err := os.ReadFile(f.out.Name())
	must(f.t, err)
	return string(data)
}

func (f *fakeSystem) system() System {
	return System{
		Paths: Paths{
			Proc: f.path("proc"), Sys: f.path("sys"), Dev: f.path("dev"), Run: f.path("run"),
			NewRoot: f.path("newroot"), LogFile: f.path("run/initramfs/earlyroot.log"),
			ModRoot: f.root, ModprobeLink: f.path("run/earlyroot/modprobe"), Init: "/init",
		},
		In:            f.in,
		Out:           f.out,
		Now:           time.Now,
		Sleep:         f.sleep,
		Hang:          func() { f.mu.Lock(); f.hung = true; f.mu.Unlock() },
		MountAPI:      func() []error { return nil },
		OpenKmsg:      func() (io.Writer, error) { return f.out, nil }, // the kernel echoes it on the console
		KernelRelease: func() (string, error) { return "6.1.0-test", nil },
		Reap:          func(*sync.Mutex) {},
		Discover:      f.discover,
		Mount:         f.mount,
		Unmount: func(target string, _ int) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.unmounts = append(f.unmounts, target)
			return nil
		},
		CheckSwitch: func(switchroot.Options) (string, error) { return "/sbin/init", nil },
		Switch: func(opt switchroot.Options) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.switched = &opt
			return nil
		},
		Reboot: func(cmd int) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reboots = append(f.reboots, cmd)
			return nil
		},
		Environ: func() []string { return []string{"TERM=linux"} },
		Layers:  f.layers,
	}
}

// sleep records the pause; many of them mean the boot loops on an exhausted script.
func (f *fakeSystem) sleep(d time.Duration) {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	n := len(f.sleeps)
	f.mu.Unlock()
	if n > 20 {
		f.t.Fatalf("the boot keeps sleeping (%v): a script without an end?\n%s", d, f.output())
	}
}

type stopper struct{}

func (stopper) Stop() error { return nil }

func (f *fakeSystem) discover(sysDir string, handle func(uevent.Event)) (Discovery, error) {
	if sysDir != f.path("sys") {
		f.t.Errorf("discovery on %s, want %s", sysDir, f.path("sys"))
	}
	f.mu.Lock()
	f.handle = handle
	f.mu.Unlock()
	for _, d := range f.present {
		f.plug(d[0], d[1])
	}
	if f.onDiscover != nil {
		f.onDiscover()
	}
	return stopper{}, nil
}

func (f *fakeSystem) mount(source, target, fstype string, flags uintptr, data string) error {
	f.mu.Lock()
	f.mounts = append(f.mounts, fmt.Sprintf("%s %s %s %#x %s", source, target, fstype, flags, data))
	hook := f.onMount
	f.mu.Unlock()
	if hook != nil {
		return hook(source, target)
	}
	return nil
}

// plug makes dev/NAME hold the probe fixture image and announces it as a block disk.
func (f *fakeSystem) plug(name, image string) {
	f.t.Helper()
	f.plugAt(name, image, 0)
}

// plugAt is plug for the disk 254:minor.
func (f *fakeSystem) plugAt(name, image string, minor int) {
	f.t.Helper()
	data := fixture.DiskImage(f.t, image)
	write(f.t, f.path("dev/"+name), string(data))
	devpath := "/devices/virtual/block/" + name
	must(f.t, os.MkdirAll(f.path("sys"+devpath), 0o755))
	write(f.t, f.path("sys"+devpath+"/size"), fmt.Sprint(len(data)/512))
	ev, err := uevent.Parse([]byte("add@" + devpath + "\x00ACTION=add\x00DEVPATH=" + devpath +
		"\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=" + fmt.Sprint(minor) + "\x00DEVNAME=" + name + "\x00DEVTYPE=disk\x00SEQNUM=1\x00"))
	must(f.t, err)
	f.mu.Lock()
	handle := f.handle
	f.mu.Unlock()
	if handle == nil {
		f.t.Fatalf("plug %s before discovery started", name)
	}
	handle(ev)
}

// coldplug makes the device present when discovery starts, as the coldplug walk finds it.
func (f *fakeSystem) coldplug(name, image string) {
	f.present = append(f.present, [2]string{name, image})
}

// script is console input: lines typed in turn, with actions between them (a device
// appearing, a check of what the boot did so far) run when the shell reads that far.
type script struct {
	mu    sync.Mutex
	steps []any // string (typed) or func()
	cur   []byte
}

func (s *script) add(steps ...any) { s.mu.Lock(); s.steps = append(s.steps, steps...); s.mu.Unlock() }

func (s *script) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		if len(s.cur) > 0 {
			n := copy(p, s.cur)
			s.cur = s.cur[n:]
			s.mu.Unlock()
			return n, nil
		}
		if len(s.steps) == 0 {
			s.mu.Unlock()
			return 0, io.EOF
		}
		step := s.steps[0]
		s.steps = s.steps[1:]
		s.mu.Unlock()
		switch v := step.(type) {
		case string:
			s.mu.Lock()
			s.cur = []byte(v)
			s.mu.Unlock()
		case func():
			v()
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, path, data string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(data), 0o644))
}
