package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/bootlog"
	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/switchroot"
	"github.com/earlyroot/earlyroot/uevent"
)

// DeleterName is argv[0] of the child switch_root starts to delete the old initramfs
// (switchroot.Options.DeleteWith); the init binary answers to it.
const DeleterName = "earlyroot-delete-initramfs"

// joinTimeout bounds the wait for the module loads still running when the root is found.
const joinTimeout = 10 * time.Second

// Boot is the state of one boot: what the command line asked for, what was found, and the
// workers that find it.
type Boot struct {
	sys   System
	start time.Time
	// startCPU is PID 1's CPU time when /init started: the kernel's own init ran as PID 1
	// before it, and is not ours.
	startCPU usage
	log      *bootlog.Logger
	cfg      cmdline.Config
	moddir   string

	index   *modload.Index
	loader  *modload.Loader
	reg     *devices.Registry
	src     Discovery
	layer   layerState   // busy and failed layers, for the wait for the root (layers.go)
	crypt   cryptState   // the LUKS layer (luks.go)
	console consoleState // the console's keymap and font (console.go)

	work  sync.WaitGroup // module loads and probes in flight
	reap  sync.Mutex     // held while the rescue shell waits for its own children
	fault faults
	stack stack // the storage layers: md, lvm, btrfs (stack.go)

	waitFor awaited  // what the boot waits for, root= or /usr's source (luks.go)
	mounted bool     // the root is mounted on NewRoot
	extra   []string // the other mounts on the new root (/usr, x-initrd.mount; usr.go), in order
	tries   int      // attempts to find and mount the root

	timing timeline  // when each step happened, for the breakdown line
	gate   *loadGate // holds back second-class device loads (order.go)
	// diskFS are the filesystems that wait for the first block device to start loading
	// (loadRequested, startDiskFilesystems).
	diskFS struct {
		sync.Mutex
		types []string
	}
}

// faults carries a worker's recovered panic to the attempt it happened in: the attempt's
// context is cancelled with it as the cause, at once, whatever the attempt is doing. A panic
// between attempts (during setup or the rescue shell) is kept for the next one.
type faults struct {
	mu      sync.Mutex
	cancel  context.CancelCauseFunc // of the running attempt, nil between attempts
	pending error
}

func (f *faults) report(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		f.cancel(err)
		return
	}
	if f.pending == nil {
		f.pending = err
	}
}

// begin starts an attempt's context, cancelled at once by a panic kept since the last one.
func (f *faults) begin() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending != nil {
		cancel(f.pending)
		f.pending = nil
	}
	f.cancel = cancel
	return ctx, func() {
		f.mu.Lock()
		f.cancel = nil
		f.mu.Unlock()
		cancel(nil)
	}
}

// New prepares a boot on sys; nothing is done until Run.
func New(sys System) *Boot {
	b := &Boot{sys: sys, start: sys.Now()}
	b.startCPU, _ = selfUsage()
	return b
}

// Run is the whole life of PID 1: set up, then attempt the boot until it switches root;
// every failed attempt goes through the rescue shell (or, with rd.shell=0, the emergency
// action). With the real system it never returns; it returns when a fake system's Switch
// succeeds or its Reboot or Hang returns.
func (b *Boot) Run() {
	if err := protect(b.setup); err != nil {
		b.ensureState()
		if b.failed(err) {
			return
		}
	}
	for {
		err := protect(b.attempt)
		if err == nil || errors.Is(err, errStopped) {
			return
		}
		b.unmountRoot()
		if b.failed(err) {
			return
		}
	}
}

// ensureState fills in what a setup cut short by a panic left unset, so that the rescue
// path has a logger, a registry, a loader and the command line's defaults.
func (b *Boot) ensureState() {
	if b.log == nil {
		b.log = bootlog.New(nil, b.sys.Out)
	}
	if b.cfg.Emergency == "" {
		b.cfg = cmdline.Parse("")
	}
	if b.reg == nil {
		b.reg = devices.NewRegistry(b.sys.Dev)
	}
	if b.loader == nil {
		b.loader = modload.NewLoader(b.index, b.moddir, modload.Options{})
	}
}

// protect runs f and turns a panic into an error, so that PID 1 never dies of one.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (recovered panic): %v", r)
		}
	}()
	return f()
}

// goSafe runs f in a goroutine counted in b.work; a panic in it ends the running attempt.
func (b *Boot) goSafe(f func()) {
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		defer func() {
			if r := recover(); r != nil {
				err := fmt.Errorf("internal error in a worker (recovered panic): %v", r)
				b.log.Errorf("%v", err)
				b.fault.report(err)
			}
		}()
		f()
	}()
}

// setup mounts the API filesystems, opens the logs and reads the command line. Nothing in
// it is fatal: a failure is logged and the boot goes on as far as it can.
func (b *Boot) setup() error {
	apiErrs := b.sys.MountAPI()
	b.openLog()
	for _, err := range apiErrs {
		b.log.Errorf("%v", err)
	}
	if err := b.enableModprobe(); err != nil {
		b.log.Warnf("%v (the kernel's own module requests will fail)", err)
	}
	b.sys.Reap(&b.reap)

	raw, err := os.ReadFile(filepath.Join(b.sys.Proc, "cmdline"))
	if err != nil {
		b.log.Errorf("read kernel command line: %v", err)
	}
	b.cfg = cmdline.Parse(strings.TrimSpace(string(raw)))
	b.applyLogConfig()
	release, err := b.sys.KernelRelease()
	if err != nil {
		b.log.Errorf("%v", err)
	}
	b.log.Infof("earlyroot starting (kernel %s)", release)
	for _, p := range b.cfg.Problems {
		b.log.Warnf("command line: %s", p)
	}
	b.startConsole()

	done := b.log.Phase("module index")
	b.moddir = filepath.Join(b.sys.ModRoot, "lib/modules", release)
	b.openModules()
	done()
	b.reg = devices.NewRegistry(b.sys.Dev)
	b.loadRequested()
	return nil
}

// openLog opens the kernel log and the console for the boot log.
func (b *Boot) openLog() {
	kmsg, err := b.sys.OpenKmsg()
	if err != nil {
		b.log = bootlog.New(nil, b.sys.Out)
		b.log.Warnf("open kernel log: %v (logging to the console only)", err)
		return
	}
	b.log = bootlog.New(kmsg, b.sys.Out)
	b.log.SetKernelConsoleLevel(b.kernelConsoleLevel())
}

// kernelConsoleLevel is the kernel's console_loglevel (0 when unknown), as loglevel= and
// quiet set it: kmsg records below it are printed on the console by the kernel itself.
func (b *Boot) kernelConsoleLevel() int {
	data, err := os.ReadFile(filepath.Join(b.sys.Proc, "sys/kernel/printk"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

func (b *Boot) applyLogConfig() {
	switch b.cfg.LogTarget {
	case "console":
		b.log.SetTargets(false, true)
	case "kmsg":
		b.log.SetTargets(true, false)
	}
	b.log.SetQuiet(b.cfg.Quiet)
	b.log.SetDebug(b.cfg.Debug)
}

// openModules opens the module index and makes the loader, with the module options of the
// image's modprobe.d directories and the command line (modload.SystemOptions, as the
// modprobe personality reads them).
func (b *Boot) openModules() {
	ix, err := modload.OpenImage(b.moddir)
	if err != nil {
		b.log.Errorf("module index: %v (only built-in drivers will work)", err)
	}
	b.index = ix
	opt, err := modload.SystemOptions(b.sys.ModRoot, b.cfg)
	if err != nil {
		b.log.Warnf("modprobe.d: %v", err)
	}
	opt.SysModule = filepath.Join(b.sys.Sys, "module")
	opt.CPU = modload.ReadCPUModalias(modload.CPUModaliasPath(b.sys.Sys))
	opt.RequestSysctl = filepath.Join(b.sys.Proc, modload.RequestSysctl)
	opt.Observe = b.logLoad
	b.loader = modload.NewLoader(ix, b.moddir, opt)
}

// loadRequested loads modules_load= modules and the filesystems of earlyFilesystems,
// concurrently with everything else, so that they are ready when the root appears. With
// one CPU the filesystems wait for the first disk (startDiskFilesystems): loaded at once
// they only compete with the disk's own driver (measured: the root was found later),
// while from the disk's appearance on they load during the probe's reads of it.
func (b *Boot) loadRequested() {
	if fss := b.earlyFilesystems(); b.sys.CPUs > 1 {
		b.loadFilesystems(fss)
	} else {
		b.diskFS.Lock()
		b.diskFS.types = fss
		b.diskFS.Unlock()
	}
	for _, name := range b.cfg.ModulesLoad {
		b.goSafe(func() {
			if r := b.loader.Load(name); r.Err != nil {
				b.log.Warnf("modules_load: %v", r.Err)
			}
		})
	}
}

// startDiskFilesystems starts the loads loadRequested left for the first disk; called for
// every block device that appears, it acts on the first.
func (b *Boot) startDiskFilesystems() {
	b.diskFS.Lock()
	fss := b.diskFS.types
	b.diskFS.types = nil
	b.diskFS.Unlock()
	b.loadFilesystems(fss)
}

// loadFilesystems starts loading the modules of each filesystem type in fss.
func (b *Boot) loadFilesystems(fss []string) {
	for _, fstype := range fss {
		b.goSafe(func() { b.loadFilesystem(fstype) })
	}
}

// earlyFilesystems are the filesystems whose modules load before the root is found:
// rootfstype='s, or without it the image's only filesystem (onlyFilesystem), else, with a
// second CPU, a guess: the one the image was made for (rootFSHint). On one CPU a wrong
// guess would hold up the right filesystem's load by a whole load of the wrong one.
func (b *Boot) earlyFilesystems() []string {
	if len(b.cfg.RootFSTypes) > 0 {
		return b.cfg.RootFSTypes
	}
	if fs := b.onlyFilesystem(); fs != "" {
		return []string{fs}
	}
	if b.sys.CPUs > 1 {
		if fs := b.rootFSHint(); fs != "" {
			b.log.Debugf("loading %s at once: the root filesystem the image was made for (/%s)", fs, modload.RootFSHintPath)
			return []string{fs}
		}
	}
	return nil
}

// rootFSHint is the filesystem type the image's hint file names (modload.RootFSHintPath),
// when the image has a module for it; "" otherwise.
func (b *Boot) rootFSHint() string {
	data, err := os.ReadFile(filepath.Join(b.sys.ModRoot, modload.RootFSHintPath))
	if err != nil || b.index == nil {
		return ""
	}
	fs := strings.TrimSpace(string(data))
	if fs == "" || strings.ContainsAny(fs, " \t\n/") || len(b.index.Lookup("fs-"+fs)) == 0 {
		b.log.Debugf("/%s: %q names no filesystem module of the image; ignored", modload.RootFSHintPath, fs)
		return ""
	}
	return fs
}

// startDiscovery starts the device events; a no-op when running.
func (b *Boot) startDiscovery() error {
	if b.src != nil {
		return nil
	}
	done := b.log.Phase("discovery start")
	defer done()
	b.gate = newLoadGate()
	at := b.since() // before the call: the first events may arrive before it returns
	src, err := b.sys.Discover(b.sys.Sys, b.handle)
	if err != nil {
		b.openGate()
		return fmt.Errorf("device discovery: %w", err)
	}
	b.src = src
	b.timing.record(&b.timing.discovery, at)
	b.watchColdplug(src)
	return nil
}

// stopDiscovery stops the device events and joins every worker, so that nothing of the
// initramfs stays open when the real init starts.
func (b *Boot) stopDiscovery() {
	if b.src == nil {
		return
	}
	b.stopLayers()
	if err := b.src.Stop(); err != nil {
		b.log.Warnf("stop discovery: %v", err)
	}
	b.src = nil
	joined := make(chan struct{})
	go func() { b.work.Wait(); close(joined) }()
	select {
	case <-joined:
	case <-time.After(joinTimeout):
		b.log.Warnf("module loads still running after %v; switching root anyway", joinTimeout)
	}
}

// handle receives every device event (coldplug and hotplug) from the discovery goroutine.
func (b *Boot) handle(ev uevent.Event) {
	if ev.IsBlock() {
		b.log.Debugf("uevent %s %s", ev.Action, ev.DevName())
	}
	if alias := ev.Modalias(); alias != "" && ev.Action == "add" {
		b.loadDevice(alias)
	}
	if !ev.IsBlock() || ev.DevName() == "" {
		return
	}
	switch ev.Action {
	case "add", "change":
		b.startDiskFilesystems()
		dev := b.blockDevice(ev)
		if !b.worthProbing(dev) {
			return
		}
		at := b.since()
		b.goFirst(func() { b.addBlock(dev, ev.DevPath, at) })
	case "remove":
		b.reg.Remove(filepath.Base(ev.DevName()))
	}
}

// logLoad logs each module load as the loader records it: failures always, the rest with
// rd.debug.
func (b *Boot) logLoad(r modload.Result) {
	switch r.Status {
	case modload.Loaded:
		how := ""
		if r.ByKernel {
			how = ", decompressed by the kernel"
		}
		b.log.Debugf("loaded %s (%s) from %s%s in %v", r.Module, orDash(r.Alias), filepath.Base(r.Path), how, r.Took.Round(time.Microsecond))
	case modload.Failed:
		if errors.Is(r.Err, unix.ENODEV) {
			// The module's own init found nothing to drive: no such hardware, or a CPU
			// without the feature (crc32c-intel without SSE4.2, beside crc32c_generic).
			b.log.Debugf("%v (nothing for it here)", r.Err)
			return
		}
		b.log.Warnf("%v", r.Err)
	}
}

// blockDevice turns a block uevent into the registry's device record.
func (b *Boot) blockDevice(ev uevent.Event) devices.Device {
	name := ev.DevName()
	d := devices.Device{
		Name:  name,
		Path:  filepath.Join(b.sys.Dev, name),
		Major: ev.Major(),
		Minor: ev.Minor(),
		Type:  ev.DevType(),
		PartN: ev.PartN(),
	}
	if d.Type == "partition" {
		d.Parent = filepath.Base(uevent.ParentDevPath(ev.DevPath))
	}
	if raw, err := os.ReadFile(filepath.Join(b.sys.Sys, ev.DevPath, "size")); err == nil {
		sectors, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		d.Size = sectors * 512
	}
	return d
}

// addBlock probes a block device into the registry (waking a wait for the root) and gives
// it its /dev/disk/by-* links; at is when its uevent arrived, for the breakdown.
func (b *Boot) addBlock(d devices.Device, devpath string, at time.Duration) {
	start := time.Now()
	got := b.reg.Add(d)
	took := time.Since(start)
	b.log.Debugf("probed %s in %v: %s", got.Path, took.Round(time.Microsecond), orDash(describe(got)))
	if got.ProbeErr != nil {
		b.log.Debugf("probe %s: %v", got.Path, got.ProbeErr)
	}
	if err := b.reg.Links(got); err != nil {
		b.log.Debugf("links for %s: %v", got.Path, err)
	}
	if err := b.reg.LinkIDs(b.sys.Sys, devpath, got); err != nil {
		b.log.Debugf("by-id/by-path links for %s: %v", got.Path, err)
	}
	b.timing.device(got.Name, at, took)
	b.layers(got)
}

// errStopped ends Run: a fake system's Reboot, Hang or Switch returned.
var errStopped = errors.New("boot stopped")

// attempt runs one try at finding, mounting and switching to the root. It returns nil only
// when a fake system's Switch returned nil, else why the attempt failed. A worker's panic
// ends it with that panic as the error.
func (b *Boot) attempt() error {
	ctx, end := b.fault.begin()
	defer end()
	err := b.steps(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // a worker's panic: the reason, whatever the step made of it
	}
	return err
}

// steps are the phases of an attempt; each checks ctx, which a worker's panic cancels.
func (b *Boot) steps(ctx context.Context) error {
	b.tries++
	// A new attempt gives the layers' failed devices another try. This comes before
	// discovery starts: a failure of this attempt's own (a device coldplugged while
	// discovery starts, a rootdelay= sleep) must not be wiped before the root wait sees it.
	b.layer.reset()
	b.retryLayers()
	if err := b.startDiscovery(); err != nil {
		return err
	}
	if b.cfg.Root == "" {
		return errors.New("no root= on the kernel command line: nothing to mount")
	}
	spec, err := mount.ParseSpec(b.cfg.Root)
	if err != nil {
		return fmt.Errorf("root=%s: %w", b.cfg.Root, err)
	}
	if b.tries == 1 && b.cfg.RootDelay > 0 {
		b.log.Infof("rootdelay: waiting %v", b.cfg.RootDelay)
		b.sys.Sleep(b.cfg.RootDelay)
	}
	dev, err := b.waitRoot(ctx, spec)
	if err != nil {
		return err
	}
	b.resume(ctx)
	if b.cfg.Break == "pre-mount" {
		if b.shell("rd.break=pre-mount: stopped before mounting the root", true) {
			return errStopped
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fstype, err := b.mountRoot(dev)
	if err != nil {
		return err
	}
	if err := b.mountExtras(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.cfg.Break == "pre-switch" {
		if b.shell("rd.break=pre-switch: root mounted on "+b.sys.NewRoot+", stopped before switch_root", true) {
			return errStopped
		}
	}
	return b.switchRoot(ctx, dev, fstype)
}

// waitRoot waits for the root device within the command line's timeout.
func (b *Boot) waitRoot(ctx context.Context, spec mount.Spec) (devices.Device, error) {
	done := b.log.Phase("wait for root")
	defer done()
	timeout, forever := b.cfg.RootTimeout()
	if !forever {
		b.log.Infof("waiting up to %v for root=%s", timeout, b.cfg.Root)
	} else {
		b.log.Infof("waiting for root=%s (no timeout)", b.cfg.Root)
	}
	dev, err := b.waitDevice(ctx, "root device root="+b.cfg.Root, spec, timeout, forever)
	if err != nil {
		return dev, err
	}
	b.timing.record(&b.timing.found, b.since())
	b.log.Infof("root=%s is %s (%s)", b.cfg.Root, dev.Path, describe(dev))
	return dev, nil
}

// mountRoot loads the filesystem's module and mounts the root on NewRoot.
func (b *Boot) mountRoot(dev devices.Device) (string, error) {
	done := b.log.Phase("mount root")
	defer done()
	// From here on only the root matters: the drivers of other devices are the real system's
	// to load, and would only compete with the filesystem's module for the CPU.
	b.loader.DeferDeviceLoads()
	b.openGate() // the held-back loads end now, as deferred
	types, err := filesystemTypes(dev, b.cfg.RootFSTypes)
	if errors.Is(err, errUnrecognised) {
		return "", fmt.Errorf("root %w; set rootfstype=", err)
	}
	if err != nil {
		return "", fmt.Errorf("root %w", err)
	}
	fsStart := b.since()
	for _, t := range types {
		b.loadFilesystem(t)
	}
	b.timing.record(&b.timing.fs, b.since()-fsStart)
	flags, err := mount.ParseFlags(b.cfg.RootFlags, b.cfg.ReadWrite)
	if err != nil {
		return "", fmt.Errorf("rootflags=%s: %w", b.cfg.RootFlags, err)
	}
	if err := os.MkdirAll(b.sys.NewRoot, 0o755); err != nil {
		return "", err
	}
	mountStart := b.since()
	fstype, err := mount.MountRoot(b.mount, dev.Path, b.sys.NewRoot, types, flags)
	b.timing.record(&b.timing.mount, b.since()-mountStart)
	if err != nil {
		return "", err
	}
	b.mounted = true
	return fstype, nil
}

// withoutRequests runs f with the kernel's module requests off
// (modload.Loader.WithoutRequests), and says so when they could not be turned on again.
func (b *Boot) withoutRequests(f func()) {
	if err := b.loader.WithoutRequests(f); err != nil {
		b.log.Errorf("%v: the kernel starts no modprobe helper now, nor after the boot", err)
	}
}

// mount is the system's Mount as a step that may make the kernel request a module (the
// filesystem's, when its load failed): never while the requests are off
// (modload.Loader.WithoutRequests).
func (b *Boot) mount(source, target, fstype string, flags uintptr, data string) error {
	var err error
	b.loader.Requesting(func() { err = b.sys.Mount(source, target, fstype, flags, data) })
	return err
}

// errUnrecognised is filesystemTypes's error for a device whose contents the probe did not
// recognise.
var errUnrecognised = errors.New("no filesystem recognised")

// filesystemTypes are the types to mount dev with: given (rootfstype=, fstab's), or the
// probed one. A layer member (an MD member or PV that also shows the filesystem inside, an
// unopened LUKS volume) or swap is never mounted, whatever given says: mounting a member
// writes behind its array's back.
func filesystemTypes(dev devices.Device, given []string) ([]string, error) {
	if dev.Info.Layer != "" || (dev.Info.Usage != "" && dev.Info.Usage != "filesystem") {
		return nil, fmt.Errorf("%s holds %s (%s), not a filesystem: refusing to mount it", dev.Path, dev.Info.Type, dev.Info.Usage)
	}
	if len(given) > 0 {
		return given, nil
	}
	if dev.Info.Type == "" {
		return nil, fmt.Errorf("%s: %w (%v)", dev.Path, errUnrecognised, dev.ProbeErr)
	}
	return []string{dev.Info.Type}, nil
}

// loadFilesystem loads the module (and softdeps) of a filesystem type, unless built in.
// A filesystem's modules drive no device: they load ahead (modload.Loader.LoadAhead), so
// that a controller's probe under way in the kernel does not hold them up.
func (b *Boot) loadFilesystem(fstype string) {
	r := b.loader.LoadAhead("fs-" + fstype)
	if r.Status == modload.NoModule {
		r = b.loader.LoadAhead(fstype)
	}
	if r.Status == modload.NoModule {
		b.log.Debugf("filesystem %s: no module (built in, or unknown)", fstype)
	}
}

// unmountRoot undoes mountRoot after a failed attempt, so that the next one starts clean.
func (b *Boot) unmountRoot() {
	b.unmountExtras()
	if !b.mounted {
		return
	}
	if err := b.sys.Unmount(b.sys.NewRoot, 0); err != nil {
		b.log.Warnf("unmount %s: %v", b.sys.NewRoot, err)
		return
	}
	b.mounted = false
}

// switchRoot stops discovery, saves the log and hands over to the real init.
func (b *Boot) switchRoot(ctx context.Context, dev devices.Device, fstype string) error {
	b.stopDiscovery()
	if err := ctx.Err(); err != nil {
		return err // a worker panicked while joined
	}
	b.layersDone()
	opt := b.switchOptions()
	initPath, err := b.sys.CheckSwitch(opt)
	if err != nil {
		return err
	}
	b.logSummary(dev, fstype, initPath)
	b.saveLog()
	b.disableModprobe() // from here on the kernel's requests are the real root's /sbin/modprobe's
	return b.sys.Switch(opt)
}

func (b *Boot) switchOptions() switchroot.Options {
	return switchroot.Options{
		NewRoot:     b.sys.NewRoot,
		Init:        b.cfg.Init,
		Args:        b.cfg.InitArgs, // bare words and words after "--"
		Env:         initEnv(b.sys.Environ()),
		Mounts:      []string{b.sys.Dev, b.sys.Proc, b.sys.Sys, b.sys.Run},
		InitrdStart: b.start,
		Logf:        b.log.Infof,
		DeleteWith:  []string{DeleterName},
	}
}

func (b *Boot) logSummary(dev devices.Device, fstype, initPath string) {
	loaded := loadedModules(b.loader.Results())
	if u, ok := selfUsage(); ok {
		// sys is the kernel's work in our syscalls: module loading, mount, reads.
		b.log.Infof("peak memory of PID 1: %d kB; cpu time since /init started: user %d ms, sys %d ms",
			u.peakKB, (u.user - b.startCPU.user).Milliseconds(), (u.sys - b.startCPU.sys).Milliseconds())
	}
	if n := len(b.loader.Deferred()); n > 0 {
		b.log.Infof("the modules of %d other devices are left to the real system", n)
	}
	b.log.Infof("%s", b.breakdownLine(dev.Name, b.log.Clock()-b.since(), loaded))
	b.log.Infof("root %s (%s) mounted in %d ms; %d modules; switching to %s",
		dev.Path, fstype, b.sys.Now().Sub(b.start).Milliseconds(), len(loaded), initPath)
}

// saveLog writes the log so far to LogFile, readable after the boot.
func (b *Boot) saveLog() {
	if err := os.MkdirAll(filepath.Dir(b.sys.LogFile), 0o755); err != nil {
		b.log.Warnf("save log: %v", err)
		return
	}
	if err := os.WriteFile(b.sys.LogFile, b.log.History(), 0o644); err != nil {
		b.log.Warnf("save log: %v", err)
	}
}

// enableModprobe makes the image's /sbin/modprobe (a link to ModprobeLink) lead to this
// binary, which answers as modprobe; see modload.ModprobeTarget for why the link is made
// only now.
func (b *Boot) enableModprobe() error {
	if err := os.MkdirAll(filepath.Dir(b.sys.ModprobeLink), 0o755); err != nil {
		return fmt.Errorf("modprobe helper: %w", err)
	}
	if err := os.Symlink(b.sys.Init, b.sys.ModprobeLink); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("modprobe helper: %w", err)
	}
	return nil
}

// disableModprobe removes the helper link and its directory before switch_root: /run moves
// into the real root, where /init does not exist. Two calls, where os.RemoveAll would list
// a directory that holds nothing else.
func (b *Boot) disableModprobe() {
	_ = os.Remove(b.sys.ModprobeLink)
	_ = os.Remove(filepath.Dir(b.sys.ModprobeLink))
}

// usage is a process's CPU time and peak resident memory.
type usage struct {
	user, sys time.Duration
	peakKB    int64 // the peak resident set (VmHWM in /proc/PID/status)
}

// selfUsage returns this process's usage in one getrusage call: cheaper at the end of the
// boot than reading and parsing /proc/self/status, a file the kernel formats in full.
func selfUsage() (usage, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return usage{}, false
	}
	return usage{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss}, true
}
