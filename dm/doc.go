// Package dm creates and inspects Linux device-mapper devices through the ioctls on
// /dev/mapper/control, the interface libdevmapper (dmsetup, lvm, cryptsetup) uses, so that
// the LUKS, LVM and MD layers of the init need no external tool.
//
// # The ioctl interface
//
// Every command is one ioctl whose argument is a struct dm_ioctl (312 bytes: interface
// version, data_size, data_start, target_count, open_count, flags, event_nr, dev,
// name[128], uuid[129]) followed by a data area. A device is made in three steps, which
// Control.Create performs and undoes on failure:
//
//  1. DM_DEV_CREATE registers the name and uuid and allocates dm-N; the kernel sends an
//     "add" uevent for a device that is still empty and suspended;
//  2. DM_TABLE_LOAD puts a table into the inactive slot: a dm_target_spec (start, length,
//     target type) per target, each followed by its NUL-terminated parameter string and
//     padded so the next spec starts 8-byte aligned (spec.next counts from the current
//     spec); the target constructors run now, so a bad table fails here;
//  3. DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded table goes live and the
//     kernel sends a "change" uevent for dm-N.
//
// A consumer of uevents must therefore probe dm-N on the change event (or when Create
// returns), not on the add. Neither event names the device: the kernel puts only the usual
// block keys (MAJOR, MINOR, DEVNAME=dm-N, DISKSEQ) in them; the dm name, uuid and state are
// in sysfs, /sys/block/dm-N/dm/{name,uuid,suspended}, which is also where udev reads them.
// devtmpfs makes only /dev/dm-N: /dev/mapper/NAME is udev's link, which the init has to
// make itself if it wants one.
//
// Replies that carry data (DM_LIST_DEVICES, DM_TABLE_STATUS) set DM_BUFFER_FULL_FLAG when
// the buffer was too small; the command is then repeated with a doubled buffer. In a
// DM_TABLE_STATUS reply spec.next counts from the first spec, not the current one.
//
// # udev
//
// libdevmapper passes a "udev cookie" in event_nr on resume and remove: a semaphore to wait
// for udev, plus flags in the upper 16 bits that the dm udev rules read from the
// uevent's DM_COOKIE. The initramfs runs no udev, so this package sends no cookie and the
// uevents carry no DM_COOKIE. What matters is what the real system's udev sees after
// switch_root: its coldplug replays an "add" event for every dm-N, and lvm2's 10-dm.rules
// acts on such an event only if udev's database says the device was activated properly.
// WriteUdevRecord writes that database entry; with it, udev creates /dev/mapper/NAME and
// the /dev/disk/by-* links and systemd sees the device as ready. The dm name and uuid
// (LVMName and LVMUUID here, luks.Header.DMUUID for LUKS) are what make lvm and cryptsetup
// in the booted system recognise a device as theirs and already active.
//
// # Keys
//
// Crypt tables never hold key bytes: a KeyRef names a "logon" key in the kernel keyring,
// which package keyring adds for the duration of the table load. The load itself is sent
// with DM_SECURE_DATA_FLAG so the kernel wipes its copy of the ioctl buffer.
//
// The pure parts (buffer layout, table parameter strings, names) are separate from the
// ioctl, which sits behind the Ioctler seam so the command sequences are tested without a
// kernel.
package dm
