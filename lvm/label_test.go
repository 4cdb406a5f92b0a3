package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pvImage builds a PV image as pvcreate lays it out: the label in
// sector labelSector, one metadata area at 4 KiB, data from 1 MiB. The
// text is written into the ring at ringOff (relative to the area start),
// wrapping around the end of the area when it does not fit.
type pvImage struct {
	size        int
	labelSector int
	pvid        string // 32 characters
	mdaOff      uint64
	mdaSize     uint64
	ringOff     uint64
	text        []byte
	rlocnFlags  uint32
}

func (p pvImage) build() []byte {
	img := make([]byte, p.size)
	le := binary.LittleEndian
	sec := img[p.labelSector*512 : (p.labelSector+1)*512]
	copy(sec, labelID)
	le.PutUint64(sec[8:], uint64(p.labelSector))
	le.PutUint32(sec[20:], 32)
	copy(sec[24:], labelType)
	h := sec[32:]
	copy(h, p.pvid)
	le.PutUint64(h[32:], uint64(p.size))
	put := func(off int, a Area) { le.PutUint64(h[off:], a.Offset); le.PutUint64(h[off+8:], a.Size) }
	put(40, Area{1 << 20, 0}) // data area, then its terminator
	put(72, Area{p.mdaOff, p.mdaSize})
	le.PutUint32(h[104:], 2) // extension version, after the terminator
	le.PutUint32(h[108:], 1)
	le.PutUint32(sec[16:], crc(crcInitial, sec[20:]))

	mda := img[p.mdaOff : p.mdaOff+p.mdaSize]
	copy(mda[4:], mdaMagic)
	le.PutUint32(mda[20:], 1)
	le.PutUint64(mda[24:], p.mdaOff)
	le.PutUint64(mda[32:], p.mdaSize)
	text := append(append([]byte{}, p.text...), 0)
	le.PutUint64(mda[40:], p.ringOff)
	le.PutUint64(mda[48:], uint64(len(text)))
	le.PutUint32(mda[56:], crc(crcInitial, text))
	le.PutUint32(mda[60:], p.rlocnFlags)
	le.PutUint32(mda[0:], crc(crcInitial, mda[4:mdaHeaderSize]))
	n := copy(mda[p.ringOff:], text)
	copy(mda[mdaHeaderSize:], text[n:])
	return img
}

const testPVID = "p8z38QOUc9UJyzPZHdly7UJE4jq5wYSu"

func testPV(t testing.TB) pvImage {
	text, err := os.ReadFile(filepath.Join("testdata", "linear.vg"))
	if err != nil {
		t.Fatal(err)
	}
	return pvImage{size: 2 << 20, labelSector: 1, pvid: testPVID, mdaOff: 4096, mdaSize: 1<<20 - 4096, ringOff: 512, text: text}
}

func TestReadLabel(t *testing.T) {
	for _, sector := range []int{0, 1, 3} {
		p := testPV(t)
		p.labelSector = sector
		img := p.build()
		l, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatalf("sector %d: %v", sector, err)
		}
		want := &Label{Sector: sector, PVUUID: "p8z38Q-OUc9-UJyz-PZHd-ly7U-JE4j-q5wYSu", DevSize: 2 << 20,
			DataAreas: []Area{{1 << 20, 0}}, MetadataAreas: []Area{{4096, 1<<20 - 4096}}, ExtVersion: 2, ExtFlags: 1}
		if !reflect.DeepEqual(l, want) {
			t.Errorf("sector %d: %+v", sector, l)
		}
	}
}

func TestReadMetadata(t *testing.T) {
	plain := testPV(t)
	wrapped := testPV(t)
	wrapped.ringOff = wrapped.mdaSize - 700 // the text wraps to just after the header
	for name, p := range map[string]pvImage{"plain": plain, "wrapped": wrapped} {
		img := p.build()
		l, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		mds, err := ReadMetadata(bytes.NewReader(img), int64(len(img)), l)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(mds) != 1 || !bytes.Equal(mds[0].Text, p.text) {
			t.Fatalf("%s: got %d areas, text %q...", name, len(mds), mds[0].Text[:min(40, len(mds[0].Text))])
		}
		root, err := ParseText(mds[0].Text)
		if err != nil {
			t.Fatal(err)
		}
		if vg, err := NewVG(root); err != nil || vg.Name != "debian-vg" {
			t.Errorf("%s: %v", name, err)
		}
	}
	img := plain.build()
	l, vgs, err := ReadPV(bytes.NewReader(img), int64(len(img)))
	if err != nil || l.PVUUID != "p8z38Q-OUc9-UJyz-PZHd-ly7U-JE4j-q5wYSu" || len(vgs) != 1 || vgs[0].Seqno != 4 {
		t.Errorf("ReadPV: %v %+v %v", err, l, vgs)
	}

	ignored := testPV(t)
	ignored.rlocnFlags = 1
	img = ignored.build()
	l, _ = ReadLabel(bytes.NewReader(img), int64(len(img)))
	if mds, err := ReadMetadata(bytes.NewReader(img), int64(len(img)), l); err != nil || len(mds) != 0 {
		t.Errorf("ignored area: %v, %d areas", err, len(mds))
	}
}

func TestLabelErrors(t *testing.T) {
	mut := func(f func(img []byte)) []byte {
		img := testPV(t).build()
		f(img)
		return img
	}
	resum := func(img []byte) {
		binary.LittleEndian.PutUint32(img[512+16:], crc(crcInitial, img[512+20:1024]))
	}
	tests := []struct {
		name string
		img  []byte
		want string // "" = ErrNotFound
	}{
		{"empty", make([]byte, 4096), ""},
		{"tiny", make([]byte, 10), ""},
		{"checksum", mut(func(b []byte) { b[512+40]++ }), "checksum"},
		{"sector", mut(func(b []byte) { b[512+8] = 2 }), "records sector 2"},
		{"type", mut(func(b []byte) { b[512+31] = '2'; resum(b) }), "type"},
		{"uuid", mut(func(b []byte) { b[512+32] = '*'; resum(b) }), "invalid character"},
		{"offset", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[512+20:], 500); resum(b) }), "pv_header offset"},
		{"areas", mut(func(b []byte) {
			for i := 512 + 72; i < 1024; i++ {
				b[i] = 0xff
			}
			resum(b)
		}), "runs past"},
	}
	for _, tt := range tests {
		_, err := ReadLabel(bytes.NewReader(tt.img), int64(len(tt.img)))
		switch {
		case tt.want == "" && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: %v, want ErrNotFound", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}

	mda := []struct {
		name string
		f    func(img []byte)
		want string
	}{
		{"magic", func(b []byte) { b[4096+5] = 'X' }, "bad magic"},
		{"header checksum", func(b []byte) { b[4096+100]++ }, "header checksum"},
		{"text checksum", func(b []byte) { b[4096+600]++ }, "metadata checksum"},
		{"too big", func(b []byte) {
			binary.LittleEndian.PutUint64(b[4096+48:], 1<<30)
			binary.LittleEndian.PutUint32(b[4096:], crc(crcInitial, b[4096+4:4096+512]))
		}, "does not fit"},
	}
	for _, tt := range mda {
		img := mut(tt.f)
		l, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMetadata(bytes.NewReader(img), int64(len(img)), l); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestCRC checks LVM's CRC against values computed by hand from its
// definition (IEEE polynomial, reflected, seed 0xf597a6cf, no final
// inversion).
func TestCRC(t *testing.T) {
	bitwise := func(seed uint32, b []byte) uint32 {
		c := seed
		for _, x := range b {
			c ^= uint32(x)
			for range 8 {
				if c&1 != 0 {
					c = c>>1 ^ 0xedb88320
				} else {
					c >>= 1
				}
			}
		}
		return c
	}
	for _, s := range []string{"", "a", "LVM2 001", strings.Repeat("xyz", 200)} {
		if got, want := crc(crcInitial, []byte(s)), bitwise(crcInitial, []byte(s)); got != want {
			t.Errorf("crc(%q) = %#x, want %#x", s, got, want)
		}
	}
	if crc(crcInitial, nil) != crcInitial {
		t.Error("crc of nothing is not the seed")
	}
}
