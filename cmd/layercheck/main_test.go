package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// guestModules: the disks' driver, md with the personalities the disks
// use, device-mapper with the targets lvm's plans use. The guest has no
// modprobe to answer the kernel's own requests, so all are loaded first.
// crc32c_generic provides the crc32c that libcrc32c (raid456,
// dm-persistent-data) asks for; crc32c-intel needs SSE4.2, which QEMU's
// default CPU lacks.
var guestModules = []string{"crc32c_generic", "virtio_pci", "virtio_blk", "md_mod", "raid1", "raid456",
	"dm_mod", "dm_thin_pool", "dm_raid", "dm_snapshot"}

type diskSet struct {
	recipe string
	disks  []string
}

// guestSets are the builder's disk sets attached to the guest.
var guestSets = []diskSet{
	{"md-raid1-0.90", []string{"m0", "m1"}},
	{"md-raid1-1.2", []string{"m0", "m1"}},
	{"md-raid5", []string{"m0", "m1", "m2"}},
	{"lvm-on-md", []string{"m0", "m1"}},
	{"lvm-raid1", []string{"pv0", "pv1"}},
	{"lvm-snapshot", []string{"pv0"}},
	{"lvm-thin", []string{"pv0"}},
}

// want are lines the guest must print: each array and LV with the ext4
// filesystem the builder put in it (ROOT_LABEL/ROOT_UUID of the recipe).
var want = []*regexp.Regexp{
	regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:00000008 md0 0\.90 raid1 members=2 state=read-auto: ext4 label=root08 uuid=5eedf500-0000-4000-8000-000000000008$`),
	regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:00000007 md12\d 1\.2 raid1 members=2 state=read-auto: ext4 label=root07 uuid=5eedf500-0000-4000-8000-000000000007$`),
	regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:0000000b md12\d 1\.2 raid5 members=3 state=read-auto: ext4 label=root11 uuid=5eedf500-0000-4000-8000-00000000000b$`),
	regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:00000013 md12\d 1\.2 raid1 members=2 state=read-auto: no ext4$`),
	regexp.MustCompile(`^LAYERCHECK lvm earlyvg19-root \S+ ro=false linear: ext4 `),
	regexp.MustCompile(`^LAYERCHECK lvm earlyvg15-root \S+ ro=false raid: ext4 `),
	regexp.MustCompile(`^LAYERCHECK lvm earlyvg16-snap \S+ ro=false snapshot: ext4 `),
	regexp.MustCompile(`^LAYERCHECK lvm earlyvg16-root \S+ ro=false snapshot-origin: ext4 `),
	regexp.MustCompile(`^LAYERCHECK lvm earlyvg14-root \S+ ro=false thin: ext4 `),
}

const guestScript = `disks %d 20
/bin/layercheck %s
dmesg | grep -e ' md' -e 'device-mapper' -e raid | sed 's/^/LAYERCHECK dmesg: /'
poweroff -f
`

// mdOnly are the sets in which nothing may change: md starts its arrays
// auto-read-only, and nothing in the guest writes to them.
var mdOnly = []string{"md-raid1-0.90", "md-raid1-1.2", "md-raid5"}

// TestGuest boots the test kernel with md and device-mapper modules,
// copies of the builder's md and lvm disks, and layercheck as the init's
// worker: the sysfs assembly and the dm plans against the real kernel.
// The md members come out of the boot bit-identical.
func TestGuest(t *testing.T) {
	out, changed := runGuest(t, guestSets, "")
	for _, re := range want {
		found := false
		for _, l := range out {
			found = found || re.MatchString(l)
		}
		if !found {
			t.Errorf("no line matches %s", re)
		}
	}
	for _, c := range changed {
		if slices.Contains(mdOnly, c.recipe) {
			t.Errorf("%s changed in a read-only boot: %v", c.recipe, c.err)
		} else {
			t.Logf("%s changed (device-mapper targets may write their metadata): %v", c.recipe, c.err)
		}
	}
}

// TestGuestDegraded starts a raid1 with one member of two (1.1 metadata)
// and a raid5 with two of three, degraded and unchanged.
func TestGuestDegraded(t *testing.T) {
	out, changed := runGuest(t, []diskSet{{"md-raid1-1.1", []string{"m1"}}, {"md-raid5", []string{"m0", "m2"}}}, "-degraded")
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:0000000a md12\d started degraded, missing slots \[0\]$`),
		regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:0000000a md12\d 1\.1 raid1 members=1 state=read-auto: ext4 label=root10 `),
		regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:0000000b md12\d started degraded, missing slots \[1\]$`),
		regexp.MustCompile(`^LAYERCHECK md 5eedd000:00004000:80000000:0000000b md12\d 1\.2 raid5 members=2 state=read-auto: ext4 label=root11 `),
	} {
		if !slices.ContainsFunc(out, re.MatchString) {
			t.Errorf("no line matches %s", re)
		}
	}
	if len(changed) > 0 {
		t.Errorf("changed in a read-only boot: %v", changed)
	}
}

// change is a set whose disks a boot changed, and the first difference.
type change struct {
	recipe string
	err    error
}

// runGuest boots the guest with copies of the builder's sets (built first
// when the cache lacks them), runs layercheck with args and returns its
// LAYERCHECK lines and the sets whose copies changed.
func runGuest(t *testing.T, sets []diskSet, args string) (lines []string, changed []change) {
	if testing.Short() {
		t.Skip("skipping VM boot in -short mode")
	}
	k := vm.NeedKernel(t)
	type copied struct {
		set    *builder.Set
		copies []string
	}
	var drives []vm.Drive
	var all []copied
	for _, set := range sets {
		// Copies: md and dm may write to what they run, the builder's
		// cache stays as built.
		s := builder.Disk(t, set.recipe)
		c := copied{s, s.Copies(t)}
		all = append(all, c)
		for _, d := range set.disks {
			i := slices.IndexFunc(s.Recipe.Disks, func(ds builder.DiskSpec) bool { return ds.Name == d })
			if i < 0 {
				t.Fatalf("recipe %s has no disk %s", set.recipe, d)
			}
			drives = append(drives, vm.Drive{Path: c.copies[i], Serial: set.recipe + "-" + d})
		}
	}
	bin := filepath.Join(t.TempDir(), "layercheck")
	if err := vm.BuildStatic("./cmd/layercheck", bin); err != nil {
		t.Fatal(err)
	}
	g := vm.BusyboxGuest{Modules: guestModules, Script: fmt.Sprintf(guestScript, len(drives), args),
		Files: []vm.InitramfsFile{{Name: "bin/layercheck", Src: bin, Mode: 0o755}}}
	lines = vm.RunBusybox(t, k, g, vm.Config{Append: "panic=-1 quiet", Drives: drives}, "LAYERCHECK", 6*time.Minute)
	for _, c := range all {
		if err := c.set.Unchanged(c.copies); err != nil {
			changed = append(changed, change{c.set.Recipe.Name, err})
		}
	}
	return lines, changed
}
