package devices

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/mount"
)

// A layer member is never what UUID= or LABEL= names (those are its array's or its PV's),
// but a path, PARTUUID= or MAJ:MIN still names it; a LUKS volume is named by its UUID.
func TestLayerMembersMatch(t *testing.T) {
	dir := devTree(t, map[string]string{"md10": "md1.0", "pv": "lvm2", "crypt": "luks2"})
	r := NewRegistry(dir)
	for i, n := range []string{"md10", "pv", "crypt"} {
		r.Add(Device{Name: n, Type: "disk", Major: 254, Minor: i})
	}
	for _, tc := range []struct {
		spec, want string // want "": no device
	}{
		{"UUID=d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", ""}, // the array's UUID, on the member
		{"LABEL=earlyroot:md10", ""},
		{"UUID=Xy1AbC-dEfG-hIjK-lMnO-pQrS-tUvW-xYz012", ""}, // the PV's UUID
		{"/dev/md10", "md10"},
		{"254:1", "pv"},
		{"UUID=ce8f1c5a-cccc-4b5b-9b0e-0123456789ab", "crypt"},
		{"LABEL=cryptroot", "crypt"},
	} {
		s, err := mount.ParseSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := r.Find(s)
		if ok != (tc.want != "") || ok && d.Name != tc.want {
			t.Errorf("Find(%s) = %q, %v; want %q", tc.spec, d.Name, ok, tc.want)
		}
	}
	// The exclusion is by layer, not by a failed probe: the members were recognised.
	for _, d := range r.Devices() {
		if d.Info.Layer == "" {
			t.Errorf("%s: no layer (%v)", d.Name, d.ProbeErr)
		}
		if err := r.Links(d); err != nil {
			t.Fatal(err)
		}
	}
	// Nor does a /dev/disk/by-uuid or by-label path lead to an MD member or a PV, as udev
	// makes none for them; a LUKS volume has a by-uuid link and, as udev's rules give
	// labels only to filesystems, no by-label one.
	for link, want := range map[string]string{
		"by-uuid/d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6":   "",
		"by-label/earlyroot:md10":                        "",
		"by-uuid/Xy1AbC-dEfG-hIjK-lMnO-pQrS-tUvW-xYz012": "",
		"by-uuid/ce8f1c5a-cccc-4b5b-9b0e-0123456789ab":   "../../crypt",
		"by-label/cryptroot":                             "",
	} {
		got, _ := os.Readlink(filepath.Join(dir, "disk", link))
		if got != want {
			t.Errorf("/dev/disk/%s -> %q, want %q", link, got, want)
		}
	}
}

// A partition of a whole-disk MD member (metadata 0.90/1.0 at the end, the array's
// partition table at the start of every member) is never the root, though it shows the
// filesystem; the same filesystem on a plain disk's partition is.
func TestPartitionOfMemberNeverMatches(t *testing.T) {
	dir := devTree(t, map[string]string{"sdb": "md1.0", "sdb1": "ext4", "vdc": "gpt", "vdc1": "ext4"})
	r := NewRegistry(dir)
	r.Add(Device{Name: "sdb", Type: "disk", Major: 8, Minor: 16})
	r.Add(Device{Name: "sdb1", Type: "partition", Parent: "sdb", PartN: 1, Major: 8, Minor: 17})
	s, err := mount.ParseSpec("UUID=4e8f1c5a-3333-4b5b-9b0e-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := r.Find(s); ok {
		t.Fatalf("Find(%v) = %s: a partition of an MD member", s, d.Name)
	}
	// Probes run concurrently: a partition probed before its disk waits for the disk.
	r.Add(Device{Name: "vdc1", Type: "partition", Parent: "vdc", PartN: 1, Major: 254, Minor: 33})
	if d, ok := r.Find(s); ok {
		t.Fatalf("Find(%v) = %s before its disk was probed", s, d.Name)
	}
	r.Add(Device{Name: "vdc", Type: "disk", Major: 254, Minor: 32})
	if d, ok := r.Find(s); !ok || d.Name != "vdc1" {
		t.Errorf("Find(%v) = %q, %v; want vdc1", s, d.Name, ok)
	}
}

// AddLink makes a relative link at any depth, replaces an old one, refuses names that
// leave the device directory, and wakes a Wait for the path it makes.
func TestAddLink(t *testing.T) {
	dir := devTree(t, map[string]string{"dm-0": "ext4", "dm-1": "ext4"})
	r := NewRegistry(dir)
	r.Add(Device{Name: "dm-0", Type: "disk"})
	r.Add(Device{Name: "dm-1", Type: "disk"})
	s, err := mount.ParseSpec("/dev/vg0/root")
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan Device, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, _ := r.Wait(ctx, s)
		found <- d
	}()
	time.Sleep(20 * time.Millisecond) // the Wait is parked
	if err := r.AddLink("vg0/root", "dm-1"); err != nil {
		t.Fatal(err)
	}
	if d := <-found; d.Name != "dm-1" {
		t.Errorf("Wait(/dev/vg0/root) after AddLink = %q, want dm-1", d.Name)
	}
	for link, want := range map[string]string{"vg0/root": "../dm-0", "disk/by-id/md-uuid-x": "../../dm-0", "top": "dm-0"} {
		if err := r.AddLink(link, "dm-0"); err != nil {
			t.Fatalf("AddLink(%s): %v", link, err)
		}
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want %q", link, got, err, want)
		}
	}
	for _, bad := range [][2]string{{"../etc/x", "dm-0"}, {"/abs", "dm-0"}, {"ok", "../dm-0"}, {"ok", "sub/dm-0"}} {
		if err := r.AddLink(bad[0], bad[1]); err == nil {
			t.Errorf("AddLink(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// WaitUntil asks again on every Changed (a layer's own state) and Add, and ends with the
// context.
func TestWaitUntil(t *testing.T) {
	r := NewRegistry(t.TempDir())
	ready := make(chan struct{})
	calls := make(chan int, 16)
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- r.WaitUntil(context.Background(), func([]Device) bool {
			n++
			calls <- n
			select {
			case <-ready:
				return true
			default:
				return false
			}
		})
	}()
	if n := <-calls; n != 1 {
		t.Fatalf("first ask %d", n)
	}
	close(ready)
	r.Changed()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WaitUntil = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not wake WaitUntil")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.WaitUntil(ctx, func([]Device) bool { return false }); err != context.DeadlineExceeded {
		t.Errorf("WaitUntil past the deadline = %v", err)
	}
}
