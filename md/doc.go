// Package md reads Linux MD RAID superblocks and assembles arrays through
// the kernel's md sysfs interface, the way mdadm does for arrays whose
// metadata the kernel manages itself (0.90 and 1.x).
//
// The package has three parts, each usable alone:
//
//   - Read parses the superblock of one member device (versions 0.90 in
//     either byte order, 1.0, 1.1 and 1.2), checks its magic, location and
//     checksum, and names Intel IMSM and SNIA DDF containers (ErrIMSM,
//     ErrDDF) as unsupported instead of ignoring them. It is the one
//     parser of MD signatures: a block-device prober calls Read and treats
//     ErrNotFound as "not a member".
//   - Group sorts members by array UUID, keeps the members with the newest
//     event count and leaves the others out with a reason; an Array then
//     says whether every member it last ran with is there (Ready) and
//     whether its level allows a degraded start with those present
//     (Runnable).
//   - Assembler starts an Array by writing to sysfs (new_array,
//     metadata_version, new_dev, array_state). With 0.90 and 1.x metadata
//     the kernel reads every member's superblock itself when the member is
//     added and takes level, layout, chunk size, slots and data offsets
//     from it, so nothing else needs writing. Arrays start auto-read-only
//     ("read-auto"): the members stay bit-identical until the first write.
//
// ParseConf reads the ARRAY and HOMEHOST lines of mdadm.conf for
// host-only images; DevName and Links give the /dev/md/NAME and
// /dev/disk/by-id names mdadm and udev would.
//
// The md_mod module must be loaded before Start (new_array lives in its
// parameters); the kernel itself asks for the personality ("md-level-1",
// …) through the modprobe helper when the array runs.
//
// Nothing here writes a superblock: metadata the kernel would update on
// the first write is the kernel's business, and a read-only boot leaves
// every member unchanged.
package md
