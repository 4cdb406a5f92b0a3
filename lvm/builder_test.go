package lvm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/sparse"
	"github.com/earlyroot/earlyroot/md"
)

// builderPVs are the PVs lvm made in the builder VM
// (internal/builder/recipes): the first MiB of each (label and metadata
// area) is kept as a sparse fixture. lvm-on-md keeps the md members
// instead, with the PV inside the array.
var builderPVs = map[string][]string{
	"lvm-linear":   {"pv0"},
	"lvm-striped":  {"pv0", "pv1"},
	"lvm-raid1":    {"pv0", "pv1"},
	"lvm-snapshot": {"pv0"},
	"lvm-thin":     {"pv0"},
	"lvm-on-md":    {"m0", "m1"},
}

func builderPVFixture(recipe, disk string) string {
	return filepath.Join("testdata", "builder", recipe+"-"+disk+".json")
}

// readBuilderVG reads every PV of a set and returns the newest VG and
// the PVs as Options.PVs, numbered 254:16, 254:32, … in disk order.
func readBuilderVG(t *testing.T, recipe string) (*VG, map[string]string) {
	t.Helper()
	var found []Found
	pvs := map[string]string{}
	for i, disk := range builderPVs[recipe] {
		im, err := sparse.Load(builderPVFixture(recipe, disk))
		if err != nil {
			t.Fatal(err)
		}
		var r io.ReaderAt = im
		size := im.Size
		if sb, err := md.Read(im, im.Size); err == nil {
			// LVM on a raid1: the array's data is each member's
			// from the data offset on.
			off := int64(sb.DataOffset) * 512
			r, size = io.NewSectionReader(im, off, int64(sb.DataSize)*512), int64(sb.DataSize)*512
		}
		l, vgs, err := ReadPV(r, size)
		if err != nil {
			t.Fatalf("%s %s: %v", recipe, disk, err)
		}
		pvs[l.PVUUID] = fmt.Sprintf("254:%d", 16*(i+1))
		for _, vg := range vgs {
			found = append(found, Found{l.PVUUID, vg})
		}
	}
	vgs, notes := Newest(found)
	if len(vgs) != 1 || len(notes) != 0 {
		t.Fatalf("%s: vgs %v notes %v", recipe, vgs, notes)
	}
	return vgs[0], pvs
}

// TestBuilderDisks plans the LVs lvm made in the builder VM and checks
// the tables against the layout lvs reported there (LV sizes and
// devices, 4 MiB extents, data from 1 MiB).
func TestBuilderDisks(t *testing.T) {
	u := func(vg *VG, lv, layer string) string {
		s, err := dm.LVMUUID(vg.UUID, vg.LV(lv).UUID, layer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ext := uint64(8192)
	off := func(pe uint64) string { return fmt.Sprint(2048 + pe*ext) }
	tests := []struct {
		recipe, vgName, vgUUID string
		want                   func(vg *VG) []planned
	}{
		{"lvm-linear", "earlyvg12", "s5W33D-JAIz-pnod-GxA1-nM08-y2xQ-8NdSbL", func(vg *VG) []planned {
			return []planned{{"earlyvg12-root", u(vg, "root", ""), []Target{tg(0, 10*ext, "linear", "254:16 "+off(0))}}}
		}},
		{"lvm-on-md", "earlyvg19", "2cIe49-cVkH-2V6O-vrED-AmZK-CrC0-Q3f5eX", func(vg *VG) []planned {
			// Both members carry the same PV; the plan takes the
			// last one read, 254:32 (the boot gives the md device).
			return []planned{{"earlyvg19-root", u(vg, "root", ""), []Target{tg(0, 10*ext, "linear", "254:32 "+off(0))}}}
		}},
		{"lvm-striped", "earlyvg13", "MwoaPK-PpCe-AWmI-blyQ-LjWu-bYn0-f5KISt", func(vg *VG) []planned {
			return []planned{{"earlyvg13-root", u(vg, "root", ""), []Target{tg(0, 16*ext, "striped", "2 128 254:16 "+off(0)+" 254:32 "+off(0))}}}
		}},
		{"lvm-raid1", "earlyvg15", "d1teVz-nLKW-0Noq-HC4j-vR5D-DrUf-1pPT6T", func(vg *VG) []planned {
			return []planned{
				{"earlyvg15-root_rmeta_0", u(vg, "root_rmeta_0", ""), []Target{tg(0, ext, "linear", "254:16 "+off(0))}},
				{"earlyvg15-root_rimage_0", u(vg, "root_rimage_0", ""), []Target{tg(0, 10*ext, "linear", "254:16 "+off(1))}},
				{"earlyvg15-root_rmeta_1", u(vg, "root_rmeta_1", ""), []Target{tg(0, ext, "linear", "254:32 "+off(0))}},
				{"earlyvg15-root_rimage_1", u(vg, "root_rimage_1", ""), []Target{tg(0, 10*ext, "linear", "254:32 "+off(1))}},
				{"earlyvg15-root", u(vg, "root", ""), []Target{tg(0, 10*ext, "raid",
					"raid1 4 0 nosync region_size 4096 2 dm(earlyvg15-root_rmeta_0) dm(earlyvg15-root_rimage_0) dm(earlyvg15-root_rmeta_1) dm(earlyvg15-root_rimage_1)")}},
			}
		}},
		{"lvm-snapshot", "earlyvg16", "T6qJCw-ZcpD-PtWy-yW4e-q405-fd4C-tt5E5w", func(vg *VG) []planned {
			return []planned{
				{"earlyvg16-root-real", u(vg, "root", "real"), []Target{tg(0, 10*ext, "linear", "254:16 "+off(0))}},
				{"earlyvg16-snap-cow", u(vg, "snap", "cow"), []Target{tg(0, 4*ext, "linear", "254:16 "+off(10))}},
				{"earlyvg16-snap", u(vg, "snap", ""), []Target{tg(0, 10*ext, "snapshot", "dm(earlyvg16-root-real) dm(earlyvg16-snap-cow) P 8")}},
				{"earlyvg16-root", u(vg, "root", ""), []Target{tg(0, 10*ext, "snapshot-origin", "dm(earlyvg16-root-real)")}},
			}
		}},
		{"lvm-thin", "earlyvg14", "00QiA7-eKSv-deKL-yqCm-IZ0c-j5kA-LjhnNj", func(vg *VG) []planned {
			return []planned{
				{"earlyvg14-pool_tmeta", u(vg, "pool_tmeta", ""), []Target{tg(0, ext, "linear", "254:16 "+off(17))}},
				{"earlyvg14-pool_tdata", u(vg, "pool_tdata", ""), []Target{tg(0, 16*ext, "linear", "254:16 "+off(1))}},
				{"earlyvg14-pool-tpool", u(vg, "pool", "tpool"), []Target{tg(0, 16*ext, "thin-pool", "dm(earlyvg14-pool_tmeta) dm(earlyvg14-pool_tdata) 128 0 0")}},
				{"earlyvg14-root", u(vg, "root", ""), []Target{tg(0, 24*ext, "thin", "dm(earlyvg14-pool-tpool) 1")}},
			}
		}},
	}
	for _, tt := range tests {
		vg, pvs := readBuilderVG(t, tt.recipe)
		if vg.Name != tt.vgName || vg.UUID != tt.vgUUID {
			t.Errorf("%s: vg %s %s", tt.recipe, vg.Name, vg.UUID)
		}
		ds, err := vg.Plan(vg.Wanted([]string{tt.vgName + "/root"}, nil), Options{PVs: pvs})
		if err != nil {
			t.Errorf("%s: %v", tt.recipe, err)
			continue
		}
		checkPlan(t, tt.recipe, render(t, ds), tt.want(vg))
	}
}

// TestUpdateBuilderFixtures rewrites testdata/builder from the builder's
// cache: EARLYROOT_UPDATE_FIXTURES=1 go test -run UpdateBuilder ./lvm
func TestUpdateBuilderFixtures(t *testing.T) {
	if os.Getenv("EARLYROOT_UPDATE_FIXTURES") == "" {
		t.Skip("set EARLYROOT_UPDATE_FIXTURES=1 to rewrite testdata/builder from the builder's disks")
	}
	if err := os.MkdirAll(filepath.Join("testdata", "builder"), 0o755); err != nil {
		t.Fatal(err)
	}
	for recipe, disks := range builderPVs {
		for _, disk := range disks {
			img, err := sparse.BuilderImage(fixture.CacheDir(), recipe, disk)
			if err != nil {
				t.Fatal(err)
			}
			// The label and metadata area before the first extent
			// (pe_start is 1 MiB); for md members the superblock
			// and the array's first MiB, after the 1 MiB data offset.
			ranges := [][2]int64{{0, 1 << 20}}
			if disk[0] == 'm' {
				ranges = [][2]int64{{0, 8192}, {1 << 20, 2 << 20}}
			}
			im, err := sparse.FromFile(img, ranges...)
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Save(builderPVFixture(recipe, disk)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
