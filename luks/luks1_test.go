package luks

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestLUKS1Damaged damages single fields of a cryptsetup-made LUKS1 header in memory and
// checks each is refused with a clear error.
func TestLUKS1Damaged(t *testing.T) {
	good := fixturePrefix(t, "luks1-essiv.img.gz", luks1HeaderSize)
	be := binary.BigEndian
	slot0 := luks1KeyslotBase
	tests := []struct {
		name    string
		edit    func(b []byte)
		wantErr string
	}{
		{"intact", func([]byte) {}, ""},
		{"version 3", func(b []byte) { be.PutUint16(b[6:], 3) }, "not a LUKS device"},
		{"key bytes 0", func(b []byte) { be.PutUint32(b[108:], 0) }, "luks1: key size 0 bytes"},
		{"key bytes huge", func(b []byte) { be.PutUint32(b[108:], 1<<30) }, "luks1: key size 1073741824 bytes"},
		{"unknown hash", func(b []byte) { copy(b[72:104], "md4\x00") }, `luks1: hash: unsupported: hash "md4"`},
		{"cipher mode without IV", func(b []byte) {
			copy(b[40:72], "cbc\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		}, "needs an IV generator"},
		{"digest iterations 0", func(b []byte) { be.PutUint32(b[164:], 0) }, "master key digest has 0 iterations"},
		{"uuid empty", func(b []byte) { clear(b[168:208]) }, "malformed UUID"},
		{"keyslot state garbage", func(b []byte) { be.PutUint32(b[slot0:], 0x12345678) }, "keyslot 0: state 0x12345678"},
		{"keyslot iterations 0", func(b []byte) { be.PutUint32(b[slot0+4:], 0) }, "keyslot 0: 0 iterations"},
		{"keyslot stripes 0", func(b []byte) { be.PutUint32(b[slot0+44:], 0) }, "keyslot 0: 0 stripes"},
		{"keyslot stripes huge", func(b []byte) { be.PutUint32(b[slot0+44:], 1<<31) }, "keyslot 0: 2147483648 stripes"},
		{"key material in the header", func(b []byte) { be.PutUint32(b[slot0+40:], 1) }, "overlaps the header or the payload"},
		{"key material in the payload", func(b []byte) { be.PutUint32(b[slot0+40:], 4000) }, "overlaps the header or the payload"},
		{"payload beyond the end", func(b []byte) { be.PutUint32(b[104:], 1<<30) }, "beyond the device's end"},
		{"short", func([]byte) {}, "header is 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			tt.edit(b)
			if tt.name == "short" {
				b = b[:100]
			}
			h, err := parseLUKS1(b, 4<<20)
			if tt.wantErr == "" {
				if err != nil || len(h.Keyslots()) != 1 {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "unsupported") && !errors.Is(err, ErrUnsupported) {
				t.Errorf("%v is not ErrUnsupported", err)
			}
		})
	}
}
