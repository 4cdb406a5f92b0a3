package cmdline

import (
	"reflect"
	"testing"
	"time"
)

func TestMDLVM(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		md         MD
		lvm        LVM
		problems   int
	}{
		{"none", "root=/dev/md0", MD{}, LVM{}, 0},
		{"off", "rd.md=0 rd.lvm=0", MD{Disabled: true}, LVM{Disabled: true}, 0},
		{"off then on", "rd.md=0 rd.md", MD{}, LVM{}, 0},
		{"uuids", "rd.md.uuid=5eedd000:00004000:80000000:00000007 rd.md.uuid=5EEDD000-0000-4000-8000-000000000008",
			MD{UUIDs: []string{"5eedd00000004000800000000000000" + "7", "5eedd00000004000800000000000000" + "8"}}, LVM{}, 0},
		{"bad uuid", "rd.md.uuid=xyz rd.md.uuid=5eedd000", MD{}, LVM{}, 2},
		{"retry", "rd.retry=3", MD{Retry: 3 * time.Second}, LVM{}, 0},
		{"bad retry", "rd.retry=0 rd.retry=x rd.retry", MD{}, LVM{}, 3},
		{"lvm lists", "rd.lvm.vg=vg0 rd.lvm.lv=vg1/root rd.lvm.lv=vg1/swap rd.lvm.vg=",
			MD{}, LVM{VGs: []string{"vg0"}, LVs: []string{"vg1/root", "vg1/swap"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Parse(tc.line)
			if !reflect.DeepEqual(c.MD, tc.md) || !reflect.DeepEqual(c.LVM, tc.lvm) || len(c.Problems) != tc.problems {
				t.Errorf("Parse(%q): md %+v lvm %+v problems %q; want %+v %+v %d", tc.line, c.MD, c.LVM, c.Problems, tc.md, tc.lvm, tc.problems)
			}
			if _, ok := c.ModParams["rd"]; ok {
				t.Errorf("rd.* became a module parameter")
			}
		})
	}
}

func TestMDWants(t *testing.T) {
	u7, u8 := "5eedd000:00004000:80000000:00000007", "5eedd000-0000-4000-8000-000000000008"
	for _, tc := range []struct {
		line, uuid string
		want       bool
	}{
		{"", u7, true},
		{"rd.md=0", u7, false},
		{"rd.md.uuid=" + u7, u7, true},
		{"rd.md.uuid=" + u7, "5EEDD000-0000-4000-8000-000000000007", true},
		{"rd.md.uuid=" + u7, u8, false},
		{"rd.md=0 rd.md.uuid=" + u7, u7, false},
	} {
		if got := Parse(tc.line).MD.Wants(tc.uuid); got != tc.want {
			t.Errorf("Parse(%q).MD.Wants(%q) = %v, want %v", tc.line, tc.uuid, got, tc.want)
		}
	}
	if got := Parse("").MD.RetryOrDefault(); got != DefaultRetry {
		t.Errorf("default retry %v", got)
	}
}
