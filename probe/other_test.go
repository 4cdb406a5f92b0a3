package probe

import (
	"bytes"
	"testing"
)

// TestProbeContainers: a disk carrying IMSM or DDF container metadata is a
// layer member, as blkid names it, never the filesystem its data shows.
func TestProbeContainers(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name, sig string
		at        int // bytes before the end
		want      Info
	}{
		{"plain", "", 0, Info{Type: "ext4", Usage: UsageFilesystem}},
		{"imsm", "Intel Raid ISM Cfg Sig. 1.3.00", 1024, Info{Type: "isw_raid_member", Usage: UsageRaid, Layer: LayerMD}},
		{"ddf", "\xde\x11\xde\x11", 512, Info{Type: "ddf_raid_member", Usage: UsageRaid, Layer: LayerMD}},
	}
	for _, tt := range tests {
		img := make([]byte, size)
		copy(img, fixtureData(t, "ext4"))
		copy(img[size-tt.at:], tt.sig)
		got, err := Probe(bytes.NewReader(img), size)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got.Type != tt.want.Type || got.Usage != tt.want.Usage || got.Layer != tt.want.Layer {
			t.Errorf("%s: %s/%s/%q, want %s/%s/%q", tt.name, got.Type, got.Usage, got.Layer, tt.want.Type, tt.want.Usage, tt.want.Layer)
		}
	}
}
