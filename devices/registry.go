package devices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/probe"
)

// Device is a block device known to the Registry.
type Device struct {
	Name         string // "vda1" (relative to the device directory)
	Path         string // "/dev/vda1" (devDir/Name unless set by the caller)
	Major, Minor int
	Type         string     // "disk" or "partition"
	PartN        int        // partition number, for partitions
	Parent       string     // "vda" for partitions
	Size         int64      // bytes
	Info         probe.Info // probed contents
	PartUUID     string     // from the parent's partition table
	PartLabel    string     // from the parent's GPT
	PTType       string     // for disks: partition table kind ("gpt", "dos"), if any
	PTUUID       string     // for disks: partition table UUID, if any
	ProbeErr     error      // why Info is empty (probe.ErrUnknown, I/O error, ...)
}

// Registry collects block devices as they appear. It is safe for
// concurrent use.
type Registry struct {
	devDir string
	linkMu sync.Mutex // serialises Links (shared temporary names)

	mu      sync.Mutex
	devs    map[string]Device
	tables  map[string]*tableEntry
	changed chan struct{} // closed and replaced whenever a device is added or linked

	// afterResolve, when set (by tests), runs in Wait between resolving the spec's path and
	// looking the device up.
	afterResolve func()
}

// tableEntry caches one disk's partition table. A failure to open or read
// the disk is not cached, so that the next partition retries.
type tableEntry struct {
	mu   sync.Mutex
	done bool
	t    probe.Table
	err  error
}

// NewRegistry returns an empty registry whose device nodes live in devDir
// (normally "/dev").
func NewRegistry(devDir string) *Registry {
	return &Registry{
		devDir:  devDir,
		devs:    map[string]Device{},
		tables:  map[string]*tableEntry{},
		changed: make(chan struct{}),
	}
}

// Add probes the device node devDir/d.Name, fills in Path, Size, Major and
// Minor when they are zero (from the node), Info (and, for a
// partition, PARTUUID/PARTLABEL from the parent's partition table, read once
// and cached), records the device and wakes every Wait whose spec it
// matches. Adding a known name replaces it (a "change" event). Probe
// failures are recorded in ProbeErr. It returns the device as recorded.
func (r *Registry) Add(d Device) Device {
	if d.Path == "" {
		d.Path = filepath.Join(r.devDir, d.Name)
	}
	if d.Type == "partition" {
		if d.Parent == "" || d.PartN == 0 {
			parent, n := splitPartName(d.Name)
			if d.Parent == "" {
				d.Parent = parent
			}
			if d.PartN == 0 {
				d.PartN = n
			}
		}
	}
	if d.Type != "partition" {
		// A new or changed disk: forget its cached table.
		r.mu.Lock()
		delete(r.tables, d.Name)
		r.mu.Unlock()
	}
	d = r.probe(d)
	r.mu.Lock()
	r.devs[d.Name] = d
	r.notifyLocked()
	r.mu.Unlock()
	return d
}

// notifyLocked wakes every Wait to look again. Called with r.mu held.
func (r *Registry) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// notify wakes every Wait to look again: a new symlink may now resolve a path spec.
func (r *Registry) notify() {
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
}

// Remove forgets a device (and its cached partition table).
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	delete(r.devs, name)
	delete(r.tables, name)
	r.mu.Unlock()
}

// probe fills in the fields of d that come from the device node.
func (r *Registry) probe(d Device) Device {
	if !filepath.IsLocal(d.Name) {
		d.ProbeErr = fmt.Errorf("probe %q: bad device name", d.Name)
		return d
	}
	f, geo, err := openDevice(filepath.Join(r.devDir, d.Name))
	if err != nil {
		d.ProbeErr = fmt.Errorf("probe %s: %w", d.Name, err)
		return d
	}
	defer f.Close()
	prefetch(f, geo.size)
	if d.Size == 0 {
		d.Size = geo.size
	}
	if d.Major == 0 && d.Minor == 0 && geo.block {
		d.Major, d.Minor = int(unix.Major(geo.rdev)), int(unix.Minor(geo.rdev))
	}
	d.Info, err = probe.Probe(f, geo.size)
	if err != nil {
		d.ProbeErr = fmt.Errorf("probe %s: %w", d.Name, err)
	}
	switch d.Type {
	case "partition":
		if d.Parent != "" && d.PartN > 0 {
			t, err := r.table(d.Parent)
			if err != nil {
				d.ProbeErr = errors.Join(d.ProbeErr, fmt.Errorf("partition table of %s: %w", d.Parent, err))
				break
			}
			for _, p := range t.Partitions {
				if p.Number == d.PartN {
					d.PartUUID, d.PartLabel = p.UUID, p.Name
				}
			}
		}
	default:
		if t, err := probeTableGeo(f, geo); err == nil {
			d.PTType, d.PTUUID = t.Kind, t.UUID
			if errors.Is(d.ProbeErr, probe.ErrUnknown) {
				d.ProbeErr = nil // a partitioned disk carries no filesystem
			}
		}
	}
	return d
}

// prefetch asks the kernel to read every area the probers read (probe.Regions) at once,
// before they read them one after another: on a disk whose every request costs a seek or
// a round trip, the probe then waits for one batch of I/O. A hint: errors are ignored.
func prefetch(f *os.File, size int64) {
	for _, r := range probe.Regions(size) {
		_ = unix.Fadvise(int(f.Fd()), r.Off, r.Len, unix.FADV_WILLNEED)
	}
}

// table returns the (cached) partition table of the disk named name.
func (r *Registry) table(name string) (probe.Table, error) {
	r.mu.Lock()
	e := r.tables[name]
	if e == nil {
		e = &tableEntry{}
		r.tables[name] = e
	}
	r.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return e.t, e.err
	}
	if !filepath.IsLocal(name) {
		return probe.Table{}, fmt.Errorf("bad device name %q", name)
	}
	f, geo, err := openDevice(filepath.Join(r.devDir, name))
	if err != nil {
		return probe.Table{}, err
	}
	defer f.Close()
	e.t, e.err = probeTableGeo(f, geo)
	e.done = e.err == nil || !isIOError(e.err)
	return e.t, e.err
}

// isIOError tells a failed read (worth retrying) from a table that was read
// and found missing or invalid.
func isIOError(err error) bool {
	var pe *os.PathError
	var errno unix.Errno
	return errors.As(err, &pe) || errors.As(err, &errno) || errors.Is(err, io.ErrUnexpectedEOF)
}

// geometry of an opened device node or image file.
type geometry struct {
	size       int64
	sectorSize int // 0: unknown (an image file)
	block      bool
	rdev       uint64
}

// probeTableGeo reads a partition table with the device's sector size. For
// image files, whose sector size is unknown, 512 is tried first, then 4096.
func probeTableGeo(f *os.File, geo geometry) (probe.Table, error) {
	if geo.sectorSize != 0 {
		return probe.ProbeTable(f, geo.size, geo.sectorSize)
	}
	t, err := probe.ProbeTable(f, geo.size, 512)
	if err != nil && !errors.Is(err, probe.ErrNoTable) {
		if t4, err4 := probe.ProbeTable(f, geo.size, 4096); err4 == nil {
			return t4, nil
		}
	}
	return t, err
}

// openDevice opens a block device or image file read-only and returns its
// size and, for a block device, its logical sector size (BLKSSZGET).
func openDevice(path string) (*os.File, geometry, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, geometry{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, geometry{}, fmt.Errorf("stat %s: %w", path, err)
	}
	geo := geometry{size: st.Size}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		geo.block, geo.rdev = true, uint64(st.Rdev)
		var size uint64
		if err := ioctlPtr(f, unix.BLKGETSIZE64, &size); err != nil {
			f.Close()
			return nil, geometry{}, fmt.Errorf("BLKGETSIZE64 %s: %w", path, err)
		}
		geo.size = int64(size)
		geo.sectorSize = 512
		if ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && ss >= 512 {
			geo.sectorSize = ss
		}
	}
	return f, geo, nil
}

// ioctlPtr issues an ioctl whose argument is a pointer to a uint64.
func ioctlPtr(f *os.File, req uint, v *uint64) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = conn.Control(func(fd uintptr) {
		ioErr = ioctlUint64(int(fd), req, v)
	})
	if err != nil {
		return err
	}
	return ioErr
}

// splitPartName derives the parent disk and partition number from a
// partition name: vda1 → vda,1; nvme0n1p2 → nvme0n1,2; mmcblk0p1 → mmcblk0,1.
func splitPartName(name string) (string, int) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) || i == 0 {
		return "", 0
	}
	n, err := strconv.Atoi(name[i:])
	if err != nil {
		return "", 0
	}
	parent := name[:i]
	if strings.HasSuffix(parent, "p") && len(parent) > 1 && parent[len(parent)-2] >= '0' && parent[len(parent)-2] <= '9' {
		parent = parent[:len(parent)-1]
	}
	return parent, n
}

// Find returns the device matching s among those added so far. When several
// match, the first in Devices order wins.
func (r *Registry) Find(s mount.Spec) (Device, bool) {
	alias := r.resolvePath(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.findLocked(s, alias, false)
}

// Wait blocks until a device matching s has been added (or was already
// there) and returns it, or returns ctx's error. A device of size 0 is
// not returned until it has contents (a "change" event adds it again).
func (r *Registry) Wait(ctx context.Context, s mount.Spec) (Device, error) {
	for {
		// The channel is taken before the path is resolved: a link made (and announced)
		// while resolvePath runs, which it did not see, must still wake this wait.
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		alias := r.resolvePath(s)
		if r.afterResolve != nil {
			r.afterResolve()
		}
		r.mu.Lock()
		d, ok := r.findLocked(s, alias, true)
		r.mu.Unlock()
		if ok {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return Device{}, fmt.Errorf("wait for %s: %w", s, ctx.Err())
		case <-ch:
		}
	}
}

// pathAlias is what a mount.KindPath spec resolves to on disk: the device name a
// symlink points to, or the device number of a device node.
type pathAlias struct {
	name         string
	major, minor int
	node         bool
}

// resolvePath resolves a mount.KindPath spec through symlinks under devDir (e.g.
// /dev/disk/by-id/...) without holding the lock.
func (r *Registry) resolvePath(s mount.Spec) pathAlias {
	if s.Kind != mount.KindPath {
		return pathAlias{}
	}
	p := s.Value
	if rest, ok := strings.CutPrefix(p, "/dev/"); ok {
		p = filepath.Join(r.devDir, rest)
	}
	var a pathAlias
	if real, err := filepath.EvalSymlinks(p); err == nil {
		if base, err := filepath.EvalSymlinks(r.devDir); err == nil {
			if rel, err := filepath.Rel(base, real); err == nil && filepath.IsLocal(rel) {
				a.name = rel
			}
		}
	}
	var st unix.Stat_t
	if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
		a.node, a.major, a.minor = true, int(unix.Major(uint64(st.Rdev))), int(unix.Minor(uint64(st.Rdev)))
	}
	return a
}

// findLocked finds the device s names; with ready, only one with contents (size > 0).
func (r *Registry) findLocked(s mount.Spec, alias pathAlias, ready bool) (Device, bool) {
	for _, d := range r.sortedLocked() {
		if d.Size == 0 && ready {
			// Nothing to mount yet: a device-mapper device before its table is loaded,
			// an md array before it runs. Its "change" event brings it back.
			continue
		}
		if r.insideMemberLocked(d, s.Kind != mount.KindPath && s.Kind != mount.KindDevNum) {
			continue
		}
		if matches(d, s, alias) {
			if s.Kind == mount.KindPartUUID && s.PartNrOff != 0 {
				return r.siblingLocked(d, d.PartN+s.PartNrOff)
			}
			return d, true
		}
	}
	return Device{}, false
}

// insideMemberLocked reports whether d is a partition of a whole disk that is an MD member
// or a PV. With MD metadata 0.90 or 1.0 at the end of the disk, the kernel still reads the
// partition table of the array's contents at the start of every member, so each member's
// partitions look like the array's filesystems: only the array's own partitions may be
// mounted. A partition whose disk is not registered yet matches a spec of its contents only
// once the disk is.
func (r *Registry) insideMemberLocked(d Device, needParent bool) bool {
	if d.Parent == "" {
		return false
	}
	parent, ok := r.devs[d.Parent]
	if !ok {
		// Not probed yet (probes run concurrently). A spec of the contents (UUID=, LABEL=,
		// PARTUUID=, …) waits for it, its Add wakes the waiters; a device named by path or
		// number is the one the user named.
		return needParent
	}
	l := parent.Info.Layer
	return l == probe.LayerMD || l == probe.LayerLVM2
}

// siblingLocked finds partition n of d's disk.
func (r *Registry) siblingLocked(d Device, n int) (Device, bool) {
	if d.Parent == "" {
		return Device{}, false
	}
	for _, o := range r.devs {
		if o.Parent == d.Parent && o.PartN == n && o.Type == "partition" {
			return o, true
		}
	}
	return Device{}, false
}

func matches(d Device, s mount.Spec, alias pathAlias) bool {
	if (d.Info.Layer == probe.LayerMD || d.Info.Layer == probe.LayerLVM2) && (s.Kind == mount.KindUUID || s.Kind == mount.KindLabel) {
		// An MD member or a PV is never what a UUID= or LABEL= names: its UUID and label
		// are the array's or the PV's, which only the layer reads. (A LUKS volume is
		// named by its UUID, as crypttab and rd.luks.uuid= do.)
		return false
	}
	switch s.Kind {
	case mount.KindPath:
		name := strings.TrimPrefix(s.Value, "/dev/")
		return d.Name == name || d.Path == s.Value || (alias.name != "" && d.Name == alias.name) ||
			(alias.node && d.Major == alias.major && d.Minor == alias.minor)
	case mount.KindUUID:
		return d.Info.UUID != "" && strings.EqualFold(d.Info.UUID, s.Value)
	case mount.KindLabel:
		return d.Info.Label != "" && d.Info.Label == s.Value
	case mount.KindPartUUID:
		return d.PartUUID != "" && strings.EqualFold(d.PartUUID, s.Value)
	case mount.KindPartLabel:
		return d.PartLabel != "" && d.PartLabel == s.Value
	case mount.KindDevNum:
		return (d.Major != 0 || d.Minor != 0) && d.Major == s.Major && d.Minor == s.Minor
	}
	return false
}

// Devices returns every known device, sorted by name (numbers compared
// numerically: vda2 before vda10).
func (r *Registry) Devices() []Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sortedLocked()
}

func (r *Registry) sortedLocked() []Device {
	out := make([]Device, 0, len(r.devs))
	for _, d := range r.devs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return naturalCompare(out[i].Name, out[j].Name) < 0 })
	return out
}

// naturalCompare orders strings with embedded decimal numbers numerically.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// Links creates devDir/disk/by-uuid, by-label, by-partuuid and
// by-partlabel symlinks for d, relative ("../../vda1"), with names escaped
// as udev does. Existing links are replaced atomically. As udev's
// persistent-storage rules, it names by UUID only filesystems, other
// contents (swap, …) and encrypted volumes, and by label only the first
// two: an MD member's or a PV's UUID is the array's or the PV's, and a
// LUKS label is no filesystem label.
func (r *Registry) Links(d Device) error {
	if !filepath.IsLocal(d.Name) {
		return fmt.Errorf("links for %q: bad device name", d.Name)
	}
	target := "../../" + d.Name
	defer r.notify() // a root=/dev/disk/by-… wait may resolve now
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	var errs []error
	uuid, label := d.Info.UUID, d.Info.Label
	switch d.Info.Usage {
	case probe.UsageFilesystem, probe.UsageOther:
	case probe.UsageCrypto:
		label = ""
	default:
		uuid, label = "", ""
	}
	for _, l := range []struct{ dir, value string }{
		{"by-uuid", uuid},
		{"by-label", label},
		{"by-partuuid", d.PartUUID},
		{"by-partlabel", d.PartLabel},
	} {
		if l.value == "" {
			continue
		}
		if err := replaceSymlink(filepath.Join(r.devDir, "disk", l.dir), mount.LinkName(l.value), target); err != nil {
			errs = append(errs, fmt.Errorf("links for %s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// replaceSymlink makes dir/name a symlink to target, replacing any
// existing entry atomically.
func replaceSymlink(dir, name, target string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if cur, err := os.Readlink(path); err == nil && cur == target {
		return nil
	}
	tmp := filepath.Join(dir, ".tmp-"+name+"-"+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// String formats the device like a line of blkid(8) output:
// /dev/vda1: LABEL="root" UUID="..." TYPE="ext4" PARTUUID="..."
func (d Device) String() string {
	var b strings.Builder
	b.WriteString(d.Path + ":")
	for _, kv := range []struct{ k, v string }{
		{"LABEL", d.Info.Label}, {"UUID", d.Info.UUID}, {"TYPE", d.Info.Type},
		{"PTUUID", d.PTUUID}, {"PTTYPE", d.PTType},
		{"PARTLABEL", d.PartLabel}, {"PARTUUID", d.PartUUID},
	} {
		if kv.v != "" {
			fmt.Fprintf(&b, " %s=\"%s\"", kv.k, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(kv.v))
		}
	}
	return b.String()
}
