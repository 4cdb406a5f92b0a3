package probe

import "sort"

// Region is a byte range of a device: Len bytes at Off.
type Region struct {
	Off, Len int64
}

// Sizes of the areas at a device's start and end that hold the signatures
// Probe and ProbeTable look for. The head reaches past the last superblock
// and header offset in it (LUKS2's secondary header at 128 KiB, btrfs's
// superblock at 64 KiB, ISO 9660's volume descriptors from 32 KiB, swap's
// signature for 64 KiB pages); the tail holds MD 0.90 and 1.0 superblocks
// (0.90 is 64 to 128 KiB from the end) and the backup GPT.
const (
	headRegion = 136 << 10
	tailRegion = 128 << 10
	pageRegion = 4 << 10
)

// Regions lists where Probe and ProbeTable read on a device of the given
// size: the head, the LUKS2 secondary header offsets past it, and the tail,
// clipped to the device and in ascending order (overlaps are merged). A
// caller can ask the kernel to read them all at once (readahead) before
// probing, so that the probers' scattered reads wait for one batch of I/O
// instead of one request after another. Only reads that follow on-disk
// pointers lie elsewhere: FAT's root directory, DOS logical partitions,
// ISO 9660 volume descriptor sets longer than the head.
func Regions(size int64) []Region {
	if size <= 0 {
		return nil
	}
	rs := []Region{{0, headRegion}}
	for _, off := range luksSecondary {
		if off >= headRegion {
			rs = append(rs, Region{off, pageRegion})
		}
	}
	rs = append(rs, Region{size - tailRegion, tailRegion})
	sort.Slice(rs, func(i, j int) bool { return rs[i].Off < rs[j].Off })
	var out []Region
	for _, r := range rs {
		r = clip(r, size)
		if r.Len <= 0 {
			continue
		}
		if n := len(out); n > 0 && r.Off <= out[n-1].Off+out[n-1].Len {
			out[n-1].Len = max(out[n-1].Len, r.Off+r.Len-out[n-1].Off)
			continue
		}
		out = append(out, r)
	}
	return out
}

// clip limits r to [0, size).
func clip(r Region, size int64) Region {
	if r.Off < 0 {
		r.Len += r.Off
		r.Off = 0
	}
	if r.Off+r.Len > size {
		r.Len = size - r.Off
	}
	return r
}
