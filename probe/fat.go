package probe

import "fmt"

const (
	fat12Max = 0xFF4
	fat16Max = 0xFFF4
	fat32Max = 0x0FFFFFF6

	fatAttrVolumeID = 0x08
	fatAttrDir      = 0x10
	fatAttrLongName = 0x0F
	fatDirEntrySize = 32
	fatNoName       = "NO NAME"
	fatMaxRootDir   = 256 << 10 // bytes of root directory searched for the label
)

// fatBPB holds the boot-sector fields the FAT prober needs.
type fatBPB struct {
	sectorSize, reserved, fats, clusterSize uint64
	dirEntries, sectors, fatLength          uint64
	rootCluster                             uint32
	fat32                                   bool
	clusters                                uint64
}

// parseFATBPB validates a boot sector the way blkid does and returns its
// geometry, or ok=false.
func parseFATBPB(bs []byte) (b fatBPB, ok bool) {
	magic := string(bs[0x36:0x3B]) == "MSDOS" || string(bs[0x36:0x39]) == "FAT" ||
		string(bs[0x52:0x57]) == "MSWIN" || string(bs[0x52:0x57]) == "FAT32"
	jump := (bs[0] == 0xEB || bs[0] == 0xE9) && bs[510] == 0x55 && bs[511] == 0xAA
	if !magic && !jump {
		return b, false
	}
	b = fatBPB{
		sectorSize:  uint64(le16(bs, 11)),
		clusterSize: uint64(bs[13]),
		reserved:    uint64(le16(bs, 14)),
		fats:        uint64(bs[16]),
		dirEntries:  uint64(le16(bs, 17)),
		sectors:     uint64(le16(bs, 19)),
		fatLength:   uint64(le16(bs, 22)),
	}
	media := bs[21]
	if b.fats == 0 || b.reserved == 0 || !(media >= 0xF8 || media == 0xF0) || !isPow2(b.clusterSize) ||
		!isPow2(b.sectorSize) || b.sectorSize < 512 || b.sectorSize > 4096 {
		return b, false
	}
	if b.sectors == 0 {
		b.sectors = uint64(le32(bs, 32))
	}
	if b.fatLength == 0 {
		b.fat32 = true
		b.fatLength = uint64(le32(bs, 36))
		b.rootCluster = le32(bs, 44)
		if b.fatLength == 0 {
			return b, false
		}
	}
	dirSectors := (b.dirEntries*fatDirEntrySize + b.sectorSize - 1) / b.sectorSize
	meta := b.reserved + b.fats*b.fatLength + dirSectors
	if meta > b.sectors {
		return b, false
	}
	b.clusters = (b.sectors - meta) / b.clusterSize
	max := uint64(fat32Max)
	if !b.fat32 {
		max = fat16Max
		if b.clusters <= fat12Max {
			max = fat12Max
		}
	}
	return b, b.clusters <= max
}

func probeVFAT(d *reader) (Info, bool, error) {
	bs, err := d.read(0, 512)
	if err != nil {
		return Info{}, false, err
	}
	b, ok := parseFATBPB(bs)
	if !ok {
		return Info{}, false, nil
	}
	info := Info{Type: "vfat", Usage: UsageFilesystem}
	ext := 36 // extended BPB of FAT12/16
	switch {
	case b.fat32:
		info.Version, ext = "FAT32", 64
	case b.clusters > fat12Max:
		info.Version = "FAT16"
	default:
		info.Version = "FAT12"
	}
	var bootLabel string
	if sig := bs[ext+2]; sig == 0x29 || sig == 0x28 {
		s := bs[ext+3 : ext+7]
		info.UUID = fmt.Sprintf("%02X%02X-%02X%02X", s[3], s[2], s[1], s[0])
		if sig == 0x29 {
			bootLabel = cstring(bs[ext+7 : ext+18])
		}
	}
	label, err := fatRootLabel(d, b)
	if err != nil || label == "" {
		label = bootLabel
	}
	if label == fatNoName {
		label = ""
	}
	info.Label = label
	return info, true, nil
}

// fatRootLabel returns the volume label entry of the root directory, "" if
// there is none.
func fatRootLabel(d *reader, b fatBPB) (string, error) {
	if !b.fat32 {
		off := (b.reserved + b.fats*b.fatLength) * b.sectorSize
		n := min(b.dirEntries*fatDirEntrySize, fatMaxRootDir)
		dir, err := d.read(int64(off), int(n))
		if err != nil {
			return "", err
		}
		label, _ := fatSearchLabel(dir)
		return label, nil
	}
	clusterBytes := b.clusterSize * b.sectorSize
	if clusterBytes > maxRead {
		return "", fmt.Errorf("vfat: cluster size %d too large", clusterBytes)
	}
	dataStart := (b.reserved + b.fats*b.fatLength) * b.sectorSize
	cluster := uint64(b.rootCluster)
	maxClusters := max(1, fatMaxRootDir/clusterBytes) // bound on the root directory chain
	for i := uint64(0); i < maxClusters && cluster >= 2 && cluster < b.clusters+2; i++ {
		off := dataStart + (cluster-2)*clusterBytes
		dir, err := d.read(int64(off), int(clusterBytes))
		if err != nil {
			return "", err
		}
		if label, end := fatSearchLabel(dir); label != "" || end {
			return label, nil
		}
		ent, err := d.read(int64(b.reserved*b.sectorSize+cluster*4), 4)
		if err != nil {
			return "", err
		}
		cluster = uint64(le32(ent, 0) & 0x0FFFFFFF)
	}
	return "", nil
}

// fatSearchLabel scans directory entries for the volume label; end reports
// that the end-of-directory marker was reached.
func fatSearchLabel(dir []byte) (label string, end bool) {
	for i := 0; i+fatDirEntrySize <= len(dir); i += fatDirEntrySize {
		e := dir[i : i+fatDirEntrySize]
		switch {
		case e[0] == 0:
			return "", true
		case e[0] == 0xE5:
			continue
		case e[11] == fatAttrLongName:
			continue
		case e[11]&(fatAttrVolumeID|fatAttrDir) == fatAttrVolumeID:
			name := append([]byte(nil), e[:11]...)
			if name[0] == 0x05 {
				name[0] = 0xE5
			}
			return cstring(name), true
		}
	}
	return "", false
}
