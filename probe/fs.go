package probe

import (
	"bytes"
	"fmt"
	"strings"
)

// ext2/3/4 feature bits used to tell the variants apart (as blkid does).
const (
	extCompatHasJournal     = 0x0004
	extIncompatFiletype     = 0x0002
	extIncompatRecover      = 0x0004
	extIncompatJournalDev   = 0x0008
	extIncompatMetaBG       = 0x0010
	extROCompatMetadataCsum = 0x0400
	extFlagsTestFilesys     = 0x0004

	ext2IncompatSupp = extIncompatFiletype | extIncompatMetaBG
	ext3IncompatSupp = ext2IncompatSupp | extIncompatRecover
	ext2ROCompatSupp = 0x0001 | 0x0002 | 0x0004 // sparse_super, large_file, btree_dir
)

func probeExt(d *reader) (Info, bool, error) {
	sb, err := d.read(1024, 1024)
	if err != nil {
		return Info{}, false, err
	}
	if le16(sb, 0x38) != 0xEF53 || le32(sb, 0x18) > 6 {
		return Info{}, false, nil
	}
	compat, incompat, rocompat := le32(sb, 0x5C), le32(sb, 0x60), le32(sb, 0x64)
	// With metadata_csum the superblock carries a CRC32C; blkid rejects a
	// mismatch.
	if rocompat&extROCompatMetadataCsum != 0 && crc32cRaw(sb[:0x3FC]) != le32(sb, 0x3FC) {
		return Info{}, false, nil
	}
	info := Info{
		Usage:   UsageFilesystem,
		UUID:    uuidString(sb[0x68:0x78]),
		Label:   cstring(sb[0x78:0x88]),
		Version: fmt.Sprintf("%d.%d", le32(sb, 0x4C), le16(sb, 0x3E)),
	}
	journal := compat&extCompatHasJournal != 0
	switch {
	case incompat&extIncompatJournalDev != 0:
		info.Type, info.Usage = "jbd", UsageOther
	case !journal && incompat&^ext2IncompatSupp == 0 && rocompat&^ext2ROCompatSupp == 0:
		info.Type = "ext2"
	case journal && incompat&^ext3IncompatSupp == 0 && rocompat&^ext2ROCompatSupp == 0:
		info.Type = "ext3"
	case le32(sb, 0x160)&extFlagsTestFilesys != 0:
		info.Type = "ext4dev"
	default:
		info.Type = "ext4"
	}
	return info, true, nil
}

func probeXFS(d *reader) (Info, bool, error) {
	sb, err := d.read(0, 512)
	if err != nil {
		return Info{}, false, err
	}
	if string(sb[0:4]) != "XFSB" {
		return Info{}, false, nil
	}
	bsize, ssize := uint64(be32(sb, 4)), uint64(be16(sb, 102))
	if !isPow2(bsize) || bsize < 512 || bsize > 65536 || !isPow2(ssize) || ssize < 512 || ssize > 32768 ||
		be32(sb, 88) == 0 || be64(sb, 8) == 0 || be32(sb, 84) == 0 {
		return Info{}, false, nil
	}
	return Info{
		Type:  "xfs",
		Usage: UsageFilesystem,
		UUID:  uuidString(sb[32:48]),
		Label: cstring(sb[108:120]),
	}, true, nil
}

func probeBtrfs(d *reader) (Info, bool, error) {
	sb, err := d.read(0x10000, 4096)
	if err != nil {
		return Info{}, false, err
	}
	if string(sb[64:72]) != "_BHRfS_M" {
		return Info{}, false, nil
	}
	// csum_type 0 is CRC32C, stored finished (inverted) over the rest of
	// the superblock; blkid rejects a mismatch.
	if le16(sb, 196) == 0 && ^crc32cRaw(sb[32:]) != le32(sb, 0) {
		return Info{}, false, nil
	}
	return Info{
		Type:  "btrfs",
		Usage: UsageFilesystem,
		UUID:  uuidString(sb[32:48]),
		// dev_item (at 0xc9) holds this device's own UUID after 66 bytes of numbers.
		SubUUID: uuidString(sb[0xc9+66 : 0xc9+82]),
		Label:   cstring(sb[299 : 299+256]),
		Devices: int(min(le64(sb, 0x88), 1<<16)), // num_devices
	}, true, nil
}

func probeF2FS(d *reader) (Info, bool, error) {
	sb, err := d.read(1024, 124+1024)
	if err != nil {
		return Info{}, false, err
	}
	if le32(sb, 0) != 0xF2F52010 {
		return Info{}, false, nil
	}
	return Info{
		Type:    "f2fs",
		Usage:   UsageFilesystem,
		UUID:    uuidString(sb[108:124]),
		Label:   rtrim(utf16String(sb[124:124+1024], false)),
		Version: fmt.Sprintf("%d.%d", le16(sb, 4), le16(sb, 6)),
	}, true, nil
}

func probeErofs(d *reader) (Info, bool, error) {
	sb, err := d.read(1024, 128)
	if err != nil {
		return Info{}, false, err
	}
	if le32(sb, 0) != 0xE0F5E1E2 || sb[12] < 9 || sb[12] > 16 {
		return Info{}, false, nil
	}
	return Info{
		Type:  "erofs",
		Usage: UsageFilesystem,
		UUID:  uuidString(sb[48:64]),
		Label: cstring(sb[64:80]),
	}, true, nil
}

func probeSquashfs(d *reader) (Info, bool, error) {
	sb, err := d.read(0, 96)
	if err != nil {
		return Info{}, false, err
	}
	var major, minor uint16
	switch string(sb[0:4]) {
	case "hsqs":
		major, minor = le16(sb, 28), le16(sb, 30)
	case "sqsh":
		major, minor = be16(sb, 28), be16(sb, 30)
	default:
		return Info{}, false, nil
	}
	info := Info{Type: "squashfs", Usage: UsageFilesystem, Version: fmt.Sprintf("%d.%d", major, minor)}
	if major < 4 {
		info.Type = "squashfs3"
	}
	return info, true, nil
}

func probeISO9660(d *reader) (Info, bool, error) {
	const sector = 2048
	pvd, err := d.read(16*sector, sector)
	if err != nil {
		return Info{}, false, err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return Info{}, false, nil
	}
	info := Info{Type: "iso9660", Usage: UsageFilesystem, Label: cstring(pvd[40:72])}
	// Look for a Joliet supplementary descriptor before the terminator.
	for i := int64(17); i < 16+32; i++ {
		vd, err := d.read(i*sector, sector)
		if err != nil || vd[0] == 255 || string(vd[1:6]) != "CD001" {
			break
		}
		if vd[0] == 2 && vd[88] == '%' && vd[89] == '/' && bytes.IndexByte([]byte("@CE"), vd[90]) >= 0 {
			info.Version = "Joliet Extension"
			info.Label = mergeJoliet(rtrim(utf16String(vd[40:72], true)), info.Label)
			break
		}
	}
	date := pvd[830:846] // modification date
	if isoDateEmpty(date) {
		date = pvd[813:829] // creation date
	}
	if !isoDateEmpty(date) {
		info.UUID = fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", date[0:4], date[4:6], date[6:8], date[8:10], date[10:12], date[12:14], date[14:16])
	}
	return info, true, nil
}

// mergeJoliet completes a Joliet label (at most 16 characters) with the
// rest of the longer ISO9660 label when the two agree.
func mergeJoliet(joliet, ascii string) string {
	jr := []rune(joliet)
	if len(jr) == 16 && len(ascii) > 16 && strings.EqualFold(string(jr), ascii[:16]) {
		return joliet + ascii[16:]
	}
	if joliet == "" {
		return ascii
	}
	return joliet
}

func isoDateEmpty(b []byte) bool {
	for _, c := range b {
		if c != 0 && c != '0' {
			return false
		}
	}
	return true
}
