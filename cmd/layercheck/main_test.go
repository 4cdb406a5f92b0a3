package main

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/sparse"
	"github.com/earlyroot/earlyroot/internal/vm"
	"github.com/earlyroot/earlyroot/modload"
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

const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m || echo "LAYERCHECK insmod $m failed"; done
i=0
while [ $(ls /sys/class/block | grep -c '^vd') -lt $(cat /disks.count) ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
/bin/layercheck $(cat /layercheck.args)
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
		if slices.ContainsFunc(mdOnly, func(r string) bool { return strings.HasPrefix(c, r+"-") }) {
			t.Errorf("%s changed in a read-only boot", c)
		} else {
			t.Logf("%s changed (device-mapper targets may write their metadata)", c)
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

// runGuest boots the guest with copies of sets, runs layercheck with args
// and returns its LAYERCHECK lines and the disks whose copy changed.
func runGuest(t *testing.T, sets []diskSet, args string) (lines, changed []string) {
	if testing.Short() {
		t.Skip("skipping VM boot in -short mode")
	}
	k := vm.NeedKernel(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("skipping: busybox not installed")
	}
	dir := t.TempDir()
	var drives []vm.Drive
	sums := map[string][32]byte{}
	for _, set := range sets {
		for _, d := range set.disks {
			src, err := sparse.BuilderImage(fixture.CacheDir(), set.recipe, d)
			if err != nil {
				t.Skipf("skipping: the builder's disks are not built (%v)", err)
			}
			// A copy: md and dm may write to what they run, the
			// builder's cache stays as built.
			dst := filepath.Join(dir, set.recipe+"-"+d+".img")
			if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			drives = append(drives, vm.Drive{Path: dst, Serial: set.recipe + "-" + d})
			sums[dst] = sum(t, dst)
		}
	}
	ix, err := modload.Build(k.ModDir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	seen := map[string]bool{}
	// Each module after everything it depends on, however deep.
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		m, ok := ix.Module(name)
		if !ok {
			t.Fatalf("module %s not in %s", name, k.ModDir)
		}
		for _, dep := range m.Deps {
			visit(dep)
		}
		order = append(order, m.Path)
	}
	for _, name := range guestModules {
		visit(name)
	}
	bin := filepath.Join(dir, "layercheck")
	if err := vm.BuildStatic("./cmd/layercheck", bin); err != nil {
		t.Fatal(err)
	}
	files := []vm.InitramfsFile{
		{Name: "bin/busybox", Src: bb, Mode: 0o755},
		{Name: "bin/layercheck", Src: bin, Mode: 0o755},
		{Name: "init", Data: []byte(guestInit), Mode: 0o755},
		{Name: "modules.list", Data: []byte(strings.Join(order, "\n") + "\n")},
		{Name: "disks.count", Data: []byte(strconv.Itoa(len(drives)) + "\n")},
		{Name: "layercheck.args", Data: []byte(args + "\n")},
	}
	for _, p := range order {
		files = append(files, vm.InitramfsFile{Name: "lib/modules/" + p, Src: filepath.Join(k.ModDir, p)})
	}
	initrd := filepath.Join(dir, "guest.cpio")
	if err := vm.WriteInitramfs(initrd, files); err != nil {
		t.Fatal(err)
	}
	v := vm.Boot(t, vm.Config{Kernel: k.Image, Initrd: initrd, Append: "panic=-1 quiet", Drives: drives})
	line, err := v.Expect(regexp.MustCompile(`^LAYERCHECK (PASS|FAIL)`), 6*time.Minute)
	var got []string
	for _, l := range strings.Split(v.Output(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "LAYERCHECK") {
			t.Log(l)
			got = append(got, l)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "LAYERCHECK PASS") {
		t.Fatalf("layercheck: %s", line)
	}
	if err := v.WaitTimeout(time.Minute); err != nil {
		t.Error(err)
	}
	for _, d := range drives {
		if sum(t, d.Path) != sums[d.Path] {
			changed = append(changed, strings.TrimSuffix(filepath.Base(d.Path), ".img"))
		}
	}
	return got, changed
}

func sum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
