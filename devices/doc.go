// Package devices keeps the registry of the block devices seen during the boot and gives
// them the names udev would: /dev/disk/by-uuid, by-label, by-partuuid, by-partlabel, by-id
// and by-path.
//
// The boot learns of a device from a uevent, but wants it by what it holds (root=UUID=...),
// and the answer may come before or after the question. The Registry joins the two: Add
// probes a device (package probe) and records it, Wait blocks until a device matching a
// mount.Spec is there. Partition tables are read once per disk and cached, so that each
// partition gets its PARTUUID and PARTLABEL without rereading the disk.
//
// The links matter to whatever reads /dev after the boot (an fstab with /dev/disk/by-id
// names, a root=/dev/disk/by-path/... spec); they are made the way udev's rules and helpers
// (path_id, ata_id, scsi_id) make them, from sysfs alone, so that the real system's udev
// later finds the same names. Devices made by the layers (device-mapper nodes with their
// /dev/mapper and dm-name-/dm-uuid- links, MD arrays) are recorded like any other block
// device; their names come from the layer that made them, not from sysfs walking.
//
// The registry reads only: it opens device nodes read-only and writes nothing but the
// symlinks under its device directory, which tests point at a temporary directory.
package devices
