package devices

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLinkDM(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	dir := filepath.Join(sys, "block/dm-0/dm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "name"), []byte("cryptroot\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "uuid"), []byte("CRYPT-LUKS2-0123-cryptroot\n"), 0o644)
	r := NewRegistry(dev)
	name, err := r.LinkDM(sys, Device{Name: "dm-0"})
	if err != nil || name != "cryptroot" {
		t.Fatalf("LinkDM = %q, %v", name, err)
	}
	for link, want := range map[string]string{
		"mapper/cryptroot":                              "../dm-0",
		"disk/by-id/dm-name-cryptroot":                  "../../dm-0",
		"disk/by-id/dm-uuid-CRYPT-LUKS2-0123-cryptroot": "../../dm-0",
	} {
		got, err := os.Readlink(filepath.Join(dev, link))
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	if name, err := r.LinkDM(sys, Device{Name: "vda"}); name != "" || err != nil {
		t.Errorf("LinkDM(vda) = %q, %v; want nothing", name, err)
	}
}
