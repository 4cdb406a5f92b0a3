// Command bench measures how long earlyroot's initramfs takes to hand over
// to the real init, side by side with a kernel-only baseline and (with
// BENCH_PEERS=1) Debian's initramfs-tools and dracut, on the Debian test
// kernel under QEMU (TCG, 1 vCPU, 512 MiB, an ext4 root on virtio-blk found
// by UUID, cmd/testinit as the real init).
//
//	bench -build build -kernel-dir ~/.cache/earlyroot/kernel/<kver> -out build/bench [-n 5]
//	      [-parallel 1] [-layouts=true] [-peers] [-only a,b] [-compare-init PATH] [-report]
//	      [-distro N] [-distro-only] [-profile N]
//
// Every image is booted -n times, round-robin, so drift in the host's load
// affects all images alike. The results go to OUT/results.md (also printed),
// OUT/init-stage.svg and OUT/runs.csv; each boot's console is kept under
// OUT/logs. -report re-renders the report from OUT/runs.csv without
// booting. -distro N boots the Debian 12 systemd root of tests/distro
// through earlyroot's, initramfs-tools' and dracut's images N times each and
// tabulates systemd-analyze's figures in OUT/distro.md (distro.go says why).
// -profile N boots each earlyroot image N more times at 1 vCPU under a sampling profiler
// and writes what the init stage's time is made of, by phase, and before it the kernel's
// unpacking of the image, to OUT/profile.md, with every sampled function's count in
// OUT/profile.tsv (profile.go).
// `make bench` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

type options struct {
	build, kernelDir, out string
	n, parallel           int
	layouts, peers        bool
	reportOnly            bool
	only, extraAppend     string
	compareInit           string
	smp                   string
	kdf                   int
	start                 int // boots per start-floor program (startfloor.go)
	stack                 bool
	timeout               time.Duration
	gen                   int    // rounds of the generation-time comparison (gentime.go)
	genOnly               bool   // only that comparison, no boots
	genSecondOnly         bool   // only on the second kernel's tree
	kernel2Dir            string // the second kernel's tree for it
	distro                int    // rounds of the systemd root comparison (distro.go)
	distroOnly            bool   // only that comparison
	bus                   string // the root disk's bus (internal/vm's Buses)
	profile               int    // sampled boots per earlyroot image (profile.go)
	variants              variants
}

func main() {
	var o options
	flag.StringVar(&o.build, "build", "build", "directory with init, testinit and mkinitramfs")
	flag.StringVar(&o.kernelDir, "kernel-dir", "", "unpacked Debian kernel package (scripts/fetch-kernel.sh)")
	flag.StringVar(&o.out, "out", "build/bench", "output directory")
	flag.IntVar(&o.n, "n", 5, "boots per image")
	flag.IntVar(&o.parallel, "parallel", 1, "VMs at a time (1 or 2; 1 gives the steadiest numbers)")
	flag.BoolVar(&o.layouts, "layouts", true, "also compare generic image layouts (compression)")
	flag.BoolVar(&o.peers, "peers", os.Getenv("BENCH_PEERS") == "1", "also boot initramfs-tools and dracut images (default from BENCH_PEERS=1)")
	flag.StringVar(&o.only, "only", "", "boot only these images (comma separated names), plus the baseline")
	flag.StringVar(&o.extraAppend, "append", "", "extra kernel command line for every boot (e.g. rd.debug, for a look at one image)")
	flag.StringVar(&o.compareInit, "compare-init", "", "also boot the generic image built with this init binary (\"generic-compare\"), e.g. an earlier commit's, to compare two inits in one run")
	flag.StringVar(&o.smp, "smp", "1,2", "vCPU counts, comma separated: every image is booted at each (NAME@smpN rows for N > 1)")
	flag.IntVar(&o.start, "start", 5, "boots per program of the start floor at 1 vCPU: static /init programs that exit at once, C (busybox true) and Go's empty main, beside earlyroot's exec + Go start (0 skips it)")
	flag.IntVar(&o.kdf, "kdf", 3, "unlocks per LUKS format in the KDF comparison with cryptsetup (luks's BenchmarkUnlock; 0 skips it)")
	flag.BoolVar(&o.stack, "stack", true, "also boot the generic image on an LVM-on-MD root and on a plain root on the same two disks (\""+stackImage+"\", \""+plainImage+"\")")
	flag.BoolVar(&o.reportOnly, "report", false, "only re-render the report from OUT/runs.csv (no boots)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "per-boot limit")
	flag.IntVar(&o.gen, "gen", genDefault(), "rounds of the image generation time comparison with initramfs-tools (0 skips it; default 1 with BENCH_PEERS=1)")
	flag.BoolVar(&o.genOnly, "gen-only", false, "only the generation time comparison (written to OUT/gentime.md), no boots")
	flag.BoolVar(&o.genSecondOnly, "gen-second-only", false, "the generation time comparison on the second kernel's tree only (initramfs-tools takes minutes per image on a small machine)")
	flag.StringVar(&o.kernel2Dir, "kernel2-dir", "", "a second unpacked kernel package (Debian 13's) whose tree the generation time comparison also uses")
	flag.IntVar(&o.profile, "profile", 0, "sampled boots of each earlyroot image at 1 vCPU (QEMU's gdbstub), after the timed ones: where the init stage's time goes, by phase, in OUT/profile.md and OUT/profile.tsv")
	flag.IntVar(&o.distro, "distro", genDefault(), "rounds of the systemd comparison: the Debian 12 root booted through earlyroot's, initramfs-tools' and dracut's images, systemd-analyze's figures (0 skips it; default 1 with BENCH_PEERS=1)")
	flag.BoolVar(&o.distroOnly, "distro-only", false, "only the systemd comparison (written to OUT/distro.md), no other boots")
	flag.StringVar(&o.bus, "bus", vm.BusVirtioBlk, "bus of the root disk: "+strings.Join(vm.Buses, ", ")+" (the peers' hand-named modules are virtio-blk's)")
	flag.Var(&o.variants, "variant", "NAME=FLAGS: also boot the generic image built with these mkinitramfs flags (space separated) as NAME, e.g. -variant 'unpack-ahci=-unpack virtio_pci,virtio_blk,ahci'; repeatable")
	flag.Parse()
	if !slices.Contains(vm.Buses, o.bus) {
		fmt.Fprintf(os.Stderr, "bench: -bus %q: want one of %s\n", o.bus, strings.Join(vm.Buses, ", "))
		os.Exit(2)
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	if o.kernelDir == "" {
		return errors.New("-kernel-dir is required")
	}
	if o.n < 1 {
		return errors.New("-n must be at least 1")
	}
	o.parallel = max(1, min(o.parallel, 2))
	k, err := fixture.KernelAt(o.kernelDir)
	if err != nil {
		return err
	}
	for _, d := range []string{"images", "logs"} {
		if err := os.MkdirAll(filepath.Join(o.out, d), 0o755); err != nil {
			return err
		}
	}
	env := &benchEnv{opt: o, k: k, log: stdout}
	if o.reportOnly {
		f, err := os.Open(env.path("runs.csv"))
		if err != nil {
			return err
		}
		defer f.Close()
		results, err := ReadRunsCSV(f)
		if err != nil {
			return err
		}
		return env.report(results)
	}
	if o.distroOnly {
		env.opt.distro = max(o.distro, 1)
		return env.runDistro(ctx, nil)
	}
	if o.genOnly {
		o.gen = max(o.gen, 1)
		env.opt.gen = o.gen
	}
	if o.gen > 0 {
		if env.gen, err = env.genTimes(ctx); err != nil {
			return err
		}
		table := GenTable(env.gen)
		if err := os.WriteFile(env.path("gentime.md"), []byte(table), 0o644); err != nil {
			return err
		}
		if o.genOnly {
			_, err := io.WriteString(stdout, table)
			return err
		}
	}
	if err := env.prepareDisk(); err != nil {
		return err
	}
	cpus, err := parseCPUList(o.smp)
	if err != nil {
		return err
	}
	imgs, err := env.images(ctx)
	if err != nil {
		return err
	}
	imgs = atCPUCounts(imgs, cpus)
	fmt.Fprintf(stdout, "bench: %d images × %d boots, %d VM(s) at a time, kernel %s (QEMU TCG, vCPUs %s, 512 MiB)\n",
		len(imgs), o.n, o.parallel, k.Release, o.smp)
	results := env.bootAll(ctx, imgs)
	if o.start > 0 {
		if env.start, err = env.startFloor(ctx, o.start); err != nil {
			return err
		}
	}
	if o.kdf > 0 {
		fmt.Fprintf(stdout, "bench: LUKS unlock against cryptsetup, %d per format\n", o.kdf)
		kdf, out, err := runKDF(ctx, o.kdf)
		if err != nil {
			return err
		}
		env.kdf = kdf
		if err := os.WriteFile(env.path("kdf.txt"), []byte(out), 0o644); err != nil {
			return err
		}
	}
	if o.distro > 0 {
		if err := env.runDistro(ctx, imgs); err != nil {
			return err
		}
	}
	if o.profile > 0 {
		ps, err := env.profileAll(ctx, imgs)
		if err != nil {
			return err
		}
		table := ProfileTable(ps)
		if err := os.WriteFile(env.path("profile.md"), []byte(table), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(env.path("profile.tsv"), []byte(ProfileTSV(ps)), 0o644); err != nil {
			return err
		}
		io.WriteString(stdout, table)
	}
	return env.report(results)
}

// runDistro runs the systemd comparison and writes OUT/distro.md; built are the images the
// run already made.
func (e *benchEnv) runDistro(ctx context.Context, built []image) error {
	rs, err := e.distroBench(ctx, built)
	if err != nil {
		return err
	}
	e.distro = rs
	return e.writeDistro(rs)
}

// genDefault is the default of -gen and -distro: one round with BENCH_PEERS=1 (the peer
// generators are then installed), none otherwise.
func genDefault() int {
	if os.Getenv("BENCH_PEERS") == "1" {
		return 1
	}
	return 0
}

// parseCPUList reads -smp: vCPU counts from 1 to 8, no repeats.
func parseCPUList(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, w := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > 8 || seen[n] {
			return nil, fmt.Errorf("-smp %q: want distinct vCPU counts from 1 to 8, comma separated", s)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// atCPUCounts repeats every image at each vCPU count; the first count keeps the plain
// names, the others are named NAME@smpN (and Analyze compares each group with its own
// baseline and peers).
func atCPUCounts(imgs []image, cpus []int) []image {
	var out []image
	for i, n := range cpus {
		for _, im := range imgs {
			im.cpus = n
			if i > 0 {
				im.name = fmt.Sprintf("%s@smp%d", im.name, n)
			}
			out = append(out, im)
		}
	}
	return out
}

// selected reports whether image name is wanted by -only.
func selected(only, name string) bool {
	if only == "" || name == "baseline" {
		return true
	}
	for _, w := range strings.Split(only, ",") {
		if strings.TrimSpace(w) == name {
			return true
		}
	}
	return false
}

// variant is a generic image built with extra mkinitramfs flags (-variant).
type variant struct {
	name string
	args []string
}

// variants collects the -variant flags.
type variants []variant

func (v *variants) String() string {
	var out []string
	for _, x := range *v {
		out = append(out, x.name+"="+strings.Join(x.args, " "))
	}
	return strings.Join(out, "; ")
}

// Set parses NAME=FLAGS: a name that can be an image's (and a file's) and at least one flag.
func (v *variants) Set(s string) error {
	name, flags, ok := strings.Cut(s, "=")
	args := strings.Fields(flags)
	switch {
	case !ok || len(args) == 0:
		return fmt.Errorf("%q: want NAME=FLAGS", s)
	case name == "" || strings.ContainsAny(name, "/, \t") || name == "baseline" || name == "generic":
		return fmt.Errorf("%q: bad image name %q", s, name)
	case slices.ContainsFunc(*v, func(x variant) bool { return x.name == name }):
		return fmt.Errorf("%q: image %s given twice", s, name)
	}
	*v = append(*v, variant{name, args})
	return nil
}
