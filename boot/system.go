package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/bootlog"
	"github.com/earlyroot/earlyroot/consolefont"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/internal/host"
	"github.com/earlyroot/earlyroot/keymap"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/switchroot"
	"github.com/earlyroot/earlyroot/uevent"
)

// Paths are the fixed places of the initramfs the boot reads and writes. Files below them
// are read and written with package os; a test points them at a temporary tree.
type Paths struct {
	Proc, Sys, Dev, Run string // "/proc", "/sys", "/dev", "/run"
	NewRoot             string // "/newroot": where the root is mounted before switch_root
	LogFile             string // "/run/initramfs/earlyroot.log": the log, kept for after the boot
	ModRoot             string // "/": holds lib/modules/<release> and the modprobe.d directories
	// ModprobeLink is modload.ModprobeTarget, the link the image's /sbin/modprobe points
	// to; it is made to point at Init while the boot runs (see modload.ModprobeTarget).
	ModprobeLink string
	Init         string // "/init": this binary, as the kernel started it
}

// Discovery is a running source of device events (uevent.Source for the real system).
type Discovery interface {
	Stop() error
}

// System is everything the boot asks of the machine: the system calls with effects beyond
// its own process, the console, the clock and the fixed paths. The boot calls nothing of
// the kind directly, so that a test replaces it whole and drives a boot as data. Real
// returns PID 1's.
type System struct {
	Paths
	In  io.Reader // the console
	Out io.Writer

	// CPUs is how many CPUs the boot may use (runtime.NumCPU); 0 counts as one.
	CPUs int

	Now   func() time.Time
	Sleep func(time.Duration)
	// Hang is what the kernel does on panic=0: nothing, forever. The real one never
	// returns.
	Hang func()

	// MountAPI mounts /proc, /sys, /dev, /run and /dev/pts and gives PID 1 a console on
	// fds 0-2; it returns the errors, as nothing can be logged before /dev exists.
	MountAPI func() []error
	// OpenKmsg opens the kernel log for writing (/dev/kmsg).
	OpenKmsg      func() (io.Writer, error)
	KernelRelease func() (string, error)
	// Reap starts reaping orphans reparented to PID 1; it holds pause while it reaps, so
	// that the rescue shell, holding it, waits for its own children.
	Reap func(pause *sync.Mutex)
	// Discover starts device discovery: handle is called with every device event,
	// coldplugged and hot-plugged, from the discovery's goroutine.
	Discover func(sysDir string, handle func(uevent.Event)) (Discovery, error)

	Mount   func(source, target, fstype string, flags uintptr, data string) error
	Unmount func(target string, flags int) error
	// CheckSwitch and Switch are switchroot's Check and Switch. The real Switch returns
	// only on failure; a fake one that returns nil ends Run.
	CheckSwitch func(switchroot.Options) (string, error)
	Switch      func(switchroot.Options) error
	// Reboot syncs and calls reboot(2) with a LINUX_REBOOT_CMD_* command. The real one
	// never returns; a fake one that does ends Run.
	Reboot func(cmd int) error
	// Environ is the environment the real init gets (the kernel's to PID 1).
	Environ func() []string
	// DMCreate makes a device-mapper device (dm.Control.Create); with keyDesc set, key is
	// in the thread keyring as a logon key so described for the table load only.
	DMCreate func(name, uuid string, readOnly bool, table []dm.Target, keyDesc string, key []byte) (dm.Device, error)
	// LoadKeymap and LoadFont put the image's console keymap and font into the kernel
	// (keymap.Load and consolefont.Load on the foreground virtual console).
	LoadKeymap func(*keymap.Keymap) error
	LoadFont   func(*consolefont.Font) error
	// Layers are the kernel interfaces of md, lvm and btrfs (stack.go); the zero value
	// uses the real ones.
	Layers Layers
}

// TuneRuntime sets the Go runtime for PID 1's short life, before the boot starts:
//   - a GC target of 400%: the process lives for about a second and allocates a few MB, and
//     a higher target saves collections on the boot path;
//   - at least two Ps (GOMAXPROCS), also on one CPU. The coldplug walk runs on a thread of
//     the lowest priority (uevent's background), so that the kernel gives the CPU to the
//     module loads first; with a single P, the walk's thread held it whenever the kernel
//     had preempted it, and no other goroutine (the event handler, the loader) could run
//     Go code until the runtime took the P back (measured on the bench's images at 1 vCPU:
//     the real init started sooner with two).
func TuneRuntime() {
	debug.SetGCPercent(400)
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}

// Real returns the system of PID 1 in the initramfs.
func Real() System {
	return System{
		Paths: Paths{
			Proc: "/proc", Sys: "/sys", Dev: "/dev", Run: "/run", NewRoot: "/newroot",
			LogFile: "/run/initramfs/earlyroot.log", ModRoot: "/",
			ModprobeLink: modload.ModprobeTarget, Init: "/init",
		},
		In:            os.Stdin,
		Out:           os.Stdout,
		CPUs:          runtime.NumCPU(),
		Now:           time.Now,
		Sleep:         time.Sleep,
		Hang:          func() { select {} },
		MountAPI:      mountAPI,
		OpenKmsg:      openKmsg,
		KernelRelease: host.KernelRelease,
		Reap:          reapChildren,
		Discover: func(sysDir string, handle func(uevent.Event)) (Discovery, error) {
			return uevent.Start(sysDir, handle)
		},
		Mount:       unix.Mount,
		Unmount:     unix.Unmount,
		CheckSwitch: switchroot.Check,
		Switch:      switchroot.Switch,
		Reboot:      reboot,
		Environ:     os.Environ,
		DMCreate: func(name, uuid string, ro bool, table []dm.Target, keyDesc string, key []byte) (dm.Device, error) {
			return dmCreate(dm.ControlPath, name, uuid, ro, table, keyDesc, key)
		},
		LoadKeymap: func(k *keymap.Keymap) error {
			return onConsole(func(fd int) error { return keymap.Load(fd, k) })
		},
		LoadFont: func(f *consolefont.Font) error {
			return onConsole(func(fd int) error { return consolefont.Load(fd, f) })
		},
	}
}

// apiMount is one of the kernel API filesystems the init mounts first.
type apiMount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

var apiMounts = []apiMount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000"},
}

func mountAPI() []error {
	var errs []error
	for _, m := range apiMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", m.target, err))
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	ensureStdio()
	return errs
}

// ensureStdio gives PID 1 a console on fds 0, 1 and 2 when the kernel could not open one
// (no /dev/console in the archive): devtmpfs has it now.
func ensureStdio() {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		if i != fd {
			_ = unix.Dup2(fd, i)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// openKmsg opens /dev/kmsg for the boot log (bootlog.Kmsg: every line reaches it
// although the kernel rate-limits each open file).
func openKmsg() (io.Writer, error) {
	return bootlog.NewKmsg(func() (io.WriteCloser, error) {
		return os.OpenFile("/dev/kmsg", os.O_WRONLY|unix.O_CLOEXEC, 0)
	})
}

func reapChildren(pause *sync.Mutex) {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGCHLD)
	go func() {
		for range sig {
			pause.Lock()
			for {
				var status unix.WaitStatus
				pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			pause.Unlock()
		}
	}()
}

func reboot(cmd int) error {
	unix.Sync()
	err := unix.Reboot(cmd)
	fmt.Fprintf(os.Stderr, "earlyroot: reboot(2): %v\n", err)
	select {} // PID 1 must not return
}

// initEnv is the environment of the real init: the kernel's (TERM, HOME, unknown k=v) with a
// PATH.
func initEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return env
		}
	}
	return append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}
