package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func fixtureData(t *testing.T, name string) []byte {
	t.Helper()
	for _, f := range loadFixtures(t) {
		if f.name == name {
			return append([]byte(nil), f.data...)
		}
	}
	t.Fatalf("no fixture %s", name)
	return nil
}

// regpt recomputes the header CRC of the GPT header at off.
func regpt(img []byte, off int) {
	h := img[off : off+92]
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}

func TestProbeTableHostile(t *testing.T) {
	gpt := fixtureData(t, "gpt")
	tests := []struct {
		name    string
		img     func() []byte
		ss      int
		wantErr string
		wantN   int
	}{
		{name: "no signature", img: func() []byte { return make([]byte, 4096) }, wantErr: "no partition table"},
		{name: "empty", img: func() []byte { return nil }, wantErr: "read MBR"},
		{name: "bad sector size", img: func() []byte { return gpt }, ss: 1000, wantErr: "invalid sector size"},
		{name: "gpt header crc", img: func() []byte { b := bytes.Clone(gpt); b[512+60] ^= 1; return b }, wantErr: "header checksum mismatch"},
		{name: "gpt entries crc", img: func() []byte { b := bytes.Clone(gpt); b[1024+60] ^= 1; return b }, wantErr: "entry array checksum mismatch"},
		{name: "gpt truncated", img: func() []byte { return gpt[:2048] }, wantErr: "outside device"},
		{name: "gpt wrong sector size", img: func() []byte { return gpt }, ss: 4096, wantErr: "bad header signature"},
		{name: "gpt huge entry array", img: func() []byte {
			b := bytes.Clone(gpt)
			binary.LittleEndian.PutUint32(b[512+80:], 1<<24)
			regpt(b, 512)
			return b
		}, wantErr: "bad entry array"},
		{name: "gpt entries beyond end", img: func() []byte {
			b := bytes.Clone(gpt)
			binary.LittleEndian.PutUint64(b[512+72:], 1<<40)
			regpt(b, 512)
			return b
		}, wantErr: "outside device"},
		{name: "gpt bad entry skipped", img: func() []byte {
			b := bytes.Clone(gpt)
			binary.LittleEndian.PutUint64(b[1024+32:], 1<<50) // first LBA of entry 1 > last
			ents := b[1024 : 1024+128*128]
			binary.LittleEndian.PutUint32(b[512+88:], crc32.ChecksumIEEE(ents))
			regpt(b, 512)
			return b
		}, wantN: 2},
		{name: "dos EBR loop", img: func() []byte { return dosSeed(true) }, wantN: 5},
		{name: "dos chain", img: func() []byte { return dosSeed(false) }, wantN: 5},
		{name: "fat boot sector is not a table", img: func() []byte { return fixtureData(t, "vfat16")[:4096] }, wantErr: "no partition table"},
		{name: "bad boot flag", img: func() []byte { b := dosSeed(false); b[446] = 0x12; return b }, wantErr: "no partition table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.img()
			ss := tt.ss
			if ss == 0 {
				ss = 512
			}
			tab, err := ProbeTable(bytes.NewReader(img), int64(len(img)), ss)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tab.Partitions) != tt.wantN {
				t.Fatalf("%d partitions, want %d: %+v", len(tab.Partitions), tt.wantN, tab.Partitions)
			}
		})
	}
}

func TestProbeTableEBRNumbering(t *testing.T) {
	img := dosSeed(false)
	tab, err := ProbeTable(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		n     int
		start int64
		uuid  string
	}{{1, 512, "cafe0001-01"}, {2, 8 * 512, "cafe0001-02"}, {5, 9 * 512, "cafe0001-05"}, {6, 17 * 512, "cafe0001-06"}, {7, 25 * 512, "cafe0001-07"}}
	for i, w := range want {
		p := tab.Partitions[i]
		if p.Number != w.n || p.Start != w.start || p.UUID != w.uuid {
			t.Errorf("partition %d = %+v, want %+v", i, p, w)
		}
	}
	if tab.UUID != "cafe0001" {
		t.Errorf("UUID = %q", tab.UUID)
	}
}

func TestProbeTableGPTBackup(t *testing.T) {
	img := fixtureData(t, "gpt4k") // the fixture keeps only the first 64 KiB
	full := make([]byte, 32<<20)
	copy(full, img)
	// Rebuild the backup from the primary: entries just before the last
	// sector, header in the last sector.
	const ss = 4096
	last := len(full)/ss - 1
	ents := full[2*ss : 2*ss+128*128]
	entLBA := last - len(ents)/ss
	copy(full[entLBA*ss:], ents)
	copy(full[last*ss:], full[ss:ss+92])
	h := full[last*ss:]
	binary.LittleEndian.PutUint64(h[24:], uint64(last))
	binary.LittleEndian.PutUint64(h[32:], 1)
	binary.LittleEndian.PutUint64(h[72:], uint64(entLBA))
	regpt(full, last*ss)
	// Damage the primary.
	copy(full[ss:], "EFI FART")
	tab, err := ProbeTable(bytes.NewReader(full), int64(len(full)), ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Partitions) != 3 || tab.Partitions[2].Name != "swap été" || tab.UUID != "0e8f1c5a-4096-4b5b-9b0e-0123456789ab" {
		t.Fatalf("table from backup = %+v", tab)
	}
	// Both damaged.
	copy(full[last*ss:], "EFI FART")
	if _, err := ProbeTable(bytes.NewReader(full), int64(len(full)), ss); err == nil || errors.Is(err, ErrNoTable) {
		t.Fatalf("err = %v", err)
	}
}

func TestProbeHostile(t *testing.T) {
	tests := []struct {
		name string
		img  []byte
	}{
		{"empty", nil},
		{"tiny", []byte{0xEB, 0x3C, 0x90}},
		{"ext magic only", func() []byte {
			b := make([]byte, 2048)
			b[1024+0x38], b[1024+0x39] = 0x53, 0xEF
			b[1024+0x18] = 200
			return b
		}()},
		{"fat insane", func() []byte { b := fixtureData(t, "vfat32")[:512]; b[13] = 3; return b }()},
	}
	for _, tt := range tests {
		info, err := Probe(bytes.NewReader(tt.img), int64(len(tt.img)))
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("%s: Probe = %+v, %v; want ErrUnknown", tt.name, info, err)
		}
	}
	// Every truncation of every fixture: an error or a result, never a panic.
	for _, f := range loadFixtures(t) {
		for _, n := range []int{0, 511, 1024, 1100, 2047, 4095, 32769, 65537, 69000} {
			if n < len(f.data) {
				Probe(bytes.NewReader(f.data[:n]), int64(n))
				ProbeTable(bytes.NewReader(f.data[:n]), int64(n), 512)
			}
		}
	}
	// A size larger than the data: the read error is reported.
	if _, err := Probe(bytes.NewReader(make([]byte, 100)), 1<<20); err == nil || errors.Is(err, ErrUnknown) {
		t.Errorf("short device: err = %v, want an I/O error", err)
	}
}
