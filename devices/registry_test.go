package devices

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/probe"
)

// devTree writes fixture images into a temporary directory named like
// device nodes and returns it.
func devTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for dev, fx := range files {
		data := fixture.DiskImage(t, fx)
		if err := os.WriteFile(filepath.Join(dir, dev), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var testTree = map[string]string{
	"vda": "gpt", "vda1": "ext4", "vda2": "vfat16", "vda4": "swap",
	"vdb":  "btrfs",
	"sda":  "dos",
	"sda1": "xfs", "sda5": "luks2", "sda6": "lvm2", "sda7": "iso9660-joliet",
	"nvme0n1": "gpt4k", "nvme0n1p2": "f2fs",
}

func addAll(r *Registry) {
	r.Add(Device{Name: "vda", Type: "disk", Major: 254, Minor: 0})
	r.Add(Device{Name: "vda1", Type: "partition", Parent: "vda", PartN: 1, Major: 254, Minor: 1})
	r.Add(Device{Name: "vda2", Type: "partition", Parent: "vda", PartN: 2, Major: 254, Minor: 2})
	r.Add(Device{Name: "vda4", Type: "partition", Major: 254, Minor: 4}) // parent and number from the name
	r.Add(Device{Name: "vdb", Type: "disk", Major: 254, Minor: 16})
	r.Add(Device{Name: "sda", Type: "disk", Major: 8, Minor: 0})
	for _, n := range []string{"sda1", "sda5", "sda6", "sda7"} {
		r.Add(Device{Name: n, Type: "partition"})
	}
	r.Add(Device{Name: "nvme0n1", Type: "disk"})
	r.Add(Device{Name: "nvme0n1p2", Type: "partition"})
}

func TestRegistry(t *testing.T) {
	dir := devTree(t, testTree)
	r := NewRegistry(dir)
	addAll(r)

	var names []string
	for _, d := range r.Devices() {
		names = append(names, d.Name)
	}
	want := []string{"nvme0n1", "nvme0n1p2", "sda", "sda1", "sda5", "sda6", "sda7", "vda", "vda1", "vda2", "vda4", "vdb"}
	if len(names) != len(want) {
		t.Fatalf("Devices = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("Devices = %v, want %v", names, want)
		}
	}

	tests := []struct {
		spec, want string
	}{
		{"UUID=4e8f1c5a-3333-4b5b-9b0e-0123456789ab", "vda1"},
		{"UUID=4E8F1C5A-3333-4B5B-9B0E-0123456789AB", "vda1"},
		{"UUID=00c0-ffee", "vda2"},
		{`LABEL="root fs"`, "vda1"},
		{"LABEL=EFI SYS", "vda2"},
		{"PARTLABEL=root dätä", "vda2"},
		{"PARTUUID=11111111-2222-4333-8444-555555555555", "vda1"},
		{"PARTUUID=11111111-2222-4333-8444-555555555555/PARTNROFF=1", "vda2"},
		{"PARTUUID=41111111-2222-4333-8444-555555555555", "vda4"},
		{"PARTUUID=12345678-01", "sda1"},
		{"PARTUUID=12345678-05", "sda5"},
		{"PARTUUID=12345678-07", "sda7"},
		{"PARTUUID=22111111-2222-4333-8444-555555555555", "nvme0n1p2"},
		{"PARTLABEL=root x86-64", "nvme0n1p2"},
		{"UUID=6e8f1c5a-6666-4b5b-9b0e-0123456789ab", "vdb"},
		{"LABEL=btrfs root", "vdb"},
		{"UUID=ce8f1c5a-cccc-4b5b-9b0e-0123456789ab", "sda5"},
		{"LABEL=LIVE_2026_IMAGE", "sda7"},
		{"/dev/vda2", "vda2"},
		{"vda4", "vda4"},
		{"254:1", "vda1"},
		{"fe10", "vdb"},
		{"/dev/disk/by-uuid/5e8f1c5a-5555-4b5b-9b0e-0123456789ab", "sda1"},
		{`/dev/disk/by-label/root\x20fs`, "vda1"},
	}
	for _, tt := range tests {
		s, err := mount.ParseSpec(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := r.Find(s)
		if !ok || d.Name != tt.want {
			t.Errorf("Find(%s) = %q, %v; want %q", tt.spec, d.Name, ok, tt.want)
		}
	}
	for _, spec := range []string{"UUID=ffffffff-3333-4b5b-9b0e-0123456789ab", "LABEL=ROOT FS", "PARTUUID=11111111-2222-4333-8444-555555555555/PARTNROFF=2", "/dev/vdc", "1:1",
		"UUID=Xy1AbC-dEfG-hIjK-lMnO-pQrS-tUvW-xYz012", // sda6's PV UUID: a layer member is never a root
	} {
		s, _ := mount.ParseSpec(spec)
		if d, ok := r.Find(s); ok {
			t.Errorf("Find(%s) = %q, want none", spec, d.Name)
		}
	}

	d, _ := r.Find(mount.Spec{Kind: mount.KindPath, Value: "/dev/vda"})
	if d.PTType != "gpt" || d.PTUUID != "0e8f1c5a-0000-4b5b-9b0e-0123456789ab" || d.ProbeErr != nil {
		t.Errorf("vda = %+v", d)
	}
	d, _ = r.Find(mount.Spec{Kind: mount.KindPath, Value: "/dev/vda4"})
	if d.Parent != "vda" || d.PartN != 4 || d.Info.Type != "swap" || d.Size != 4096 || d.Path != filepath.Join(dir, "vda4") {
		t.Errorf("vda4 = %+v", d)
	}
	d, _ = r.Find(mount.Spec{Kind: mount.KindPath, Value: "/dev/nvme0n1p2"})
	if d.Parent != "nvme0n1" || d.PartN != 2 || d.PartLabel != "root x86-64" {
		t.Errorf("nvme0n1p2 = %+v", d)
	}
}

func TestRegistrySymlinkPath(t *testing.T) {
	dir := devTree(t, map[string]string{"vda": "ext4"})
	if err := os.MkdirAll(filepath.Join(dir, "disk/by-id"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../vda", filepath.Join(dir, "disk/by-id/virtio-root")); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(dir)
	r.Add(Device{Name: "vda", Type: "disk"})
	s, _ := mount.ParseSpec("/dev/disk/by-id/virtio-root")
	if d, ok := r.Find(s); !ok || d.Name != "vda" {
		t.Errorf("Find(by-id) = %q, %v", d.Name, ok)
	}
}

func TestRegistryWait(t *testing.T) {
	dir := devTree(t, testTree)
	r := NewRegistry(dir)
	s, _ := mount.ParseSpec("PARTUUID=11111111-2222-4333-8444-555555555555/PARTNROFF=1")
	type result struct {
		d   Device
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := r.Wait(context.Background(), s)
		done <- result{d, err}
	}()
	r.Add(Device{Name: "vda", Type: "disk"})
	r.Add(Device{Name: "vda1", Type: "partition"})
	select {
	case res := <-done:
		t.Fatalf("Wait returned early: %+v", res)
	case <-time.After(20 * time.Millisecond):
	}
	r.Add(Device{Name: "vda2", Type: "partition"})
	select {
	case res := <-done:
		if res.err != nil || res.d.Name != "vda2" {
			t.Fatalf("Wait = %q, %v", res.d.Name, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the device was added")
	}

	// Already present: immediate.
	d, err := r.Wait(context.Background(), mount.Spec{Kind: mount.KindLabel, Value: "root fs"})
	if err != nil || d.Name != "vda1" {
		t.Fatalf("Wait(present) = %q, %v", d.Name, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = r.Wait(ctx, mount.Spec{Kind: mount.KindLabel, Value: "nope"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(missing) error = %v", err)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	dir := devTree(t, testTree)
	r := NewRegistry(dir)
	var wg sync.WaitGroup
	specs := []string{"LABEL=root fs", "PARTLABEL=root x86-64", "PARTUUID=12345678-06", "UUID=6e8f1c5a-6666-4b5b-9b0e-0123456789ab"}
	errs := make(chan error, len(specs))
	for _, sp := range specs {
		s, _ := mount.ParseSpec(sp)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := r.Wait(ctx, s)
			errs <- err
		}()
	}
	var adders sync.WaitGroup
	for i := 0; i < 3; i++ { // the same devices added several times concurrently
		adders.Add(1)
		go func() {
			defer adders.Done()
			addAll(r)
			for _, d := range r.Devices() {
				if err := r.Links(d); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	adders.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(r.Devices()); n != len(testTree) {
		t.Errorf("%d devices, want %d", n, len(testTree))
	}
	r.Remove("vda4")
	if _, ok := r.Find(mount.Spec{Kind: mount.KindPath, Value: "/dev/vda4"}); ok {
		t.Error("vda4 still there after Remove")
	}
}

func TestRegistryTableCached(t *testing.T) {
	dir := devTree(t, testTree)
	r := NewRegistry(dir)
	r.Add(Device{Name: "vda1", Type: "partition"})
	if err := os.Remove(filepath.Join(dir, "vda")); err != nil {
		t.Fatal(err)
	}
	r.Add(Device{Name: "vda2", Type: "partition"})
	d, _ := r.Find(mount.Spec{Kind: mount.KindPath, Value: "vda2"})
	if d.PartLabel != "root dätä" || d.ProbeErr != nil {
		t.Errorf("vda2 = %+v (parent table not cached?)", d)
	}
	r.Add(Device{Name: "vda3", Type: "partition"}) // no node
	d, _ = r.Find(mount.Spec{Kind: mount.KindPath, Value: "vda3"})
	if d.ProbeErr == nil {
		t.Errorf("vda3: no ProbeErr")
	}
}

func TestLinks(t *testing.T) {
	dir := devTree(t, testTree)
	r := NewRegistry(dir)
	addAll(r)
	for _, d := range r.Devices() {
		if err := r.Links(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []struct{ link, target string }{
		{"disk/by-uuid/4e8f1c5a-3333-4b5b-9b0e-0123456789ab", "../../vda1"},
		{`disk/by-label/root\x20fs`, "../../vda1"},
		{"disk/by-uuid/00C0-FFEE", "../../vda2"},
		{`disk/by-label/EFI\x20SYS`, "../../vda2"},
		{"disk/by-partuuid/11111111-2222-4333-8444-555555555555", "../../vda1"},
		{`disk/by-partlabel/root\x20dätä`, "../../vda2"},
		{"disk/by-partuuid/12345678-05", "../../sda5"},
		{"disk/by-uuid/6e8f1c5a-6666-4b5b-9b0e-0123456789ab", "../../vdb"},
	} {
		got, err := os.Readlink(filepath.Join(dir, l.link))
		if err != nil || got != l.target {
			t.Errorf("readlink %s = %q, %v; want %q", l.link, got, err, l.target)
		}
	}
	// Replacing: the label moves to another device.
	d, _ := r.Find(mount.Spec{Kind: mount.KindPath, Value: "vda4"})
	d.Info.Label, d.Info.Usage = "root fs", probe.UsageFilesystem
	if err := r.Links(d); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, `disk/by-label/root\x20fs`)); got != "../../vda4" {
		t.Errorf("replaced link = %q", got)
	}

	// Layer members get no by-uuid or by-label link (their UUID and label are the
	// array's or the PV's), a LUKS volume only by-uuid, as udev's rules make them.
	for _, d := range []Device{
		{Name: "vdc", Info: probe.Info{Type: "linux_raid_member", Usage: probe.UsageRaid, Layer: probe.LayerMD, UUID: "aaaaaaaa-0000-4000-8000-000000000001", Label: "host:root"}},
		{Name: "vdd", Info: probe.Info{Type: "LVM2_member", Usage: probe.UsageRaid, Layer: probe.LayerLVM2, UUID: "pv-uuid"}},
		{Name: "vde", Info: probe.Info{Type: "crypto_LUKS", Usage: probe.UsageCrypto, Layer: probe.LayerLUKS, UUID: "aaaaaaaa-0000-4000-8000-000000000002", Label: "cryptlabel"}},
	} {
		if err := r.Links(d); err != nil {
			t.Fatal(err)
		}
	}
	for link, want := range map[string]string{
		"disk/by-uuid/aaaaaaaa-0000-4000-8000-000000000001": "",
		"disk/by-label/host:root":                           "",
		"disk/by-uuid/pv-uuid":                              "",
		"disk/by-uuid/aaaaaaaa-0000-4000-8000-000000000002": "../../vde",
		"disk/by-label/cryptlabel":                          "",
	} {
		if got, _ := os.Readlink(filepath.Join(dir, link)); got != want {
			t.Errorf("readlink %s = %q, want %q", link, got, want)
		}
	}
}

func TestSplitPartName(t *testing.T) {
	tests := []struct {
		name, parent string
		n            int
	}{
		{"vda1", "vda", 1}, {"sda15", "sda", 15}, {"nvme0n1p2", "nvme0n1", 2},
		{"mmcblk0p1", "mmcblk0", 1}, {"vda", "", 0}, {"1", "", 0}, {"loop0p3", "loop0", 3},
	}
	for _, tt := range tests {
		p, n := splitPartName(tt.name)
		if p != tt.parent || n != tt.n {
			t.Errorf("splitPartName(%q) = %q, %d; want %q, %d", tt.name, p, n, tt.parent, tt.n)
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, tt := range []struct{ a, b string }{{"vda2", "vda10"}, {"sda", "sda1"}, {"nvme0n1", "nvme1n1"}, {"vda", "vdb"}, {"a01", "a2"}} {
		if naturalCompare(tt.a, tt.b) >= 0 || naturalCompare(tt.b, tt.a) <= 0 {
			t.Errorf("naturalCompare(%q, %q) wrong", tt.a, tt.b)
		}
	}
}

func TestDeviceString(t *testing.T) {
	d := Device{Path: "/dev/vda1", Info: probe.Info{Type: "ext4", UUID: "u", Label: `a "b"`}, PartUUID: "p"}
	want := `/dev/vda1: LABEL="a \"b\"" UUID="u" TYPE="ext4" PARTUUID="p"`
	if got := d.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestRegistryTableRetry(t *testing.T) {
	dir := devTree(t, testTree)
	disk := filepath.Join(dir, "vda")
	if err := os.Rename(disk, disk+".hidden"); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(dir)
	r.Add(Device{Name: "vda1", Type: "partition"})
	d, _ := r.Find(mount.Spec{Kind: mount.KindPath, Value: "vda1"})
	if d.PartUUID != "" || d.ProbeErr == nil || d.Info.Type != "ext4" {
		t.Fatalf("vda1 without its disk = %+v", d)
	}
	if err := os.Rename(disk+".hidden", disk); err != nil {
		t.Fatal(err)
	}
	r.Add(Device{Name: "vda1", Type: "partition"}) // e.g. a change event
	d, _ = r.Find(mount.Spec{Kind: mount.KindPath, Value: "vda1"})
	if d.PartUUID != "11111111-2222-4333-8444-555555555555" || d.ProbeErr != nil {
		t.Fatalf("vda1 after its disk appeared = %+v", d)
	}
}

// A link made, and announced, while Wait resolves the spec's path (after the resolution, so
// unseen by it) still wakes the wait: a LUKS root named by /dev/mapper/NAME once waited out
// its whole timeout when LinkDM ran in that window.
func TestRegistryWaitLinkWhileResolving(t *testing.T) {
	dir := devTree(t, map[string]string{"dm-0": "ext4"})
	r := NewRegistry(dir)
	r.Add(Device{Name: "dm-0", Type: "disk"})
	var once sync.Once
	r.afterResolve = func() {
		once.Do(func() {
			if err := os.Mkdir(filepath.Join(dir, "mapper"), 0o755); err != nil {
				t.Error(err)
			}
			if err := os.Symlink("../dm-0", filepath.Join(dir, "mapper", "cryptroot")); err != nil {
				t.Error(err)
			}
			r.notify() // as LinkDM does
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := r.Wait(ctx, mount.Spec{Kind: mount.KindPath, Value: "/dev/mapper/cryptroot"})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d.Name != "dm-0" || d.Info.Type != "ext4" {
		t.Fatalf("Wait = %s (%s), want dm-0 (ext4)", d.Name, d.Info.Type)
	}
}

// A wait for a /dev/disk/by-… path wakes when the link appears, after the device was added.
func TestRegistryWaitForLink(t *testing.T) {
	dir := devTree(t, map[string]string{"vda": "ext4"})
	r := NewRegistry(dir)
	done := make(chan error, 1)
	go func() {
		_, err := r.Wait(context.Background(), mount.Spec{Kind: mount.KindPath, Value: "/dev/disk/by-id/virtio-root"})
		done <- err
	}()
	r.Add(Device{Name: "vda", Type: "disk"})
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the link existed: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := os.MkdirAll(filepath.Join(dir, "disk/by-id"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../vda", filepath.Join(dir, "disk/by-id/virtio-root")); err != nil {
		t.Fatal(err)
	}
	d, _ := r.Find(mount.Spec{Kind: mount.KindPath, Value: "/dev/vda"})
	if err := r.Links(d); err != nil { // any link update wakes the waiters
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake when the link appeared")
	}
}
