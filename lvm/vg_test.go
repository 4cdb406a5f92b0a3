package lvm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadVG(t testing.TB, name string) *VG {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	root, err := ParseText(text)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	vg, err := NewVG(root)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return vg
}

func TestNewVG(t *testing.T) {
	vg := loadVG(t, "linear.vg")
	if vg.Name != "debian-vg" || vg.UUID != "xqPjZn-ibNJ-JyGh-7W1f-oQLq-gTwP-kESHYK" || vg.Seqno != 4 || vg.ExtentSize != 8192 {
		t.Errorf("vg %+v", vg)
	}
	pv := vg.PV("pv0")
	want := &PV{Name: "pv0", UUID: "p8z38Q-OUc9-UJyz-PZHd-ly7U-JE4j-q5wYSu", Device: "/dev/vda5", DevSize: 41940992,
		PEStart: 2048, PECount: 5119, Status: []string{"ALLOCATABLE"}, Flags: []string{}}
	if !reflect.DeepEqual(pv, want) {
		t.Errorf("pv %+v", pv)
	}
	root := vg.LV("root")
	if !root.Visible() || len(root.Segments) != 2 || root.Extents() != 4600 {
		t.Errorf("root %+v", root)
	}
	if s := root.Segments[1]; s.Type != "striped" || s.StartExtent != 4000 || !reflect.DeepEqual(s.Stripes, []AreaRef{{"pv0", 4250}}) {
		t.Errorf("root segment 2 %+v", s)
	}

	thin := loadVG(t, "thin.vg")
	pool := thin.LV("pool").Segments[0]
	if pool.Type != "thin-pool" || !reflect.DeepEqual(pool.TypeFlags, []string{"CROP_METADATA"}) || pool.MetadataLV != "pool_tmeta" ||
		pool.PoolLV != "pool_tdata" || pool.ChunkSize != 128 || pool.TransactionID != 2 || !pool.ZeroNewBlocks || pool.Discards != "passdown" {
		t.Errorf("pool %+v", pool)
	}
	if s := thin.LV("home").Segments[0]; s.ThinPool != "pool" || s.DeviceID != 2 {
		t.Errorf("home %+v", s)
	}
	if thin.LV("pool_tmeta").Visible() {
		t.Error("pool_tmeta visible")
	}

	r := loadVG(t, "raid1.vg").LV("mirrored").Segments[0]
	if r.Type != "raid1" || r.RegionSize != 4096 || len(r.Raids) != 4 {
		t.Errorf("raid1 %+v", r)
	}
	st := loadVG(t, "striped.vg").LV("data").Segments[0]
	if st.StripeSize != 128 || len(st.Stripes) != 2 {
		t.Errorf("striped %+v", st)
	}
}

func TestNewVGErrors(t *testing.T) {
	base := `vg { id = "x" seqno = 1 extent_size = 8192 %s }`
	tests := []struct{ body, want string }{
		{`physical_volumes { pv0 { id = "p" pe_start = 1 } }`, `missing "pe_count"`},
		{`logical_volumes { lv { id = "l" segment_count = 1 } }`, "segment_count 1 but 0 sections"},
		{`logical_volumes { lv { id = "l" segment_count = 2 segment1 { start_extent = 0 extent_count = 1 type = "zero" } x { } } }`, "segment2 missing"},
		{`logical_volumes { lv { id = "l" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 2 stripes = ["pv0", 0] } } }`, "stripe_count 2 but 1 stripes"},
		{`logical_volumes { lv { id = "l" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0"] } } }`, "want [\"name\", extent"},
		{`logical_volumes { lv { id = "l" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "raid1" raids = ["a"] } } }`, "rmeta/rimage pairs"},
		{`status = "x"`, "not an array"},
	}
	for _, tt := range tests {
		root, err := ParseText([]byte(strings.Replace(base, "%s", tt.body, 1)))
		if err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if _, err := NewVG(root); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.body, err, tt.want)
		}
	}
	root, _ := ParseText([]byte(`contents = "Text Format Volume Group"`))
	if _, err := NewVG(root); err == nil {
		t.Error("metadata without a VG accepted")
	}
	root, _ = ParseText([]byte(`a { seqno = 1 } b { seqno = 2 }`))
	if _, err := NewVG(root); err == nil || !strings.Contains(err.Error(), "two volume groups") {
		t.Errorf("two VGs: %v", err)
	}
}

func TestNewest(t *testing.T) {
	a1 := &VG{Name: "a", UUID: "A", Seqno: 3}
	a2 := &VG{Name: "a", UUID: "A", Seqno: 4}
	b := &VG{Name: "b", UUID: "B", Seqno: 1}
	vgs, notes := Newest([]Found{{"pv1", a1}, {"pv2", b}, {"pv3", a2}})
	if !reflect.DeepEqual(vgs, []*VG{a2, b}) {
		t.Errorf("vgs %v", vgs)
	}
	if !reflect.DeepEqual(notes, []string{"vg a: pv pv1 has old metadata (seqno 3, newest 4)"}) {
		t.Errorf("notes %q", notes)
	}
}
