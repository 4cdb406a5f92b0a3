package probe

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/earlyroot/earlyroot/lvm"
	"github.com/earlyroot/earlyroot/md"
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

func probeLVM2(d *reader) (Info, bool, error) {
	rec := &recorder{r: d.r}
	l, err := lvm.ReadLabel(rec, d.size)
	if rec.err != nil {
		return Info{}, false, rec.err
	}
	if err != nil {
		return Info{}, false, nil // no label, or a damaged one: not a PV
	}
	return Info{
		Type: "LVM2_member", Usage: UsageRaid, Layer: LayerLVM2, Version: "LVM2 001", UUID: l.PVUUID,
	}, true, nil
}

func probeMD(d *reader) (Info, bool, error) {
	rec := &recorder{r: d.r}
	sb, err := md.Read(rec, d.size)
	if rec.err != nil {
		return Info{}, false, rec.err
	}
	switch {
	case errors.Is(err, md.ErrNotFound):
		return Info{}, false, nil
	case errors.Is(err, md.ErrIMSM):
		// A member of a firmware-RAID container: never the filesystem its data may
		// show; the MD layer says it cannot assemble it.
		return Info{Type: "isw_raid_member", Usage: UsageRaid, Layer: LayerMD}, true, nil
	case errors.Is(err, md.ErrDDF):
		return Info{Type: "ddf_raid_member", Usage: UsageRaid, Layer: LayerMD}, true, nil
	case err != nil:
		// A superblock md refuses (bad checksum, unknown version): still an MD member,
		// never the filesystem its data may show; md's error says why it is not used.
		return Info{Type: "linux_raid_member", Usage: UsageRaid, Layer: LayerMD}, true, nil
	}
	info := Info{Type: "linux_raid_member", Usage: UsageRaid, Layer: LayerMD, UUID: sb.BlkidUUID(), Label: sb.Name}
	if sb.Version == "0.90" {
		info.Version = fmt.Sprintf("0.90.%d", sb.Patch)
	} else {
		info.Version = sb.Version
		info.SubUUID = uuidString(sb.DeviceUUID[:])
	}
	return info, true, nil
}

// recorder keeps the first I/O error of a parser from another package, which tells
// "not this signature" from "the device could not be read" only in its error text.
type recorder struct {
	r   io.ReaderAt
	err error
}

func (c *recorder) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if n < len(p) && c.err == nil {
		// The parsers read only inside the device's size: a short read is an error.
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		c.err = fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
	}
	return n, err
}
