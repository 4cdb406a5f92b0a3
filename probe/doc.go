// Package probe tells what a block device holds by reading its first (and for some
// signatures its last) blocks: filesystems, swap and hibernation images, GPT and MBR
// partition tables, and the signatures of the layers that make new block devices out of
// others (LUKS, LVM2 physical volumes, MD RAID members).
//
// It is a package of its own because everything above it needs the same answers and none
// of it may need a device: the device registry probes each block device as it appears, and
// the layers (dm-crypt, LVM, MD) decide from Info.Layer and the UUIDs what to assemble. So
// the functions here are pure over an io.ReaderAt and a size; tests run on small images
// made by the real mkfs tools (testdata/mkfixtures.sh), and a fuzz target covers every
// parser.
//
// Identifiers (UUID, LABEL, PARTUUID, ...) are formatted the way blkid(8) prints them, so
// that root=UUID=... copied from blkid output matches. Signatures of layers and special
// areas are tried before filesystems: an MD member with metadata 0.90 or 1.0 also shows the
// filesystem inside the array at its start, and must be seen as a member, not as that
// filesystem.
//
// Every read is bounded and every offset checked: a truncated or hostile image yields an
// error or "no match", never a panic or a large allocation.
package probe
