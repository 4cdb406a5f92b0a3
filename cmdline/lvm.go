package cmdline

// LVM is what the command line says about LVM2 volumes (dracut's names):
//
//	rd.lvm=0              activate no LV
//	rd.lvm.vg=VG          activate every LV of VG (repeatable)
//	rd.lvm.lv=VG/LV       activate this LV (repeatable)
//
// Without rd.lvm.vg= and rd.lvm.lv= the boot activates the LVs root= and resume= name, or,
// when they name a filesystem (UUID=, LABEL=) that could be in any LV, every LV of every
// complete VG.
type LVM struct {
	Disabled bool     // rd.lvm=0
	VGs      []string // rd.lvm.vg=
	LVs      []string // rd.lvm.lv=, "VG/LV"
}

// Restricted reports whether rd.lvm.vg= or rd.lvm.lv= list what to activate.
func (l LVM) Restricted() bool { return len(l.VGs) > 0 || len(l.LVs) > 0 }

// applyLVM records an LVM parameter and reports whether key was one.
func (c *Config) applyLVM(p Param, key string) bool {
	switch key {
	case "rd.lvm":
		c.LVM.Disabled = !c.boolean(p, !c.LVM.Disabled)
	case "rd.lvm.vg", "rd.lvm.lv":
		if p.Value == "" {
			c.problem(p, "missing value, ignored")
			return true
		}
		if key == "rd.lvm.vg" {
			c.LVM.VGs = append(c.LVM.VGs, p.Value)
		} else {
			c.LVM.LVs = append(c.LVM.LVs, p.Value)
		}
	default:
		return false
	}
	return true
}
