package dm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLVMName(t *testing.T) {
	for _, tc := range []struct{ vg, lv, layer, want string }{
		{"vg0", "root", "", "vg0-root"},
		{"my-vg", "root", "", "my--vg-root"},
		{"my-vg", "my-lv-1", "", "my--vg-my--lv--1"},
		{"vg", "pool", "tpool", "vg-pool-tpool"},
		{"vg", "pool_tdata", "", "vg-pool_tdata"},
		{"-", "-", "", "-----"},
	} {
		if got := LVMName(tc.vg, tc.lv, tc.layer); got != tc.want {
			t.Errorf("LVMName(%q, %q, %q) = %q, want %q", tc.vg, tc.lv, tc.layer, got, tc.want)
		}
	}
}

func TestLVMUUID(t *testing.T) {
	vg := "cCKJjE-JVNa-OOF1-pzTF-nnQc-0UcQ-pEPcLz"
	lv := "eP7lqU-JWnt-hlgt-MBhP-JGBh-lKjZ-LBkqSo"
	got, err := LVMUUID(vg, lv, "")
	if want := "LVM-cCKJjEJVNaOOF1pzTFnnQc0UcQpEPcLzeP7lqUJWnthlgtMBhPJGBhlKjZLBkqSo"; err != nil || got != want {
		t.Errorf("LVMUUID = %q, %v, want %q", got, err, want)
	}
	got, err = LVMUUID(vg, lv, "tpool")
	if err != nil || !strings.HasSuffix(got, "LBkqSo-tpool") {
		t.Errorf("with layer: %q, %v", got, err)
	}
	if _, err := LVMUUID("short", lv, ""); err == nil {
		t.Error("short vg uuid accepted")
	}
}

func TestWriteUdevRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "udev", "data")
	d := Device{Name: "root", Major: 253, Minor: 3}
	if err := WriteUdevRecord(dir, d); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "b253:3")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\n" {
		t.Fatalf("%s: %q, %v", p, b, err)
	}
	// An entry written by a udev in the initramfs is left alone.
	if err := os.WriteFile(p, []byte("E:OTHER=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteUdevRecord(dir, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "E:OTHER=1\n" {
		t.Errorf("existing entry overwritten: %q", b)
	}
	if err := WriteUdevRecord(filepath.Join(p, "sub"), d); err == nil {
		t.Error("no error for a directory that cannot exist")
	}
}
