package boot

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Load order. At coldplug every device's driver is asked for at once, and on a machine
// with few CPUs the kernel's work for all of them (signature checks, relocation, each
// driver's probe) shares the CPU: a SATA or IDE controller's stack, whose probe also
// resets every port, delays the virtio or NVMe disk that holds the root although both
// were found together. So device work comes in two classes. The first is the root's
// likely path: the drivers of disks that appear as soon as their driver binds (virtio
// and its transports, the drivers/block and NVMe drivers, the paravirtual SCSI HBAs of
// hypervisors), the disk drivers proper (sd_mod, mmc_block), and the probe of every block
// device. It starts at once. Other drivers wait until coldplug is complete and the first
// class has been idle for settleTime (long enough for the devices a first-class driver
// registers, such as the virtio devices behind virtio_pci, to arrive and start their own
// work), or until the root is about to be mounted, whichever comes first. From then on
// device loads are deferred to the real system anyway (modload.Loader.DeferDeviceLoads),
// so a controller the root does not need is then never loaded in the initramfs. When the
// root is on a second-class controller, its load starts as soon as the first class is
// idle: nothing is skipped, only ordered.

// settleTime is how long the first class must be idle before the others start.
const settleTime = 50 * time.Millisecond

// firstClassDirs are the module directories (below kernel/) whose drivers load first.
var firstClassDirs = []string{"drivers/virtio/", "drivers/block/", "drivers/nvme/"}

// firstClassModules are first-class drivers outside those directories: paravirtual HBAs,
// and the disk drivers of SCSI and MMC disks (a disk that reached its uevent has its
// controller already, so its driver is on the root's path whatever the controller).
var firstClassModules = map[string]bool{
	"virtio_scsi": true, "hv_vmbus": true, "hv_storvsc": true, "vmw_pvscsi": true,
	"xen_scsifront": true, "sd_mod": true, "mmc_block": true,
}

// loadGate holds back second-class device loads; the zero value is closed and must be
// made with newLoadGate. Its settle clock is one timer, started when coldplug is done and
// the first class is idle, stopped when first-class work starts, restarted when it ends:
// when it fires, the first class has been idle for settleTime.
type loadGate struct {
	mu       sync.Mutex
	inflight int         // first-class loads running
	cold     bool        // coldplug is complete
	settle   *time.Timer // opens the gate; nil until first armed
	opened   chan struct{}
	once     sync.Once
}

func newLoadGate() *loadGate { return &loadGate{opened: make(chan struct{})} }

// open lets every waiting and later second-class load start.
func (g *loadGate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *loadGate) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight++
	if g.settle != nil {
		g.settle.Stop()
	}
}

func (g *loadGate) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	g.armLocked()
}

// coldplugDone records that every device present at start has been seen.
func (g *loadGate) coldplugDone() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cold = true
	g.armLocked()
}

// armLocked (re)starts the settle clock when coldplug is done and no first-class work runs.
func (g *loadGate) armLocked() {
	if !g.cold || g.inflight > 0 {
		return
	}
	if g.settle == nil {
		g.settle = time.AfterFunc(settleTime, g.open)
		return
	}
	g.settle.Reset(settleTime)
}

// firstClass reports whether the modules an alias matched (names, not empty) are all
// first-class drivers.
func (b *Boot) firstClass(names []string) bool {
	for _, name := range names {
		m, ok := b.index.Module(name)
		if !ok || !isFirstClass(m.Name, m.Path) {
			return false
		}
	}
	return true
}

// isFirstClass reports whether a module (its name and its path below the module
// directory) is a first-class driver.
func isFirstClass(name, path string) bool {
	if firstClassModules[name] {
		return true
	}
	for _, d := range firstClassDirs {
		if strings.HasPrefix(path, "kernel/"+d) {
			return true
		}
	}
	return false
}

// loadDevice loads the drivers of a device's modalias in its class's turn. A modalias no
// module answers to (most of them: cpus, ACPI and platform devices, inputs) is only
// recorded, at once, for the diagnosis: it is no work for either class, nor a goroutine.
func (b *Boot) loadDevice(alias string) {
	var names []string
	if b.index != nil {
		names = b.index.Lookup(alias)
	}
	g := b.gate
	switch {
	case len(names) == 0:
		b.loader.LoadAlias(alias) // records it as NoModule
	case g == nil || b.firstClass(names):
		b.goFirst(func() { b.loader.LoadAlias(alias) })
	default:
		b.goSafe(func() {
			<-g.opened
			b.loader.LoadAlias(alias)
		})
	}
}

// goFirst runs f, first-class work (a first-class load, a block device's probe), as a
// worker: the gate stays shut while it runs, so that a disk found but not yet probed
// keeps the other controllers' stacks back until it is known whether it is the root.
func (b *Boot) goFirst(f func()) {
	g := b.gate
	if g == nil {
		b.goSafe(f)
		return
	}
	g.begin()
	b.goSafe(func() {
		defer g.end()
		f()
	})
}

// openGate lets held-back device loads go: device loads are deferred (the root is found
// and is being mounted), or the boot stopped (the rescue shell wants them all).
func (b *Boot) openGate() {
	if b.gate != nil {
		b.gate.open()
	}
}

// onlyFilesystem returns the one filesystem module of the image (a module below
// kernel/fs/ that answers to fs-<its name>), or "" when it has none or several. A
// host-only image carries the filesystem of the host's root alone, so without rootfstype=
// its module can start loading before the root appears (loadRequested); a generic image
// has many.
func (b *Boot) onlyFilesystem() string {
	if b.index == nil {
		return ""
	}
	found := ""
	for _, name := range b.index.Modules() {
		m, ok := b.index.Module(name)
		if !ok || !strings.HasPrefix(m.Path, "kernel/fs/") || !slices.Contains(b.index.Lookup("fs-"+name), name) {
			continue
		}
		if found != "" {
			return ""
		}
		found = name
	}
	return found
}
