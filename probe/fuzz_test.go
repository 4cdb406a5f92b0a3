package probe

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/bits"
	"testing"
)

// sparseDev is a virtual device of the given size that is all zeros except
// for data at off. It lets the fuzzer explore superblocks anywhere on a
// large device with small inputs.
type sparseDev struct {
	data []byte
	off  int64
	size int64
}

func (d sparseDev) ReadAt(p []byte, o int64) (int, error) {
	if o < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if o >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > d.size-o {
		n = int(d.size - o)
	}
	clear(p[:n])
	// Copy the overlap of [o, o+n) with [off, off+len(data)).
	lo, hi := max(o, d.off), min(o+int64(n), d.off+int64(len(d.data)))
	if lo < hi {
		copy(p[lo-o:hi-o], d.data[lo-d.off:hi-d.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// seedWindow returns the non-zero part of an image (at most 4 KiB of it:
// small inputs keep the fuzzer fast)
// and its offset.
func seedWindow(img []byte) ([]byte, int64) {
	lo := bytes.IndexFunc(img, func(r rune) bool { return r != 0 })
	if lo < 0 {
		return nil, 0
	}
	hi := len(img)
	for hi > lo && img[hi-1] == 0 {
		hi--
	}
	hi = min(hi, lo+4<<10)
	return img[lo:hi], int64(lo)
}

func FuzzProbe(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		if fx.table != nil {
			continue
		}
		w, off := seedWindow(fx.data)
		f.Add(w, uint32(off), uint32(len(fx.data)))
	}
	f.Add([]byte{}, uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, off, size uint32) {
		dev := sparseDev{data: data, off: int64(off), size: max(int64(size), int64(off)+int64(len(data)))}
		checkProbe(t, dev)
		// Again with valid superblock checksums, so that mutations reach
		// the code behind them.
		if fixed, ok := fixChecksums(dev); ok {
			checkProbe(t, fixed)
		}
	})
}

func checkProbe(t *testing.T, dev sparseDev) {
	info, err := Probe(dev, dev.size)
	if err != nil {
		if info != (Info{}) {
			t.Fatalf("error %v with info %+v", err, info)
		}
		return
	}
	if info.Type == "" {
		t.Fatalf("match without a type: %+v", info)
	}
	switch info.Usage {
	case UsageFilesystem, UsageCrypto, UsageRaid, UsageOther:
	default:
		t.Fatalf("bad usage %q", info.Usage)
	}
}

// fixChecksums recomputes the ext4 and btrfs superblock checksums when the
// superblock lies inside the fuzzed window.
func fixChecksums(dev sparseDev) (sparseDev, bool) {
	window := func(at, n int64) []byte {
		if at < dev.off || at+n > dev.off+int64(len(dev.data)) {
			return nil
		}
		return dev.data[at-dev.off : at-dev.off+n]
	}
	dev.data = bytes.Clone(dev.data)
	fixed := false
	if sb := window(1024, 1024); sb != nil && binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		binary.LittleEndian.PutUint32(sb[0x3FC:], crc32cRaw(sb[:0x3FC]))
		fixed = true
	}
	if sb := window(0x10000, 4096); sb != nil && string(sb[64:72]) == "_BHRfS_M" {
		binary.LittleEndian.PutUint32(sb[0:], ^crc32cRaw(sb[32:]))
		fixed = true
	}
	return dev, fixed
}

// dosSeed builds a small MBR disk: two primaries, an extended partition
// with a chain of three EBRs, optionally looping back to the first.
func dosSeed(loop bool) []byte {
	img := make([]byte, 64*512)
	entry := func(sector, slot int, typ byte, start, size uint32) {
		e := img[sector*512+446+slot*16:]
		e[4] = typ
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], size)
		img[sector*512+510], img[sector*512+511] = 0x55, 0xAA
	}
	binary.LittleEndian.PutUint32(img[440:], 0xcafe0001)
	entry(0, 0, 0x83, 1, 2)
	entry(0, 1, 0x05, 8, 48)
	for i, ebr := range []int{8, 16, 24} {
		entry(ebr, 0, 0x83, 1, 4)
		next := uint32(8 * (i + 1))
		if i == 2 {
			if !loop {
				break
			}
			next = 0
		}
		entry(ebr, 1, 0x05, next, 8)
	}
	return img
}

// gptSeed builds a minimal valid GPT with n entry slots (one used).
func gptSeed(ss int, n uint32) []byte {
	img := make([]byte, 8*ss)
	img[446+4] = 0xEE
	img[510], img[511] = 0x55, 0xAA
	h := img[ss : ss+92]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x10000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[32:], 7)
	binary.LittleEndian.PutUint64(h[40:], 3)
	binary.LittleEndian.PutUint64(h[48:], 6)
	h[56] = 1
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], n)
	binary.LittleEndian.PutUint32(h[84:], 128)
	e := img[2*ss:]
	e[0], e[16] = 1, 2
	binary.LittleEndian.PutUint64(e[32:], 3)
	binary.LittleEndian.PutUint64(e[40:], 4)
	copy(e[56:], []byte{'r', 0, 'o', 0, 'o', 0, 't', 0})
	if end := 2*ss + int(n)*128; end <= len(img) {
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[2*ss:end]))
	}
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	return img
}

func FuzzProbeTable(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		if fx.table == nil {
			continue
		}
		// Small inputs keep the fuzzer fast: the header sectors only (the
		// synthetic seeds below carry complete small tables).
		d := fx.data[:min(len(fx.data), 2*fx.table.PartitionTable.SectorSize)]
		f.Add(d, uint8(bits.TrailingZeros(uint(fx.table.PartitionTable.SectorSize/512))))
	}
	f.Add(dosSeed(false), uint8(0))
	f.Add(dosSeed(true), uint8(0))
	f.Add(gptSeed(512, 4), uint8(0))
	f.Add(gptSeed(4096, 4), uint8(3))
	f.Add(gptSeed(512, 1<<20), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, shift uint8) {
		ss := 512 << (shift % 4) // 512, 1024, 2048, 4096
		checkTable(t, data, ss)
		// Again with valid checksums, so that mutations reach the code
		// behind the CRC checks.
		if fixed := fixGPTChecksums(data, ss); fixed != nil {
			checkTable(t, fixed, ss)
		}
	})
}

// fixGPTChecksums returns a copy of img with the primary GPT's CRCs
// recomputed, or nil when there is no GPT header to fix.
func fixGPTChecksums(img []byte, ss int) []byte {
	if len(img) < 2*ss || string(img[ss:ss+8]) != "EFI PART" {
		return nil
	}
	img = bytes.Clone(img)
	h := img[ss : 2*ss]
	hsize := int(binary.LittleEndian.Uint32(h[12:]))
	if hsize < 92 || hsize > ss {
		return nil
	}
	lba := binary.LittleEndian.Uint64(h[72:])
	n := uint64(binary.LittleEndian.Uint32(h[80:])) * uint64(binary.LittleEndian.Uint32(h[84:]))
	if lba < uint64(len(img)/ss) && n <= uint64(len(img)) && lba*uint64(ss)+n <= uint64(len(img)) {
		off := lba * uint64(ss)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[off:off+n]))
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hsize]))
	return img
}

func checkTable(t *testing.T, data []byte, ss int) {
	tab, err := ProbeTable(bytes.NewReader(data), int64(len(data)), ss)
	if err != nil {
		return
	}
	if tab.Kind != "gpt" && tab.Kind != "dos" {
		t.Fatalf("bad kind %q", tab.Kind)
	}
	if len(tab.Partitions) > MaxPartitions+4 {
		t.Fatalf("%d partitions", len(tab.Partitions))
	}
	for _, p := range tab.Partitions {
		if p.Number < 1 || p.Start < 0 || p.Size <= 0 {
			t.Fatalf("bad partition %+v", p)
		}
	}
}

func TestSparseDev(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		if fx.table != nil {
			continue
		}
		d := sparseDev{data: fx.data, off: 0, size: int64(len(fx.data))}
		a, err1 := Probe(d, d.size)
		b, err2 := Probe(bytes.NewReader(fx.data), int64(len(fx.data)))
		if a != b || (err1 == nil) != (err2 == nil) {
			t.Errorf("%s: sparse %+v %v, direct %+v %v", fx.name, a, err1, b, err2)
		}
	}
}
