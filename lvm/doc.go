// Package lvm reads LVM2 physical volumes and turns logical volumes into
// device-mapper tables, without the lvm tools and without ever writing
// LVM metadata.
//
// The layers, each usable alone:
//
//   - ReadLabel finds a PV label ("LABELONE" in one of the first four
//     sectors) and its pv_header: PV UUID, device size, data and metadata
//     areas. It is the one parser of the LVM2 signature: a prober calls it
//     and treats ErrNotFound as "not a PV".
//   - ReadMetadata reads each metadata area: the mda_header, then the
//     committed text from the area's ring buffer (which may wrap around
//     the end of the area), each checked with LVM's CRC.
//   - ParseText parses LVM's text metadata format into sections and
//     values; NewVG builds the volume group model from it (PVs, LVs and
//     their segments). Newest picks, per VG UUID, the metadata with the
//     highest seqno found on any PV.
//   - VG.Plan computes the dm devices one or more LVs need, in activation
//     order (the devices a table refers to come first), with lvm's own dm
//     names and UUIDs (dm.LVMName, dm.LVMUUID) so that the real root's lvm
//     recognises them as its own: "VG-LV" with '-' in names doubled,
//     "LVM-<vg uuid><lv uuid>", and lvm's layer suffixes ("-tpool" for an
//     active thin pool, "-real" and "-cow" for old-style snapshots).
//
// Supported segment types: striped (and linear, a one-stripe striped),
// thin-pool, thin, raid1, raid4, raid5 and raid6 (dm-raid), error, zero,
// and old-style (COW) snapshots with their origin. Other types (cache,
// writecache, vdo, integrity, raid10, old-style mirror) are refused with
// a clear error rather than mapped wrongly.
package lvm
