package lvm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/earlyroot/earlyroot/dm"
)

// ErrUnsupported is wrapped by errors about LVs this package will not map.
var ErrUnsupported = errors.New("unsupported")

// arg is a table parameter: literal text, or the dm device of another
// planned device, known only once that device exists.
type arg struct {
	lit string
	dm  string
}

type target struct {
	start, length uint64
	typ           string
	args          []arg
}

// Device is one dm device to create.
//
// To create it: tbl, _ := d.Table(lookup); dm.Control.Create(d.Name,
// d.UUID, d.ReadOnly, tbl).
type Device struct {
	Name string // dm name (dm.LVMName), e.g. vg-root or vg-pool-tpool
	UUID string // dm UUID (dm.LVMUUID), e.g. LVM-<vg><lv> or LVM-<vg><lv>-tpool
	LV   string // "VG/LV" the device belongs to
	// Deps are the dm names of the planned devices its table refers
	// to; they come earlier in the plan.
	Deps []string
	// ReadOnly: the LV lacks the WRITE permission; create the dm
	// device read-only, as lvm does.
	ReadOnly bool
	// ThinPool is set on a "-tpool" device: the transaction id the
	// metadata expects the pool to report once loaded (ThinPoolCheck).
	ThinPool *ThinPoolCheck
	targets  []target
}

// Table returns the device's table, asking lookup for the "MAJ:MIN" of
// each dm device it refers to (dm.Device.DevNum of the devices created
// before it).
func (d *Device) Table(lookup func(dmName string) (string, error)) ([]dm.Target, error) {
	out := make([]dm.Target, 0, len(d.targets))
	for _, t := range d.targets {
		words := make([]string, len(t.args))
		for i, a := range t.args {
			if a.dm == "" {
				words[i] = a.lit
				continue
			}
			dev, err := lookup(a.dm)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", d.Name, a.dm, err)
			}
			words[i] = dev
		}
		out = append(out, dm.Target{Start: t.start, Length: t.length, Type: t.typ, Params: strings.Join(words, " ")})
	}
	return out, nil
}

// Mode says what to do about missing PVs.
type Mode int

const (
	// Complete activates nothing while a PV of the VG is missing.
	Complete Mode = iota
	// Degraded lets raid LVs run without legs on missing PVs, as lvm's
	// default activation mode does; other LVs on a missing PV fail.
	Degraded
	// Partial also maps extents on missing PVs to the error target
	// (lvm's --activationmode partial).
	Partial
)

// Options for Plan.
type Options struct {
	// PVs maps the UUID of every PV present (with dashes) to its
	// device as dm tables take it ("MAJ:MIN").
	PVs  map[string]string
	Mode Mode
}

// Missing returns the VG's PVs that are not present (or that the
// metadata marks MISSING).
func (vg *VG) Missing(present map[string]string) []*PV {
	var out []*PV
	for _, pv := range vg.PVs {
		if _, ok := present[pv.UUID]; !ok || slices.Contains(pv.Flags, "MISSING") {
			out = append(out, pv)
		}
	}
	return out
}

// Wanted returns the names of the VG's LVs a boot asks for: each "VG/LV"
// in lvs that names this VG, and, when vgs names the VG, every visible LV
// that vgchange -ay would activate (not those flagged ACTIVATION_SKIP,
// such as thin snapshots made with -k y).
func (vg *VG) Wanted(lvs, vgs []string) []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, p := range lvs {
		if v, l, ok := ParseLVPath(p); ok && v == vg.Name && vg.LV(l) != nil {
			add(l)
		}
	}
	if slices.Contains(vgs, vg.Name) {
		for _, lv := range vg.LVs {
			internal := len(lv.Segments) > 0 && lv.Segments[0].Type == "snapshot"
			if lv.Visible() && !internal && !slices.Contains(lv.Flags, "ACTIVATION_SKIP") {
				add(lv.Name)
			}
		}
	}
	return out
}

// Plan returns the dm devices that make the named LVs, dependencies
// first, each once.
func (vg *VG) Plan(lvs []string, o Options) ([]*Device, error) {
	if slices.Contains(vg.Status, "EXPORTED") {
		return nil, fmt.Errorf("lvm vg %s is exported (vgimport it first)", vg.Name)
	}
	if missing := vg.Missing(o.PVs); len(missing) > 0 && o.Mode == Complete {
		names := make([]string, len(missing))
		for i, pv := range missing {
			names[i] = pv.UUID
		}
		return nil, fmt.Errorf("lvm vg %s: %d PV(s) missing (%s); partial activation is an explicit option", vg.Name, len(missing), strings.Join(names, ", "))
	}
	p := &planner{vg: vg, o: o, seen: map[string]bool{}}
	for _, name := range lvs {
		lv := vg.LV(name)
		if lv == nil {
			return nil, fmt.Errorf("lvm vg %s: no LV %q", vg.Name, name)
		}
		if _, err := p.lv(lv, true); err != nil {
			return nil, fmt.Errorf("lvm %s/%s: %w", vg.Name, name, err)
		}
	}
	if p.err != nil {
		return nil, fmt.Errorf("lvm vg %s: %w", vg.Name, p.err)
	}
	return p.out, nil
}

type planner struct {
	vg    *VG
	o     Options
	seen  map[string]bool
	out   []*Device
	depth int
	err   error // the first bad LV UUID met
}

func (p *planner) add(d *Device) {
	p.seen[d.Name] = true
	p.out = append(p.out, d)
}

func (p *planner) device(lv *LV, layer string) *Device {
	u, err := dm.LVMUUID(p.vg.UUID, lv.UUID, layer)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("lv %s: %w", lv.Name, err)
	}
	return &Device{
		Name:     dm.LVMName(p.vg.Name, lv.Name, layer),
		UUID:     u,
		LV:       p.vg.Name + "/" + lv.Name,
		ReadOnly: !slices.Contains(lv.Status, "WRITE") && !slices.Contains(lv.Flags, "WRITE_LOCKED"),
	}
}

// lv plans lv and what it needs, and returns the dm name other tables
// use for it: the pool's "-tpool" layer for a thin pool that is only a
// dependency, the LV's own device otherwise.
func (p *planner) lv(lv *LV, public bool) (string, error) {
	if p.depth > 64 {
		return "", errors.New("LVs nest too deep (a loop in the metadata?)")
	}
	p.depth++
	defer func() { p.depth-- }()
	if len(lv.Segments) == 0 {
		return "", errors.New("no segments")
	}
	if origin, hidden := p.snapshotRole(lv); origin != nil || hidden {
		switch {
		case hidden && origin != nil:
			return "", fmt.Errorf("%s is lvm's internal snapshot volume; activate %s or its snapshot instead", lv.Name, origin.Name)
		case origin == nil:
			return "", fmt.Errorf("%s: snapshot of an LV not in the VG", lv.Name)
		case !public:
			return "", fmt.Errorf("%w: %s, part of an old-style snapshot, used by another LV", ErrUnsupported, lv.Name)
		}
		if err := p.family(origin); err != nil {
			return "", err
		}
		return dm.LVMName(p.vg.Name, lv.Name, ""), nil
	}
	if lv.Segments[0].Type == "thin-pool" {
		return p.pool(lv, public)
	}
	d := p.device(lv, "")
	if p.seen[d.Name] {
		return d.Name, nil
	}
	if err := p.segments(lv, d); err != nil {
		return "", err
	}
	p.add(d)
	return d.Name, nil
}

// snapshot is an old-style (COW) snapshot: lvm's hidden LV with the
// snapshot segment, and the visible LV that stores the COW data and gives
// the snapshot its name.
type snapshot struct {
	seg *Segment
	cow *LV
}

// snapshotsOf returns the old-style snapshots of origin.
func (p *planner) snapshotsOf(origin *LV) []snapshot {
	var out []snapshot
	for _, h := range p.vg.LVs {
		for _, s := range h.Segments {
			if s.Type == "snapshot" && s.Origin == origin.Name {
				out = append(out, snapshot{s, p.vg.LV(s.CowStore)})
			}
		}
	}
	return out
}

// snapshotRole finds whether lv takes part in an old-style snapshot: as
// its origin, as the COW store (the snapshot users see), or as lvm's
// hidden snapshot LV. It returns the origin.
func (p *planner) snapshotRole(lv *LV) (origin *LV, hidden bool) {
	for _, h := range p.vg.LVs {
		for _, s := range h.Segments {
			if s.Type != "snapshot" {
				continue
			}
			switch {
			case h == lv:
				return p.vg.LV(s.Origin), true
			case s.Origin == lv.Name:
				return lv, false
			case s.CowStore == lv.Name:
				return p.vg.LV(s.Origin), false
			}
		}
	}
	return nil, false
}

// family plans an origin with all its old-style snapshots, as lvm
// activates them together (a write to the origin must reach every
// snapshot's COW first):
//
//	VG-origin-real   the origin's own segments
//	VG-snap-cow      each snapshot's COW store
//	VG-snap          snapshot <real> <cow> P <chunk>
//	VG-origin        snapshot-origin <real>   (last: no write goes
//	                                           around a snapshot)
func (p *planner) family(origin *LV) error {
	if p.seen[dm.LVMName(p.vg.Name, origin.Name, "")] {
		return nil
	}
	real := p.device(origin, "real")
	if err := p.segments(origin, real); err != nil {
		return err
	}
	p.add(real)
	size := p.sectors(origin.Extents())
	for _, sn := range p.snapshotsOf(origin) {
		if sn.cow == nil {
			return fmt.Errorf("snapshot of %s: COW LV %q not in the VG", origin.Name, sn.seg.CowStore)
		}
		if sn.seg.Merge != "" {
			return fmt.Errorf("%w: snapshot %s is being merged into %s (let lvm finish the merge)", ErrUnsupported, sn.cow.Name, origin.Name)
		}
		if sn.seg.ChunkSize == 0 {
			return fmt.Errorf("snapshot %s: chunk_size 0", sn.cow.Name)
		}
		cow := p.device(sn.cow, "cow")
		if err := p.segments(sn.cow, cow); err != nil {
			return err
		}
		p.add(cow)
		d := p.device(sn.cow, "")
		d.Deps = []string{real.Name, cow.Name}
		d.targets = []target{{0, size, "snapshot", []arg{{dm: real.Name}, {dm: cow.Name}, {lit: "P"}, {lit: fmt.Sprint(sn.seg.ChunkSize)}}}}
		p.add(d)
	}
	d := p.device(origin, "")
	d.Deps = []string{real.Name}
	d.targets = []target{{0, size, "snapshot-origin", []arg{{dm: real.Name}}}}
	p.add(d)
	return nil
}

// segments maps each of lv's segments into d.
func (p *planner) segments(lv *LV, d *Device) error {
	for _, seg := range lv.Segments {
		t, err := p.segment(lv, seg, d)
		if err != nil {
			return fmt.Errorf("%s: segment at extent %d: %w", lv.Name, seg.StartExtent, err)
		}
		d.targets = append(d.targets, t)
	}
	return nil
}

func (p *planner) sectors(extents uint64) uint64 { return extents * p.vg.ExtentSize }

func (p *planner) segment(lv *LV, seg *Segment, d *Device) (target, error) {
	t := target{start: p.sectors(seg.StartExtent), length: p.sectors(seg.ExtentCount)}
	if err := typeFlags(seg); err != nil {
		return t, err
	}
	switch {
	case seg.Type == "striped":
		return p.striped(seg, d, t)
	case seg.Type == "thin":
		return p.thin(seg, d, t)
	case seg.Type == "error" || seg.Type == "zero":
		t.typ = seg.Type
		return t, nil
	case strings.HasPrefix(seg.Type, "raid"):
		return p.raid(lv, seg, d, t)
	case seg.Type == "thin-pool":
		return t, errors.New("a thin-pool segment must be the LV's only segment")
	case seg.Type == "snapshot":
		return t, errors.New("a snapshot segment inside another LV")
	}
	return t, fmt.Errorf("%w segment type %q", ErrUnsupported, seg.Type)
}

// area resolves a stripe or mirror reference to a device argument and
// the sector it starts at, or ok=false when it is on a missing PV.
func (p *planner) area(ref AreaRef, d *Device) (a arg, offset uint64, ok bool, err error) {
	if pv := p.vg.PV(ref.Name); pv != nil {
		dev, present := p.o.PVs[pv.UUID]
		if !present || slices.Contains(pv.Flags, "MISSING") {
			return arg{}, 0, false, nil
		}
		if ref.Extent > pv.PECount {
			return arg{}, 0, false, fmt.Errorf("extent %d beyond the %d of pv %s", ref.Extent, pv.PECount, pv.UUID)
		}
		return arg{lit: dev}, pv.PEStart + p.sectors(ref.Extent), true, nil
	}
	if sub := p.vg.LV(ref.Name); sub != nil {
		name, err := p.lv(sub, false)
		if err != nil {
			return arg{}, 0, false, err
		}
		d.Deps = appendNew(d.Deps, name)
		return arg{dm: name}, p.sectors(ref.Extent), true, nil
	}
	return arg{}, 0, false, fmt.Errorf("%q is neither a PV nor an LV of the VG", ref.Name)
}

func (p *planner) striped(seg *Segment, d *Device, t target) (target, error) {
	var args []arg
	for i, ref := range seg.Stripes {
		a, off, ok, err := p.area(ref, d)
		if err != nil {
			return t, err
		}
		if !ok {
			if p.o.Mode != Partial {
				return t, fmt.Errorf("stripe %d is on missing pv %s", i, ref.Name)
			}
			// lvm's missing_stripe_filler default: the whole
			// segment fails I/O rather than returning wrong data.
			t.typ, t.args = "error", nil
			return t, nil
		}
		args = append(args, a, arg{lit: fmt.Sprint(off)})
	}
	if len(seg.Stripes) == 1 {
		t.typ, t.args = "linear", args
		return t, nil
	}
	t.typ = "striped"
	t.args = append([]arg{{lit: fmt.Sprint(len(seg.Stripes))}, {lit: fmt.Sprint(seg.StripeSize)}}, args...)
	return t, nil
}

// pool plans a thin pool: its metadata and data sub-LVs, the "-tpool"
// layer with the thin-pool target, and, when the pool itself was asked
// for, the public device lvm puts over the layer.
func (p *planner) pool(lv *LV, public bool) (string, error) {
	seg := lv.Segments[0]
	if len(lv.Segments) != 1 {
		return "", errors.New("a thin pool has one segment")
	}
	if seg.PendingMessages > 0 {
		return "", fmt.Errorf("%w: thin pool %s has %d unfinished lvm transaction(s); activate it once with lvm", ErrUnsupported, lv.Name, seg.PendingMessages)
	}
	if err := typeFlags(seg); err != nil {
		return "", err
	}
	layer := p.device(lv, "tpool")
	if !p.seen[layer.Name] {
		meta, data := p.vg.LV(seg.MetadataLV), p.vg.LV(seg.PoolLV)
		if meta == nil || data == nil {
			return "", fmt.Errorf("thin pool %s: metadata LV %q or data LV %q missing", lv.Name, seg.MetadataLV, seg.PoolLV)
		}
		m, err := p.lv(meta, false)
		if err != nil {
			return "", err
		}
		dd, err := p.lv(data, false)
		if err != nil {
			return "", err
		}
		if seg.ChunkSize == 0 {
			return "", fmt.Errorf("thin pool %s: chunk_size 0", lv.Name)
		}
		args := []arg{{dm: m}, {dm: dd}, {lit: fmt.Sprint(seg.ChunkSize)}, {lit: "0"}} // low water mark 0: no dmeventd here
		var feats []string
		if !seg.ZeroNewBlocks {
			feats = append(feats, "skip_block_zeroing")
		}
		switch seg.Discards {
		case "ignore":
			feats = append(feats, "ignore_discard")
		case "nopassdown":
			feats = append(feats, "no_discard_passdown")
		case "passdown":
		default:
			return "", fmt.Errorf("thin pool %s: discards %q", lv.Name, seg.Discards)
		}
		args = append(args, arg{lit: fmt.Sprint(len(feats))})
		for _, f := range feats {
			args = append(args, arg{lit: f})
		}
		layer.Deps = []string{m, dd}
		layer.ThinPool = &ThinPoolCheck{TransactionID: seg.TransactionID}
		layer.targets = []target{{start: 0, length: p.sectors(seg.ExtentCount), typ: "thin-pool", args: args}}
		p.add(layer)
	}
	if !public {
		return layer.Name, nil
	}
	d := p.device(lv, "")
	if !p.seen[d.Name] {
		d.Deps = []string{layer.Name}
		d.targets = []target{{start: 0, length: p.sectors(seg.ExtentCount), typ: "linear", args: []arg{{dm: layer.Name}, {lit: "0"}}}}
		p.add(d)
	}
	return d.Name, nil
}

func (p *planner) thin(seg *Segment, d *Device, t target) (target, error) {
	if seg.ExternalOrigin != "" {
		return t, fmt.Errorf("%w: thin LV with an external origin (%s)", ErrUnsupported, seg.ExternalOrigin)
	}
	if seg.Merge != "" {
		return t, fmt.Errorf("%w: thin snapshot merge pending (%s)", ErrUnsupported, seg.Merge)
	}
	pool := p.vg.LV(seg.ThinPool)
	if pool == nil || len(pool.Segments) == 0 || pool.Segments[0].Type != "thin-pool" {
		return t, fmt.Errorf("thin pool %q not found", seg.ThinPool)
	}
	name, err := p.pool(pool, false)
	if err != nil {
		return t, err
	}
	d.Deps = appendNew(d.Deps, name)
	t.typ = "thin"
	t.args = []arg{{dm: name}, {lit: fmt.Sprint(seg.DeviceID)}}
	return t, nil
}

// raidTypes maps lvm's raid segment types to dm-raid's, with the md level dm-raid runs
// the legs at and how many legs each may lose.
var raidTypes = map[string]struct {
	dm        string
	level     int
	tolerated func(n int) int
}{
	"raid1":     {"raid1", 1, func(n int) int { return n - 1 }},
	"raid4":     {"raid4", 4, one},
	"raid5":     {"raid5_ls", 5, one},
	"raid5_la":  {"raid5_la", 5, one},
	"raid5_ra":  {"raid5_ra", 5, one},
	"raid5_ls":  {"raid5_ls", 5, one},
	"raid5_rs":  {"raid5_rs", 5, one},
	"raid5_n":   {"raid5_n", 5, one},
	"raid6":     {"raid6_zr", 6, two},
	"raid6_zr":  {"raid6_zr", 6, two},
	"raid6_nr":  {"raid6_nr", 6, two},
	"raid6_nc":  {"raid6_nc", 6, two},
	"raid6_n_6": {"raid6_n_6", 6, two},
}

// RaidLevel is the md level of a planned dm-raid target (its type is the first word of
// its parameters, as raid writes them): md runs the legs with that level's personality, and
// asks the kernel for it ("md-level-N") whether or not it is loaded. Another target, or a
// raid type the planner does not write, has none.
func RaidLevel(t dm.Target) (int, bool) {
	if t.Type != "raid" {
		return 0, false
	}
	dmType, _, _ := strings.Cut(t.Params, " ")
	for _, rt := range raidTypes {
		if rt.dm == dmType {
			return rt.level, true
		}
	}
	return 0, false
}

func one(int) int { return 1 }
func two(int) int { return 2 }

// raid maps a raid segment through dm-raid:
// "raid <type> <#params> <chunk> [nosync] [rebuild <leg>]… [region_size <n>]
// <#legs> <meta> <data>…", with "- -" for a leg whose sub-LVs sit on
// missing PVs, "nosync" for an LV created with --nosync and "rebuild" for
// legs lvm marked to be resynchronised (lib/raid/raid.c).
func (p *planner) raid(lv *LV, seg *Segment, d *Device, t target) (target, error) {
	rt, ok := raidTypes[seg.Type]
	if !ok {
		return t, fmt.Errorf("%w segment type %q", ErrUnsupported, seg.Type)
	}
	legs := len(seg.Raids) / 2
	var devs []arg
	var opts []string // optional parameters, in dm-raid's documented order
	if slices.Contains(lv.Status, "NOTSYNCED") {
		opts = append(opts, "nosync")
	}
	lost := 0
	for i := 0; i < legs; i++ {
		meta, data := p.vg.LV(seg.Raids[2*i]), p.vg.LV(seg.Raids[2*i+1])
		if meta == nil || data == nil {
			return t, fmt.Errorf("raid leg %d: sub-LV %q or %q not in the VG", i, seg.Raids[2*i], seg.Raids[2*i+1])
		}
		if slices.Contains(data.Status, "REBUILD") {
			opts = append(opts, "rebuild", fmt.Sprint(i))
		}
		if p.onMissing(meta) || p.onMissing(data) {
			if p.o.Mode == Complete {
				return t, fmt.Errorf("raid leg %d is on a missing PV", i)
			}
			lost++
			devs = append(devs, arg{lit: "-"}, arg{lit: "-"})
			continue
		}
		m, err := p.lv(meta, false)
		if err != nil {
			return t, err
		}
		dd, err := p.lv(data, false)
		if err != nil {
			return t, err
		}
		d.Deps = appendNew(appendNew(d.Deps, m), dd)
		devs = append(devs, arg{dm: m}, arg{dm: dd})
	}
	if lost > rt.tolerated(legs) {
		return t, fmt.Errorf("%s with %d of %d legs on missing PVs: too many", seg.Type, lost, legs)
	}
	chunk := seg.StripeSize
	if seg.Type == "raid1" {
		chunk = 0
	}
	if seg.RegionSize > 0 {
		opts = append(opts, "region_size", fmt.Sprint(seg.RegionSize))
	}
	params := []arg{{lit: rt.dm}, {lit: fmt.Sprint(1 + len(opts))}, {lit: fmt.Sprint(chunk)}}
	for _, o := range opts {
		params = append(params, arg{lit: o})
	}
	params = append(params, arg{lit: fmt.Sprint(legs)})
	t.typ, t.args = "raid", append(params, devs...)
	return t, nil
}

// onMissing says whether any extent of lv is on a missing PV.
func (p *planner) onMissing(lv *LV) bool {
	for _, s := range lv.Segments {
		for _, r := range s.Stripes {
			if pv := p.vg.PV(r.Name); pv != nil {
				if _, ok := p.o.PVs[pv.UUID]; !ok || slices.Contains(pv.Flags, "MISSING") {
					return true
				}
			}
		}
	}
	return false
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// typeFlags refuses segments whose type carries a flag that changes the
// mapping (a raid reshape in progress, …). CROP_METADATA only limits how
// much of a thin pool's metadata LV the kernel uses beyond 15.8 GiB.
func typeFlags(seg *Segment) error {
	for _, f := range seg.TypeFlags {
		if f != "CROP_METADATA" {
			return fmt.Errorf("%w: segment type %s with flag %s", ErrUnsupported, seg.Type, f)
		}
	}
	return nil
}
