package md

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// fakeSys records writes and acts like md for new_array: the array's
// directory appears once it is created. fail makes one attribute fail.
type fakeSys struct {
	exists map[string]bool
	writes []string
	fail   map[string]error
}

func (f *fakeSys) Write(attr, value string) error {
	f.writes = append(f.writes, attr+"="+value)
	if err := f.fail[attr+"="+value]; err != nil {
		return err
	}
	if attr == "module/md_mod/parameters/new_array" {
		if f.exists["block/"+value] {
			return syscall.EEXIST
		}
		f.exists["block/"+value] = true
	}
	return nil
}

func (f *fakeSys) Exists(p string) bool { return f.exists[p] }

func raid1(present ...int) *Array {
	a := slots(LevelRAID1, 0, 2, present...)
	a.SB.Version = "1.2"
	a.SB.UUID = testUUID
	for i, m := range a.Slots {
		if m != nil {
			m.Device, m.Dev = "/dev/vd"+string(rune('a'+i)), "254:"+string(rune('0'+16*i/8))
		}
	}
	return a
}

func TestStart(t *testing.T) {
	sys := &fakeSys{exists: map[string]bool{"block/md127": true}}
	a := raid1(0, 1)
	a.Spares = []Member{{Device: "/dev/vdz", Dev: "254:32"}}
	st, err := (&Assembler{Sys: sys}).Start(a, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"module/md_mod/parameters/new_array=md126",
		"block/md126/md/metadata_version=1.2",
		"block/md126/md/new_dev=254:0",
		"block/md126/md/new_dev=254:2",
		"block/md126/md/new_dev=254:32",
		"block/md126/md/array_state=read-auto",
	}
	if !reflect.DeepEqual(sys.writes, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(sys.writes, "\n"), strings.Join(want, "\n"))
	}
	if st.Name != "md126" || st.Degraded || !reflect.DeepEqual(st.Members, []string{"/dev/vda", "/dev/vdb", "/dev/vdz"}) {
		t.Errorf("started %+v", st)
	}
}

func TestStartDegraded(t *testing.T) {
	a := raid1(1)
	sys := &fakeSys{exists: map[string]bool{}}
	if _, err := (&Assembler{Sys: sys}).Start(a, false); err == nil || len(sys.writes) != 0 {
		t.Fatalf("degraded start without permission: %v, writes %v", err, sys.writes)
	}
	st, err := (&Assembler{Sys: sys}).Start(a, true)
	if err != nil || !st.Degraded || !reflect.DeepEqual(st.Missing, []int{0}) {
		t.Fatalf("degraded start: %+v %v", st, err)
	}
	// Degraded before the boot: starts without permission.
	was := raid1(0)
	was.SB.Roles = []uint16{0, RoleFaulty}
	st, err = (&Assembler{Sys: sys}).Start(was, false)
	if err != nil || !st.Degraded {
		t.Errorf("array degraded before the boot: %+v %v", st, err)
	}
	none := raid1()
	if _, err := (&Assembler{Sys: sys}).Start(none, true); err == nil {
		t.Error("raid1 without members started")
	}
}

func TestStartFailure(t *testing.T) {
	sys := &fakeSys{exists: map[string]bool{}, fail: map[string]error{"block/md127/md/new_dev=254:2": syscall.EINVAL}}
	_, err := (&Assembler{Sys: sys}).Start(raid1(0, 1), false)
	if err == nil || !strings.Contains(err.Error(), "add /dev/vdb (254:2)") || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("err = %v", err)
	}
	if last := sys.writes[len(sys.writes)-1]; last != "block/md127/md/array_state=clear" {
		t.Errorf("last write %q, want the array cleared", last)
	}
}

func TestStartNameRace(t *testing.T) {
	// md127 appears between the existence check and new_array.
	sys := &fakeSys{exists: map[string]bool{}, fail: map[string]error{"module/md_mod/parameters/new_array=md127": syscall.EEXIST}}
	st, err := (&Assembler{Sys: sys}).Start(raid1(0, 1), false)
	if err != nil || st.Name != "md126" {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestSysfs(t *testing.T) {
	root := t.TempDir()
	attr := filepath.Join(root, "block/md0/md/array_state")
	if err := os.MkdirAll(filepath.Dir(attr), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(attr, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := Sysfs{Root: root}
	if err := s.Write("block/md0/md/array_state", "read-auto"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(attr); string(b) != "read-auto" {
		t.Errorf("wrote %q", b)
	}
	if err := s.Write("block/md0/md/new_dev", "8:0"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write to a missing attribute: %v (must not create it)", err)
	}
	if !s.Exists("block/md0") || s.Exists("block/md1") {
		t.Error("Exists")
	}
}
