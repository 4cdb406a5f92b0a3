package md

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func member(dev string, uuid byte, level, disks, role int, events uint64) Member {
	sb := &Superblock{Version: "1.2", Level: level, RaidDisks: disks, Role: role, Events: events, Clean: true, Layout: 0x102}
	sb.UUID[0] = uuid
	return Member{Device: dev, Dev: "8:" + dev[len(dev)-1:], SB: sb}
}

func TestGroup(t *testing.T) {
	ms := []Member{
		member("/dev/vda", 1, 1, 2, 0, 10),
		member("/dev/vdb", 1, 1, 2, 1, 9), // stale
		member("/dev/vdc", 2, 5, 3, 0, 4),
		member("/dev/vdd", 1, 1, 2, 1, 10),
		member("/dev/vde", 1, 1, 2, RoleSpare, 10),
		member("/dev/vdf", 1, 1, 2, 0, 10), // slot taken
		member("/dev/vdg", 1, 1, 2, RoleFaulty, 10),
		member("/dev/vdh", 1, 5, 2, 1, 10), // disagrees
		{Device: "/dev/vdi"},               // no superblock: ignored
	}
	arrays := Group(ms)
	if len(arrays) != 2 {
		t.Fatalf("%d arrays", len(arrays))
	}
	a := arrays[0]
	var slots []string
	for _, m := range a.Slots {
		slots = append(slots, m.Device)
	}
	if !reflect.DeepEqual(slots, []string{"/dev/vda", "/dev/vdd"}) {
		t.Errorf("slots %v", slots)
	}
	if len(a.Spares) != 1 || a.Spares[0].Device != "/dev/vde" {
		t.Errorf("spares %v", a.Spares)
	}
	var left []string
	for _, l := range a.Left {
		left = append(left, l.Member.Device+": "+l.Reason)
	}
	want := []string{
		"/dev/vdf: slot 0 is already taken by /dev/vda",
		"/dev/vdg: role faulty: not an active member",
		"/dev/vdh: superblock disagrees with the newest one (raid5, 2 disks)",
		"/dev/vdb: stale: event count 9, the array is at 10",
	}
	if !reflect.DeepEqual(left, want) {
		t.Errorf("left:\n%s\nwant:\n%s", strings.Join(left, "\n"), strings.Join(want, "\n"))
	}
	if !complete(a) || a.Runnable() != nil {
		t.Errorf("array 1: complete %v runnable %v", complete(a), a.Runnable())
	}
	b := arrays[1]
	if complete(b) || b.Present() != 1 {
		t.Errorf("array 2: complete %v present %d", complete(b), b.Present())
	}
}

// slots builds an array of level over n slots with the given ones present.
func slots(level int, layout uint32, n int, present ...int) *Array {
	a := &Array{SB: &Superblock{Level: level, Layout: layout, RaidDisks: n, Clean: true}, Slots: make([]*Member, n)}
	for i := range n {
		a.SB.Roles = append(a.SB.Roles, uint16(i)) // every slot in use when it last ran
	}
	for _, p := range present {
		a.Slots[p] = &Member{Device: fmt.Sprint(p)}
	}
	return a
}

func TestRunnable(t *testing.T) {
	tests := []struct {
		name string
		a    *Array
		ok   bool
	}{
		{"raid1 2/2", slots(1, 0, 2, 0, 1), true},
		{"raid1 1/2", slots(1, 0, 2, 1), true},
		{"raid1 0/2", slots(1, 0, 2), false},
		{"raid0 1/2", slots(0, 0, 2, 0), false},
		{"raid0 2/2", slots(0, 0, 2, 0, 1), true},
		{"linear 2/3", slots(LevelLinear, 0, 3, 0, 2), false},
		{"raid5 2/3", slots(5, 2, 3, 0, 2), true},
		{"raid5 1/3", slots(5, 2, 3, 0), false},
		{"raid4 3/4", slots(4, 0, 4, 0, 1, 3), true},
		{"raid6 2/4", slots(6, 2, 4, 1, 3), true},
		{"raid6 1/4", slots(6, 2, 4, 3), false},
		// near=2 over 4 disks: pairs (0,1) and (2,3) mirror each other.
		{"raid10 n2 4: 0,2", slots(10, 0x102, 4, 0, 2), true},
		{"raid10 n2 4: 1,3", slots(10, 0x102, 4, 1, 3), true},
		{"raid10 n2 4: 0,1", slots(10, 0x102, 4, 0, 1), false},
		{"raid10 n2 4: 2,3", slots(10, 0x102, 4, 2, 3), false},
		// near=2 over 3 disks: copies wrap, any one disk may go.
		{"raid10 n2 3: 0,1", slots(10, 0x102, 3, 0, 1), true},
		{"raid10 n2 3: 2", slots(10, 0x102, 3, 2), false},
		// far=2: a chunk's copy is on the next disk, so neighbours may not both go.
		{"raid10 f2 4: 0,2", slots(10, 0x201, 4, 0, 2), true},
		{"raid10 f2 4: 0,1", slots(10, 0x201, 4, 0, 1), false},
		{"raid10 bad layout", slots(10, 0, 4, 0, 1, 2, 3), false},
	}
	for _, tt := range tests {
		if err := tt.a.Runnable(); (err == nil) != tt.ok {
			t.Errorf("%s: Runnable = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	dirty := slots(5, 2, 3, 0, 1)
	dirty.SB.Clean = false
	if err := dirty.Runnable(); err == nil || !strings.Contains(err.Error(), "dirty degraded") {
		t.Errorf("dirty degraded raid5: %v", err)
	}
	dirty = slots(1, 0, 2, 0)
	dirty.SB.Clean = false
	if err := dirty.Runnable(); err != nil {
		t.Errorf("dirty degraded raid1: %v", err)
	}
}

func TestDevName(t *testing.T) {
	tests := []struct {
		name, home, want string
	}{
		{"debian:root", "debian", "root"},
		{"debian:root", "other", "debian:root"},
		{"debian:root", HomeAny, "root"},
		{"root", "debian", "root_0"},
		{"root", HomeAny, "root"},
		{"h:a/b c", "h", "a-b_c"},
		{"", "h", ""},
	}
	for _, tt := range tests {
		if got := DevName(&Superblock{Name: tt.name}, tt.home); got != tt.want {
			t.Errorf("DevName(%q, %q) = %q, want %q", tt.name, tt.home, got, tt.want)
		}
	}
	sb := &Superblock{Name: "debian:root", UUID: testUUID}
	if got := Links(sb); !reflect.DeepEqual(got, []string{"md-uuid-3b0b5b13:8f3f3a1f:01020304:a0b0c0d0", "md-name-debian:root"}) {
		t.Errorf("Links = %v", got)
	}
}

func TestKernelName(t *testing.T) {
	used := map[string]bool{"md127": true, "md3": true}
	u := func(n string) bool { return used[n] }
	for _, tt := range []struct {
		sb   Superblock
		want string
	}{
		{Superblock{Version: "1.2"}, "md126"},
		{Superblock{Version: "0.90", PreferredMinor: 0}, "md0"},
		{Superblock{Version: "0.90", PreferredMinor: 3}, "md126"},
	} {
		if got, err := KernelName(&tt.sb, u); got != tt.want || err != nil {
			t.Errorf("%+v: %q %v, want %q", tt.sb, got, err, tt.want)
		}
	}
}

func TestReady(t *testing.T) {
	// A raid1 that lost slot 1 before the boot: its newest superblock
	// gives slot 1 to nobody, so the array is ready with slot 0 alone.
	a := slots(1, 0, 2, 0)
	a.SB.Roles = []uint16{0, RoleFaulty, RoleSpare}
	if !reflect.DeepEqual(a.Expected(), []int{0}) || !a.Ready() || complete(a) {
		t.Errorf("expected %v ready %v complete %v", a.Expected(), a.Ready(), complete(a))
	}
	// Both slots in use when it last ran: not ready with one.
	a.SB.Roles = []uint16{0, 1}
	if a.Ready() {
		t.Error("ready with a member missing")
	}
	a.Slots[1] = &Member{Device: "x"}
	if !a.Ready() || !complete(a) {
		t.Error("not ready when complete")
	}
	if (&Array{SB: &Superblock{}}).Ready() {
		t.Error("an array without slots is ready")
	}
}

// complete says every slot of a has its member.
func complete(a *Array) bool { return len(a.Slots) > 0 && a.Present() == len(a.Slots) }
