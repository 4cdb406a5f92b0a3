package boot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/bootlog"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/uevent"
)

func TestIsFirstClass(t *testing.T) {
	tests := []struct {
		name, path string
		want       bool
	}{
		{"virtio_pci", "kernel/drivers/virtio/virtio_pci.ko.zst", true},
		{"virtio_blk", "kernel/drivers/block/virtio_blk.ko", true},
		{"nvme", "kernel/drivers/nvme/host/nvme.ko", true},
		{"virtio_scsi", "kernel/drivers/scsi/virtio_scsi.ko", true},
		{"sd_mod", "kernel/drivers/scsi/sd_mod.ko", true},
		{"ahci", "kernel/drivers/ata/ahci.ko", false},
		{"ata_piix", "kernel/drivers/ata/ata_piix.ko", false},
		{"xhci_pci", "kernel/drivers/usb/host/xhci-pci.ko", false},
		{"megaraid_sas", "kernel/drivers/scsi/megaraid/megaraid_sas.ko", false},
		{"blockish", "kernel/fs/drivers/block/x.ko", false},
	}
	for _, tt := range tests {
		if got := isFirstClass(tt.name, tt.path); got != tt.want {
			t.Errorf("isFirstClass(%s, %s) = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
}

// The gate opens only after coldplug and settleTime of first-class idleness, and at once
// when opened explicitly.
func TestLoadGate(t *testing.T) {
	isOpen := func(g *loadGate) bool {
		select {
		case <-g.opened:
			return true
		default:
			return false
		}
	}
	g := newLoadGate()
	g.begin()
	g.coldplugDone()
	if isOpen(g) {
		t.Fatal("open while a first-class load runs")
	}
	g.end()
	if isOpen(g) {
		t.Fatal("open before settleTime")
	}
	select {
	case <-g.opened:
	case <-time.After(20 * settleTime):
		t.Fatal("not open after the first class settled")
	}

	g = newLoadGate()
	g.coldplugDone()
	g.begin() // first-class work starting while the gate settles stops the clock
	time.Sleep(2 * settleTime)
	if isOpen(g) {
		t.Fatal("open while a first-class load started during the settle time runs")
	}
	g.end()
	select {
	case <-g.opened:
	case <-time.After(20 * settleTime):
		t.Fatal("not open after the second load settled")
	}

	g = newLoadGate()
	g.begin()
	g.end() // an idle gate without coldplug stays shut
	time.Sleep(2 * settleTime)
	if isOpen(g) {
		t.Fatal("open before coldplug was done")
	}
	g.open()
	g.open()
	if !isOpen(g) {
		t.Fatal("open() did not open")
	}
}

// earlyFilesystems is rootfstype='s list, or the image's one filesystem module when it has
// exactly one, else with a second CPU the filesystem its hint file names when it has a
// module for it.
func TestEarlyFilesystems(t *testing.T) {
	const ext4 = "kernel/fs/ext4/ext4.ko.zst: kernel/fs/jbd2/jbd2.ko.zst kernel/fs/mbcache.ko.zst\n" +
		"kernel/fs/jbd2/jbd2.ko.zst:\nkernel/fs/mbcache.ko.zst:\nkernel/drivers/block/virtio_blk.ko.zst:\n"
	const hostOnly = "alias fs-ext4 ext4\nalias fs-ext3 ext4\nalias virtio:d00000002v* virtio_blk\n"
	const generic, genericAlias = ext4 + "kernel/fs/xfs/xfs.ko.zst:\n", "alias fs-ext4 ext4\nalias fs-xfs xfs\n"
	tests := []struct {
		name, dep, alias string
		rootfstype       []string
		hint             string // the image's hint file; "" for none
		cpus             int
		want             []string
	}{
		{"host-only", ext4, hostOnly, nil, "", 2, []string{"ext4"}},
		{"host-only, one CPU", ext4, hostOnly, nil, "", 1, []string{"ext4"}},
		{"host-only, CPUs unknown", ext4, hostOnly, nil, "", 0, []string{"ext4"}},
		{"host-only with a hint, one CPU", ext4, hostOnly, nil, "xfs\n", 1, []string{"ext4"}},
		{"rootfstype", ext4, hostOnly, []string{"xfs", "ext4"}, "xfs\n", 1, []string{"xfs", "ext4"}},
		{"generic", generic, genericAlias, nil, "", 2, nil},
		{"generic with a hint", generic, genericAlias, nil, "xfs\n", 2, []string{"xfs"}},
		{"generic with a hint, one CPU", generic, genericAlias, nil, "xfs\n", 1, nil},
		{"hint without a module", generic, genericAlias, nil, "btrfs\n", 2, nil},
		{"hint not a word", generic, genericAlias, nil, "ext4 xfs\n", 2, nil},
		{"empty hint", generic, genericAlias, nil, "\n", 2, nil},
		{"rootfstype before the hint", generic, genericAlias, []string{"ext4"}, "xfs\n", 2, []string{"ext4"}},
		{"no alias", ext4, "alias virtio:d00000002v* virtio_blk\n", nil, "", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "modules.dep"), tt.dep)
			write(t, filepath.Join(dir, "modules.alias"), tt.alias)
			ix, err := modload.Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			if tt.hint != "" {
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(modload.RootFSHintPath)), 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(root, modload.RootFSHintPath), tt.hint)
			}
			b := &Boot{index: ix, sys: System{CPUs: tt.cpus, Paths: Paths{ModRoot: root}}, log: bootlog.New(nil, io.Discard)}
			b.cfg.RootFSTypes = tt.rootfstype
			if got := b.earlyFilesystems(); !slices.Equal(got, tt.want) {
				t.Errorf("earlyFilesystems = %q, want %q", got, tt.want)
			}
		})
	}
}

// loadDevice records a modalias without a module at once, starts a first-class driver's
// load at once and holds a second-class one until the gate opens.
func TestLoadDevice(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "modules.dep"),
		"kernel/drivers/block/virtio_blk.ko:\nkernel/drivers/ata/ahci.ko:\n")
	write(t, filepath.Join(dir, "modules.alias"),
		"alias virtio:d00000002v* virtio_blk\nalias pci:v*d*sv*sd*bc01sc06i01* ahci\n")
	ix, err := modload.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The module files do not exist: a load that starts ends as Failed, which is enough
	// to see whether and when it started.
	b := &Boot{index: ix, loader: modload.NewLoader(ix, dir, modload.Options{}), gate: newLoadGate()}
	statuses := func() map[string]modload.Status {
		got := map[string]modload.Status{}
		for _, r := range b.loader.Results() {
			got[r.Alias] = r.Status
		}
		return got
	}
	const (
		cpu    = "cpu:type:x86,ven0000fam0006mod003F:feature:,0000"
		virtio = "virtio:d00000002v00001AF4"
		sata   = "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"
	)
	b.loadDevice(cpu)
	if s, ok := statuses()[cpu]; !ok || s != modload.NoModule {
		t.Errorf("cpu modalias: status %v (recorded %v) right after loadDevice, want %v", s, ok, modload.NoModule)
	}
	b.loadDevice(virtio)
	b.loadDevice(sata)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := statuses()[virtio]; ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got := statuses()
	if s, ok := got[virtio]; !ok || s != modload.Failed {
		t.Errorf("virtio modalias: status %v (recorded %v) with the gate shut, want %v (a first-class load)", s, ok, modload.Failed)
	}
	if s, ok := got[sata]; ok {
		t.Errorf("sata modalias: status %v with the gate shut, want no load yet", s)
	}
	b.gate.open()
	b.work.Wait()
	if s, ok := statuses()[sata]; !ok || s != modload.Failed {
		t.Errorf("sata modalias: status %v (recorded %v) after the gate opened, want %v", s, ok, modload.Failed)
	}
}

// With one CPU the early filesystems' loads wait for the first block device; with two
// they start at once.
func TestFilesystemsAtFirstDisk(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "modules.dep"), "kernel/fs/ext4/ext4.ko:\nkernel/drivers/block/virtio_blk.ko:\n")
	write(t, filepath.Join(dir, "modules.alias"), "alias fs-ext4 ext4\nalias virtio:d00000002v* virtio_blk\n")
	ix, err := modload.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	event := func(msg string) uevent.Event {
		ev, err := uevent.Parse([]byte(strings.ReplaceAll(msg, "|", "\x00")))
		must(t, err)
		return ev
	}
	virtio := event("add@/devices/pci0000:00/0000:00:04.0/virtio1|ACTION=add|DEVPATH=/devices/pci0000:00/0000:00:04.0/virtio1|" +
		"SUBSYSTEM=virtio|MODALIAS=virtio:d00000002v00001AF4|SEQNUM=1|")
	disk := event("add@/devices/virtual/block/vda|ACTION=add|DEVPATH=/devices/virtual/block/vda|SUBSYSTEM=block|" +
		"MAJOR=254|MINOR=0|DEVNAME=vda|DEVTYPE=disk|SEQNUM=2|")
	for _, cpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d CPUs", cpus), func(t *testing.T) {
			devDir := t.TempDir()
			// The module files do not exist: a load that starts ends as Failed, which is
			// enough to see whether it started.
			b := &Boot{index: ix, loader: modload.NewLoader(ix, dir, modload.Options{}),
				sys: System{CPUs: cpus, Now: time.Now, Paths: Paths{ModRoot: t.TempDir(), Dev: devDir}},
				log: bootlog.New(nil, io.Discard), reg: devices.NewRegistry(devDir)}
			b.cfg.RootFSTypes = []string{"ext4"}
			started := func() bool {
				b.work.Wait()
				for _, r := range b.loader.Results() {
					if r.Module == "ext4" || r.Alias == "fs-ext4" {
						return true
					}
				}
				return false
			}
			b.loadRequested()
			if got := started(); got != (cpus > 1) {
				t.Fatalf("ext4 load started at once: %v, want %v", got, cpus > 1)
			}
			b.handle(virtio)
			if got := started(); got != (cpus > 1) {
				t.Fatalf("ext4 load started after a device that is no disk: %v, want %v", got, cpus > 1)
			}
			b.handle(disk)
			if !started() {
				t.Fatal("ext4 load not started after the first disk")
			}
			n := len(b.loader.Results())
			b.handle(disk)
			b.work.Wait()
			if got := len(b.loader.Results()); got != n {
				t.Errorf("a second disk changed the loads: %d results, then %d", n, got)
			}
		})
	}
}
