package main

import (
	"fmt"
	"math"
	"strings"
)

// Image kinds.
const (
	KindBaseline  = "baseline"
	KindEarlyroot = "earlyroot"
	KindPeer      = "peer"
	// KindFloor is a measured floor: what the kernel costs for an image of the generic
	// image's size that only inserts the root's modules and mounts (floorImage).
	KindFloor = "floor"
)

// Run is one boot of an image.
type Run struct {
	Round  int
	Wall   float64 // seconds from starting QEMU to the facts line
	Uptime float64 // the real init's uptime (facts), seconds
	Log    BootLog
	Err    string // "" for a good boot
}

// ImageResult is one image and its boots.
type ImageResult struct {
	Name, Desc string
	Kind       string
	Size       int64
	Runs       []Run
}

// Phase names earlyroot logs, in boot order, as shown in the table.
var phaseNames = []string{"module index", "discovery start", "wait for root", "mount root"}

// Row is the analysed results of one image. Stage is the in-guest uptime at
// the real init minus the baseline's median; it is split into Kernel (the
// image's "Run /init" time minus the baseline's: unpacking and the rest of
// the kernel's start) and User (from /init to the real init, less the
// baseline's own /init-to-facts time).
type Row struct {
	Name, Desc, Kind string
	Size             int64
	Good, Failed     int
	Wall, Uptime     Summary
	Stage            Summary
	Kernel, User     Summary
	Unpack           Summary // "Trying to unpack" → "Freeing initrd memory" (asynchronous in 6.1)
	Phases           map[string]Summary
	Mounted, RSSKB   Summary
	Modules          Summary
	// Breakdown summarises each breakdown field (breakdownKeys) of earlyroot's boots; GoStart
	// is /init's start (initStart) minus "Run /init" and Handover the time from the
	// breakdown line to the real init (less the baseline's own /init-to-facts time), both in
	// milliseconds; Slowest is the slowest= field of the first good boot.
	Breakdown         map[string]Summary
	GoStart, Handover Summary
	Slowest           string
}

// cpuGroup is the "@smpN" suffix of an image booted with N vCPUs ("" for the first count).
func cpuGroup(name string) string {
	if i := strings.LastIndex(name, "@smp"); i >= 0 {
		return name[i:]
	}
	return ""
}

// baseline holds the medians of a baseline image that the others are measured against.
type baseline struct{ up, run, self float64 }

// baselines finds, per vCPU group, the first KindBaseline image's medians.
func baselines(images []ImageResult) map[string]baseline {
	out := map[string]baseline{}
	for _, im := range images {
		g := cpuGroup(im.Name)
		if _, ok := out[g]; ok || im.Kind != KindBaseline {
			continue
		}
		up, run, self := collect(im, func(r Run) float64 { return r.Uptime }),
			collect(im, func(r Run) float64 { return r.Log.RunInit }),
			collect(im, func(r Run) float64 { return r.Uptime - r.Log.RunInit })
		out[g] = baseline{Summarize(up).Median, Summarize(run).Median, Summarize(self).Median}
	}
	return out
}

// Analyze computes a Row per image; the first KindBaseline image of the same vCPU group is
// the reference for the init stage (without one, the stage columns are NaN).
func Analyze(images []ImageResult) []Row {
	bases := baselines(images)
	var rows []Row
	for _, im := range images {
		b, ok := bases[cpuGroup(im.Name)]
		if !ok {
			b = baseline{math.NaN(), math.NaN(), math.NaN()}
		}
		baseUp, baseRun, baseSelf := b.up, b.run, b.self
		r := Row{Name: im.Name, Desc: im.Desc, Kind: im.Kind, Size: im.Size, Phases: map[string]Summary{}}
		for _, run := range im.Runs {
			if run.Err == "" {
				r.Good++
			} else {
				r.Failed++
			}
		}
		r.Wall = Summarize(collect(im, func(x Run) float64 { return x.Wall }))
		r.Uptime = Summarize(collect(im, func(x Run) float64 { return x.Uptime }))
		r.Stage = Summarize(collect(im, func(x Run) float64 { return x.Uptime - baseUp }))
		r.Kernel = Summarize(collect(im, func(x Run) float64 { return x.Log.RunInit - baseRun }))
		r.User = Summarize(collect(im, func(x Run) float64 { return x.Uptime - x.Log.RunInit - baseSelf }))
		r.Unpack = Summarize(collect(im, func(x Run) float64 { return x.Log.UnpackEnd - x.Log.UnpackStart }))
		for _, p := range phaseNames {
			r.Phases[p] = Summarize(collect(im, func(x Run) float64 { return phase(x.Log, p) }))
		}
		r.Mounted = Summarize(collect(im, func(x Run) float64 { return x.Log.MountedMS }))
		r.RSSKB = Summarize(collect(im, func(x Run) float64 { return x.Log.PeakRSSKB }))
		r.Modules = Summarize(collect(im, func(x Run) float64 { return x.Log.Modules }))
		r.Breakdown = map[string]Summary{}
		for _, k := range breakdownKeys {
			r.Breakdown[k] = Summarize(collect(im, func(x Run) float64 { return bd(x.Log, k) }))
		}
		r.GoStart = Summarize(collect(im, func(x Run) float64 { return (initStart(x.Log) - x.Log.RunInit) * 1000 }))
		r.Handover = Summarize(collect(im, func(x Run) float64 { return (x.Uptime - bd(x.Log, "logged_at") - baseSelf) * 1000 }))
		for _, x := range im.Runs {
			if x.Err == "" && x.Log.Slowest != "" {
				r.Slowest = x.Log.Slowest
				break
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func phase(b BootLog, name string) float64 {
	if v, ok := b.Phases[name]; ok {
		return v
	}
	return math.NaN()
}

// collect applies f to the good boots of im.
func collect(im ImageResult, f func(Run) float64) []float64 {
	var out []float64
	for _, r := range im.Runs {
		if r.Err == "" {
			out = append(out, f(r))
		}
	}
	return out
}

// Target is one goal of the benchmark issue, checked against a measurement.
type Target struct {
	What     string
	Limit    float64
	Unit     string
	Measured float64 // NaN when not measured
	// Floor is the same measure for the image's measured floor (floorImage: its bytes and
	// module inserts under tiny-initramfs's C init): what no init could go below with that
	// image. NaN for the targets that have none, or when it was not booted.
	Floor float64
}

// Pass reports whether the measurement is within the limit; a missing
// measurement fails.
func (t Target) Pass() bool { return !math.IsNaN(t.Measured) && t.Measured <= t.Limit }

// tinyPeer is the fastest peer, hand-tuned: the init stages are compared to it.
const tinyPeer = "tiny-initramfs"

// Targets checks the benchmark's goals: the generic and host-only images' init stages as
// ratios to tiny-initramfs's in the same run (not measured without BENCH_PEERS=1), the
// generic image's size, the init binary's size and PID 1's peak RSS (the largest seen in any
// earlyroot boot).
func Targets(rows []Row, initSize int64) []Target {
	const mib = 1 << 20
	nan := math.NaN()
	gSize := nan
	if r, ok := findRow(rows, "generic"); ok {
		gSize = float64(r.Size) / mib
	}
	rss := nan
	for _, r := range rows {
		if r.Kind == KindEarlyroot && !math.IsNaN(r.RSSKB.Max) && (math.IsNaN(rss) || r.RSSKB.Max/1024 > rss) {
			rss = r.RSSKB.Max / 1024
		}
	}
	return append([]Target{
		vsTiny(rows, "generic image: init stage vs "+tinyPeer, "generic", "", 1.0),
		vsTiny(rows, "host-only image: init stage vs "+tinyPeer, "host-only", "", 0.9),
		vsTiny(rows, "generic image at 2 vCPUs: init stage vs "+tinyPeer+" at 2", "generic", "@smp2", 0.8),
		{"generic image size", 10, "MiB", gSize, nan},
		{"init binary size (build/init)", 4, "MiB", float64(initSize) / mib, nan},
		{"PID 1 peak RSS (VmHWM, worst boot)", 24, "MiB", rss, nan},
	}, stackTargets(rows)...)
}

// vsTiny is the target of the image's median init stage as a ratio to tiny-initramfs's in
// the same vCPU group (group: "" or "@smpN"), with the same ratio for the image's measured
// floor beside it.
func vsTiny(rows []Row, what, image, group string, limit float64) Target {
	return Target{what, limit, "×", medianRatio(rows, image+group, tinyPeer+group, stageOf),
		medianRatio(rows, floorName(image)+group, tinyPeer+group, stageOf)}
}

// medianRatio is the median of row a's measure over row b's (of picks it: stageOf,
// uptimeOf); NaN when either row is missing.
func medianRatio(rows []Row, a, b string, of func(Row) Summary) float64 {
	ra, ok1 := findRow(rows, a)
	rb, ok2 := findRow(rows, b)
	if !ok1 || !ok2 {
		return math.NaN()
	}
	return of(ra).Median / of(rb).Median
}

func stageOf(r Row) Summary  { return r.Stage }
func uptimeOf(r Row) Summary { return r.Uptime }

func findRow(rows []Row, name string) (Row, bool) {
	for _, r := range rows {
		if r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// fastestPeer is the smallest median init stage among the peers of a vCPU group; NaN
// without peers.
func fastestPeer(rows []Row, group string) (name string, stage float64) {
	stage = math.NaN()
	for _, r := range rows {
		if r.Kind == KindPeer && r.Good > 0 && cpuGroup(r.Name) == group && (math.IsNaN(stage) || r.Stage.Median < stage) {
			name, stage = r.Name, r.Stage.Median
		}
	}
	return name, stage
}

// Markdown renders a table; cells are escaped for pipes and newlines.
func Markdown(header []string, rows [][]string) string {
	var b strings.Builder
	cell := func(s string) string {
		s = strings.ReplaceAll(s, "|", `\|`)
		return strings.ReplaceAll(s, "\n", " ")
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i := range header {
			c := ""
			if i < len(cells) {
				c = cell(cells[i])
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString("|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// sec formats seconds with millisecond resolution; NaN is "–".
func sec(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

// ratio formats a/b as "1.23×"; "–" when either is missing.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 || a < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// ms formats milliseconds; NaN is "–".
func ms(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// spread is "min / median / max" in seconds.
func spread(s Summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", sec(s.Min), sec(s.Median), sec(s.Max))
}

// size formats bytes as MiB with two decimals.
func size(n int64) string {
	if n <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

// ResultsTable is the main per-image table.
func ResultsTable(rows []Row) string {
	peer, _ := fastestPeer(rows, "")
	vsPeer := "vs fastest peer"
	if peer != "" {
		vsPeer = "vs " + strings.TrimSuffix(peer, cpuGroup(peer)) + " (same vCPUs)"
	}
	header := []string{"image", "size", "boots ok", "wall to facts (s, med)", "uptime at real init (s, med)",
		"init stage (s, min / med / max)", vsPeer, "unpack + kernel until /init (s, med)", "/init until real init (s, med)",
		"unpack (s, med)", "wait for root (ms)", "mount root (ms)", "root mounted in (ms)", "modules", "PID 1 peak RSS (MiB)"}
	var out [][]string
	for _, r := range rows {
		_, peerStage := fastestPeer(rows, cpuGroup(r.Name))
		rss := "–"
		if !math.IsNaN(r.RSSKB.Median) {
			rss = fmt.Sprintf("%.1f", r.RSSKB.Median/1024)
		}
		out = append(out, []string{
			r.Name, size(r.Size), fmt.Sprintf("%d/%d", r.Good, r.Good+r.Failed),
			sec(r.Wall.Median), sec(r.Uptime.Median), spread(r.Stage), ratio(r.Stage.Median, peerStage), sec(r.Kernel.Median), sec(r.User.Median),
			sec(r.Unpack.Median), ms(r.Phases["wait for root"].Median), ms(r.Phases["mount root"].Median),
			ms(r.Mounted.Median), ms(r.Modules.Median), rss,
		})
	}
	return Markdown(header, out)
}

// TargetsTable renders the pass/fail table, with the image's measured floor beside each
// target that has one: a floor above the limit means no init reaches the target with that
// image, since the floor leaves out all of the init's own work.
func TargetsTable(ts []Target) string {
	var out [][]string
	for _, t := range ts {
		m, verdict := "not measured", "FAIL"
		if !math.IsNaN(t.Measured) {
			m = fmt.Sprintf("%.3f %s", t.Measured, t.Unit)
		}
		if t.Pass() {
			verdict = "pass"
		}
		floor := "–"
		if !math.IsNaN(t.Floor) {
			floor = fmt.Sprintf("%.3f %s", t.Floor, t.Unit)
			if t.Floor > t.Limit {
				floor += " (over the limit: out of any init's reach with this image)"
			}
		}
		out = append(out, []string{t.What, fmt.Sprintf("≤ %g %s", t.Limit, t.Unit), m, verdict, floor})
	}
	return Markdown([]string{"target", "limit", "measured", "result", "the image's measured floor"}, out)
}

// ImagesTable describes how each image was built.
func ImagesTable(rows []Row) string {
	var out [][]string
	for _, r := range rows {
		out = append(out, []string{r.Name, r.Kind, r.Desc})
	}
	return Markdown([]string{"image", "kind", "how it was built"}, out)
}

// BreakdownTable shows, for each earlyroot image, where the init stage goes (medians):
// the kernel's part until /init, the Go start, then the steps of the boot as times from
// /init's start, the hand-over to the real init, and the module loads.
func BreakdownTable(rows []Row) string {
	header := []string{"image", "kernel until /init vs baseline (ms)", "exec + Go start (ms)", "discovery started at (ms)",
		"coldplug done at (ms)", "root uevent at (ms)", "root probe (ms)", "root found at (ms)", "fs modules (ms)",
		"mount (ms)", "switch_root at (ms)", "switch_root → real init (ms)", "modules", "finit_module sum (ms)",
		"slowest loads (module:ms:KiB)"}
	var out [][]string
	for _, r := range rows {
		if r.Kind != KindEarlyroot {
			continue
		}
		m := func(k string) string { return ms(r.Breakdown[k].Median) }
		out = append(out, []string{r.Name, ms(r.Kernel.Median * 1000), ms(r.GoStart.Median), m("discovery"),
			m("coldplug"), m("root"), m("probe_ms"), m("found"), m("fs_ms"), m("mount_ms"), m("switch"),
			ms(r.Handover.Median), m("modules"), m("finit_ms"), orDash(r.Slowest)})
	}
	return Markdown(header, out)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// FloorText splits, per vCPU group, an earlyroot image's init stage against its measured
// floor (floorImage: floor-NAME for the image NAME) and tiny-initramfs: the floor minus tiny
// is what the kernel spends on the image's bytes; the image minus the floor is earlyroot's
// own work. "" without the three rows of any group.
func FloorText(rows []Row) string {
	var b strings.Builder
	for _, f := range rows {
		if f.Kind != KindFloor || f.Good == 0 {
			continue
		}
		group := cpuGroup(f.Name) // "" or "@smpN", the suffix of the group's row names
		base := strings.TrimPrefix(strings.TrimSuffix(f.Name, group), floorName(""))
		g, ok1 := findRow(rows, base+group)
		t, ok2 := findRow(rows, tinyPeer+group)
		if !ok1 || !ok2 || g.Good == 0 || t.Good == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nThe measured floors (" + floorName("NAME") + ": the image NAME's bytes and the same module inserts, tiny-initramfs's C init instead of earlyroot's):\n\n")
		}
		fmt.Fprintf(&b, "- %s, %s: %.3f s = tiny-initramfs %.3f s + the image's size to the kernel %+.3f s (floor %.3f s) + earlyroot's own work %+.3f s; %s vs floor %s, floor vs tiny %s.\n",
			base, groupLabel(group), g.Stage.Median, t.Stage.Median, f.Stage.Median-t.Stage.Median, f.Stage.Median,
			g.Stage.Median-f.Stage.Median, base, ratio(g.Stage.Median, f.Stage.Median), ratio(f.Stage.Median, t.Stage.Median))
	}
	return b.String()
}

// groupLabel names a vCPU group for the text.
func groupLabel(group string) string {
	if group == "" {
		return "1 vCPU"
	}
	return strings.TrimPrefix(group, "@smp") + " vCPUs"
}
