package probe

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Info describes what a device contains, as blkid would report it.
type Info struct {
	Type string // blkid TYPE: "ext4", "vfat", "swap", "crypto_LUKS", ...
	// UUID is blkid's UUID: the filesystem's; for a layer member, the UUID that names what
	// it belongs to (the MD array's, the LUKS volume's, the LVM2 PV's).
	UUID       string
	SubUUID    string // blkid UUID_SUB: the member's own UUID (MD 1.x device UUID)
	Label      string // blkid LABEL
	Version    string // blkid VERSION where cheap to obtain ("1.0", "FAT32", ...)
	Usage      string // "filesystem", "crypto", "raid" or "other"
	Hibernated bool   // swap area holding a hibernation image
	// Devices is how many devices a multi-device filesystem spans (btrfs num_devices): the
	// filesystem can be mounted once that many members with its UUID are known to the
	// kernel. 0 for everything else.
	Devices int
	// Layer names the stacking layer the device is a member of (LayerLUKS, LayerLVM2,
	// LayerMD), empty for anything else. A layer member is never a root candidate itself:
	// the layer makes a new block device of it.
	Layer string
}

// Layer values: the signatures that make a device a member of a stacked block device.
const (
	LayerLUKS = "luks" // a LUKS1/LUKS2 volume, opened with dm-crypt
	LayerLVM2 = "lvm2" // an LVM2 physical volume
	LayerMD   = "md"   // a member of an MD RAID array (metadata 0.90 or 1.x)
)

// Usage values.
const (
	UsageFilesystem = "filesystem"
	UsageCrypto     = "crypto"
	UsageRaid       = "raid"
	UsageOther      = "other"
)

// ErrUnknown is returned by Probe when no known signature is found.
var ErrUnknown = errors.New("no known signature")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw returns the CRC32C of b seeded with ~0 and without the final
// inversion, as the kernel's crc32c() and libblkid compute it.
func crc32cRaw(b []byte) uint32 { return ^crc32.Checksum(b, castagnoli) }

// prober recognises one signature. ok=false with a nil error means "not
// this one"; an error is an I/O error that should be reported.
type prober func(d *reader) (info Info, ok bool, err error)

// probers in the order they are tried: containers and special areas whose
// signatures must win over stale filesystem signatures come first, FAT (the
// weakest signature) last.
var probers = []prober{
	probeMD,
	probeLVM2,
	probeLUKS,
	probeXFS,
	probeExt,
	probeBtrfs,
	probeF2FS,
	probeErofs,
	probeSquashfs,
	probeISO9660,
	probeSwap,
	probeVFAT,
}

// Probe identifies the contents of a device of the given size. It returns
// ErrUnknown (wrapped) when nothing matches.
func Probe(r io.ReaderAt, size int64) (Info, error) {
	if size < 0 {
		return Info{}, fmt.Errorf("probe: negative size %d", size)
	}
	d := &reader{r: r, size: size}
	for _, p := range probers {
		info, ok, err := p(d)
		if err != nil && !errors.Is(err, errRange) {
			return Info{}, fmt.Errorf("probe: %w", err)
		}
		if ok {
			return info, nil
		}
	}
	return Info{}, fmt.Errorf("probe (size %d): %w", size, ErrUnknown)
}
