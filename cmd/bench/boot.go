package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

var factsRe = regexp.MustCompile(regexp.QuoteMeta(strings.TrimSpace(vm.FactsPrefix)))

// job is one boot in the schedule.
type job struct {
	img, round int
}

// Schedule orders the boots round-robin: every image once per round, so a
// change in the host's load over time touches all images alike.
func Schedule(images, rounds int) []job {
	var out []job
	for r := 0; r < rounds; r++ {
		for i := 0; i < images; i++ {
			out = append(out, job{img: i, round: r})
		}
	}
	return out
}

// bootAll runs the schedule with opt.parallel VMs at a time, each on its own
// copy of the root disk.
func (e *benchEnv) bootAll(ctx context.Context, imgs []image) []ImageResult {
	res := make([]ImageResult, len(imgs))
	for i, im := range imgs {
		res[i] = ImageResult{Name: im.name, Desc: im.desc, Kind: im.kind}
		if fi, err := os.Stat(im.path); err == nil {
			res[i].Size = fi.Size()
		}
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := len(imgs) * e.opt.n
	done := 0
	for slot := 0; slot < e.opt.parallel; slot++ {
		wg.Add(1)
		go func(slot int) {
			defer wg.Done()
			for j := range jobs {
				disks := []string{e.disks[slot]}
				if d := imgs[j.img].disks; d != nil {
					disks = d[slot]
				}
				r := e.boot(ctx, imgs[j.img], j.round, disks)
				mu.Lock()
				res[j.img].Runs = append(res[j.img].Runs, r)
				done++
				status := fmt.Sprintf("uptime %.3f s, wall %.2f s", r.Uptime, r.Wall)
				if r.Err != "" {
					status = "FAILED: " + firstLine(r.Err)
				}
				fmt.Fprintf(e.log, "bench: [%d/%d] %s round %d: %s\n", done, total, imgs[j.img].name, j.round+1, status)
				mu.Unlock()
			}
		}(slot)
	}
	for _, j := range Schedule(len(imgs), e.opt.n) {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	return res
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// vmConfig is the VM that boots im on disks, its console copied to console.
func (e *benchEnv) vmConfig(im image, disks []string, console io.Writer, appendMore ...string) vm.Config {
	root := cmp.Or(im.root, "UUID="+rootUUID)
	var drives []vm.Drive
	for _, d := range disks {
		drives = append(drives, vm.Drive{Path: d, Bus: e.opt.bus})
	}
	words := append([]string{baseAppend, "root=" + root, im.append, e.opt.extraAppend}, appendMore...)
	return vm.Config{
		Kernel:  e.k.Image,
		Initrd:  im.path,
		Append:  strings.Join(strings.Fields(strings.Join(words, " ")), " "),
		Drives:  drives,
		MemMB:   512,
		CPUs:    max(1, im.cpus),
		Timeout: e.opt.timeout,
		Console: console,
	}
}

// boot runs one VM until the real init reports, and measures it.
func (e *benchEnv) boot(ctx context.Context, im image, round int, disks []string) Run {
	r := Run{Round: round, Wall: math.NaN(), Uptime: math.NaN(), Log: ParseLog("")}
	logPath := e.path("logs", fmt.Sprintf("%s-%d.log", im.name, round+1))
	logf, err := os.Create(logPath)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer logf.Close()
	cfg := e.vmConfig(im, disks, logf)
	if a, err := vm.Args(cfg); err == nil {
		fmt.Fprintf(logf, "# %s\n", strings.Join(a, " "))
	}
	start := time.Now()
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer v.Close()
	if _, err := v.Expect(factsRe, e.opt.timeout); err != nil {
		r.Err = fmt.Sprintf("%v (console: %s)", err, logPath)
		return r
	}
	r.Wall = time.Since(start).Seconds()
	if err := v.WaitTimeout(30 * time.Second); err != nil {
		// The facts are in; a slow power-off does not spoil the sample.
		fmt.Fprintf(logf, "\n# bench: %v\n", err)
	}
	out := v.Output()
	f, err := vm.ParseFacts(out)
	if err != nil {
		r.Err = fmt.Sprintf("%v (console: %s)", err, logPath)
		return r
	}
	if wantFS := rootFSType(im.kind); f.PID != 1 || f.RootFSType != wantFS {
		r.Err = fmt.Sprintf("real init ran as pid %d on %q, want pid 1 on %s (console: %s)", f.PID, f.RootFSType, wantFS, logPath)
		return r
	}
	r.Uptime = f.UptimeSec
	r.Log = ParseLog(out)
	return r
}

// peerLines marks the fastest peer's median init stage on the chart: the line to beat.
func peerLines(rows []Row) []TargetLine {
	name, stage := fastestPeer(rows, "")
	if name == "" || math.IsNaN(stage) {
		return nil
	}
	return []TargetLine{{fmt.Sprintf("%s %.2f s", name, stage), stage}}
}

// rootFSType is the root the real init should find: the baseline's testinit
// runs from the initramfs itself.
func rootFSType(kind string) string {
	if kind == KindBaseline {
		return "rootfs"
	}
	return "ext4"
}

// report writes results.md, init-stage.svg and runs.csv and prints the
// tables.
func (e *benchEnv) report(results []ImageResult) error {
	rows := Analyze(results)
	rounds, peers := 0, false
	for _, im := range results {
		rounds = max(rounds, len(im.Runs))
		peers = peers || im.Kind == KindPeer
	}
	var initSize int64
	if fi, err := os.Stat(filepath.Join(e.opt.build, "init")); err == nil {
		initSize = fi.Size()
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# earlyroot boot benchmark\n\n")
	fmt.Fprintf(&md, "Kernel %s under QEMU TCG (no KVM), 1 vCPU (NAME@smpN rows: N vCPUs, compared with the baseline and peers at N), 512 MiB, q35; root ext4 on %s, root=UUID=; "+
		"the real init is cmd/testinit, which prints its uptime. %d boot(s) per image, round-robin, %d VM(s) at a time. %s.\n\n",
		e.k.Release, cmp.Or(e.opt.bus, vm.BusVirtioBlk), rounds, e.opt.parallel, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	md.WriteString("**init stage** = the real init's uptime minus the baseline's median: what the initramfs costs over a kernel " +
		"whose /init is the real init. It splits into *unpack + kernel until /init* (the image's `Run /init as init process` " +
		"time minus the baseline's) and */init until real init* (the rest). *unpack* is the kernel's asynchronous initramfs " +
		"unpacking (`Trying to unpack rootfs` → `Freeing initrd memory`), which overlaps other initcalls. The ms columns are " +
		"earlyroot's own log (medians).\n\n")
	md.WriteString(ResultsTable(rows))
	md.WriteString("\nWhere the earlyroot images' time goes (medians; from the init's breakdown line):\n\n")
	md.WriteString(BreakdownTable(rows))
	if len(e.start) > 0 {
		md.WriteString(StartText(e.start, rows))
	}
	md.WriteString(FloorText(rows))
	md.WriteString("\n## Targets\n\n")
	md.WriteString(TargetsTable(Targets(rows, initSize)))
	md.WriteString("\n## Images\n\n")
	md.WriteString(ImagesTable(rows))
	if peers {
		md.WriteString("\nPeer images were built on this host from Debian's initramfs-tools, dracut and tiny-initramfs packages (the busybox script from busybox-static), with the test " +
			"kernel's modules copied to /lib/modules/" + e.k.Release + " and depmod run for the bench.\n")
	}
	if len(e.kdf) > 0 {
		md.WriteString("\n## LUKS unlock (key derivation + keyslot decryption)\n\n" +
			"luks's BenchmarkUnlock: earlyroot's luks package and `cryptsetup open --test-passphrase` on the same " +
			"header made by cryptsetup, each a fresh process per unlock, on this host (raw output in kdf.txt).\n\n")
		md.WriteString(KDFTable(e.kdf))
	}
	if len(e.gen) > 0 {
		md.WriteString("\n## Image generation time\n\n" +
			"A generic image from each kernel's module tree, by earlyroot's mkinitramfs and by initramfs-tools' " +
			"(MODULES=most), on the same tree in this run (medians of the rounds; gentime.go says how).\n\n")
		md.WriteString(GenTable(e.gen))
	}
	md.WriteString("\n![median init stage](init-stage.svg)\n")
	if err := os.WriteFile(e.path("results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	var bars []Bar
	for _, r := range rows {
		if r.Kind == KindBaseline {
			continue
		}
		bars = append(bars, Bar{Label: r.Name, Kernel: r.Kernel.Median, User: r.User.Median,
			Median: r.Stage.Median, Min: r.Stage.Min, Max: r.Stage.Max})
	}
	svg := BarChartSVG(fmt.Sprintf("earlyroot init stage, median of %d boots (whiskers: min–max); %s, QEMU TCG", rounds, e.k.Release),
		bars, peerLines(rows))
	if err := os.WriteFile(e.path("init-stage.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(e.path("runs.csv"), []byte(RunsCSV(results)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.log, "\n%s\nbench: wrote %s, %s, %s\n", md.String(), e.path("results.md"), e.path("init-stage.svg"), e.path("runs.csv"))
	fmt.Fprint(e.log, stackLine(rows))
	for _, r := range rows {
		if r.Good == 0 {
			return fmt.Errorf("image %s: no good boot (see %s)", r.Name, e.path("logs"))
		}
	}
	return nil
}
