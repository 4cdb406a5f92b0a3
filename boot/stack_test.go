package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/internal/sparse"
	"github.com/earlyroot/earlyroot/lvm"
	"github.com/earlyroot/earlyroot/md"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/uevent"
)

// fakeMD is md's sysfs as the boot drives it: every write is recorded, and running an
// array (array_state) makes its block device appear holding the first member's data, as
// a raid1 with metadata at the end (0.90, 1.0) does.
type fakeMD struct {
	f      *fakeSystem
	mu     sync.Mutex
	writes []string
	data   string   // sparse fixture the array's device is made of
	helper []string // the kernel.modprobe setting (modload.RequestSysctl) as each array ran
}

func (m *fakeMD) Write(attr, value string) error {
	m.mu.Lock()
	m.writes = append(m.writes, attr+"="+value)
	m.mu.Unlock()
	if strings.HasSuffix(attr, "/md/array_state") && value == "read-auto" {
		setting, err := os.ReadFile(m.f.path("proc/" + modload.RequestSysctl))
		m.mu.Lock()
		m.helper = append(m.helper, fmt.Sprintf("%q %v", setting, err))
		m.mu.Unlock()
		name := strings.Split(attr, "/")[1]
		plugSparse(m.f, name, 9, m.data)
	}
	return nil
}

func (m *fakeMD) Exists(string) bool { return false }

func (m *fakeMD) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.writes)
}

// plugSparse makes dev/NAME a file with the chunks of a sparse fixture (only the head
// for an array, so that no member superblock shows in it) and announces it as disk
// 254:minor.
func plugSparse(f *fakeSystem, name string, minor int, fixture string) {
	f.t.Helper()
	im, err := sparse.Load(fixture)
	must(f.t, err)
	out, err := os.Create(f.path("dev/" + name))
	must(f.t, err)
	must(f.t, out.Truncate(im.Size))
	for _, c := range im.Chunks {
		if minor == 9 && c.Off > 1<<20 {
			continue // the array: its data, not the member's tail
		}
		_, err := out.WriteAt(c.Data, c.Off)
		must(f.t, err)
	}
	must(f.t, out.Close())
	devpath := "/devices/virtual/block/" + name
	must(f.t, os.MkdirAll(f.path("sys"+devpath), 0o755))
	write(f.t, f.path("sys"+devpath+"/size"), fmt.Sprint(im.Size/512))
	ev, err := uevent.Parse([]byte(fmt.Sprintf("add@%s\x00ACTION=add\x00DEVPATH=%s\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=%d\x00DEVNAME=%s\x00DEVTYPE=disk\x00SEQNUM=1\x00",
		devpath, devpath, minor, name)))
	must(f.t, err)
	f.mu.Lock()
	handle := f.handle
	f.mu.Unlock()
	handle(ev)
}

func mdFixture(recipe string, m int) string {
	return filepath.Join("..", "md", "testdata", "builder", fmt.Sprintf("%s-m%d.json", recipe, m))
}

// The root is the filesystem inside a raid1 whose members (metadata 0.90, at the end)
// also show it at their start: the boot starts the array once both members are there,
// without waiting, and mounts the array, never a member.
func TestMDArrayIsRoot(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		members       []int
		started       bool
		degraded      bool
	}{
		{"complete", "", []int{0, 1}, true, false},
		{"degraded after rd.retry", " rd.retry=1", []int{1}, true, true},
		{"rd.md=0", " rd.md=0", []int{0, 1}, false, false},
		{"rd.md.uuid= another", " rd.md.uuid=5eedd000:00004000:80000000:00000009", []int{0, 1}, false, false},
		{"rd.md.uuid= this one", " rd.md.uuid=5eedd000:00004000:80000000:00000008", []int{0, 1}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSystem(t, "root=UUID=5eedf500-0000-4000-8000-000000000008 rd.timeout=4 rd.shell=0 panic=-1"+tc.cmdline)
			mdsys := &fakeMD{f: f, data: mdFixture("md-raid1-0.90", 0)}
			f.layers = Layers{MD: mdsys}
			f.onDiscover = func() {
				for _, m := range tc.members {
					plugSparse(f, fmt.Sprintf("vd%c", 'a'+m), m, mdFixture("md-raid1-0.90", m))
				}
			}
			start := time.Now()
			run(t, f)
			took := time.Since(start)
			out := f.output()
			writes := mdsys.log()
			if !tc.started {
				if len(writes) != 0 || len(f.mounts) != 0 {
					t.Fatalf("md writes %q, mounts %q; want none\n%s", writes, f.mounts, out)
				}
				return
			}
			var devs []string
			for _, w := range writes {
				if strings.Contains(w, "/new_dev=") {
					devs = append(devs, strings.SplitN(w, "=", 2)[1])
				}
			}
			want := []string{}
			for _, m := range tc.members {
				want = append(want, fmt.Sprintf("254:%d", m))
			}
			if !slices.Equal(devs, want) || !slices.Contains(writes, "module/md_mod/parameters/new_array=md0") ||
				!slices.Contains(writes, "block/md0/md/array_state=read-auto") {
				t.Errorf("md writes %q: want members %q added to md0 and run read-auto", writes, want)
			}
			wantMount := f.path("dev/md0") + " " + f.path("newroot") + " ext4 "
			if len(f.mounts) != 1 || !strings.HasPrefix(f.mounts[0], wantMount) {
				t.Errorf("mounts %q, want the array only (%s…)\n%s", f.mounts, wantMount, out)
			}
			if got := strings.Contains(out, "STARTED DEGRADED"); got != tc.degraded {
				t.Errorf("degraded warning %v, want %v:\n%s", got, tc.degraded, out)
			}
			if !tc.degraded && took > 3*time.Second {
				t.Errorf("a complete array took %v to boot: it must not wait for rd.retry", took)
			}
			for _, l := range []string{"disk/by-id/md-uuid-5eedd000:00004000:80000000:00000008"} {
				if dst, err := os.Readlink(f.path("dev/" + l)); err != nil || filepath.Base(dst) != "md0" {
					t.Errorf("link /dev/%s: %q, %v", l, dst, err)
				}
			}
		})
	}
}

// md asks for the array's personality each time it runs one: with the personality in the
// kernel already, the array runs with the kernel's module requests off, and the setting is
// back when the boot hands over; without it, the kernel's request goes to the helper.
func TestMDRunsWithoutRequests(t *testing.T) {
	for _, tc := range []struct {
		name        string
		personality bool // the image knows raid1 (here built in, as md-level-1)
		during      string
	}{
		{"personality loaded", true, `"\n" <nil>`},
		{"personality unknown", false, `"/sbin/modprobe\n" <nil>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSystem(t, "root=UUID=5eedf500-0000-4000-8000-000000000008 rd.timeout=4 rd.shell=0 panic=-1")
			write(t, f.path("proc/"+modload.RequestSysctl), "/sbin/modprobe\n")
			if tc.personality {
				moddir := f.path("lib/modules/6.1.0-test")
				write(t, filepath.Join(moddir, "modules.dep"), "")
				write(t, filepath.Join(moddir, "modules.alias"), "")
				write(t, filepath.Join(moddir, "modules.builtin"), "kernel/drivers/md/md-mod.ko\nkernel/drivers/md/raid1.ko\n")
				write(t, filepath.Join(moddir, "modules.builtin.modinfo"), "raid1.alias=md-personality-3\x00raid1.alias=md-level-1\x00")
			}
			mdsys := &fakeMD{f: f, data: mdFixture("md-raid1-0.90", 0)}
			f.layers = Layers{MD: mdsys}
			f.onDiscover = func() {
				plugSparse(f, "vda", 0, mdFixture("md-raid1-0.90", 0))
				plugSparse(f, "vdb", 1, mdFixture("md-raid1-0.90", 1))
			}
			run(t, f)
			mdsys.mu.Lock()
			helper := slices.Clone(mdsys.helper)
			mdsys.mu.Unlock()
			if want := []string{tc.during}; !slices.Equal(helper, want) {
				t.Errorf("kernel.modprobe as the array ran: %q, want %q\n%s", helper, want, f.output())
			}
			if got, err := os.ReadFile(f.path("proc/" + modload.RequestSysctl)); string(got) != "/sbin/modprobe\n" {
				t.Errorf("kernel.modprobe after the boot: %q, %v", got, err)
			}
			if f.switched == nil {
				t.Errorf("the boot did not switch root:\n%s", f.output())
			}
		})
	}
}

// An image holding mdadm.conf (as a host-only image does, initramfs.HostMDConf) assembles
// only the arrays its ARRAY lines name: with the root's array A (0.90) listed and B (1.0)
// not, B's members are never added to an array, while A is started and mounted. Without
// the file both are started.
func TestMDConfSelectsArrays(t *testing.T) {
	const arrayA = "ARRAY /dev/md/root metadata=0.90 UUID=5eedd000:00004000:80000000:00000008\n"
	for _, tc := range []struct {
		name, conf string
		startsB    bool
	}{
		{"only A listed", "HOMEHOST <system>\n" + arrayA, false},
		{"etc/mdadm.conf", arrayA, false},
		{"no mdadm.conf", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSystem(t, "root=UUID=5eedf500-0000-4000-8000-000000000008 rd.timeout=4 rd.shell=0 panic=-1")
			switch tc.name {
			case "etc/mdadm.conf":
				write(t, f.path(md.ConfPaths[1]), tc.conf)
			default:
				if tc.conf != "" {
					write(t, f.path(md.ConfPaths[0]), tc.conf)
				}
			}
			mdsys := &fakeMD{f: f, data: mdFixture("md-raid1-0.90", 0)}
			f.layers = Layers{MD: mdsys}
			f.onDiscover = func() {
				// B first: a boot that wanted it would start it before A.
				plugSparse(f, "vdc", 2, mdFixture("md-raid1-1.0", 0))
				plugSparse(f, "vdd", 3, mdFixture("md-raid1-1.0", 1))
				plugSparse(f, "vda", 0, mdFixture("md-raid1-0.90", 0))
				plugSparse(f, "vdb", 1, mdFixture("md-raid1-0.90", 1))
			}
			run(t, f)
			out, writes := f.output(), mdsys.log()
			var added []string
			for _, w := range writes {
				if strings.Contains(w, "/new_dev=") {
					added = append(added, strings.SplitN(w, "=", 2)[1])
				}
			}
			startedB := slices.Contains(added, "254:2") || slices.Contains(added, "254:3")
			if startedB != tc.startsB {
				t.Errorf("array B assembled: %v, want %v; md writes %q\n%s", startedB, tc.startsB, writes, out)
			}
			if !slices.Contains(added, "254:0") || !slices.Contains(added, "254:1") {
				t.Errorf("array A's members not both added: md writes %q\n%s", writes, out)
			}
			if len(f.mounts) != 1 {
				t.Errorf("mounts %q, want the root array's\n%s", f.mounts, out)
			}
			unlisted := strings.Count(out, "which the image's mdadm.conf does not list")
			if want := map[bool]int{true: 0, false: 2}[tc.startsB]; unlisted != want {
				t.Errorf("%d members said to be unlisted, want %d:\n%s", unlisted, want, out)
			}
		})
	}
}

// The md layer's decisions as members arrive: start when every expected member is
// there, schedule a degraded start while the level can run without the others (each
// arrival restarts the wait), keep waiting otherwise, leave out a member that comes
// after the start.
func TestMDLayerAdd(t *testing.T) {
	sb := func(role int, events uint64) *md.Superblock {
		return &md.Superblock{Version: "1.2", UUID: [16]byte{1}, Level: md.LevelRAID5, RaidDisks: 3,
			Role: role, Events: events, Clean: true, Roles: []uint16{0, 1, 2}}
	}
	var l mdLayer
	t0 := time.Unix(1000, 0)
	step := func(name string, role int, at time.Duration, want mdAction) {
		t.Helper()
		_, got := l.add(name, md.Member{Device: "/dev/" + name, Dev: "254:" + name[2:], SB: sb(role, 5)}, t0.Add(at))
		if got != want {
			t.Errorf("add %s: action %d, want %d", name, got, want)
		}
	}
	step("vda", 0, 0, mdWait)
	step("vdb", 1, time.Second, mdDegraded)
	if _, ok := l.due([16]byte{1}, t0.Add(5*time.Second), 10*time.Second); ok {
		t.Errorf("degraded start due 4 s after the last member, retry 10 s")
	}
	if a, ok := l.due([16]byte{1}, t0.Add(11*time.Second), 10*time.Second); !ok || a.Present() != 2 {
		t.Errorf("degraded start not due 10 s after the last member")
	}
	step("vdc", 2, 12*time.Second, mdLate)
	step("vda", 0, 13*time.Second, mdKnown)

	var c mdLayer
	c.add("vda", md.Member{Device: "/dev/vda", SB: sb(0, 5)}, t0)
	c.add("vdb", md.Member{Device: "/dev/vdb", SB: sb(1, 5)}, t0)
	if _, got := c.add("vdc", md.Member{Device: "/dev/vdc", SB: sb(2, 5)}, t0); got != mdStart {
		t.Errorf("the last member: action %d, want start", got)
	}
	if _, ok := c.due([16]byte{1}, t0.Add(time.Hour), time.Second); ok {
		t.Errorf("a started array is due for a degraded start")
	}
}

// The LVs a boot activates: those root=, resume=, /usr's source (wantLV) and rd.lvm.lv=
// name, every LV of rd.lvm.vg=, and every LV when root=, resume= or /usr's source names a
// filesystem or swap that could be in any of them.
func TestWantedLVs(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "lvm", "testdata", "thin.vg"))
	must(t, err)
	root, err := lvm.ParseText(text)
	must(t, err)
	vg, err := lvm.NewVG(root)
	must(t, err)
	all := vg.Wanted(nil, []string{"vg0"})
	for _, tc := range []struct {
		cmdline string
		want    []string
		usr     string // wantLV's
	}{
		{"root=/dev/vg0/root", []string{"root"}, ""},
		{"root=/dev/vg0/root", []string{"root", "home"}, "/dev/vg0/home"},
		{"root=/dev/vg0/root", []string{"root", "home"}, "/dev/mapper/vg0-home"},
		{"root=/dev/vg0/root", all, "UUID=5eedf500-0000-4000-8000-000000000014"},
		{"root=/dev/vg0/root rd.lvm.lv=vg0/root", []string{"root"}, "UUID=5eedf500-0000-4000-8000-000000000014"},
		{"root=/dev/vg0/root", []string{"root"}, "/dev/vda2"},
		{"root=/dev/mapper/vg0-root resume=/dev/vg0/home", []string{"root", "home"}, ""},
		{"root=/dev/vg1/root", nil, ""},
		{"root=UUID=5eedf500-0000-4000-8000-000000000014", all, ""},
		{"root=LABEL=root", all, ""},
		{"root=/dev/disk/by-uuid/5eedf500-0000-4000-8000-000000000014", all, ""},
		{"root=/dev/vda1", nil, ""},
		{"root=UUID=5eedf500-0000-4000-8000-000000000014 rd.lvm.lv=vg0/home", []string{"home"}, ""},
		{"root=/dev/vda1 rd.lvm.vg=vg0", all, ""},
		{"root=/dev/vg0/root resume=UUID=5eed5000-0000-4000-8000-000000000011", all, ""},
		{"root=/dev/vg0/root resume=LABEL=swap rd.lvm.lv=vg0/root", []string{"root"}, ""},
		{"root=/dev/vg0/root resume=/dev/vda2", []string{"root"}, ""},
		{"root=/dev/vda1 resume=/dev/vda2", nil, ""},
		{"root=/dev/vda1 resume=UUID=5eed5000-0000-4000-8000-000000000011", all, ""},
	} {
		b := &Boot{cfg: cmdline.Parse(tc.cmdline)}
		if tc.usr != "" {
			b.wantLV(tc.usr) // no VG complete yet: it only records the spec
		}
		got := b.wantedLVs(vg)
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("%s, /usr %q: LVs %q, want %q", tc.cmdline, tc.usr, got, tc.want)
		}
	}
	if len(all) < 2 {
		t.Fatalf("thin.vg has %q: the test needs several LVs", all)
	}
}

// A root that did not appear is explained by the VGs still missing PVs, and only by them.
func TestLayersWaitingLVM(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "lvm", "testdata", "thin.vg"))
	must(t, err)
	root, err := lvm.ParseText(text)
	must(t, err)
	vg, err := lvm.NewVG(root)
	must(t, err)
	if len(vg.PVs) == 0 {
		t.Fatal("thin.vg has no PVs")
	}
	b := &Boot{}
	l := &b.stack.lvm
	l.found = map[string][]lvm.Found{"vda": {{PVUUID: vg.PVs[0].UUID, VG: vg}}}
	l.pvs = map[string]string{}
	want := fmt.Sprintf("; LVM volume groups still incomplete: vg0 with 0 of %d PVs", len(vg.PVs))
	if got := b.layersWaiting(); got != want {
		t.Errorf("layersWaiting = %q, want %q", got, want)
	}
	for _, pv := range vg.PVs {
		l.pvs[pv.UUID] = "254:0"
	}
	if got := b.layersWaiting(); got != "" {
		t.Errorf("complete VG: layersWaiting = %q, want nothing", got)
	}
}
