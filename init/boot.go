package main

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

// Paths of the initramfs; fixed for PID 1, named once here.
const (
	newRoot   = "/newroot"
	sysDir    = "/sys"
	procDir   = "/proc"
	devDir    = "/dev"
	logFile   = "/run/initramfs/earlyroot.log"
	defaultTO = 30 * time.Second
)

// boot holds the state of one boot: what the command line asked for, what was found, and
// the workers that find it.
type boot struct {
	start time.Time
	// startCPU is PID 1's CPU time when /init started: the kernel's own init ran as PID 1
	// before it, and is not ours.
	startCPU struct{ user, sys time.Duration }
	log      *bootlog.Logger
	cfg      cmdline.Config
	moddir   string

	index  *modload.Index
	loader *modload.Loader
	reg    *devices.Registry
	src    *uevent.Source

	work   sync.WaitGroup // module loads and probes in flight
	panics chan error     // panics recovered in any goroutine

	mounted bool // the root is mounted on newRoot
	tries   int  // attempts to find and mount the root
}

func newBoot(start time.Time) *boot {
	b := &boot{start: start, panics: make(chan error, 8)}
	b.startCPU.user, b.startCPU.sys, _ = cpuTime()
	return b
}

// run is the whole life of PID 1: set up, then attempt the boot until it switches root;
// every failed attempt goes through the rescue shell. It never returns.
func (b *boot) run() {
	if err := b.protect(func() error { b.setup(); return nil }); err != nil {
		b.ensureState()
		b.failed(err)
	}
	for {
		err := b.protect(b.attempt)
		b.unmountRoot()
		b.failed(err)
	}
}

// ensureState fills in what a setup cut short by a panic left unset, so that the rescue
// path has a logger, a registry, a loader and the command line's defaults.
func (b *boot) ensureState() {
	if b.log == nil {
		b.log = bootlog.New(nil, os.Stdout)
	}
	if b.cfg.Emergency == "" {
		b.cfg = cmdline.Parse("")
	}
	if b.reg == nil {
		b.reg = devices.NewRegistry(devDir)
	}
	if b.loader == nil {
		b.loader = modload.NewLoader(b.index, b.moddir, modload.Options{})
	}
}

// protect runs f and turns a panic into an error, so that PID 1 never dies of one.
func (b *boot) protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (recovered panic): %v", r)
		}
	}()
	return f()
}

// goSafe runs f in a goroutine counted in b.work, reporting a panic to b.panics.
func (b *boot) goSafe(f func()) {
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		defer func() {
			if r := recover(); r != nil {
				select {
				case b.panics <- fmt.Errorf("internal error in a worker (recovered panic): %v", r):
				default:
				}
			}
		}()
		f()
	}()
}

// setup mounts the API filesystems, opens the logs and reads the command line. Nothing in
// it is fatal: a failure is logged and the boot goes on as far as it can.
func (b *boot) setup() {
	apiErrs := mountAPI()
	b.log = openLogger()
	for _, err := range apiErrs {
		b.log.Errorf("%v", err)
	}
	if err := enableModprobe(); err != nil {
		b.log.Warnf("%v (the kernel's own module requests will fail)", err)
	}
	go reapChildren()

	raw, err := os.ReadFile(procDir + "/cmdline")
	if err != nil {
		b.log.Errorf("read kernel command line: %v", err)
	}
	b.cfg = cmdline.Parse(strings.TrimSpace(string(raw)))
	b.applyLogConfig()
	b.log.Infof("earlyroot starting (kernel %s)", kernelRelease())
	for _, p := range b.cfg.Problems {
		b.log.Warnf("command line: %s", p)
	}

	done := b.log.Phase("module index")
	b.moddir = moduleDir()
	b.openModules()
	done()
	b.reg = devices.NewRegistry(devDir)
	b.loadRequested()
}

func (b *boot) applyLogConfig() {
	switch b.cfg.LogTarget {
	case "console":
		b.log.SetTargets(false, true)
	case "kmsg":
		b.log.SetTargets(true, false)
	}
	b.log.SetQuiet(b.cfg.Quiet)
	b.log.SetDebug(b.cfg.Debug)
}

// openModules opens the module index and makes the loader, with parameters from the command
// line and /etc/modprobe.d of the image.
func (b *boot) openModules() {
	ix, err := modload.Open(b.moddir)
	if err != nil {
		b.log.Errorf("module index: %v (only built-in drivers will work)", err)
	}
	b.index = ix
	params, blacklist := b.modprobeConf()
	for mod, p := range b.cfg.ModParams {
		params[mod] = append(params[mod], p...)
	}
	b.loader = modload.NewLoader(ix, b.moddir, modload.Options{
		Params:    params,
		Blacklist: append(blacklist, b.cfg.Blacklist...),
		SysModule: sysDir + "/module",
		Observe:   b.logLoad,
	})
}

// modprobeConf reads options and blacklist lines of /etc/modprobe.d/*.conf in the image.
func (b *boot) modprobeConf() (map[string][]string, []string) {
	params := map[string][]string{}
	var blacklist []string
	files, _ := filepath.Glob("/etc/modprobe.d/*.conf")
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			b.log.Warnf("modprobe.d: %v", err)
			continue
		}
		p, bl, err := modload.ParseModprobeConf(f)
		f.Close()
		if err != nil {
			b.log.Warnf("modprobe.d: %s: %v", name, err)
		}
		for mod, v := range p {
			params[mod] = append(params[mod], v...)
		}
		blacklist = append(blacklist, bl...)
	}
	return params, blacklist
}

// loadRequested loads modules_load= modules and the rootfstype= filesystems, concurrently
// with everything else, so that they are ready when the root appears.
func (b *boot) loadRequested() {
	for _, fstype := range b.cfg.RootFSTypes {
		b.goSafe(func() { b.loadFilesystem(fstype) })
	}
	for _, name := range b.cfg.ModulesLoad {
		b.goSafe(func() {
			if r := b.loader.Load(name); r.Err != nil {
				b.log.Warnf("modules_load: %v", r.Err)
			}
		})
	}
}

// startDiscovery opens the uevent socket and replays existing devices; a no-op when running.
func (b *boot) startDiscovery() error {
	if b.src != nil {
		return nil
	}
	done := b.log.Phase("discovery start")
	defer done()
	src, err := uevent.Start(sysDir, b.handle)
	if err != nil {
		return fmt.Errorf("device discovery: %w", err)
	}
	b.src = src
	return nil
}

// stopDiscovery closes the uevent socket and joins every worker, so that nothing of the
// initramfs stays open when the real init starts.
func (b *boot) stopDiscovery() {
	if b.src == nil {
		return
	}
	if err := b.src.Stop(); err != nil {
		b.log.Warnf("stop discovery: %v", err)
	}
	b.src = nil
	joined := make(chan struct{})
	go func() { b.work.Wait(); close(joined) }()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		b.log.Warnf("module loads still running after 10 s; switching root anyway")
	}
}

// handle receives every device event (coldplug and hotplug) from the discovery goroutine.
func (b *boot) handle(ev uevent.Event) {
	if ev.IsBlock() {
		b.log.Debugf("uevent %s %s", ev.Action, ev.DevName())
	}
	if alias := ev.Modalias(); alias != "" && ev.Action == "add" {
		b.goSafe(func() { b.loader.LoadAlias(alias) })
	}
	if !ev.IsBlock() || ev.DevName() == "" {
		return
	}
	switch ev.Action {
	case "add", "change":
		dev := blockDevice(ev)
		b.goSafe(func() { b.addBlock(dev, ev.DevPath) })
	case "remove":
		b.reg.Remove(filepath.Base(ev.DevName()))
	}
}

// logLoad logs each module load as the loader records it: failures always, the rest with
// rd.debug.
func (b *boot) logLoad(r modload.Result) {
	switch r.Status {
	case modload.Loaded:
		b.log.Debugf("loaded %s (%s) in %v", r.Module, orDash(r.Alias), r.Took.Round(time.Microsecond))
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
func blockDevice(ev uevent.Event) devices.Device {
	name := ev.DevName()
	d := devices.Device{
		Name:  name,
		Path:  filepath.Join(devDir, name),
		Major: ev.Major(),
		Minor: ev.Minor(),
		Type:  ev.DevType(),
		PartN: ev.PartN(),
	}
	if d.Type == "partition" {
		d.Parent = filepath.Base(uevent.ParentDevPath(ev.DevPath))
	}
	if raw, err := os.ReadFile(sysDir + ev.DevPath + "/size"); err == nil {
		sectors, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		d.Size = sectors * 512
	}
	return d
}

// addBlock probes a block device into the registry (waking a wait for the root) and gives
// it its /dev/disk/by-* links.
func (b *boot) addBlock(d devices.Device, devpath string) {
	start := time.Now()
	got := b.reg.Add(d)
	b.log.Debugf("probed %s in %v: %s", got.Path, time.Since(start).Round(time.Microsecond), orDash(describe(got)))
	if got.ProbeErr != nil {
		b.log.Debugf("probe %s: %v", got.Path, got.ProbeErr)
	}
	if err := b.reg.Links(got); err != nil {
		b.log.Debugf("links for %s: %v", got.Path, err)
	}
	if err := b.reg.LinkIDs(sysDir, devpath, got); err != nil {
		b.log.Debugf("by-id/by-path links for %s: %v", got.Path, err)
	}
}

// attempt runs one try at finding, mounting and switching to the root. It returns only on
// failure (or a recovered panic).
func (b *boot) attempt() error {
	b.tries++
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
		time.Sleep(b.cfg.RootDelay)
	}
	dev, err := b.waitRoot(spec)
	if err != nil {
		return err
	}
	b.resume()
	if b.cfg.Break == "pre-mount" {
		b.shell("rd.break=pre-mount: stopped before mounting the root", true)
	}
	fstype, err := b.mountRoot(dev)
	if err != nil {
		return err
	}
	if b.cfg.Break == "pre-switch" {
		b.shell("rd.break=pre-switch: root mounted on "+newRoot+", stopped before switch_root", true)
	}
	return b.switchRoot(dev, fstype)
}

// waitRoot waits for the root device within the command line's timeout.
func (b *boot) waitRoot(spec mount.Spec) (devices.Device, error) {
	done := b.log.Phase("wait for root")
	defer done()
	timeout, forever := b.cfg.RootTimeout()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !forever {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		b.log.Infof("waiting up to %v for root=%s", timeout, b.cfg.Root)
	} else {
		b.log.Infof("waiting for root=%s (no timeout)", b.cfg.Root)
	}
	go func() {
		select {
		case err := <-b.panics:
			b.log.Errorf("%v", err)
			cancel()
		case <-ctx.Done():
		}
	}()
	dev, err := b.reg.Wait(ctx, spec)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return dev, fmt.Errorf("root device root=%s did not appear within %v", b.cfg.Root, timeout)
		}
		return dev, fmt.Errorf("waiting for root=%s: %w", b.cfg.Root, err)
	}
	b.log.Infof("root=%s is %s (%s)", b.cfg.Root, dev.Path, describe(dev))
	return dev, nil
}

// mountRoot loads the filesystem's module and mounts the root on newRoot.
func (b *boot) mountRoot(dev devices.Device) (string, error) {
	done := b.log.Phase("mount root")
	defer done()
	// From here on only the root matters: the drivers of other devices are the real system's
	// to load, and would only compete with the filesystem's module for the CPU.
	b.loader.DeferDeviceLoads()
	types := b.cfg.RootFSTypes
	if len(types) == 0 {
		if dev.Info.Type == "" {
			return "", fmt.Errorf("root %s: no filesystem recognised (%v); set rootfstype=", dev.Path, dev.ProbeErr)
		}
		if dev.Info.Usage != "" && dev.Info.Usage != "filesystem" {
			return "", fmt.Errorf("root %s holds %s (%s), not a filesystem: refusing to mount it", dev.Path, dev.Info.Type, dev.Info.Usage)
		}
		types = []string{dev.Info.Type}
	}
	for _, t := range types {
		b.loadFilesystem(t)
	}
	flags, err := mount.ParseFlags(b.cfg.RootFlags, b.cfg.ReadWrite)
	if err != nil {
		return "", fmt.Errorf("rootflags=%s: %w", b.cfg.RootFlags, err)
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return "", err
	}
	fstype, err := mount.MountRoot(dev.Path, newRoot, types, flags)
	if err != nil {
		return "", err
	}
	b.mounted = true
	return fstype, nil
}

// loadFilesystem loads the module (and softdeps) of a filesystem type, unless built in.
func (b *boot) loadFilesystem(fstype string) {
	r := b.loader.Load("fs-" + fstype)
	if r.Status == modload.NoModule {
		r = b.loader.Load(fstype)
	}
	switch r.Status {
	case modload.NoModule:
		b.log.Debugf("filesystem %s: no module (built in, or unknown)", fstype)
	}
}

// unmountRoot undoes mountRoot after a failed attempt, so that the next one starts clean.
func (b *boot) unmountRoot() {
	if !b.mounted {
		return
	}
	if err := unix.Unmount(newRoot, 0); err != nil {
		b.log.Warnf("unmount %s: %v", newRoot, err)
		return
	}
	b.mounted = false
}

// switchRoot stops discovery, saves the log and hands over to the real init.
func (b *boot) switchRoot(dev devices.Device, fstype string) error {
	b.stopDiscovery()
	opt := switchroot.Options{
		NewRoot:     newRoot,
		Init:        b.cfg.Init,
		Args:        os.Args[1:], // what the kernel passed on: bare words, words after "--"
		Env:         initEnv(),
		Mounts:      []string{devDir, procDir, sysDir, "/run"},
		InitrdStart: b.start,
		Logf:        b.log.Infof,
		DeleteWith:  []string{deleterName},
	}
	initPath, err := switchroot.Check(opt)
	if err != nil {
		return err
	}
	b.logSummary(dev, fstype, initPath)
	b.saveLog()
	disableModprobe() // from here on the kernel's requests are the real root's /sbin/modprobe's
	return switchroot.Switch(opt)
}

func (b *boot) logSummary(dev devices.Device, fstype, initPath string) {
	loaded := 0
	for _, r := range b.loader.Results() {
		if r.Status == modload.Loaded {
			loaded++
		}
	}
	b.log.Infof("peak memory of PID 1: VmHWM %s", procStatus("VmHWM"))
	if user, sys, ok := cpuTime(); ok {
		// sys is the kernel's work in our syscalls: module loading, mount, reads.
		b.log.Infof("cpu time of PID 1 since /init started: user %d ms, sys %d ms",
			(user - b.startCPU.user).Milliseconds(), (sys - b.startCPU.sys).Milliseconds())
	}
	if n := len(b.loader.Deferred()); n > 0 {
		b.log.Infof("the modules of %d other devices are left to the real system", n)
	}
	b.log.Infof("root %s (%s) mounted in %d ms; %d modules; switching to %s",
		dev.Path, fstype, time.Since(b.start).Milliseconds(), loaded, initPath)
}

// saveLog writes the log so far to /run/initramfs/earlyroot.log, readable after boot.
func (b *boot) saveLog() {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		b.log.Warnf("save log: %v", err)
		return
	}
	if err := os.WriteFile(logFile, b.log.History(), 0o644); err != nil {
		b.log.Warnf("save log: %v", err)
	}
}

// initEnv is the environment of the real init: the kernel's (TERM, HOME, unknown k=v) with a
// PATH.
func initEnv() []string {
	env := os.Environ()
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return env
		}
	}
	return append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}
