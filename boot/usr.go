package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/fstab"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/switchroot"
)

// The initramfs mounts more than the root when the system needs it before its init runs,
// as initramfs-tools and systemd's initrd do:
//   - /usr, from the root's /etc/fstab or mount.usr=: with a merged /usr the real init
//     itself (/sbin/init → /usr/lib/systemd/systemd) is on it, and systemd requires it
//     mounted by the initramfs. It follows the root's ro/rw (the real system remounts it as
//     its fstab says, as systemd-remount-fs does), and a failure stops the boot;
//   - the root's /etc/fstab entries marked x-initrd.mount, with their own options; a failure
//     stops the boot unless the entry says nofail, and a nofail entry's device that is not
//     there is not waited for (the real system mounts it when it comes).
//
// Their devices are waited for as the root's is (rootwait, rd.timeout=) and go through the
// same layers: an MD array is assembled, an LV named by its path is activated, a LUKS
// volume the command line or crypttab lists is opened.

// extraMount is one mount on the new root besides the root.
type extraMount struct {
	what     string   // for messages: `/usr (UUID=…, /etc/fstab line 4)`
	spec     string   // the source as written: UUID=…, /dev/…, tmpfs
	file     string   // the mount point inside the new root
	types    []string // filesystem types to try; nil: the probed one
	options  string   // mount options, as fstab's fourth field
	rw       bool     // read-write unless options say ro or rw
	required bool     // a failure stops the boot
	// timeout and forever are x-systemd.device-timeout='s, when timeoutSet (0 and
	// infinity: forever, as systemd takes them); otherwise the root's timeout applies.
	timeout             time.Duration
	forever, timeoutSet bool
}

// virtualTypes are the filesystems without a device an x-initrd.mount entry may name.
var virtualTypes = []string{"tmpfs", "ramfs"}

// extraMounts lists the mounts to make on the new root, /usr first, from the command line
// and the new root's /etc/fstab. A missing fstab is an empty one, and one that cannot be
// read a warning: the root may need nothing more (and when its init is on a /usr left out,
// the search for the init says so).
func (b *Boot) extraMounts() []extraMount {
	tab, err := b.rootFstab()
	if err != nil {
		b.log.Warnf("%v: its /usr and x-initrd.mount entries are not mounted", err)
	}
	for _, p := range tab.Problems {
		b.log.Warnf("/etc/fstab of the root: %s (skipped)", p)
	}
	var out []extraMount
	if usr, ok := b.usrMount(tab); ok {
		out = append(out, usr)
	}
	for _, e := range tab.Entries {
		if e.File == "/usr" || e.File == "/" || !e.HasOption("x-initrd.mount") || e.HasOption("noauto") ||
			e.Type == "swap" || !strings.HasPrefix(e.File, "/") {
			continue
		}
		m := extraMount{
			what: fmt.Sprintf("%s (%s, /etc/fstab line %d)", e.File, e.Spec, e.Line),
			spec: e.Spec, file: e.File, types: fsTypes(e.Type), options: e.Options,
			rw: true, required: !e.HasOption("nofail"),
		}
		b.deviceTimeout(&m, e)
		out = append(out, m)
	}
	return out
}

// deviceTimeout sets m's wait from the entry's x-systemd.device-timeout=, a systemd time
// span (cryptopt.ParseTimespan, as crypttab's timeouts), where 0 and infinity mean no limit
// as systemd takes them; a value that is no time span is a warning, and the root's timeout
// applies.
func (b *Boot) deviceTimeout(m *extraMount, e fstab.Entry) {
	v, ok := e.Option("x-systemd.device-timeout")
	if !ok {
		return
	}
	if v == "infinity" {
		m.forever, m.timeoutSet = true, true
		return
	}
	d, ok := cryptopt.ParseTimespan(v)
	if !ok {
		b.log.Warnf("%s: x-systemd.device-timeout=%s is no time span (such as 90, 10s or 1min 30s); waiting as for the root", m.what, v)
		return
	}
	m.timeout, m.forever, m.timeoutSet = d, d == 0, true
}

// rootFstab reads /etc/fstab of the new root, its symbolic links resolved inside it. A
// missing fstab is an empty table.
func (b *Boot) rootFstab() (fstab.Table, error) {
	p, err := switchroot.Resolve(b.sys.NewRoot, "/etc/fstab")
	if errors.Is(err, switchroot.ErrNoSuchFile) {
		return fstab.Table{}, nil
	}
	if err == nil {
		var tab fstab.Table
		if tab, err = fstab.ReadFile(filepath.Join(b.sys.NewRoot, p)); err == nil {
			return tab, nil
		}
	}
	return fstab.Table{}, fmt.Errorf("/etc/fstab of the root: %w", err)
}

// usrMount is the /usr mount: mount.usr= (with mount.usrfstype= and mount.usrflags=), else
// the fstab's /usr entry; with only mount.usrfstype= or mount.usrflags= given, the root's
// device (a btrfs subvolume, as systemd reads them).
func (b *Boot) usrMount(tab fstab.Table) (extraMount, bool) {
	m := extraMount{file: "/usr", rw: b.cfg.ReadWrite, required: true}
	e, inTab := tab.Find("/usr")
	switch {
	case b.cfg.Usr != "":
		m.spec, m.what = b.cfg.Usr, "/usr (mount.usr="+b.cfg.Usr+")"
	case inTab:
		m.spec, m.what = e.Spec, fmt.Sprintf("/usr (%s, /etc/fstab line %d)", e.Spec, e.Line)
		m.types, m.options = fsTypes(e.Type), e.Options
		b.deviceTimeout(&m, e)
	case b.cfg.UsrFlags != "" || len(b.cfg.UsrFSTypes) > 0:
		m.spec, m.what = b.cfg.Root, "/usr (root="+b.cfg.Root+", mount.usrflags="+b.cfg.UsrFlags+")"
	default:
		return m, false
	}
	if len(b.cfg.UsrFSTypes) > 0 {
		m.types = b.cfg.UsrFSTypes
	}
	if b.cfg.UsrFlags != "" {
		m.options = b.cfg.UsrFlags
	}
	return m, true
}

// fsTypes is fstab's type field as a list to try; nil for "auto".
func fsTypes(t string) []string {
	if t == "" || t == "auto" {
		return nil
	}
	return slices.DeleteFunc(strings.Split(t, ","), func(s string) bool { return s == "" })
}

// mountExtras makes the mounts extraMounts lists, in order. A failure of a required one is
// the error; the others are warnings.
func (b *Boot) mountExtras(ctx context.Context) error {
	for _, m := range b.extraMounts() {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := b.mountExtra(ctx, m)
		switch {
		case err == nil:
		case m.required:
			return err
		default:
			b.log.Warnf("%v (nofail: the boot goes on)", err)
		}
	}
	return nil
}

// mountExtra makes one mount on the new root.
func (b *Boot) mountExtra(ctx context.Context, m extraMount) error {
	done := b.log.Phase("mount " + m.file)
	defer done()
	rel, err := switchroot.Resolve(b.sys.NewRoot, m.file)
	if err != nil {
		return fmt.Errorf("%s: no mount point on the root: %w", m.what, err)
	}
	target := filepath.Join(b.sys.NewRoot, rel)
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: %s on the root is no directory", m.what, rel)
	}
	flags, err := mount.ParseFlags(m.options, m.rw)
	if err != nil {
		return fmt.Errorf("%s: options %q: %w", m.what, m.options, err)
	}
	mountOn := b.mountVirtual
	if mount.IsDeviceSource(m.spec) {
		mountOn = b.mountExtraDevice
	}
	source, fstype, err := mountOn(ctx, m, target, flags)
	if err != nil {
		return err
	}
	b.extra = append(b.extra, target)
	b.log.Infof("%s: %s (%s) mounted on %s (%s)", m.what, source, fstype, rel, flags)
	return nil
}

// mountExtraDevice waits for m's device and mounts it on target.
func (b *Boot) mountExtraDevice(ctx context.Context, m extraMount, target string, flags mount.Flags) (source, fstype string, err error) {
	spec, err := mount.ParseSpec(m.spec)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", m.what, err)
	}
	dev, err := b.waitExtraDevice(ctx, m, spec)
	if err != nil {
		return "", "", err
	}
	types, err := filesystemTypes(dev, m.types)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", m.what, err)
	}
	for _, t := range types {
		b.loadFilesystem(t)
	}
	fstype, err = mount.MountRoot(b.mount, dev.Path, target, types, flags)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", m.what, err)
	}
	return dev.Path, fstype, nil
}

// waitExtraDevice returns m's device, waiting for it as for the root when it is not there
// yet (a nofail one is not waited for). An LV it names is activated first. Unless that made devices (whose uevents are on their
// way), the drivers the root's mount put off (modload.Loader.DeferDeviceLoads) load first:
// the device can be on another controller.
func (b *Boot) waitExtraDevice(ctx context.Context, m extraMount, spec mount.Spec) (devices.Device, error) {
	made := b.wantLV(m.spec)
	if dev, ok := b.reg.Find(spec); ok && dev.Size > 0 {
		return dev, b.waitBtrfs(ctx, dev)
	}
	if made == 0 {
		if !m.required {
			// As systemd's initrd does with a nofail mount: the boot does not wait for it, and
			// the real system mounts it when it appears.
			return devices.Device{}, fmt.Errorf("%s is not there (not waited for)", m.what)
		}
		if n := b.loader.LoadDeferred(); n > 0 {
			b.log.Infof("%s: not there yet; loaded the drivers of %d other devices", m.what, n)
		}
	}
	b.await(m.spec, m.what)
	defer b.await("", "")
	timeout, forever := b.cfg.RootTimeout()
	if m.timeoutSet {
		timeout, forever = m.timeout, m.forever
	}
	b.log.Infof("waiting for %s", m.what)
	return b.waitDevice(ctx, m.what, spec, timeout, forever)
}

// mountVirtual mounts a filesystem without a device (tmpfs) on target.
func (b *Boot) mountVirtual(_ context.Context, m extraMount, target string, flags mount.Flags) (source, fstype string, err error) {
	if len(m.types) != 1 || !slices.Contains(virtualTypes, m.types[0]) {
		return "", "", fmt.Errorf("%s: only a block device or %s can be mounted by the initramfs (the real system mounts the others)", m.what, strings.Join(virtualTypes, " or "))
	}
	if err := b.mount(m.spec, target, m.types[0], flags.Flags, flags.Data); err != nil {
		return "", "", fmt.Errorf("%s: mount on %s: %w", m.what, target, err)
	}
	return m.spec, m.types[0], nil
}

// unmountExtras undoes mountExtras, innermost first, before the root is unmounted.
func (b *Boot) unmountExtras() {
	for i := len(b.extra) - 1; i >= 0; i-- {
		if err := b.sys.Unmount(b.extra[i], 0); err != nil {
			b.log.Warnf("unmount %s: %v", b.extra[i], err)
		}
	}
	b.extra = nil
}
