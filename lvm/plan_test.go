package lvm

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/dm"
)

type Target = dm.Target

// tg builds a table line without the unkeyed literal vet refuses for
// another package's struct.
func tg(start, length uint64, typ, params string) Target {
	return Target{Start: start, Length: length, Type: typ, Params: params}
}

// planned is a plan rendered for comparison: per device its name, UUID
// and table, dm devices resolved to "dm(NAME)".
type planned struct {
	Name, UUID string
	Table      []Target
}

func render(t *testing.T, ds []*Device) []planned {
	t.Helper()
	made := map[string]bool{}
	var out []planned
	for _, d := range ds {
		for _, dep := range d.Deps {
			if !made[dep] {
				t.Errorf("%s depends on %s, which comes later", d.Name, dep)
			}
		}
		tbl, err := d.Table(func(n string) (string, error) {
			if !made[n] {
				return "", fmt.Errorf("not created yet")
			}
			return "dm(" + n + ")", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		made[d.Name] = true
		out = append(out, planned{d.Name, d.UUID, tbl})
	}
	return out
}

func checkPlan(t *testing.T, name string, got, want []planned) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		var g, w strings.Builder
		for _, p := range got {
			fmt.Fprintf(&g, "  %+v\n", p)
		}
		for _, p := range want {
			fmt.Fprintf(&w, "  %+v\n", p)
		}
		t.Errorf("%s: plan\n%swant\n%s", name, g.String(), w.String())
	}
}

const (
	debianVG = "xqPjZnibNJJyGh7W1foQLqgTwPkESHYK"
	thinVG   = "nbMdjrmsB5x6x0cYAVJzMbstsSw8yzus"
)

func TestPlanLinear(t *testing.T) {
	vg := loadVG(t, "linear.vg")
	ds, err := vg.Plan([]string{"root", "swap_1"}, Options{PVs: map[string]string{"p8z38Q-OUc9-UJyz-PZHd-ly7U-JE4j-q5wYSu": "254:5"}})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, "linear", render(t, ds), []planned{
		{"debian--vg-root", "LVM-" + debianVG + "EC9HPqQwWl1rnA3VMLm3ZunBN0Tpf7zd", []Target{
			tg(0, 4000*8192, "linear", "254:5 2048"),
			tg(4000*8192, 600*8192, "linear", fmt.Sprintf("254:5 %d", 2048+4250*8192)),
		}},
		{"debian--vg-swap_1", "LVM-" + debianVG + "ZfxZn3h4OhcLCRzyzV8gGjWmkal6WABO", []Target{
			tg(0, 250*8192, "linear", fmt.Sprintf("254:5 %d", 2048+4000*8192)),
		}},
	})
}

func TestPlanStriped(t *testing.T) {
	vg := loadVG(t, "striped.vg")
	pvs := map[string]string{"ZBQpbc-gZ9H-7Wd3-RyjP-UWkP-k3aX-q5INjR": "254:16", "gGpu4y-5yEf-eyZg-AaPi-3KUv-BpQv-ezqxEs": "254:32"}
	ds, err := vg.Plan([]string{"data"}, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, "striped", render(t, ds), []planned{
		{"vg1-data", "LVM-hl03Mm1tLhuE3Kcjg4LJWv1DAxH8pvKY4ZtMdeukQcnC1ZLAAxr3VRlZBaXZzeDk", []Target{
			tg(0, 256*8192, "striped", "2 128 254:16 2048 254:32 2048"),
		}},
	})
	// One PV missing: refused, unless partial.
	delete(pvs, "gGpu4y-5yEf-eyZg-AaPi-3KUv-BpQv-ezqxEs")
	if _, err := vg.Plan([]string{"data"}, Options{PVs: pvs}); err == nil || !strings.Contains(err.Error(), "1 PV(s) missing (gGpu4y") {
		t.Errorf("incomplete VG: %v", err)
	}
	if _, err := vg.Plan([]string{"data"}, Options{PVs: pvs, Mode: Degraded}); err == nil || !strings.Contains(err.Error(), "stripe 1 is on missing pv pv1") {
		t.Errorf("degraded striped: %v", err)
	}
	ds, err = vg.Plan([]string{"data"}, Options{PVs: pvs, Mode: Partial})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, ds)[0].Table; !reflect.DeepEqual(got, []Target{tg(0, 256*8192, "error", "")}) {
		t.Errorf("partial: %+v", got)
	}
}

func TestPlanThin(t *testing.T) {
	vg := loadVG(t, "thin.vg")
	pvs := map[string]string{"0igb0Q-VtlM-ld3h-6xGI-017u-JVjD-dN6NWQ": "254:16"}
	ds, err := vg.Plan([]string{"root", "home"}, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	u := func(lv, layer string) string {
		s, err := dm.LVMUUID(vg.UUID, vg.LV(lv).UUID, layer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tmeta := planned{"vg0-pool_tmeta", u("pool_tmeta", ""), []Target{tg(0, 2*8192, "linear", fmt.Sprintf("254:16 %d", 2048+2002*8192))}}
	tdata := planned{"vg0-pool_tdata", u("pool_tdata", ""), []Target{tg(0, 2000*8192, "linear", "254:16 18432")}}
	tpool := planned{"vg0-pool-tpool", "LVM-" + thinVG + "R1tyQMXeTF1SpO7rZ3Ly3cyghmmYyBQq-tpool", []Target{
		tg(0, 2000*8192, "thin-pool", "dm(vg0-pool_tmeta) dm(vg0-pool_tdata) 128 0 0"),
	}}
	checkPlan(t, "thin", render(t, ds), []planned{
		tmeta, tdata, tpool,
		{"vg0-root", u("root", ""), []Target{tg(0, 1000*8192, "thin", "dm(vg0-pool-tpool) 1")}},
		{"vg0-home", u("home", ""), []Target{tg(0, 500*8192, "thin", "dm(vg0-pool-tpool) 2")}},
	})

	// The pool itself, asked for by rd.lvm.vg: lvm's public pool
	// device is a linear map of the -tpool layer.
	want := vg.Wanted(nil, []string{"vg0"})
	if !reflect.DeepEqual(want, []string{"pool", "root", "home"}) {
		t.Errorf("Wanted = %v", want)
	}
	ds, err = vg.Plan(want, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, ds)
	if len(got) != 6 || got[3].Name != "vg0-pool" || !reflect.DeepEqual(got[3].Table, []Target{tg(0, 2000*8192, "linear", "dm(vg0-pool-tpool) 0")}) {
		t.Errorf("pool plan: %+v", got)
	}

	// Pool options: no zeroing, discards not passed down.
	seg := vg.LV("pool").Segments[0]
	seg.ZeroNewBlocks, seg.Discards = false, "nopassdown"
	ds, _ = vg.Plan([]string{"root"}, Options{PVs: pvs})
	if got := render(t, ds)[2].Table[0].Params; got != "dm(vg0-pool_tmeta) dm(vg0-pool_tdata) 128 0 2 skip_block_zeroing no_discard_passdown" {
		t.Errorf("pool params %q", got)
	}
	seg.PendingMessages = 1
	if _, err := vg.Plan([]string{"root"}, Options{PVs: pvs}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("pending messages: %v", err)
	}
}

func TestPlanRAID1(t *testing.T) {
	vg := loadVG(t, "raid1.vg")
	pvs := map[string]string{"aMqdcd-SnLU-JYce-MERo-4tGc-mKwO-8YBuLs": "254:16", "QF58fU-rNpe-Hpov-lSTI-OfkY-oXdS-bv0u6q": "254:32"}
	ds, err := vg.Plan([]string{"mirrored"}, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, ds)
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if !reflect.DeepEqual(names, []string{"vgr-mirrored_rmeta_0", "vgr-mirrored_rimage_0", "vgr-mirrored_rmeta_1", "vgr-mirrored_rimage_1", "vgr-mirrored"}) {
		t.Errorf("order %v", names)
	}
	if tbl := got[4].Table; !reflect.DeepEqual(tbl, []Target{tg(0, 100*8192, "raid",
		"raid1 3 0 region_size 4096 2 dm(vgr-mirrored_rmeta_0) dm(vgr-mirrored_rimage_0) dm(vgr-mirrored_rmeta_1) dm(vgr-mirrored_rimage_1)")}) {
		t.Errorf("raid table %+v", tbl)
	}
	if tbl := got[1].Table; !reflect.DeepEqual(tbl, []Target{tg(0, 100*8192, "linear", "254:16 10240")}) {
		t.Errorf("rimage_0 table %+v", tbl)
	}

	// A leg missing: degraded mode runs the other one.
	delete(pvs, "aMqdcd-SnLU-JYce-MERo-4tGc-mKwO-8YBuLs")
	ds, err = vg.Plan([]string{"mirrored"}, Options{PVs: pvs, Mode: Degraded})
	if err != nil {
		t.Fatal(err)
	}
	got = render(t, ds)
	if len(got) != 3 || got[2].Table[0].Params != "raid1 3 0 region_size 4096 2 - - dm(vgr-mirrored_rmeta_1) dm(vgr-mirrored_rimage_1)" {
		t.Errorf("degraded raid1: %+v", got)
	}
	delete(pvs, "QF58fU-rNpe-Hpov-lSTI-OfkY-oXdS-bv0u6q")
	if _, err := vg.Plan([]string{"mirrored"}, Options{PVs: pvs, Mode: Partial}); err == nil || !strings.Contains(err.Error(), "2 of 2 legs") {
		t.Errorf("raid1 without legs: %v", err)
	}
}

func TestPlanRefused(t *testing.T) {
	text := `vg { id = "V" seqno = 1 extent_size = 8 physical_volumes { pv0 { id = "P" pe_start = 0 pe_count = 100 } }
logical_volumes {
  c { id = "C" status = ["VISIBLE"] segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "cache" cache_pool = "x" origin = "y" } }
  w { id = "W" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "writecache" } }
  v { id = "VD" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "vdo" } }
  i { id = "I" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "integrity" } }
  r { id = "R" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "raid5+RESHAPE" raids = ["a", "b"] } }
  r10 { id = "R10" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "raid10" raids = ["a", "b"] } }
  m { id = "M" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "mirror" mirrors = ["a", 0, "b", 0] } }
  orig { id = "O" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
  snap { id = "S" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 1] } }
  snapshot0 { id = "S0" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "snapshot" origin = "orig" merging_store = "snap" chunk_size = 8 } }
  user { id = "U" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["snap", 0] } }
  short { id = "SH" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 2] } }
  loop { id = "L" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["loop", 0] } }
} }`
	root, err := ParseText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	vg, err := NewVG(root)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{PVs: map[string]string{"P": "8:0"}}
	for lv, want := range map[string]string{
		"c": `unsupported segment type "cache"`, "w": `unsupported segment type "writecache"`,
		"v": `unsupported segment type "vdo"`, "i": `unsupported segment type "integrity"`,
		"r": "raid5 with flag RESHAPE", "r10": `unsupported segment type "raid10"`,
		"m":    `unsupported segment type "mirror"`,
		"orig": "being merged", "snap": "being merged", "snapshot0": "internal snapshot volume",
		"user": "used by another LV",
		"loop": "nest too deep", "short": "want 32 characters", "nope": `no LV "nope"`,
	} {
		_, err := vg.Plan([]string{lv}, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", lv, err, want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		in, vg, lv string
		ok         bool
	}{
		{"/dev/mapper/my--vg-root", "my-vg", "root", true},
		{"/dev/mapper/vg-a--b", "vg", "a-b", true},
		{"/dev/mapper/vg-pool-tpool", "", "", false},
		{"/dev/mapper/vgroot", "", "", false},
		{"/dev/my-vg/root", "my-vg", "root", true},
		{"my-vg/root", "my-vg", "root", true},
		{"/dev/sda1", "", "", false},
		{"vg/", "", "", false},
	} {
		vg, lv, ok := ParseLVPath(tt.in)
		if vg != tt.vg || lv != tt.lv || ok != tt.ok {
			t.Errorf("ParseLVPath(%q) = %q %q %v", tt.in, vg, lv, ok)
		}
	}
	for _, n := range [][3]string{{"a-b", "c", "tpool"}, {"vg", "a--b", ""}, {"v", "_x-", "cow"}} {
		vg, lv, layer, ok := SplitDMName(dm.LVMName(n[0], n[1], n[2]))
		if vg != n[0] || lv != n[1] || layer != n[2] || !ok {
			t.Errorf("SplitDMName(LVMName(%q)) = %q %q %q %v", n, vg, lv, layer, ok)
		}
	}
}

func TestPlanFlags(t *testing.T) {
	vg := loadVG(t, "raid1.vg")
	pvs := map[string]string{"aMqdcd-SnLU-JYce-MERo-4tGc-mKwO-8YBuLs": "254:16", "QF58fU-rNpe-Hpov-lSTI-OfkY-oXdS-bv0u6q": "254:32"}
	lv := vg.LV("mirrored")
	lv.Status = []string{"READ", "VISIBLE", "NOTSYNCED"}
	vg.LV("mirrored_rimage_1").Status = append(vg.LV("mirrored_rimage_1").Status, "REBUILD")
	ds, err := vg.Plan([]string{"mirrored"}, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, ds)
	if p := got[4].Table[0].Params; p != "raid1 6 0 nosync rebuild 1 region_size 4096 2 dm(vgr-mirrored_rmeta_0) dm(vgr-mirrored_rimage_0) dm(vgr-mirrored_rmeta_1) dm(vgr-mirrored_rimage_1)" {
		t.Errorf("raid params %q", p)
	}
	if !ds[4].ReadOnly || ds[0].ReadOnly {
		t.Errorf("read-only: lv %v, rmeta %v", ds[4].ReadOnly, ds[0].ReadOnly)
	}
	lv.Flags = []string{"ACTIVATION_SKIP"}
	if w := vg.Wanted([]string{"vgr/mirrored"}, []string{"vgr"}); !reflect.DeepEqual(w, []string{"mirrored"}) {
		t.Errorf("named LV with ACTIVATION_SKIP: %v", w)
	}
	if w := vg.Wanted(nil, []string{"vgr"}); len(w) != 0 {
		t.Errorf("rd.lvm.vg activates an ACTIVATION_SKIP LV: %v", w)
	}
	vg.Status = append(vg.Status, "EXPORTED")
	if _, err := vg.Plan([]string{"mirrored"}, Options{PVs: pvs}); err == nil || !strings.Contains(err.Error(), "exported") {
		t.Errorf("exported VG: %v", err)
	}
}

func TestPlanSnapshot(t *testing.T) {
	vg := loadVG(t, "snapshot.vg")
	pvs := map[string]string{"aMqdcd-SnLU-JYce-MERo-4tGc-mKwO-8YBuLa": "254:16"}
	u := func(lv, layer string) string {
		s, err := dm.LVMUUID(vg.UUID, vg.LV(lv).UUID, layer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := []planned{
		{"vgs-data-real", u("data", "real"), []Target{tg(0, 100*8192, "linear", "254:16 2048")}},
		{"vgs-before-cow", u("before", "cow"), []Target{tg(0, 10*8192, "linear", fmt.Sprintf("254:16 %d", 2048+100*8192))}},
		{"vgs-before", u("before", ""), []Target{tg(0, 100*8192, "snapshot", "dm(vgs-data-real) dm(vgs-before-cow) P 8")}},
		{"vgs-data", u("data", ""), []Target{tg(0, 100*8192, "snapshot-origin", "dm(vgs-data-real)")}},
	}
	// Asking for the origin, the snapshot or both gives the same family.
	for _, lvs := range [][]string{{"data"}, {"before"}, {"before", "data"}, vg.Wanted(nil, []string{"vgs"})} {
		ds, err := vg.Plan(lvs, Options{PVs: pvs})
		if err != nil {
			t.Fatalf("%v: %v", lvs, err)
		}
		checkPlan(t, fmt.Sprint(lvs), render(t, ds), want)
		if !ds[2].ReadOnly || ds[3].ReadOnly {
			t.Errorf("%v: read-only snapshot %v, origin %v", lvs, ds[2].ReadOnly, ds[3].ReadOnly)
		}
	}
	// As lvm writes it, the COW LV is not VISIBLE and the internal
	// snapshot0 is: rd.lvm.vg gets the origin, which brings the family.
	if w := vg.Wanted(nil, []string{"vgs"}); !reflect.DeepEqual(w, []string{"data"}) {
		t.Errorf("Wanted = %v (the internal snapshot LV is never wanted)", w)
	}
}

// raidVG is a VG with one parity raid LV of the given type over n legs,
// leg i on pvi (UUIDs "P0000…"+i), as lvcreate --type TYPE -i n-parity
// lays it out: rmeta_i at extent 0 of pvi, rimage_i after it.
func raidVG(t *testing.T, typ string, n int) *VG {
	t.Helper()
	var pvs, subs, raids []string
	for i := 0; i < n; i++ {
		pvs = append(pvs, fmt.Sprintf(`pv%d { id = "%s" pe_start = 2048 pe_count = 100 }`, i, raidPV(i)))
		subs = append(subs,
			fmt.Sprintf(`r_rmeta_%d { id = "%s" status = ["READ", "WRITE"] segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv%d", 0] } }`, i, lvID('M', i), i),
			fmt.Sprintf(`r_rimage_%d { id = "%s" status = ["READ", "WRITE"] segment_count = 1 segment1 { start_extent = 0 extent_count = 10 type = "striped" stripe_count = 1 stripes = ["pv%d", 1] } }`, i, lvID('I', i), i))
		raids = append(raids, fmt.Sprintf(`"r_rmeta_%d", "r_rimage_%d"`, i, i))
	}
	text := fmt.Sprintf(`vg { id = "%s" seqno = 1 extent_size = 8192 physical_volumes { %s }
logical_volumes {
  r { id = "%s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1 segment1 { start_extent = 0 extent_count = %d type = "%s" device_count = %d stripe_count = %d region_size = 1024 stripe_size = 128 raids = [%s] } }
  %s
} }`, lvID('V', 0), strings.Join(pvs, " "), lvID('R', 0), 10*(n-parity(typ)), typ, n, n-parity(typ), strings.Join(raids, ", "), strings.Join(subs, "\n  "))
	root, err := ParseText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	vg, err := NewVG(root)
	if err != nil {
		t.Fatal(err)
	}
	return vg
}

func raidPV(i int) string       { return fmt.Sprintf("P%031d", i) }
func lvID(c byte, i int) string { return fmt.Sprintf("%c%031d", c, i) }

func parity(typ string) int {
	if strings.HasPrefix(typ, "raid6") {
		return 2
	}
	return 1
}

func TestPlanRAID456(t *testing.T) {
	for _, tt := range []struct {
		typ, dmType string
		legs        int
	}{
		{"raid4", "raid4", 3},
		{"raid5", "raid5_ls", 3},
		{"raid5_n", "raid5_n", 4},
		{"raid6", "raid6_zr", 4},
		{"raid6_nc", "raid6_nc", 5},
	} {
		vg := raidVG(t, tt.typ, tt.legs)
		pvs := map[string]string{}
		var legs []string
		for i := 0; i < tt.legs; i++ {
			pvs[vg.PVs[i].UUID] = fmt.Sprintf("254:%d", i)
			legs = append(legs, fmt.Sprintf("dm(vg-r_rmeta_%d) dm(vg-r_rimage_%d)", i, i))
		}
		size := uint64(10*(tt.legs-parity(tt.typ))) * 8192
		ds, err := vg.Plan([]string{"r"}, Options{PVs: pvs})
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		got := render(t, ds)
		if len(got) != 2*tt.legs+1 {
			t.Fatalf("%s: %d devices, want %d", tt.typ, len(got), 2*tt.legs+1)
		}
		want := tg(0, size, "raid", fmt.Sprintf("%s 3 128 region_size 1024 %d %s", tt.dmType, tt.legs, strings.Join(legs, " ")))
		if last := got[len(got)-1]; last.Name != "vg-r" || !reflect.DeepEqual(last.Table, []Target{want}) {
			t.Errorf("%s: %s %+v\nwant %+v", tt.typ, last.Name, last.Table, want)
		}
		// Leg 1's image: pe_start plus extent 1 of pv1.
		if tbl := got[3].Table; !reflect.DeepEqual(tbl, []Target{tg(0, 10*8192, "linear", fmt.Sprintf("254:1 %d", 2048+8192))}) {
			t.Errorf("%s: rimage_1 %+v", tt.typ, tbl)
		}

		// Degraded: as many legs missing as the level tolerates run
		// with "- -"; one more is refused, and Complete waits for all.
		for i := 0; i < parity(tt.typ); i++ {
			delete(pvs, vg.PVs[i].UUID)
		}
		if _, err := vg.Plan([]string{"r"}, Options{PVs: pvs}); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("%s complete mode, legs missing: %v", tt.typ, err)
		}
		ds, err = vg.Plan([]string{"r"}, Options{PVs: pvs, Mode: Degraded})
		if err != nil {
			t.Fatalf("%s degraded: %v", tt.typ, err)
		}
		got = render(t, ds)
		params := got[len(got)-1].Table[0].Params
		if want := strings.Repeat(" - -", parity(tt.typ)) + " " + legs[parity(tt.typ)]; !strings.Contains(params, want) {
			t.Errorf("%s degraded: %q lacks %q", tt.typ, params, want)
		}
		delete(pvs, vg.PVs[parity(tt.typ)].UUID)
		if _, err := vg.Plan([]string{"r"}, Options{PVs: pvs, Mode: Partial}); err == nil || !strings.Contains(err.Error(), "too many") {
			t.Errorf("%s with %d legs missing: %v", tt.typ, parity(tt.typ)+1, err)
		}
	}
}

// Every raid segment type the planner maps gives a dm-raid target whose md level
// RaidLevel reads from the planned table; other targets, and dm-raid types the planner
// does not write, have none.
func TestRaidLevel(t *testing.T) {
	level := map[string]int{"raid1": 1, "raid4": 4, "raid5": 5, "raid6": 6}
	for typ := range raidTypes {
		want := level[typ[:5]]
		legs := max(3, 2+parity(typ))
		vg := raidVG(t, typ, legs)
		ds, err := vg.Plan([]string{"r"}, Options{PVs: raidPVs(vg, legs)})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		tbl := render(t, ds)
		raid := tbl[len(tbl)-1].Table[0]
		if got, ok := RaidLevel(raid); !ok || got != want {
			t.Errorf("%s: RaidLevel(%q) = %d, %v; want %d", typ, raid, got, ok, want)
		}
	}
	for _, tgt := range []Target{
		tg(0, 8, "linear", "254:1 2048"),
		tg(0, 8, "raid", ""),
		tg(0, 8, "raid", "raid10 3 128 region_size 1024 2 - - - -"),
		tg(0, 8, "raid", "raid0 1 128 2 - - - -"),
		tg(0, 8, "striped", "raid1 1 254:1 0"), // the word alone is not a raid target
	} {
		if got, ok := RaidLevel(tgt); ok {
			t.Errorf("RaidLevel(%q) = %d, true; want none", tgt, got)
		}
	}
}

// raidPVs maps the first n PVs of vg to device numbers, as every leg present.
func raidPVs(vg *VG, n int) map[string]string {
	pvs := map[string]string{}
	for i := 0; i < n; i++ {
		pvs[vg.PVs[i].UUID] = fmt.Sprintf("254:%d", i)
	}
	return pvs
}
