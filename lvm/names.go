package lvm

import (
	"strings"
)

// The dm names and UUIDs themselves come from package dm (dm.LVMName,
// dm.LVMUUID); this file reads them back.

// SplitDMName splits an lvm dm name (dm.LVMName) back into VG, LV and
// layer. A single '-' separates them; "--" is a '-' inside a name.
func SplitDMName(name string) (vg, lv, layer string, ok bool) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			cur.WriteByte(name[i])
			continue
		}
		if i+1 < len(name) && name[i+1] == '-' {
			cur.WriteByte('-')
			i++
			continue
		}
		parts = append(parts, cur.String())
		cur.Reset()
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		if p == "" {
			return "", "", "", false
		}
	}
	switch len(parts) {
	case 2:
		return parts[0], parts[1], "", true
	case 3:
		return parts[0], parts[1], parts[2], true
	}
	return "", "", "", false
}

// ParseLVPath reads the ways a boot names an LV — "/dev/mapper/VG-LV",
// "/dev/VG/LV", "VG/LV" (rd.lvm.lv=) — and returns VG and LV.
func ParseLVPath(p string) (vg, lv string, ok bool) {
	if rest, found := strings.CutPrefix(p, "/dev/mapper/"); found {
		vg, lv, layer, ok := SplitDMName(rest)
		if !ok || layer != "" {
			return "", "", false
		}
		return vg, lv, true
	}
	p = strings.TrimPrefix(p, "/dev/")
	vg, lv, found := strings.Cut(p, "/")
	if !found || vg == "" || lv == "" || strings.Contains(lv, "/") {
		return "", "", false
	}
	return vg, lv, true
}
