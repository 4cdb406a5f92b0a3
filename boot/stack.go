package boot

import (
	"path/filepath"
	"sync"

	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/lvm"
	"github.com/earlyroot/earlyroot/md"
)

// Layers are the kernel interfaces of the storage layers that turn probed block devices
// into new ones: md's sysfs, device-mapper's control node and btrfs's device scan. A nil
// field means the real one under System.Paths, so that only a test sets them.
type Layers struct {
	MD        md.System                 // md's sysfs attributes
	OpenDM    func() (DMControl, error) // device-mapper, once dm_mod is loaded
	BtrfsScan func(dev string) error    // BTRFS_IOC_SCAN_DEV of dev on /dev/btrfs-control
}

// DMControl is the part of *dm.Control the layers use. lvm.Activate also checks thin pools
// when it can read statuses (lvm.Statuser), as *dm.Control can.
type DMControl interface {
	lvm.Creator
}

// stack is the state of the layers in one boot. Each layer collects the members it is
// given as they are probed, and makes its device as soon as it has what it needs; the
// kernel announces that device with a uevent, and it is probed like any disk, so layers
// stack in any order without a special case.
type stack struct {
	mu      sync.Mutex
	stopped bool // the root is being switched to: start nothing more
	md      mdLayer
	lvm     lvmLayer
	btrfs   btrfsLayer

	dmMu  sync.Mutex // held while dm_mod loads and the control node opens
	dm    DMControl
	dmErr error
}

// stopLayers makes the layers start nothing more (a degraded start still waiting): the
// root is found and is being switched to.
func (b *Boot) stopLayers() {
	b.stack.mu.Lock()
	b.stack.stopped = true
	b.stack.mu.Unlock()
	b.stopMD()
}

// layersStopped says whether stopLayers was called.
func (b *Boot) layersStopped() bool {
	b.stack.mu.Lock()
	defer b.stack.mu.Unlock()
	return b.stack.stopped
}

// mdSys is md's sysfs interface.
func (b *Boot) mdSys() md.System {
	if b.sys.Layers.MD != nil {
		return b.sys.Layers.MD
	}
	return md.Sysfs{Root: b.sys.Sys}
}

// dmControl loads dm_mod and opens device-mapper's control node, once.
func (b *Boot) dmControl() (DMControl, error) {
	b.stack.dmMu.Lock()
	defer b.stack.dmMu.Unlock()
	if b.stack.dm != nil || b.stack.dmErr != nil {
		return b.stack.dm, b.stack.dmErr
	}
	if r := b.loader.Load("dm_mod"); r.Err != nil {
		b.log.Debugf("dm_mod: %v", r.Err) // built in, or the open below says why
	}
	open := b.sys.Layers.OpenDM
	if open == nil {
		open = func() (DMControl, error) { return dm.Open(filepath.Join(b.sys.Dev, "mapper/control")) }
	}
	b.stack.dm, b.stack.dmErr = open()
	return b.stack.dm, b.stack.dmErr
}

// layersWaiting says, for a root that did not appear, which layers still wait for
// members: "; md arrays still incomplete: … with 1 of 2 members (…)", or "".
func (b *Boot) layersWaiting() string {
	var s string
	if md := b.describeMD(); md != "" {
		s += "; md arrays still incomplete: " + md
	}
	if vgs := b.describeLVM(); vgs != "" {
		s += "; LVM volume groups still incomplete: " + vgs
	}
	return s
}
