package md

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzMembers exercises everything that consumes a parsed superblock.
func fuzzMembers(sb *Superblock) {
	a := Group([]Member{{Device: "x", Dev: "1:1", SB: sb}, {Device: "y", Dev: "1:2", SB: sb}})[0]
	_ = a.Runnable()
	_ = DevName(sb, "h")
	_ = Links(sb)
	_, _ = KernelName(sb, func(string) bool { return false })
}

// FuzzSuperblock1 places the input at the 1.x location of its minor
// version on a small device.
func FuzzSuperblock1(f *testing.F) {
	for minor := range 3 {
		img := make([]byte, 64*1024)
		off := putV1(img, v1Fields{minor: minor, uuid: testUUID, name: "h:n", level: 10, layout: 0x102,
			raidDisks: 4, chunk: 128, size: 1000, roles: []uint16{0, 1, 2, 3, 0xffff}, devNumber: 4})
		f.Add(img[off:off+1024], uint8(minor), false)
	}
	// fix recomputes the checksum so the fuzzer gets past it.
	f.Fuzz(func(t *testing.T, data []byte, minor uint8, fix bool) {
		img := make([]byte, 64*1024)
		off := v1Locations(int64(len(img)))[0].off
		switch minor % 3 {
		case 1:
			off = 0
		case 2:
			off = 4096
		}
		copy(img[off:], data)
		if fix {
			binary.LittleEndian.PutUint64(img[off+144:], uint64(off/512))
			n := v1Size + 2*int(min(binary.LittleEndian.Uint32(img[off+220:]), v1MaxDev))
			if int(off)+n <= len(img) {
				binary.LittleEndian.PutUint32(img[off+v1CsumOff:], csumV1(img[off:int(off)+n]))
			}
		}
		sb, err := Read(bytes.NewReader(img), int64(len(img)))
		if err == nil {
			fuzzMembers(sb)
		}
	})
}

// Fuzz090 places the input where a 0.90 superblock lives.
func Fuzz090(f *testing.F) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		img := make([]byte, 128*1024)
		off := put090(img, v090Fields{order: order, level: 5, raidDisks: 3, sizeKiB: 100, chunk: 65536,
			disks: []disk090{{0, 8, 0, 0, 6}, {1, 8, 16, 1, 6}, {2, 8, 32, 2, 6}}, this: disk090{2, 8, 32, 2, 6}})
		f.Add(img[off:off+v090Bytes], false)
	}
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		img := make([]byte, 128*1024)
		off := offset090(int64(len(img)))
		copy(img[off:], data)
		if fix {
			sb := img[off : off+v090Bytes]
			order := binary.ByteOrder(binary.LittleEndian)
			if binary.BigEndian.Uint32(sb) == magic {
				order = binary.BigEndian
			}
			order.PutUint32(sb[4*v090CsumWord:], csum090(sb, order))
		}
		sb, err := Read(bytes.NewReader(img), int64(len(img)))
		if err == nil {
			fuzzMembers(sb)
		}
	})
}

// FuzzConf fuzzes the mdadm.conf reader.
func FuzzConf(f *testing.F) {
	f.Add("HOMEHOST <system>\nARRAY /dev/md/0 metadata=1.2 UUID=3b0b5b13:8f3f3a1f:01020304:a0b0c0d0\n  name=h:0\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConf(text)
		if err == nil {
			_ = c.Wants(&Superblock{Name: "h:0"})
			// What Filter keeps parses again, to the same arrays.
			back, err := ParseConf(c.Filter(func(ConfArray) bool { return true }))
			if err != nil {
				t.Fatalf("Filter's output does not parse: %v", err)
			}
			if len(back.Arrays) != len(c.Arrays) || back.HomeHost != c.HomeHost {
				t.Fatalf("Filter's output reads as %d arrays, HOMEHOST %q; want %d, %q", len(back.Arrays), back.HomeHost, len(c.Arrays), c.HomeHost)
			}
		}
	})
}
