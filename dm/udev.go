package dm

import (
	"fmt"
	"os"
	"path/filepath"
)

// UdevDataDir is where udev keeps its database, one file per device ("b<MAJ>:<MIN>" for a
// block device). /run is moved into the real root at switch_root, so the real system's
// udev finds there what the initramfs wrote.
const UdevDataDir = "/run/udev/data"

// udevRecord is the database entry the real system's udev must find for a device this
// package made. lvm2's 10-dm.rules ignores an "add" uevent for dm-N (it marks the device
// DM_UDEV_DISABLE_*_RULES and makes no /dev/mapper link, no /dev/disk/by-* link, and
// systemd then sees the device as not ready) unless the event, or the database left by an
// earlier run, says the device was activated properly: DM_UDEV_PRIMARY_SOURCE_FLAG=1.
// libdevmapper passes that flag in the udev cookie of its resume; we run no udev and pass
// no cookie, so the flag has to be in the database when the real system's coldplug
// ("udevadm trigger --action=add") replays the add event. With it the rules run as for a
// device activated by lvm or cryptsetup themselves.
const udevRecord = "E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\n"

// WriteUdevRecord writes the udev database entry for d into dir (UdevDataDir in the
// initramfs) so that the real system's udev treats d as a properly activated device-mapper
// device; see udevRecord. It never overwrites an existing entry (a udev running in the
// initramfs wrote a fuller one).
func WriteUdevRecord(dir string, d Device) error {
	p := filepath.Join(dir, fmt.Sprintf("b%d:%d", d.Major, d.Minor))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dm %s: udev record: %w", d.Name, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if os.IsExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dm %s: udev record: %w", d.Name, err)
	}
	_, err = f.WriteString(udevRecord)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dm %s: udev record: %w", d.Name, err)
	}
	return nil
}
