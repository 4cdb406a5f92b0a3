package uevent

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func coldplugEvents(t *testing.T, sysfs string) []Event {
	t.Helper()
	var evs []Event
	if err := Coldplug(sysfs, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatalf("Coldplug: %v", err)
	}
	return evs
}

func TestColdplugFixture(t *testing.T) {
	sysfs := extractSysfs(t)
	evs := coldplugEvents(t, sysfs)
	byPath := map[string]Event{}
	for i, e := range evs {
		if _, dup := byPath[e.DevPath]; dup {
			t.Errorf("devpath %s emitted twice", e.DevPath)
		}
		byPath[e.DevPath] = e
		if e.Action != "add" || e.Env["ACTION"] != "add" || e.Env["DEVPATH"] != e.DevPath || e.Subsystem() == "" {
			t.Errorf("event %d malformed: %+v", i, e)
		}
		// Parents come before children.
		if p := ParentDevPath(e.DevPath); p != "" {
			if _, ok := byPath[p]; !ok && hasUeventFile(sysfs, p) && isDevice(sysfs, p) {
				t.Errorf("%s emitted before its parent %s", e.DevPath, p)
			}
		}
	}

	// Independent walk: every modalias file and every block device must
	// have produced an event carrying its values.
	var modaliases, blocks int
	root := filepath.Join(sysfs, "devices")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		devpath := strings.TrimPrefix(filepath.Dir(p), sysfs)
		if !isDevice(sysfs, devpath) {
			return nil // e.g. /devices/system/cpu: a modalias but no uevents
		}
		switch d.Name() {
		case "modalias":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			modaliases++
			if got := byPath[devpath].Modalias(); got != strings.TrimSpace(string(b)) {
				t.Errorf("%s: MODALIAS %q, file says %q", devpath, got, b)
			}
		case "dev":
			if link, _ := os.Readlink(filepath.Join(sysfs, devpath, "subsystem")); filepath.Base(link) != "block" {
				return nil
			}
			blocks++
			e, ok := byPath[devpath]
			b, _ := os.ReadFile(p)
			want := strings.TrimSpace(string(b))
			if !ok || !e.IsBlock() || want != itoa(e.Major())+":"+itoa(e.Minor()) || e.DevName() != filepath.Base(devpath) {
				t.Errorf("block %s: event %+v, dev file %q", devpath, e, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	wantBlocks := map[string]struct {
		devtype string
		partn   int
	}{
		"vda": {"disk", 0}, "vda1": {"partition", 1}, "vda2": {"partition", 2},
		"sda": {"disk", 0}, "sda1": {"partition", 1}, // virtio-scsi
		"sdb": {"disk", 0}, "sdb1": {"partition", 1}, // AHCI
		"sdc": {"disk", 0}, "sdc1": {"partition", 1}, // USB storage
		"nvme0n1": {"disk", 0}, "nvme0n1p1": {"partition", 1},
	}
	got := map[string]bool{}
	for _, e := range evs {
		if !e.IsBlock() {
			continue
		}
		got[e.DevName()] = true
		w, ok := wantBlocks[e.DevName()]
		if !ok {
			t.Errorf("unexpected block device %s", e.DevName())
			continue
		}
		if e.DevType() != w.devtype || e.PartN() != w.partn {
			t.Errorf("%s: DEVTYPE %q PARTN %d, want %q %d", e.DevName(), e.DevType(), e.PartN(), w.devtype, w.partn)
		}
		if w.partn > 0 {
			parent := byPath[ParentDevPath(e.DevPath)]
			if parent.DevType() != "disk" {
				t.Errorf("%s: parent %s is not a disk", e.DevName(), ParentDevPath(e.DevPath))
			}
		}
	}
	if len(got) != len(wantBlocks) {
		t.Errorf("block devices found %v, want %d", slices.Sorted(maps.Keys(got)), len(wantBlocks))
	}
	if blocks != len(wantBlocks) || modaliases < 50 {
		t.Errorf("fixture walk saw %d block devices, %d modalias files", blocks, modaliases)
	}
	t.Logf("%d events, %d modalias files, %d block devices", len(evs), modaliases, blocks)
}

// TestColdplugMatchesKernel compares the synthesised events with the ones
// the kernel itself emitted in the recorded boot when "add" was written to
// each uevent file: same environment except SEQNUM and SYNTH_UUID.
func TestColdplugMatchesKernel(t *testing.T) {
	sysfs := extractSysfs(t)
	byPath := map[string]Event{}
	for _, e := range coldplugEvents(t, sysfs) {
		byPath[e.DevPath] = e
	}
	compared := 0
	for _, r := range loadRecorded(t) {
		if r.phase != "trigger" {
			continue
		}
		k, err := Parse(r.msg)
		if err != nil {
			t.Fatal(err)
		}
		if !hasUeventFile(sysfs, k.DevPath) {
			continue // trimmed from the fixture
		}
		c, ok := byPath[k.DevPath]
		if !ok {
			t.Errorf("kernel re-emitted %s, coldplug did not", k.DevPath)
			continue
		}
		delete(k.Env, "SEQNUM")
		delete(k.Env, "SYNTH_UUID")
		// The cpu driver ends MODALIAS with a newline that the uevent
		// file's line format cannot carry.
		if m, ok := k.Env["MODALIAS"]; ok {
			k.Env["MODALIAS"] = strings.TrimRight(m, "\n")
		}
		if !maps.Equal(k.Env, c.Env) {
			t.Errorf("%s:\nkernel   %v\ncoldplug %v", k.DevPath, k.Env, c.Env)
		}
		compared++
	}
	if compared != len(byPath) {
		t.Errorf("compared %d events, coldplug produced %d", compared, len(byPath))
	}
}

func TestColdplugErrors(t *testing.T) {
	if err := Coldplug(t.TempDir(), func(Event) {}); err == nil {
		t.Error("Coldplug on a tree without devices/ succeeded")
	}
	// A device without a subsystem link is not a uevent source; a device
	// whose uevent file has odd lines keeps the well-formed ones.
	sysfs := t.TempDir()
	mk := func(rel, content string) {
		p := filepath.Join(sysfs, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("devices/nosub/uevent", "A=1\n")
	mk("devices/dev0/uevent", "DRIVER=x\nJUNK\nP=a=b\n\n")
	mk("devices/dev0/modalias", "pci:v00001AF4\n")
	if err := os.Symlink("../../bus/pci", filepath.Join(sysfs, "devices/dev0/subsystem")); err != nil {
		t.Fatal(err)
	}
	evs := coldplugEvents(t, sysfs)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1: %+v", len(evs), evs)
	}
	want := map[string]string{"ACTION": "add", "DEVPATH": "/devices/dev0", "SUBSYSTEM": "pci", "DRIVER": "x", "P": "a=b", "MODALIAS": "pci:v00001AF4"}
	if !maps.Equal(evs[0].Env, want) {
		t.Errorf("env %v, want %v", evs[0].Env, want)
	}
}

func hasUeventFile(sysfs, devpath string) bool {
	_, err := os.Lstat(filepath.Join(sysfs, devpath, "uevent"))
	return err == nil
}

func isDevice(sysfs, devpath string) bool {
	_, err := os.Lstat(filepath.Join(sysfs, devpath, "subsystem"))
	return err == nil
}

func itoa(n int) string { return strconv.Itoa(n) }
func BenchmarkColdplugFixture(b *testing.B) {
	sysfs := extractSysfs(b)
	for b.Loop() {
		if err := Coldplug(sysfs, func(Event) {}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdplugHostSys(b *testing.B) {
	if _, err := os.Stat("/sys/devices"); err != nil {
		b.Skip("no /sys")
	}
	n := 0
	for b.Loop() {
		n = 0
		_ = Coldplug("/sys", func(Event) { n++ })
	}
	b.ReportMetric(float64(n), "devices")
}

// TestColdplugOrder checks the walk's top-level order on the recorded QEMU
// sysfs: the PCI host's devices first, then platform devices, then the
// others, the virtual devices last; below the top level, name order.
func TestColdplugOrder(t *testing.T) {
	evs := coldplugEvents(t, extractSysfs(t))
	rank := func(devpath string) int {
		top, _, _ := strings.Cut(strings.TrimPrefix(devpath, "/devices/"), "/")
		return topLevelRank(top)
	}
	var seen [4]int
	for i, e := range evs {
		r := rank(e.DevPath)
		seen[r]++
		if i > 0 && r < rank(evs[i-1].DevPath) {
			t.Errorf("event %d %s (rank %d) after %s", i, e.DevPath, r, evs[i-1].DevPath)
		}
	}
	for r, n := range seen {
		if n == 0 {
			t.Errorf("the fixture has no device of rank %d: the order is not tested", r)
		}
	}
	if first := evs[0].DevPath; !strings.HasPrefix(first, "/devices/pci0000:00") {
		t.Errorf("first event %s, want the PCI host", first)
	}
	// Siblings below the top level stay in name order: the PCI functions.
	var pci []string
	for _, e := range evs {
		if d := strings.TrimPrefix(e.DevPath, "/devices/pci0000:00/"); d != e.DevPath && !strings.Contains(d, "/") {
			pci = append(pci, d)
		}
	}
	if len(pci) < 2 || !slices.IsSorted(pci) {
		t.Errorf("PCI functions in walk order %v, want several, sorted", pci)
	}
}

func TestTopLevelRank(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"pci0000:00", 0}, {"pci0001:00", 0}, {"platform", 1}, {"LNXSYSTM:00", 2},
		{"system", 2}, {"pnp0", 2}, {"virtual", 3},
	} {
		if got := topLevelRank(tc.name); got != tc.want {
			t.Errorf("topLevelRank(%q) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestColdplugVanishingDevice(t *testing.T) {
	sysfs := extractSysfs(t)
	// While the virtio disk is being emitted, its partitions disappear:
	// the walk must skip them silently, as when a device is unplugged
	// during coldplug.
	var got []string
	err := Coldplug(sysfs, func(e Event) {
		got = append(got, e.DevName())
		if e.DevPath == fxVda {
			for _, p := range []string{"vda1", "vda2"} {
				if err := os.RemoveAll(filepath.Join(sysfs, fxVda, p)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("Coldplug: %v", err)
	}
	if !slices.Contains(got, "vda") || slices.Contains(got, "vda1") || slices.Contains(got, "vda2") {
		t.Errorf("devices emitted: %v", got)
	}
}

func TestColdplugStop(t *testing.T) {
	sysfs := extractSysfs(t)
	stop := make(chan struct{})
	n := 0
	err := coldplug(sysfs, stop, func(Event) {
		n++
		if n == 10 {
			close(stop)
		}
	})
	if err != errStopped || n != 10 {
		t.Errorf("coldplug after stop: err %v, %d events", err, n)
	}
}

func FuzzParseUeventFile(f *testing.F) {
	f.Add([]byte("MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nDISKSEQ=1\nPARTN=1\n"))
	f.Add([]byte("DRIVER=x\nJUNK\nP=a=b\n\n=v\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env := parseUeventFile(b)
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
				t.Fatalf("bad pair %q=%q", k, v)
			}
		}
		var again []byte
		for _, k := range slices.Sorted(maps.Keys(env)) {
			again = append(again, k+"="+env[k]+"\n"...)
		}
		if !maps.Equal(parseUeventFile(again), env) {
			t.Fatalf("round trip changed %v", env)
		}
	})
}
