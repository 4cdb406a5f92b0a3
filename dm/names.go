package dm

import (
	"fmt"
	"strings"
)

// The names and uuids below are how the tools of the booted system recognise a device
// made in the initramfs as theirs and already active: lvm matches its volumes by dm uuid,
// cryptsetup and systemd-cryptsetup find an open LUKS device by dm uuid and name (that uuid
// is luks.Header.DMUUID).

// LVMName returns the dm name lvm gives the logical volume lv of the volume group vg,
// "VG-LV", with every '-' inside VG and LV doubled so the joining dash stays unambiguous
// ("my-vg", "root" gives "my--vg-root"). A non-empty layer names one of lvm's hidden
// sub-devices ("tpool", "tdata", "real", "cow", …) and is appended after another '-'.
func LVMName(vg, lv, layer string) string {
	n := quoteDashes(vg) + "-" + quoteDashes(lv)
	if layer != "" {
		n += "-" + quoteDashes(layer)
	}
	return n
}

func quoteDashes(s string) string { return strings.ReplaceAll(s, "-", "--") }

// LVMUUID returns the dm uuid of a logical volume: "LVM-", then the VG's and the LV's
// uuids as lvm prints them with their dashes removed (32 characters each), then "-layer"
// for a hidden sub-device.
func LVMUUID(vgUUID, lvUUID, layer string) (string, error) {
	vg, lv := strings.ReplaceAll(vgUUID, "-", ""), strings.ReplaceAll(lvUUID, "-", "")
	if len(vg) != 32 || len(lv) != 32 {
		return "", fmt.Errorf("lvm uuids %q and %q: want 32 characters each without dashes", vgUUID, lvUUID)
	}
	u := "LVM-" + vg + lv
	if layer != "" {
		u += "-" + layer
	}
	return u, nil
}
