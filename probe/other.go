package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// swapPageSizes are the page sizes whose last 10 bytes may hold a swap
// signature.
var swapPageSizes = []int64{4096, 8192, 16384, 32768, 65536}

// hibernation signatures written over the swap signature, with the
// VERSION blkid reports for them.
var swapHibernation = []struct {
	sig     string
	version string
}{
	{"S1SUSPEND", "s1suspend"},
	{"S2SUSPEND", "s2suspend"},
	{"ULSUSPEND", "ulsuspend"},
	{"LINHIB0001", "linhib0001"},
	{"\xed\xc3\x02\xe9\x98\x56\xe5\x0c", "tuxonice"},
}

func probeSwap(d *reader) (Info, bool, error) {
	for _, ps := range swapPageSizes {
		sig, err := d.read(ps-10, 10)
		if err != nil {
			return Info{}, false, err
		}
		switch {
		case string(sig) == "SWAP-SPACE":
			return Info{Type: "swap", Usage: UsageOther, Version: "0"}, true, nil
		case string(sig) == "SWAPSPACE2":
			return swapInfo(d, Info{Type: "swap"})
		}
		for _, h := range swapHibernation {
			if bytes.HasPrefix(sig, []byte(h.sig)) {
				return swapInfo(d, Info{Type: "swsuspend", Version: h.version, Hibernated: true})
			}
		}
	}
	return Info{}, false, nil
}

// swapInfo reads the version-1 swap header.
func swapInfo(d *reader, info Info) (Info, bool, error) {
	h, err := d.read(1024, 44)
	if err != nil {
		return Info{}, false, err
	}
	if v := le32(h, 0); v != 1 && v != 0x01000000 {
		return Info{}, false, nil
	}
	info.Usage = UsageOther
	if info.Version == "" {
		info.Version = "1"
	}
	info.UUID = uuidString(h[12:28])
	info.Label = cstring(h[28:44])
	return info, true, nil
}

// luksSecondary are the offsets of a LUKS2 secondary header.
var luksSecondary = []int64{0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000}

func probeLUKS(d *reader) (Info, bool, error) {
	h, err := d.read(0, 512)
	if err != nil {
		return Info{}, false, err
	}
	if string(h[0:6]) != "LUKS\xba\xbe" {
		found := false
		for _, off := range luksSecondary {
			s, err := d.read(off, 512)
			if err != nil {
				break
			}
			if string(s[0:6]) == "SKUL\xba\xbe" && be16(s, 6) == 2 && be64(s, 256) == uint64(off) {
				h, found = s, true
				break
			}
		}
		if !found {
			return Info{}, false, nil
		}
	}
	v := be16(h, 6)
	info := Info{Type: "crypto_LUKS", Usage: UsageCrypto, Layer: LayerLUKS, Version: fmt.Sprint(v), UUID: cstring(h[168:208])}
	switch v {
	case 1:
	case 2:
		info.Label = cstring(h[24:72])
	default:
		return Info{}, false, nil
	}
	return info, true, nil
}

var ieee = crc32.IEEETable

func probeLVM2(d *reader) (Info, bool, error) {
	for sector := int64(0); sector < 4; sector++ {
		l, err := d.read(sector*512, 512)
		if err != nil {
			return Info{}, false, err
		}
		if string(l[0:8]) != "LABELONE" || string(l[24:32]) != "LVM2 001" || le64(l, 8) != uint64(sector) {
			continue
		}
		// CRC (LVM's variant: IEEE polynomial, seed 0xf597a6cf, no final xor)
		// over the label from offset_xl to the end of the sector.
		if ^crc32.Update(^uint32(0xf597a6cf), ieee, l[20:]) != le32(l, 16) {
			continue
		}
		off := uint64(le32(l, 20))
		if off < 32 || off > 512-32 {
			continue
		}
		u := l[off : off+32]
		return Info{
			Type: "LVM2_member", Usage: UsageRaid, Layer: LayerLVM2, Version: "LVM2 001",
			UUID: fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", u[0:6], u[6:10], u[10:14], u[14:18], u[18:22], u[22:26], u[26:32]),
		}, true, nil
	}
	return Info{}, false, nil
}

const mdMagic = 0xa92b4efc

func probeMD(d *reader) (Info, bool, error) {
	// Version 1.x superblocks: 1.0 near the end, 1.1 at 0, 1.2 at 4 KiB.
	type loc struct {
		off   int64
		minor int
	}
	locs := []loc{{0, 1}, {0x1000, 2}}
	if d.size >= 16*512 {
		locs = append([]loc{{((d.size/512 - 16) &^ 7) * 512, 0}}, locs...)
	}
	for _, l := range locs {
		info, ok, err := probeMD1(d, l.off, l.minor)
		if ok || (err != nil && !isRange(err)) {
			return info, ok, err
		}
	}
	return probeMD090(d)
}

func probeMD1(d *reader, off int64, minor int) (Info, bool, error) {
	sb, err := d.read(off, 256)
	if err != nil {
		return Info{}, false, err
	}
	if le32(sb, 0) != mdMagic || le32(sb, 4) != 1 || le64(sb, 144) != uint64(off/512) {
		return Info{}, false, nil
	}
	maxDev := le32(sb, 220)
	if maxDev > (4096-256)/2 {
		return Info{}, false, nil
	}
	full, err := d.read(off, 256+int(maxDev)*2)
	if err != nil {
		return Info{}, false, err
	}
	if mdCsum1(full) != le32(full, 216) {
		return Info{}, false, nil
	}
	return Info{
		Type: "linux_raid_member", Usage: UsageRaid, Layer: LayerMD, Version: fmt.Sprintf("1.%d", minor),
		UUID: uuidString(sb[16:32]), SubUUID: uuidString(sb[168:184]), Label: cstring(sb[32:64]),
	}, true, nil
}

// mdCsum1 computes the 1.x superblock checksum (sb_csum taken as zero).
func mdCsum1(sb []byte) uint32 {
	var sum uint64
	i := 0
	for ; i+4 <= len(sb); i += 4 {
		if i != 216 {
			sum += uint64(le32(sb, i))
		}
	}
	if len(sb)-i == 2 {
		sum += uint64(le16(sb, i))
	}
	return uint32(sum&0xffffffff) + uint32(sum>>32)
}

func probeMD090(d *reader) (Info, bool, error) {
	if d.size < 0x20000 {
		return Info{}, false, nil
	}
	off := (d.size &^ (0x10000 - 1)) - 0x10000
	sb, err := d.read(off, 64)
	if err != nil {
		return Info{}, false, err
	}
	word := le32
	switch {
	case le32(sb, 0) == mdMagic:
	case be32(sb, 0) == mdMagic:
		word = be32
	default:
		return Info{}, false, nil
	}
	major, minor, patch := word(sb, 4), word(sb, 8), word(sb, 12)
	if major != 0 {
		return Info{}, false, nil
	}
	// The UUID words are stored in the writer's byte order; blkid prints
	// their values.
	u := binary.BigEndian.AppendUint32(nil, word(sb, 20))
	for _, off := range []int{52, 56, 60} {
		u = binary.BigEndian.AppendUint32(u, word(sb, off))
	}
	return Info{
		Type: "linux_raid_member", Usage: UsageRaid, Layer: LayerMD,
		Version: fmt.Sprintf("%d.%d.%d", major, minor, patch), UUID: uuidString(u),
	}, true, nil
}
