package md

import (
	"fmt"
	"sort"
)

// Member is one device that carries a superblock.
type Member struct {
	Device string // a name for messages, e.g. /dev/vdb1
	Dev    string // MAJ:MIN, as sysfs new_dev takes it
	SB     *Superblock
}

// Left is a member left out of its array, with the reason.
type Left struct {
	Member Member
	Reason string
}

// Array is the members found so far of one array (one UUID).
type Array struct {
	UUID [16]byte
	// SB is the newest superblock: the array's level, disks and name.
	SB *Superblock
	// Slots holds the fresh member in each slot (nil where missing);
	// Spares the fresh members without a slot.
	Slots  []*Member
	Spares []Member
	// Left are the members not used, each with why: an older event
	// count, a slot already taken, a role the newest superblock
	// does not give them.
	Left []Left
}

// Group sorts members by array UUID and, per array, keeps the members
// whose event count is the newest. Arrays come back ordered by UUID.
func Group(members []Member) []*Array {
	byUUID := map[[16]byte][]Member{}
	for _, m := range members {
		if m.SB != nil {
			byUUID[m.SB.UUID] = append(byUUID[m.SB.UUID], m)
		}
	}
	arrays := make([]*Array, 0, len(byUUID))
	for u, ms := range byUUID {
		arrays = append(arrays, build(u, ms))
	}
	sort.Slice(arrays, func(i, j int) bool {
		return string(arrays[i].UUID[:]) < string(arrays[j].UUID[:])
	})
	return arrays
}

func build(u [16]byte, ms []Member) *Array {
	// Newest first; equal event counts keep their arrival order.
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].SB.Events > ms[j].SB.Events })
	a := &Array{UUID: u, SB: ms[0].SB}
	a.Slots = make([]*Member, a.SB.RaidDisks) // check() bounds RaidDisks
	for i := range ms {
		m := ms[i]
		switch {
		case m.SB.Events < a.SB.Events:
			a.leave(m, fmt.Sprintf("stale: event count %d, the array is at %d", m.SB.Events, a.SB.Events))
		case m.SB.RaidDisks != a.SB.RaidDisks || m.SB.Level != a.SB.Level:
			a.leave(m, fmt.Sprintf("superblock disagrees with the newest one (%s, %d disks)", LevelName(m.SB.Level), m.SB.RaidDisks))
		case m.SB.Role == RoleSpare:
			a.Spares = append(a.Spares, m)
		case m.SB.Role >= len(a.Slots) || m.SB.Role < 0:
			a.leave(m, fmt.Sprintf("role %s: not an active member", roleString(m.SB.Role)))
		case a.Slots[m.SB.Role] != nil:
			a.leave(m, fmt.Sprintf("slot %d is already taken by %s", m.SB.Role, a.Slots[m.SB.Role].Device))
		default:
			a.Slots[m.SB.Role] = &ms[i]
		}
	}
	return a
}

func (a *Array) leave(m Member, reason string) { a.Left = append(a.Left, Left{m, reason}) }

func roleString(r int) string {
	switch r {
	case RoleSpare:
		return "spare"
	case RoleFaulty:
		return "faulty"
	case RoleJournal:
		return "journal"
	}
	return fmt.Sprint(r)
}

// Present is the number of slots filled.
func (a *Array) Present() int {
	n := 0
	for _, m := range a.Slots {
		if m != nil {
			n++
		}
	}
	return n
}

// Runnable says whether the members present are enough for the array's
// level to run, degraded if need be: raid1 and multipath need one
// member, raid4/5 all but one, raid6 all but two, raid10 one of every
// set of copies, raid0 and linear every member. A nil error means it
// can start.
func (a *Array) Runnable() error {
	if err := a.SB.Unsupported(); err != nil {
		return err
	}
	n, have := len(a.Slots), a.Present()
	need := n
	switch a.SB.Level {
	case LevelRAID1, LevelMultipath:
		need = 1
	case LevelRAID4, LevelRAID5:
		need = n - 1
	case LevelRAID6:
		need = n - 2
	case LevelRAID10:
		return a.raid10Runnable()
	}
	if need < 1 {
		need = 1
	}
	if have < need {
		return fmt.Errorf("%s with %d of %d members: needs at least %d", LevelName(a.SB.Level), have, n, need)
	}
	if have < n && !a.SB.Clean && a.SB.Level >= LevelRAID4 && a.SB.Level <= LevelRAID6 {
		// raid456 refuses this unless md_mod.start_dirty_degraded=1:
		// parity written while the array was dirty may be wrong.
		return fmt.Errorf("%s was not shut down cleanly and %d of %d members are missing: the kernel refuses a dirty degraded start (md_mod.start_dirty_degraded=1 forces it)", LevelName(a.SB.Level), n-have, n)
	}
	return nil
}

// raid10Runnable checks that every group of copies has a member. The
// layout holds near copies in its low byte and far copies in the next;
// a chunk's copies sit on consecutive slots (modulo the disk count), and
// consecutive chunks start near-copies slots apart.
func (a *Array) raid10Runnable() error {
	n := len(a.Slots)
	near, far := int(a.SB.Layout&0xff), int(a.SB.Layout>>8&0xff)
	copies := near * far
	if n == 0 || near == 0 || far == 0 || copies > n {
		return fmt.Errorf("raid10 layout %#x over %d members: not understood", a.SB.Layout, n)
	}
	first := 0
	for {
		found := false
		for k := 0; k < copies; k++ {
			if a.Slots[(first+k)%n] != nil {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("raid10 with %d of %d members: no copy of slots %d..%d", a.Present(), n, first, (first+copies-1)%n)
		}
		first = (first + near) % n
		if first == 0 {
			return nil
		}
	}
}

// Expected returns the slots the newest superblock gives to a device: the
// array as it last ran. A slot whose device had already failed is not
// expected, so an array that was degraded before the boot need not wait
// for a member that will never come.
func (a *Array) Expected() []int {
	var out []int
	seen := make([]bool, len(a.Slots))
	for _, r := range a.SB.Roles {
		if int(r) < len(a.Slots) && !seen[r] {
			seen[r] = true
			out = append(out, int(r))
		}
	}
	sort.Ints(out)
	return out
}

// Ready says every expected slot has its member: waiting longer would not
// bring more, so the array can start as it last ran.
func (a *Array) Ready() bool {
	if len(a.Slots) == 0 {
		return false
	}
	for _, s := range a.Expected() {
		if a.Slots[s] == nil {
			return false
		}
	}
	return true
}
