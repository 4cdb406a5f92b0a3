package lvm

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLabel fuzzes the first 4 KiB of a PV (label sectors) and the
// metadata area header; fix recomputes the checksums so the fuzzer gets
// past them.
func FuzzLabel(f *testing.F) {
	img := testPV(f).build()
	f.Add(img[:1024], img[4096:4096+512], false)
	f.Fuzz(func(t *testing.T, label, mdaHeader []byte, fix bool) {
		img := testPV(t).build()
		copy(img[:2048], label)
		copy(img[4096:4096+512], mdaHeader)
		if fix {
			for s := 0; s < 4; s++ {
				sec := img[s*512 : (s+1)*512]
				if string(sec[:8]) == labelID {
					binary.LittleEndian.PutUint32(sec[16:], crc(crcInitial, sec[20:]))
				}
			}
			binary.LittleEndian.PutUint32(img[4096:], crc(crcInitial, img[4096+4:4096+512]))
		}
		r := bytes.NewReader(img)
		l, err := ReadLabel(r, int64(len(img)))
		if err != nil {
			return
		}
		mds, _ := ReadMetadata(r, int64(len(img)), l)
		for _, md := range mds {
			if root, err := ParseText(md.Text); err == nil {
				_, _ = NewVG(root)
			}
		}
	})
}

// FuzzText fuzzes the metadata text parser, the VG model and the planner.
func FuzzText(f *testing.F) {
	for _, name := range []string{"linear.vg", "striped.vg", "thin.vg", "raid1.vg", "snapshot.vg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`a { b = [1, "x"] c = -1.5e3 }`))
	f.Fuzz(func(t *testing.T, text []byte) {
		root, err := ParseText(text)
		if err != nil {
			return
		}
		vg, err := NewVG(root)
		if err != nil {
			return
		}
		pvs := map[string]string{}
		for i, pv := range vg.PVs {
			if i%2 == 0 {
				pvs[pv.UUID] = "8:0"
			}
		}
		for _, mode := range []Mode{Complete, Degraded, Partial} {
			ds, err := vg.Plan(vg.Wanted(nil, []string{vg.Name}), Options{PVs: pvs, Mode: mode})
			if err != nil {
				continue
			}
			for _, d := range ds {
				_, _ = d.Table(func(string) (string, error) { return "1:1", nil })
			}
		}
	})
}
