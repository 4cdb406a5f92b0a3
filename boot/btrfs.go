package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/devices"
)

// btrfsLayer registers the members of btrfs filesystems with the kernel, which assembles a
// multi-device filesystem itself at mount time from the members it was told about.
type btrfsLayer struct {
	mu      sync.Mutex
	loaded  bool
	scanned map[string]map[string]bool // filesystem UUID → member (device) UUIDs registered
}

// addBtrfs registers a btrfs member with BTRFS_IOC_SCAN_DEV. A filesystem on one device
// needs no registration: mount names its device.
func (b *Boot) addBtrfs(d devices.Device) {
	if d.Info.Devices < 2 {
		return
	}
	l := &b.stack.btrfs
	l.mu.Lock()
	if !l.loaded {
		l.loaded = true
		b.loadFilesystem("btrfs")
	}
	l.mu.Unlock()
	scan := b.sys.Layers.BtrfsScan
	if scan == nil {
		scan = func(dev string) error { return btrfsScan(filepath.Join(b.sys.Dev, "btrfs-control"), dev) }
	}
	if err := scan(d.Path); err != nil {
		b.log.Warnf("btrfs: register %s: %v", d.Path, err)
		return
	}
	l.mu.Lock()
	if l.scanned == nil {
		l.scanned = map[string]map[string]bool{}
	}
	if l.scanned[d.Info.UUID] == nil {
		l.scanned[d.Info.UUID] = map[string]bool{}
	}
	l.scanned[d.Info.UUID][d.Info.SubUUID] = true
	n := len(l.scanned[d.Info.UUID])
	l.mu.Unlock()
	b.log.Infof("btrfs: %s is device %d of %d of %s", d.Path, n, d.Info.Devices, d.Info.UUID)
	b.reg.Changed() // a wait for the filesystem's members may be over
}

// btrfsPresent is how many members of the filesystem uuid are registered.
func (b *Boot) btrfsPresent(uuid string) int {
	l := &b.stack.btrfs
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.scanned[uuid])
}

// waitBtrfs waits, when the root is a btrfs over several devices, until every member is
// registered, unless rootflags= has "degraded": the kernel would refuse the mount without
// them, or mount a raid1 degraded and let it diverge.
func (b *Boot) waitBtrfs(ctx context.Context, dev devices.Device) error {
	if dev.Info.Type != "btrfs" || dev.Info.Devices < 2 {
		return nil
	}
	if slices.Contains(strings.Split(b.cfg.RootFlags, ","), "degraded") {
		b.log.Infof("btrfs: rootflags=degraded: mounting with %d of %d devices", b.btrfsPresent(dev.Info.UUID), dev.Info.Devices)
		return nil
	}
	err := b.reg.WaitUntil(ctx, func([]devices.Device) bool {
		return b.btrfsPresent(dev.Info.UUID) >= dev.Info.Devices
	})
	if err != nil {
		return fmt.Errorf("btrfs %s: %d of %d devices present (rootflags=degraded mounts without the others): %w",
			dev.Info.UUID, b.btrfsPresent(dev.Info.UUID), dev.Info.Devices, err)
	}
	return nil
}

// btrfsVolArgs is struct btrfs_ioctl_vol_args.
type btrfsVolArgs struct {
	fd   int64
	name [4088]byte
}

// btrfsIocScanDev is BTRFS_IOC_SCAN_DEV: _IOW(0x94, 4, struct btrfs_ioctl_vol_args).
const btrfsIocScanDev = 0x50009404

// btrfsScan registers the device at path with the kernel through the control node.
func btrfsScan(control, path string) error {
	f, err := os.OpenFile(control, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var args btrfsVolArgs
	if len(path) >= len(args.name) {
		return fmt.Errorf("path too long")
	}
	copy(args.name[:], path)
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = conn.Control(func(fd uintptr) {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, btrfsIocScanDev, uintptr(unsafe.Pointer(&args)))
		if e != 0 {
			ioErr = fmt.Errorf("BTRFS_IOC_SCAN_DEV: %w", e)
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
