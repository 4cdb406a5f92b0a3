package md

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var testUUID = [16]byte{0x3b, 0x0b, 0x5b, 0x13, 0x8f, 0x3f, 0x3a, 0x1f, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0}

const mib = 1 << 20

func readImg(t *testing.T, img []byte) (*Superblock, error) {
	t.Helper()
	return Read(bytes.NewReader(img), int64(len(img)))
}

func TestReadV1(t *testing.T) {
	for _, minor := range []int{0, 1, 2} {
		img := make([]byte, 4*mib+3*512) // odd size: 1.0 rounds down to 4 KiB
		off := putV1(img, v1Fields{
			minor: minor, uuid: testUUID, name: "debian:root", level: 5, layout: 2,
			size: 8000, chunk: 1024, raidDisks: 3, features: FeatureBitmap,
			dataOffset: 2048, dataSize: 8100, devNumber: 1, events: 42, clean: true,
			roles: []uint16{0, 2, 1},
		})
		sb, err := readImg(t, img)
		if err != nil {
			t.Fatalf("1.%d: %v", minor, err)
		}
		want := Superblock{
			Version: "1." + string(rune('0'+minor)), Offset: off, UUID: testUUID, Name: "debian:root",
			Level: 5, Layout: 2, ChunkBytes: 1024 * 512, RaidDisks: 3, Events: 42, Clean: true,
			FeatureMap: FeatureBitmap, Role: 2, DevNumber: 1, Roles: []uint16{0, 2, 1},
			DataOffset: 2048, DataSize: 8100, ComponentSize: 8000,
		}
		if !equalSB(sb, &want) {
			t.Errorf("1.%d:\n got %+v\nwant %+v", minor, *sb, want)
		}
		if minor == 0 && off != int64(len(img))-3*512-8192 {
			t.Errorf("1.0 at %d, want 8 KiB before the 4 KiB-aligned end", off)
		}
		if got := sb.UUIDString(); got != "3b0b5b13:8f3f3a1f:01020304:a0b0c0d0" {
			t.Errorf("UUIDString = %s", got)
		}
		if got := sb.BlkidUUID(); got != "3b0b5b13-8f3f-3a1f-0102-0304a0b0c0d0" {
			t.Errorf("BlkidUUID = %s", got)
		}
		if err := sb.Unsupported(); err != nil {
			t.Errorf("Unsupported: %v", err)
		}
	}
}

func equalSB(a, b *Superblock) bool { return reflect.DeepEqual(a, b) }

func TestRead090(t *testing.T) {
	if bigEndianHost {
		t.Skip("the expectations below are written for a little-endian host")
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		img := make([]byte, 2*mib+5*1024)
		off := put090(img, v090Fields{
			order: order, uuid: [4]uint32{0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00},
			level: 1, sizeKiB: 1000, raidDisks: 2, mdMinor: 3, state: 1, events: 0x100000007,
			disks: []disk090{{0, 8, 16, 0, 6}, {1, 8, 32, 1, 6}},
			this:  disk090{1, 8, 32, 1, 6},
		})
		sb, err := readImg(t, img)
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		want := Superblock{
			Version: "0.90", Offset: off, PreferredMinor: 3, Level: 1, RaidDisks: 2,
			Events: 0x100000007, Clean: true, Role: 1, DevNumber: 1, Roles: make([]uint16, 27),
			DataSize: 2000, ComponentSize: 2000, ForeignEndian: order == binary.BigEndian,
		}
		want.UUID = [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00}
		for i := range want.Roles {
			want.Roles[i] = RoleSpare
		}
		want.Roles[0], want.Roles[1] = 0, 1
		if !equalSB(sb, &want) {
			t.Errorf("%v:\n got %+v\nwant %+v", order, *sb, want)
		}
		if off != 2*mib-64*1024 {
			t.Errorf("0.90 at %d", off)
		}
		if got := sb.UUIDString(); got != "11223344:55667788:99aabbcc:ddeeff00" {
			t.Errorf("UUIDString = %s", got)
		}
		// blkid reads the 0.90 UUID words as numbers, as mdadm does.
		if got := sb.BlkidUUID(); got != "11223344-5566-7788-99aa-bbccddeeff00" {
			t.Errorf("BlkidUUID = %s", got)
		}
		if err := sb.Unsupported(); (err != nil) != sb.ForeignEndian {
			t.Errorf("%v: Unsupported = %v", order, err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	v1 := func(mut func(img []byte)) []byte {
		img := make([]byte, mib)
		putV1(img, v1Fields{minor: 2, uuid: testUUID, level: 1, raidDisks: 2, roles: []uint16{0, 1}, events: 5})
		mut(img)
		return img
	}
	tests := []struct {
		name string
		img  []byte
		want string // "" = ErrNotFound
	}{
		{"empty", make([]byte, mib), ""},
		{"tiny", make([]byte, 100), ""},
		{"bad checksum", v1(func(b []byte) { b[4096+200]++ }), "checksum"},
		{"bad role checksum", v1(func(b []byte) { b[4096+256]++ }), "checksum"},
		{"major version", v1(func(b []byte) { b[4096+4] = 2 }), "major version 2"},
		{"elsewhere", v1(func(b []byte) { b[4096+144] = 1 }), ""},
		{"max_dev", v1(func(b []byte) { binary.LittleEndian.PutUint32(b[4096+220:], 5000) }), "max_dev"},
		{"imsm", func() []byte {
			b := make([]byte, mib)
			copy(b[mib-1024:], "Intel Raid ISM Cfg Sig. 1.3.00")
			return b
		}(), "IMSM"},
		{"ddf", func() []byte {
			b := make([]byte, mib)
			copy(b[mib-512:], []byte{0xde, 0x11, 0xde, 0x11})
			return b
		}(), "DDF"},
	}
	for _, tt := range tests {
		_, err := readImg(t, tt.img)
		if tt.name == "imsm" && !errors.Is(err, ErrIMSM) || tt.name == "ddf" && !errors.Is(err, ErrDDF) {
			t.Errorf("%s: err = %v, want its sentinel", tt.name, err)
		}
		switch {
		case tt.want == "" && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: err = %v, want ErrNotFound", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// A 0.90 superblock with a wrong checksum.
	img := make([]byte, mib)
	put090(img, v090Fields{order: binary.LittleEndian, level: 1, raidDisks: 2})
	img[offset090(mib)+40]++
	if _, err := readImg(t, img); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("0.90 bad checksum: %v", err)
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct {
		sb   Superblock
		want string
	}{
		{Superblock{Level: 1}, ""},
		{Superblock{Level: 1, FeatureMap: FeatureBitmap | FeatureBadBlocks}, ""},
		{Superblock{Level: 5, FeatureMap: FeatureReshapeActive}, "reshape"},
		{Superblock{Level: 1, FeatureMap: FeatureClustered}, "clustered"},
		{Superblock{Level: 1, FeatureMap: 1 << 20}, "unknown feature"},
		{Superblock{Level: LevelFaulty}, "faulty"},
		{Superblock{Level: 1, ForeignEndian: true}, "byte order"},
	}
	for _, tt := range tests {
		err := tt.sb.Unsupported()
		if (tt.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUnsupported))) {
			t.Errorf("%+v: %v, want %q", tt.sb, err, tt.want)
		}
	}
}

func TestParseUUID(t *testing.T) {
	for _, s := range []string{"3b0b5b13:8f3f3a1f:01020304:a0b0c0d0", "3b0b5b13-8f3f-3a1f-0102-0304a0b0c0d0", "3B0B5B13.8F3F3A1F.01020304.A0B0C0D0"} {
		u, err := ParseUUID(s)
		if err != nil || u != testUUID {
			t.Errorf("ParseUUID(%q) = %x, %v", s, u, err)
		}
	}
	for _, s := range []string{"", "3b0b5b13:8f3f3a1f:01020304", "zz0b5b13:8f3f3a1f:01020304:a0b0c0d0"} {
		if _, err := ParseUUID(s); err == nil {
			t.Errorf("ParseUUID(%q) succeeded", s)
		}
	}
}
