package main

// The systemd comparison (issue 18): the other boots of the bench hand over to cmd/testinit,
// which measures the initramfs to the millisecond but is no distribution. Here the three
// generic images (earlyroot's, initramfs-tools', dracut's) boot one Debian 12 root with
// systemd as /sbin/init (internal/debroot's installed root, the one tests/distro boots), and
// the figures are systemd's own, from systemd-analyze: what a user of that distribution sees.
//
// systemd counts an initrd stage only when the initramfs tells it where that stage began:
// earlyroot passes RD_TIMESTAMP on, dracut's systemd initrd is systemd itself, initramfs-tools
// says nothing, so its initramfs time is inside systemd's "kernel". kernel+initrd is the
// figure all three share. Every boot starts from a fresh copy of the prepared disk, so that no
// boot sees a journal or fsck state another left.

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/earlyroot/earlyroot/internal/debroot"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// Under TCG a systemd boot to multi-user.target takes one to four minutes on a busy machine.
const (
	distroBootTimeout   = 10 * time.Minute
	distroReportTimeout = 9 * time.Minute
	distroMemMB         = 1024
)

var distroDoneRe = regexp.MustCompile(regexp.QuoteMeta(debroot.ReportPrefix + debroot.ReportDone + "="))

// DistroRun is one boot of the systemd root.
type DistroRun struct {
	Startup debroot.Startup
	State   string // systemctl is-system-running
	Err     string // why the boot gave no figures ("" for a good boot)
}

// DistroResult is one image's boots of the systemd root.
type DistroResult struct {
	Name, Desc string
	Runs       []DistroRun
}

// distroBench makes the root disk once and boots it with each image, -distro rounds,
// round-robin, one VM at a time. built are the images the run already made (reused by name).
func (e *benchEnv) distroBench(ctx context.Context, built []image) ([]DistroResult, error) {
	disk, err := e.distroDisk(ctx)
	if err != nil {
		return nil, fmt.Errorf("distro: %w", err)
	}
	imgs, err := e.distroImages(ctx, built)
	if err != nil {
		return nil, fmt.Errorf("distro: %w", err)
	}
	e.distroLoad[0] = loadAvg()
	res := make([]DistroResult, len(imgs))
	for i, im := range imgs {
		res[i] = DistroResult{Name: im.name, Desc: im.desc}
	}
	fmt.Fprintf(e.log, "bench: distro: %d images × %d boots of the Debian 12 systemd root, one VM at a time (%d MiB)\n",
		len(imgs), e.opt.distro, distroMemMB)
	for _, j := range Schedule(len(imgs), e.opt.distro) {
		r := e.distroBoot(ctx, imgs[j.img], j.round, disk)
		res[j.img].Runs = append(res[j.img].Runs, r)
		status := "systemd-analyze: " + startupLine(r.Startup)
		if r.Err != "" {
			status = "FAILED: " + firstLine(r.Err)
		}
		fmt.Fprintf(e.log, "bench: distro %s round %d: %s\n", imgs[j.img].name, j.round+1, status)
	}
	e.distroLoad[1] = loadAvg()
	return res, nil
}

// distroDisk makes the systemd root's disk in OUT/distro: a copy of the cached debootstrap
// tree, prepared as an installed system with the test kernel's modules. The copy is removed
// once the disk holds it.
func (e *benchEnv) distroDisk(ctx context.Context) (string, error) {
	src, err := debroot.Build(ctx, fixture.CacheDir(), debroot.Bookworm)
	if err != nil {
		return "", err
	}
	dir := e.path("distro")
	tree := filepath.Join(dir, "root-tree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.RemoveAll(tree); err != nil {
		return "", err
	}
	defer os.RemoveAll(tree)
	fmt.Fprintf(e.log, "bench: distro: preparing a copy of %s in %s\n", src, tree)
	if err := debroot.CopyTree(src, tree); err != nil {
		return "", err
	}
	if err := debroot.Prepare(tree, filepath.Join(e.opt.build, "testinit")); err != nil {
		return "", err
	}
	if err := debroot.AddModules(tree, e.k); err != nil {
		return "", err
	}
	disk := filepath.Join(dir, "root.img")
	if err := debroot.MakeDisk(tree, disk); err != nil {
		return "", err
	}
	return disk, nil
}

// distroImages returns earlyroot's generic image and the initramfs-tools and dracut images,
// taken from built when the run made them, else built here.
func (e *benchEnv) distroImages(ctx context.Context, built []image) ([]image, error) {
	byName := map[string]image{}
	for _, im := range built {
		if im.cpus <= 1 {
			byName[im.name] = im
		}
	}
	if _, ok := byName["generic"]; !ok {
		im, summary, err := e.mkinitramfs("generic", "")
		if err != nil {
			return nil, err
		}
		im.desc = "build/mkinitramfs defaults (generic module set): " + strings.TrimSpace(summaryTail(summary))
		byName[im.name] = im
	}
	if err := e.distroPeers(ctx, byName); err != nil {
		return nil, err
	}
	return []image{byName["generic"], byName[itoolsImage], byName[dracutImage]}, nil
}

// distroPeers builds the initramfs-tools and dracut images byName lacks.
func (e *benchEnv) distroPeers(ctx context.Context, byName map[string]image) error {
	_, it := byName[itoolsImage]
	_, dr := byName[dracutImage]
	if it && dr {
		return nil
	}
	if err := needTools(itoolsBin, dracutBin); err != nil {
		return err
	}
	cleanup, err := e.installHostKernel()
	defer cleanup()
	if err != nil {
		return err
	}
	if !it {
		im, err := e.itoolsImage()
		if err != nil {
			return err
		}
		byName[im.name] = im
	}
	if !dr {
		im, err := e.dracutImage(ctx)
		if err != nil {
			return err
		}
		byName[im.name] = im
	}
	return nil
}

// distroBoot boots im on a fresh copy of disk until the report's last line and the power-off,
// and reads systemd-analyze's summary from the report.
func (e *benchEnv) distroBoot(ctx context.Context, im image, round int, disk string) DistroRun {
	logPath := e.path("logs", fmt.Sprintf("distro-%s-%d.log", im.name, round+1))
	out, err := e.distroConsole(ctx, im, disk, logPath)
	if err != nil {
		return DistroRun{Err: fmt.Sprintf("%v (console: %s)", err, logPath)}
	}
	rep := debroot.ParseReport(out)
	st, err := debroot.ParseStartup(rep["analyze"])
	if err != nil {
		return DistroRun{State: rep["state"], Err: fmt.Sprintf("%v (console: %s)", err, logPath)}
	}
	return DistroRun{Startup: st, State: rep["state"]}
}

// distroConsole runs one VM and returns its console once the guest reported and powered off.
func (e *benchEnv) distroConsole(ctx context.Context, im image, disk, logPath string) (string, error) {
	boot := filepath.Join(filepath.Dir(disk), "boot.img")
	os.Remove(boot)
	if msg, err := runTool("cp", "--sparse=always", disk, boot); err != nil {
		return "", fmt.Errorf("copy %s: %w: %s", disk, err, msg)
	}
	defer os.Remove(boot)
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cfg := vm.Config{
		Kernel:  e.k.Image,
		Initrd:  im.path,
		Append:  strings.Join(strings.Fields(debroot.Cmdline+" "+im.append+" "+e.opt.extraAppend), " "),
		Drives:  []vm.Drive{{Path: boot}},
		MemMB:   distroMemMB,
		Timeout: distroBootTimeout,
		Console: logf,
	}
	if a, err := vm.Args(cfg); err == nil {
		fmt.Fprintf(logf, "# %s\n", strings.Join(a, " "))
	}
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer v.Close()
	if _, err := v.Expect(distroDoneRe, distroReportTimeout); err != nil {
		return "", fmt.Errorf("no report from the booted system: %w", err)
	}
	if err := v.WaitTimeout(2 * time.Minute); err != nil {
		return "", fmt.Errorf("the guest did not power off: %w", err)
	}
	return v.Output(), nil
}

// startupLine is a boot's figures in the log.
func startupLine(s debroot.Startup) string {
	initrd := "none"
	if s.HasInitrd {
		initrd = sec(s.Initrd.Seconds()) + " s"
	}
	return fmt.Sprintf("kernel %s s, initrd %s, userspace %s s", sec(s.Kernel.Seconds()), initrd, sec(s.Userspace.Seconds()))
}

// loadAvg is the host's load average, as /proc/loadavg gives it ("1.02 0.87 0.55").
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// distroMedians are one image's medians in seconds; NaN where no boot gave the figure
// (Initrd when systemd saw no initrd stage).
type distroMedians struct {
	Kernel, Initrd, KernelInitrd, Userspace, Total float64
	Good                                           int
}

func medians(r DistroResult) distroMedians {
	var k, i, ki, u, t []float64
	for _, run := range r.Runs {
		if run.Err != "" {
			continue
		}
		s := run.Startup
		k, ki = append(k, s.Kernel.Seconds()), append(ki, (s.Kernel+s.Initrd).Seconds())
		u, t = append(u, s.Userspace.Seconds()), append(t, s.Total.Seconds())
		if s.HasInitrd {
			i = append(i, s.Initrd.Seconds())
		}
	}
	return distroMedians{Kernel: Summarize(k).Median, Initrd: Summarize(i).Median, KernelInitrd: Summarize(ki).Median,
		Userspace: Summarize(u).Median, Total: Summarize(t).Median, Good: len(k)}
}

// DistroTable is the comparison as a Markdown table: medians over the good boots, and each
// image's kernel+initrd and initrd against initramfs-tools' and dracut's.
func DistroTable(rs []DistroResult) string {
	ref := map[string]distroMedians{}
	for _, r := range rs {
		ref[r.Name] = medians(r)
	}
	it, dr := refMedians(ref, itoolsImage), refMedians(ref, dracutImage)
	var b strings.Builder
	b.WriteString("| image | good boots | kernel | initrd | kernel+initrd | userspace | total | kernel+initrd vs initramfs-tools | vs dracut | initrd vs initramfs-tools | vs dracut |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		m := ref[r.Name]
		fmt.Fprintf(&b, "| %s | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Name, m.Good, len(r.Runs), secUnit(m.Kernel), initrdCell(m), secUnit(m.KernelInitrd), secUnit(m.Userspace), secUnit(m.Total),
			ratio(m.KernelInitrd, it.KernelInitrd), ratio(m.KernelInitrd, dr.KernelInitrd), ratio(m.Initrd, it.Initrd), ratio(m.Initrd, dr.Initrd))
	}
	return b.String()
}

// refMedians is the reference image's medians, all NaN when the run has none.
func refMedians(ref map[string]distroMedians, name string) distroMedians {
	if m, ok := ref[name]; ok {
		return m
	}
	nan := math.NaN()
	return distroMedians{Kernel: nan, Initrd: nan, KernelInitrd: nan, Userspace: nan, Total: nan}
}

// initrdCell says "none (in kernel)" for an image whose good boots had no initrd stage.
func initrdCell(m distroMedians) string {
	if math.IsNaN(m.Initrd) && m.Good > 0 {
		return "none (in kernel)"
	}
	return secUnit(m.Initrd)
}

func secUnit(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return sec(v) + " s"
}

// distroFailures lists the boots that gave no figures and the states other than running.
func distroFailures(rs []DistroResult) string {
	var b strings.Builder
	for _, r := range rs {
		for i, run := range r.Runs {
			switch {
			case run.Err != "":
				fmt.Fprintf(&b, "- %s, round %d: **failed**: %s\n", r.Name, i+1, firstLine(run.Err))
			case run.State != "running":
				fmt.Fprintf(&b, "- %s, round %d: systemd state %q (figures kept)\n", r.Name, i+1, run.State)
			}
		}
	}
	return b.String()
}

// distroSection is the comparison's text and table, for distro.md and results.md.
func (e *benchEnv) distroSection(rs []DistroResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The Debian 12 root of tests/distro (debootstrap, systemd as /sbin/init, the test kernel's modules, "+
		"an ext4 root on a GPT partition of a virtio disk, `%s`), booted through each generic image under QEMU TCG, "+
		"1 vCPU, %d MiB, one VM at a time, round-robin, each boot from a fresh copy of the disk; %d round(s). "+
		"The figures are the medians of systemd-analyze's `Startup finished in …` over the good boots. "+
		"**initramfs-tools reports no initrd stage**: it does not tell systemd when it started, so systemd counts "+
		"its initramfs in *kernel*; *kernel+initrd* is the figure comparable across all three. "+
		"earlyroot passes the initramfs's start to systemd (RD_TIMESTAMP); dracut's initrd is systemd itself. "+
		"Host load average (1, 5, 15 min) at the start: %s; at the end: %s.\n\n",
		debroot.Cmdline, distroMemMB, e.opt.distro, e.distroLoad[0], e.distroLoad[1])
	b.WriteString(DistroTable(rs))
	if f := distroFailures(rs); f != "" {
		b.WriteString("\n" + f)
	}
	return b.String()
}

// writeDistro writes OUT/distro.md and prints it.
func (e *benchEnv) writeDistro(rs []DistroResult) error {
	md := "# systemd's boot times: earlyroot, initramfs-tools, dracut\n\n" +
		fmt.Sprintf("Kernel %s. %s.\n\n", e.k.Release, time.Now().UTC().Format("2006-01-02 15:04 UTC")) + e.distroSection(rs)
	if err := os.WriteFile(e.path("distro.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("distro: %w", err)
	}
	fmt.Fprintf(e.log, "\n%s\nbench: wrote %s\n", md, e.path("distro.md"))
	return nil
}
