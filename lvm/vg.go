package lvm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// VG is a volume group as its metadata describes it. Sizes are in
// 512-byte sectors, positions in extents unless said otherwise.
type VG struct {
	Name       string
	UUID       string // with lvm's dashes
	Seqno      uint64
	ExtentSize uint64 // sectors
	Status     []string
	Flags      []string
	PVs        []*PV
	LVs        []*LV
}

// PV is a physical volume of a VG.
type PV struct {
	Name    string // the key in the metadata ("pv0")
	UUID    string
	Device  string // the device name lvm last saw it as (a hint only)
	DevSize uint64
	PEStart uint64 // sectors from the start of the device to extent 0
	PECount uint64
	Status  []string
	Flags   []string
}

// LV is a logical volume, visible or one of lvm's hidden sub-volumes
// (pool_tmeta, lv_rimage_0, …).
type LV struct {
	Name     string
	UUID     string
	Status   []string
	Flags    []string
	Segments []*Segment
}

// Visible says the LV is one users see (status VISIBLE).
func (lv *LV) Visible() bool { return slices.Contains(lv.Status, "VISIBLE") }

// Extents is the LV's length in extents.
func (lv *LV) Extents() uint64 {
	var n uint64
	for _, s := range lv.Segments {
		n = max(n, s.StartExtent+s.ExtentCount)
	}
	return n
}

// Segment is one segment of an LV. Which fields are used depends on Type.
type Segment struct {
	StartExtent, ExtentCount uint64
	Type                     string
	TypeFlags                []string // after '+' in the type: RESHAPE, CROP_METADATA, …

	// striped: Stripes (PV or LV name and first extent), StripeSize
	// in sectors. raid4/5/6 use StripeSize too.
	Stripes    []AreaRef
	StripeSize uint64

	// thin-pool
	MetadataLV, PoolLV string
	TransactionID      uint64
	ChunkSize          uint64 // sectors (thin-pool, snapshot)
	Discards           string // passdown, nopassdown, ignore
	ZeroNewBlocks      bool
	PendingMessages    int

	// thin
	ThinPool       string
	DeviceID       uint64
	Origin         string // thin snapshot origin, or snapshot origin
	ExternalOrigin string
	Merge          string // thin: snapshot merging into this LV; snapshot: the COW being merged

	// raid*: Raids lists rmeta/rimage LV pairs.
	Raids      []string
	RegionSize uint64 // sectors

	// snapshot
	CowStore string
}

// AreaRef names a PV (by its metadata key) or an LV, and an extent in it.
type AreaRef struct {
	Name   string
	Extent uint64
}

// NewVG builds the VG model from parsed metadata text: the top level
// holds one section, the VG, with its fields and sections.
func NewVG(root *Section) (*VG, error) {
	var sec *Section
	for _, s := range root.Sections {
		if _, ok := s.Get("seqno"); ok {
			if sec != nil {
				return nil, fmt.Errorf("lvm metadata: two volume groups (%s, %s)", sec.Name, s.Name)
			}
			sec = s
		}
	}
	if sec == nil {
		return nil, errors.New("lvm metadata: no volume group section")
	}
	vg, err := newVG(sec)
	if err != nil {
		return nil, fmt.Errorf("lvm vg %s: %w", sec.Name, err)
	}
	return vg, nil
}

func newVG(sec *Section) (*VG, error) {
	vg := &VG{Name: sec.Name}
	var err error
	if vg.UUID, err = sec.Str("id"); err != nil {
		return nil, err
	}
	if vg.Seqno, err = sec.Uint("seqno"); err != nil {
		return nil, err
	}
	if vg.ExtentSize, err = sec.Uint("extent_size"); err != nil {
		return nil, err
	}
	if vg.ExtentSize == 0 {
		return nil, errors.New("extent_size 0")
	}
	if vg.Status, err = sec.Strings("status"); err != nil {
		return nil, err
	}
	if vg.Flags, err = sec.Strings("flags"); err != nil {
		return nil, err
	}
	if pvs := sec.Section("physical_volumes"); pvs != nil {
		for _, s := range pvs.Sections {
			pv, err := newPV(s)
			if err != nil {
				return nil, fmt.Errorf("pv %s: %w", s.Name, err)
			}
			vg.PVs = append(vg.PVs, pv)
		}
	}
	if lvs := sec.Section("logical_volumes"); lvs != nil {
		for _, s := range lvs.Sections {
			lv, err := newLV(s)
			if err != nil {
				return nil, fmt.Errorf("lv %s: %w", s.Name, err)
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	return vg, nil
}

func newPV(s *Section) (*PV, error) {
	pv := &PV{Name: s.Name}
	var err error
	if pv.UUID, err = s.Str("id"); err != nil {
		return nil, err
	}
	if pv.Device, err = s.Str("device"); err != nil {
		pv.Device = ""
	}
	if pv.Status, err = s.Strings("status"); err != nil {
		return nil, err
	}
	if pv.Flags, err = s.Strings("flags"); err != nil {
		return nil, err
	}
	if pv.DevSize, err = s.UintOr("dev_size", 0); err != nil {
		return nil, err
	}
	if pv.PEStart, err = s.Uint("pe_start"); err != nil {
		return nil, err
	}
	if pv.PECount, err = s.Uint("pe_count"); err != nil {
		return nil, err
	}
	return pv, nil
}

func newLV(s *Section) (*LV, error) {
	lv := &LV{Name: s.Name}
	var err error
	if lv.UUID, err = s.Str("id"); err != nil {
		return nil, err
	}
	if lv.Status, err = s.Strings("status"); err != nil {
		return nil, err
	}
	if lv.Flags, err = s.Strings("flags"); err != nil {
		return nil, err
	}
	n, err := s.Uint("segment_count")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(s.Sections)) {
		return nil, fmt.Errorf("segment_count %d but %d sections", n, len(s.Sections))
	}
	for i := uint64(1); i <= n; i++ {
		ss := s.Section(fmt.Sprintf("segment%d", i))
		if ss == nil {
			return nil, fmt.Errorf("segment%d missing", i)
		}
		seg, err := newSegment(ss)
		if err != nil {
			return nil, fmt.Errorf("segment%d: %w", i, err)
		}
		lv.Segments = append(lv.Segments, seg)
	}
	return lv, nil
}

func newSegment(s *Section) (*Segment, error) {
	seg := &Segment{}
	var err error
	if seg.StartExtent, err = s.Uint("start_extent"); err != nil {
		return nil, err
	}
	if seg.ExtentCount, err = s.Uint("extent_count"); err != nil {
		return nil, err
	}
	if seg.StartExtent > 1<<48 || seg.ExtentCount > 1<<48 {
		return nil, errors.New("extents out of range")
	}
	typ, err := s.Str("type")
	if err != nil {
		return nil, err
	}
	// lvm appends segment-type flags: "thin-pool+CROP_METADATA".
	parts := strings.Split(typ, "+")
	seg.Type, seg.TypeFlags = parts[0], parts[1:]
	switch {
	case seg.Type == "striped":
		if seg.Stripes, err = areaRefs(s, "stripes"); err != nil {
			return nil, err
		}
		n, err := s.Uint("stripe_count")
		if err != nil {
			return nil, err
		}
		if n == 0 || n != uint64(len(seg.Stripes)) {
			return nil, fmt.Errorf("stripe_count %d but %d stripes", n, len(seg.Stripes))
		}
		if seg.StripeSize, err = s.UintOr("stripe_size", 0); err != nil {
			return nil, err
		}
		if n > 1 && seg.StripeSize == 0 {
			return nil, errors.New("striped over several stripes without stripe_size")
		}
	case seg.Type == "thin-pool":
		if seg.MetadataLV, err = s.Str("metadata"); err != nil {
			return nil, err
		}
		if seg.PoolLV, err = s.Str("pool"); err != nil {
			return nil, err
		}
		if seg.TransactionID, err = s.Uint("transaction_id"); err != nil {
			return nil, err
		}
		if seg.ChunkSize, err = s.Uint("chunk_size"); err != nil {
			return nil, err
		}
		seg.Discards = "passdown"
		if _, ok := s.Get("discards"); ok {
			if seg.Discards, err = s.Str("discards"); err != nil {
				return nil, err
			}
		}
		z, err := s.UintOr("zero_new_blocks", 0)
		if err != nil {
			return nil, err
		}
		seg.ZeroNewBlocks = z != 0
		for _, sub := range s.Sections {
			if strings.HasPrefix(sub.Name, "message") {
				seg.PendingMessages++
			}
		}
	case seg.Type == "thin":
		if seg.ThinPool, err = s.Str("thin_pool"); err != nil {
			return nil, err
		}
		if seg.TransactionID, err = s.Uint("transaction_id"); err != nil {
			return nil, err
		}
		if seg.DeviceID, err = s.Uint("device_id"); err != nil {
			return nil, err
		}
		seg.Origin, _ = s.Str("origin")
		seg.ExternalOrigin, _ = s.Str("external_origin")
		seg.Merge, _ = s.Str("merge")
	case strings.HasPrefix(seg.Type, "raid"):
		if seg.Raids, err = s.Strings("raids"); err != nil {
			return nil, err
		}
		if len(seg.Raids) == 0 || len(seg.Raids)%2 != 0 {
			return nil, fmt.Errorf("%s: %d raid sub-volumes, want rmeta/rimage pairs", seg.Type, len(seg.Raids))
		}
		if seg.RegionSize, err = s.UintOr("region_size", 0); err != nil {
			return nil, err
		}
		if seg.StripeSize, err = s.UintOr("stripe_size", 0); err != nil {
			return nil, err
		}
	case seg.Type == "snapshot":
		if seg.Origin, err = s.Str("origin"); err != nil {
			return nil, err
		}
		// A snapshot being merged into its origin names its COW
		// "merging_store" instead of "cow_store".
		if m, err := s.Str("merging_store"); err == nil {
			seg.CowStore, seg.Merge = m, m
		} else if seg.CowStore, err = s.Str("cow_store"); err != nil {
			return nil, err
		}
		if seg.ChunkSize, err = s.Uint("chunk_size"); err != nil {
			return nil, err
		}
	}
	return seg, nil
}

// areaRefs reads ["name", extent, "name", extent, …].
func areaRefs(s *Section, key string) ([]AreaRef, error) {
	v, ok := s.Get(key)
	if !ok || v.Kind != Array || len(v.Items)%2 != 0 || len(v.Items) == 0 {
		return nil, fmt.Errorf("%q: want [\"name\", extent, …]", key)
	}
	refs := make([]AreaRef, 0, len(v.Items)/2)
	for i := 0; i < len(v.Items); i += 2 {
		n, e := v.Items[i], v.Items[i+1]
		if n.Kind != String || e.Kind != Int || e.Int < 0 {
			return nil, fmt.Errorf("%q item %d: want \"name\", extent", key, i/2)
		}
		refs = append(refs, AreaRef{n.Str, uint64(e.Int)})
	}
	return refs, nil
}

// PV returns the PV with the given metadata key or UUID.
func (vg *VG) PV(name string) *PV {
	for _, pv := range vg.PVs {
		if pv.Name == name || pv.UUID == name {
			return pv
		}
	}
	return nil
}

// LV returns the LV called name.
func (vg *VG) LV(name string) *LV {
	for _, lv := range vg.LVs {
		if lv.Name == name {
			return lv
		}
	}
	return nil
}

// Found is metadata read from one PV.
type Found struct {
	PVUUID string
	VG     *VG
}

// Newest picks, for every VG UUID, the metadata with the highest seqno
// among those read from the PVs present. Older copies are reported as
// notes (a PV that missed the last update), not errors.
func Newest(found []Found) (vgs []*VG, notes []string) {
	best := map[string]Found{}
	var order []string
	for _, f := range found {
		b, ok := best[f.VG.UUID]
		if !ok {
			order = append(order, f.VG.UUID)
		}
		if !ok || f.VG.Seqno > b.VG.Seqno {
			best[f.VG.UUID] = f
		}
	}
	for _, f := range found {
		if b := best[f.VG.UUID]; f.VG.Seqno < b.VG.Seqno {
			notes = append(notes, fmt.Sprintf("vg %s: pv %s has old metadata (seqno %d, newest %d)", f.VG.Name, f.PVUUID, f.VG.Seqno, b.VG.Seqno))
		}
	}
	for _, u := range order {
		vgs = append(vgs, best[u].VG)
	}
	return vgs, notes
}
