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
//     VG.Wanted picks the LVs a boot asks for (root, resume=, rd.lvm.lv=,
//     rd.lvm.vg=); VG.Missing says which PVs are still to come.
//   - Activate creates a plan's devices through package dm, reusing
//     devices made earlier and removing its own when one fails.
//
// A VG is planned only when all its PVs are present unless the caller
// asks for Degraded (raid legs may be missing, as lvm's default
// activation mode) or Partial (extents on missing PVs become error
// targets). Tables refer to PVs and to other dm devices by "MAJ:MIN",
// never by path, so nothing depends on /dev/mapper links existing.
//
// Supported segment types: striped (and linear, a one-stripe striped),
// thin-pool, thin, raid1, raid4, raid5 and raid6 (dm-raid), error, zero,
// and old-style (COW) snapshots with their origin. Other types (cache,
// writecache, vdo, integrity, raid10, old-style mirror) are refused with
// a clear error rather than mapped wrongly.
package lvm
