package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/lvm"
	"github.com/earlyroot/earlyroot/mount"
)

// lvmLayer collects PVs and activates the LVs the boot needs once their VG is complete.
type lvmLayer struct {
	mu     sync.Mutex             // held while a VG is planned and activated
	found  map[string][]lvm.Found // device name → the metadata read from it
	pvs    map[string]string      // PV UUID → "MAJ:MIN"
	active map[string]string      // dm name → "MAJ:MIN", every device made
	extra  []string               // device specs the boot needs besides root= and resume= (/usr's; wantLV)
}

// targetModules are the modules of the dm targets an LVM plan makes beyond dm_mod's own
// (dmModTargets): lvm refuses old-style mirrors and merging snapshots, so no plan
// has a mirror or snapshot-merge target.
var targetModules = map[string]string{
	"thin-pool": "dm_thin_pool", "thin": "dm_thin_pool",
	"raid":     "dm_raid",
	"snapshot": "dm_snapshot", "snapshot-origin": "dm_snapshot",
	"zero": "dm_zero",
}

// addLVM reads a probed PV and activates what the boot needs of each VG it completes.
func (b *Boot) addLVM(d devices.Device) {
	if b.cfg.LVM.Disabled {
		b.log.Debugf("lvm: %s is a PV; rd.lvm=0: not activating", d.Path)
		return
	}
	label, vgs, err := readPV(d)
	if err != nil {
		b.log.Warnf("lvm: %s: %v", d.Path, err)
		if label == nil {
			return
		}
	}
	l := &b.stack.lvm
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.found == nil {
		l.found, l.pvs, l.active = map[string][]lvm.Found{}, map[string]string{}, map[string]string{}
	}
	l.pvs[label.PVUUID] = fmt.Sprintf("%d:%d", d.Major, d.Minor)
	var fs []lvm.Found
	for _, vg := range vgs {
		fs = append(fs, lvm.Found{PVUUID: label.PVUUID, VG: vg})
	}
	l.found[d.Name] = fs
	for _, vg := range l.newestLocked() {
		if !slices.ContainsFunc(fs, func(f lvm.Found) bool { return f.VG.UUID == vg.UUID }) && !vgHasPV(vg, label.PVUUID) {
			continue // this PV changes nothing for that VG
		}
		if missing := vg.Missing(l.pvs); len(missing) > 0 {
			b.log.Infof("lvm: vg %s: %d of %d PVs present; waiting for the others", vg.Name, len(vg.PVs)-len(missing), len(vg.PVs))
			continue
		}
		if _, err := b.activateVG(vg); err != nil {
			b.log.Errorf("%v", err)
		}
	}
}

// newestLocked returns the newest metadata of every VG seen on the PVs found so far.
func (l *lvmLayer) newestLocked() []*lvm.VG {
	var all []lvm.Found
	for _, f := range l.found {
		all = append(all, f...)
	}
	newest, _ := lvm.Newest(all)
	return newest
}

// describeLVM names the VGs still waiting for PVs, for a root that did not appear.
func (b *Boot) describeLVM() string {
	l := &b.stack.lvm
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, vg := range l.newestLocked() {
		if missing := vg.Missing(l.pvs); len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("%s with %d of %d PVs", vg.Name, len(vg.PVs)-len(missing), len(vg.PVs)))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func vgHasPV(vg *lvm.VG, uuid string) bool {
	return slices.ContainsFunc(vg.PVs, func(pv *lvm.PV) bool { return pv.UUID == uuid })
}

// readPV reads a PV's label and metadata. d comes from the registry, which sized it.
func readPV(d devices.Device) (*lvm.Label, []*lvm.VG, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return lvm.ReadPV(f, d.Size)
}

// wantedLVs are the LVs of vg the boot activates (see cmdline.LVM): those root=, resume=,
// /usr's source (wantLV) and rd.lvm.lv= name, every LV of an rd.lvm.vg= VG, and, when one
// of the three names a filesystem or swap that could be in any LV (UUID=, LABEL=, …) and
// rd.lvm.* lists nothing, every LV. So resume=UUID= of a swap LV (Debian's form) finds its
// device even when root= names the root LV. Called with the layer's lock held.
func (b *Boot) wantedLVs(vg *lvm.VG) []string {
	lvs := slices.Clone(b.cfg.LVM.LVs)
	vgs := slices.Clone(b.cfg.LVM.VGs)
	anyLV := false
	for i, p := range append([]string{b.cfg.Root, b.cfg.Resume}, b.stack.lvm.extra...) {
		if v, l, ok := lvm.ParseLVPath(p); ok {
			lvs = append(lvs, v+"/"+l)
		} else if i == 0 || p != "" {
			anyLV = anyLV || !rootIsDevice(p)
		}
	}
	if anyLV && !b.cfg.LVM.Restricted() {
		vgs = append(vgs, vg.Name)
	}
	return vg.Wanted(lvs, vgs)
}

// wantLV adds a device the boot needs once the root is mounted (/usr's source, usr.go) to
// what the LVM layer activates, and activates it in the VGs already complete; a VG completed
// later activates it as it appears. It returns how many devices it made: their uevents are
// on their way.
func (b *Boot) wantLV(spec string) int {
	if b.cfg.LVM.Disabled {
		return 0
	}
	l := &b.stack.lvm
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(l.extra, spec) {
		return 0
	}
	l.extra = append(l.extra, spec)
	made := 0
	for _, vg := range l.newestLocked() {
		if len(vg.Missing(l.pvs)) > 0 {
			continue
		}
		n, err := b.activateVG(vg)
		if err != nil {
			b.log.Errorf("%v", err)
		}
		made += n
	}
	return made
}

// rootIsDevice says a root= or resume= value names a device outside LVM by its node
// (/dev/vda1, /dev/md0, 8:1): no LV can be it.
func rootIsDevice(root string) bool {
	s, err := mount.ParseSpec(root)
	if err != nil {
		return false
	}
	switch s.Kind {
	case mount.KindDevNum, mount.KindPartUUID, mount.KindPartLabel:
		return true
	case mount.KindPath:
		return !strings.HasPrefix(s.Value, "/dev/disk/") && !strings.HasPrefix(s.Value, "/dev/mapper/") && !strings.HasPrefix(s.Value, "/dev/dm-")
	}
	return false
}

// activateVG plans and activates the wanted LVs of a complete VG, and returns how many
// devices it made. Called with the layer's lock held.
func (b *Boot) activateVG(vg *lvm.VG) (int, error) {
	l := &b.stack.lvm
	want := b.wantedLVs(vg)
	if len(want) == 0 {
		b.log.Infof("lvm: vg %s is complete; the boot needs none of its LVs", vg.Name)
		return 0, nil
	}
	plan, err := vg.Plan(want, lvm.Options{PVs: l.pvs})
	if err != nil {
		return 0, err
	}
	todo := slices.DeleteFunc(slices.Clone(plan), func(d *lvm.Device) bool { _, ok := l.active[d.Name]; return ok })
	if len(todo) == 0 {
		return 0, nil
	}
	c, err := b.dmControl()
	if err != nil {
		return 0, fmt.Errorf("lvm vg %s: device-mapper: %w", vg.Name, err)
	}
	var devs map[string]string
	activate := func() { devs, err = lvm.Activate(c, plan, l.active) }
	if b.loadTargets(todo) {
		b.withoutRequests(activate)
	} else {
		b.loader.Requesting(activate)
	}
	if err != nil {
		return 0, err
	}
	for _, d := range todo {
		l.active[d.Name] = devs[d.Name]
		b.dmMade(vg, d, devs[d.Name])
	}
	b.log.Infof("lvm: vg %s: activated %s", vg.Name, strings.Join(want, ", "))
	return len(todo), nil
}

// loadTargets loads the modules of the dm targets a plan uses, and for a raid target the
// md personality of its level, which md asks for whenever it runs one (mdPersonality). It
// reports whether the plan's tables then need nothing of the kernel's module requests: the
// plan is then activated with them off (modload.Loader.WithoutRequests), so that a raid
// LV starts no modprobe helper process.
func (b *Boot) loadTargets(plan []*lvm.Device) (answered bool) {
	none := func(string) (string, error) { return "0:0", nil }
	answered = true
	tried := map[string]bool{}
	load := func(name, target string) {
		if tried[name] {
			return
		}
		tried[name] = true
		r := b.loader.Load(name)
		if r.Err != nil {
			b.log.Warnf("lvm: target %s: %v", target, r.Err)
		}
		answered = answered && r.Status.OK()
	}
	for _, d := range plan {
		tbl, err := d.Table(none)
		if err != nil {
			answered = false
			continue
		}
		for _, t := range tbl {
			switch m := targetModules[t.Type]; {
			case m != "":
				load(m, t.Type)
			case !dmModTargets[t.Type]:
				answered = false
			}
			if level, ok := lvm.RaidLevel(t); ok {
				load(mdPersonality(level), t.Type)
			} else if t.Type == "raid" {
				answered = false
			}
		}
	}
	return answered
}

// dmModTargets are the targets dm_mod has itself.
var dmModTargets = map[string]bool{"linear": true, "striped": true, "error": true}

// dmMade gives a new visible LV its /dev/VG/LV name, as lvm's udev rules would
// (/dev/mapper/NAME comes with its uevent, devices.Registry.LinkDM), and the udev record that lets the real system's udev
// treat it as activated properly (dm.WriteUdevRecord).
func (b *Boot) dmMade(vg *lvm.VG, d *lvm.Device, devnum string) {
	maj, min, _ := strings.Cut(devnum, ":")
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		b.log.Warnf("lvm: %s: device %q", d.Name, devnum)
		return
	}
	node := "dm-" + min
	var errs []error
	if _, lvName, layer, ok := lvm.SplitDMName(d.Name); ok && layer == "" {
		if lv := vg.LV(lvName); lv != nil && lv.Visible() {
			errs = append(errs, b.reg.AddLink(vg.Name+"/"+lvName, node))
		}
	}
	dev := dm.Device{Name: d.Name, UUID: d.UUID, Major: uint32(major), Minor: uint32(minor)}
	errs = append(errs, dm.WriteUdevRecord(filepath.Join(b.sys.Run, "udev/data"), dev))
	if err := errors.Join(errs...); err != nil {
		b.log.Warnf("lvm: %v", err)
	}
}
