package lvm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/dm"
)

type fakeDM struct {
	next    uint32
	created []string
	removed []string
	tables  map[string][]dm.Target
	fail    string
	status  string // the thin pool's status line; "" = no Status method
}

// statusDM is a fakeDM that can also read statuses.
type statusDM struct{ *fakeDM }

func (f statusDM) Status(name string) ([]dm.Target, error) {
	return []dm.Target{{Type: "thin-pool", Params: f.status}}, nil
}

func (f *fakeDM) Create(name, uuid string, ro bool, tbl []dm.Target) (dm.Device, error) {
	if name == f.fail {
		return dm.Device{}, errors.New("EINVAL")
	}
	f.created = append(f.created, name)
	f.tables[name] = tbl
	f.next++
	return dm.Device{Name: name, Major: 253, Minor: f.next - 1}, nil
}

func (f *fakeDM) Remove(name string) error {
	f.removed = append(f.removed, name)
	return nil
}

func TestActivate(t *testing.T) {
	vg := loadVG(t, "thin.vg")
	pvs := map[string]string{"0igb0Q-VtlM-ld3h-6xGI-017u-JVjD-dN6NWQ": "254:16"}
	plan, err := vg.Plan([]string{"root"}, Options{PVs: pvs})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDM{tables: map[string][]dm.Target{}}
	devs, err := Activate(f, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.created, []string{"vg0-pool_tmeta", "vg0-pool_tdata", "vg0-pool-tpool", "vg0-root"}) {
		t.Errorf("created %v", f.created)
	}
	if got := f.tables["vg0-pool-tpool"][0].Params; got != "253:0 253:1 128 0 0" {
		t.Errorf("tpool params %q", got)
	}
	if got := f.tables["vg0-root"][0].Params; got != "253:2 1" || devs["vg0-root"] != "253:3" {
		t.Errorf("root params %q, devs %v", got, devs)
	}

	// The second thin LV reuses the pool made by the first call.
	plan, _ = vg.Plan([]string{"home"}, Options{PVs: pvs})
	f.created = nil
	devs, err = Activate(f, plan, devs)
	if err != nil || !reflect.DeepEqual(f.created, []string{"vg0-home"}) || f.tables["vg0-home"][0].Params != "253:2 2" {
		t.Errorf("second call: %v created %v devs %v", err, f.created, devs)
	}

	// A failure removes what the call made, newest first.
	plan, _ = vg.Plan([]string{"root"}, Options{PVs: pvs})
	f = &fakeDM{tables: map[string][]dm.Target{}, fail: "vg0-root"}
	if _, err := Activate(f, plan, nil); err == nil || !strings.Contains(err.Error(), "create vg0-root: EINVAL") {
		t.Errorf("err = %v", err)
	}
	if !reflect.DeepEqual(f.removed, []string{"vg0-pool-tpool", "vg0-pool_tdata", "vg0-pool_tmeta"}) {
		t.Errorf("removed %v", f.removed)
	}
}

func TestActivateThinPoolCheck(t *testing.T) {
	vg := loadVG(t, "thin.vg") // pool transaction_id 2
	pvs := map[string]string{"0igb0Q-VtlM-ld3h-6xGI-017u-JVjD-dN6NWQ": "254:16"}
	for _, tt := range []struct{ status, want string }{
		{"2 10/1024 0/16000 - rw discard_passdown queue_if_no_space - 1024", ""},
		{"1 10/1024 0/16000 - rw discard_passdown queue_if_no_space - 1024", "transaction_id is 1, the lvm metadata expects 2"},
		{"2 10/1024 0/16000 - rw discard_passdown queue_if_no_space needs_check 1024", "needs checking"},
		{"Fail", "failed"},
		{"x", "invalid syntax"},
	} {
		plan, _ := vg.Plan([]string{"root"}, Options{PVs: pvs})
		f := &fakeDM{tables: map[string][]dm.Target{}, status: tt.status}
		_, err := Activate(statusDM{f}, plan, nil)
		if tt.want == "" {
			if err != nil || len(f.created) != 4 {
				t.Errorf("%q: %v, created %v", tt.status, err, f.created)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.status, err, tt.want)
		}
		if len(f.created) != 3 || len(f.removed) != 3 {
			t.Errorf("%q: created %v removed %v", tt.status, f.created, f.removed)
		}
	}
}
