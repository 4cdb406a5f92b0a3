package probe

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Partition is one entry of a partition table.
type Partition struct {
	Number      int    // kernel partition number (vda1 → 1; logical partitions from 5)
	Start, Size int64  // bytes
	UUID        string // PARTUUID: GPT unique GUID, or MBR "SSSSSSSS-PP"
	Name        string // GPT partition name (PARTLABEL); empty for MBR
	Type        string // GPT type GUID, or MBR type as "0x83"
}

// Table is a partition table.
type Table struct {
	Kind       string // "gpt" or "dos"
	UUID       string // PTUUID: GPT disk GUID, or MBR disk identifier "%08x"
	Partitions []Partition
}

// ErrNoTable is returned by ProbeTable when the device has no partition table.
var ErrNoTable = errors.New("no partition table")

// Limits on hostile tables.
const (
	maxGPTEntriesBytes = 1 << 20 // the partition entry array
	maxLogical         = 128     // length of the EBR chain
)

// MaxPartitions is the kernel's limit on the partitions of one disk (DISK_MAX_PARTS); no
// table read here numbers a partition above it.
const MaxPartitions = 256

// ProbeTable reads the partition table of a device of the given size whose
// logical sector size is sectorSize (512 when 0). A protective MBR leads to
// GPT; otherwise an MBR ("dos") table is read.
func ProbeTable(r io.ReaderAt, size int64, sectorSize int) (Table, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if sectorSize < 512 || sectorSize > 65536 || !isPow2(uint64(sectorSize)) {
		return Table{}, fmt.Errorf("partition table: invalid sector size %d", sectorSize)
	}
	d := &reader{r: r, size: size}
	mbr, err := d.read(0, 512)
	if err != nil {
		return Table{}, fmt.Errorf("partition table: read MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return Table{}, ErrNoTable
	}
	for i := 0; i < 4; i++ {
		if mbr[446+i*16+4] == 0xEE {
			t, err := probeGPT(d, int64(sectorSize))
			if err != nil {
				return Table{}, fmt.Errorf("gpt: %w", err)
			}
			return t, nil
		}
	}
	return probeDOS(d, mbr, int64(sectorSize))
}

// probeGPT reads the primary GPT, or the backup at the last sector when the
// primary is damaged (as the kernel and blkid do).
func probeGPT(d *reader, ss int64) (Table, error) {
	t, err := readGPT(d, ss, 1)
	if err == nil {
		return t, nil
	}
	if last := d.size/ss - 1; last > 1 {
		if t, berr := readGPT(d, ss, uint64(last)); berr == nil {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("primary header: %w", err)
}

// readGPT reads the GPT header at sector lba and its entry array.
func readGPT(d *reader, ss int64, lba uint64) (Table, error) {
	h, err := d.read(int64(lba)*ss, int(ss))
	if err != nil {
		return Table{}, fmt.Errorf("read header: %w", err)
	}
	if string(h[0:8]) != "EFI PART" {
		return Table{}, errors.New("bad header signature")
	}
	hsize := le32(h, 12)
	if hsize < 92 || int64(hsize) > ss {
		return Table{}, fmt.Errorf("bad header size %d", hsize)
	}
	hdr := append([]byte(nil), h[:hsize]...)
	for i := 16; i < 20; i++ {
		hdr[i] = 0
	}
	if crc32.ChecksumIEEE(hdr) != le32(h, 16) {
		return Table{}, errors.New("header checksum mismatch")
	}
	if le64(h, 24) != lba {
		return Table{}, fmt.Errorf("header LBA %d, want %d", le64(h, 24), lba)
	}
	firstUsable, lastUsable := le64(h, 40), le64(h, 48)
	entriesLBA, n, esize := le64(h, 72), uint64(le32(h, 80)), uint64(le32(h, 84))
	if firstUsable > lastUsable {
		return Table{}, fmt.Errorf("first usable LBA %d > last usable %d", firstUsable, lastUsable)
	}
	if esize < 128 || esize%8 != 0 || n == 0 || n*esize > maxGPTEntriesBytes {
		return Table{}, fmt.Errorf("bad entry array: %d entries of %d bytes", n, esize)
	}
	if entriesLBA < 2 || entriesLBA > uint64(d.size)/uint64(ss) {
		return Table{}, fmt.Errorf("entry array at LBA %d outside device", entriesLBA)
	}
	ents, err := d.read(int64(entriesLBA)*ss, int(n*esize))
	if err != nil {
		return Table{}, fmt.Errorf("read entries: %w", err)
	}
	if crc32.ChecksumIEEE(ents) != le32(h, 88) {
		return Table{}, errors.New("entry array checksum mismatch")
	}
	t := Table{Kind: "gpt", UUID: guidString(h[56:72])}
	for i := uint64(0); i < n; i++ {
		e := ents[i*esize : (i+1)*esize]
		if allZero(e[0:16]) {
			continue
		}
		first, last := le64(e, 32), le64(e, 40)
		if first > last || first < firstUsable || last > lastUsable || last >= 1<<63/uint64(ss) {
			continue // blkid and the kernel ignore such entries
		}
		t.Partitions = append(t.Partitions, Partition{
			Number: int(i + 1),
			Start:  int64(first) * ss,
			Size:   int64(last-first+1) * ss,
			UUID:   guidString(e[16:32]),
			Name:   utf16String(e[56:128], false),
			Type:   guidString(e[0:16]),
		})
	}
	return t, nil
}

func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0F || typ == 0x85 }

func probeDOS(d *reader, mbr []byte, ss int64) (Table, error) {
	for i := 0; i < 4; i++ {
		if s := mbr[446+i*16]; s != 0 && s != 0x80 {
			return Table{}, ErrNoTable
		}
	}
	if _, ok := parseFATBPB(mbr); ok {
		return Table{}, ErrNoTable // a FAT boot sector, not an MBR
	}
	id := le32(mbr, 440)
	t := Table{Kind: "dos"}
	if id != 0 {
		t.UUID = fmt.Sprintf("%08x", id)
	}
	add := func(n int, start, size uint64, typ byte) {
		t.Partitions = append(t.Partitions, Partition{
			Number: n, Start: int64(start) * ss, Size: int64(size) * ss,
			UUID: fmt.Sprintf("%08x-%02x", id, n), Type: fmt.Sprintf("0x%x", typ),
		})
	}
	next := 5
	for i := 0; i < 4; i++ {
		e := mbr[446+i*16 : 446+i*16+16]
		typ, start, size := e[4], uint64(le32(e, 8)), uint64(le32(e, 12))
		if typ == 0 || size == 0 {
			continue
		}
		add(i+1, start, size, typ)
		if isExtended(typ) {
			var err error
			next, err = readEBRChain(d, ss, start, next, add)
			if err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// readEBRChain walks the logical partitions of the extended partition
// starting at sector base, numbering them from next. It stops at the first
// unreadable or invalid EBR, on a loop, and after maxLogical EBRs.
func readEBRChain(d *reader, ss int64, base uint64, next int, add func(int, uint64, uint64, byte)) (int, error) {
	cur := base
	seen := map[uint64]bool{}
	for n := 0; n < maxLogical && !seen[cur] && next <= MaxPartitions; n++ {
		seen[cur] = true
		if cur > uint64(d.size)/uint64(ss) {
			break
		}
		ebr, err := d.read(int64(cur)*ss, 512)
		if err != nil {
			if isRange(err) {
				break
			}
			return next, fmt.Errorf("dos: read EBR at sector %d: %w", cur, err)
		}
		if ebr[510] != 0x55 || ebr[511] != 0xAA {
			break
		}
		link := uint64(0)
		for i := 0; i < 4; i++ {
			e := ebr[446+i*16 : 446+i*16+16]
			typ, start, size := e[4], uint64(le32(e, 8)), uint64(le32(e, 12))
			if typ == 0 || size == 0 {
				continue
			}
			if isExtended(typ) {
				if link == 0 {
					link = base + start
				}
				continue
			}
			if next > MaxPartitions {
				break
			}
			add(next, cur+start, size, typ)
			next++
		}
		if link == 0 {
			break
		}
		cur = link
	}
	return next, nil
}
