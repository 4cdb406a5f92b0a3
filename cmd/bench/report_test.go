package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

func logWith(runInit float64) BootLog {
	b := ParseLog("")
	b.RunInit = runInit
	return b
}

func sampleResults() []ImageResult {
	gl := logWith(3.2)
	gl.PeakRSSKB = 6144
	gl.Phases["wait for root"] = 400
	gl.Breakdown = map[string]float64{"logged_at": 3.4, "main_at": 3.3, "discovery": 15, "root": 700, "switch": 100}
	gl.Slowest = "ext4:300:1200"
	return []ImageResult{
		{Name: "baseline", Kind: KindBaseline, Size: 1 << 20, Runs: []Run{
			{Uptime: 3.0, Wall: 5, Log: logWith(2.9)}, {Uptime: 3.2, Wall: 5, Log: logWith(3.1)}, {Uptime: 3.1, Wall: 5, Log: logWith(3.0)}}},
		{Name: "generic", Kind: KindEarlyroot, Size: 12 << 20, Runs: []Run{
			{Uptime: 3.6, Wall: 6, Log: gl}, {Err: "boom", Uptime: math.NaN(), Log: ParseLog("")}}},
		{Name: "tiny-initramfs", Kind: KindPeer, Size: 1 << 20, Runs: []Run{{Uptime: 3.725, Wall: 6, Log: logWith(3.2)}}},
	}
}

func TestAnalyze(t *testing.T) {
	rows := Analyze(sampleResults())
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	g := rows[1]
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("stage", g.Stage.Median, 0.5)   // 3.6 - 3.1
	near("kernel", g.Kernel.Median, 0.2) // 3.2 - 3.0
	near("user", g.User.Median, 0.3)     // (3.6-3.2) - 0.1
	near("baseline stage", rows[0].Stage.Median, 0)
	if g.Good != 1 || g.Failed != 1 {
		t.Errorf("good/failed = %d/%d", g.Good, g.Failed)
	}
	ts := Targets(rows, 3<<20)
	want := map[string]bool{
		"generic image: init stage vs tiny-initramfs":   true,  // 0.5 / 0.625 = 0.8
		"host-only image: init stage vs tiny-initramfs": false, // not measured
		"generic image size":                            false,
		"init binary size (build/init)":                 true,
		"PID 1 peak RSS (VmHWM, worst boot)":            true,
	}
	for _, tg := range ts {
		if tg.Pass() != want[tg.What] {
			t.Errorf("target %q pass = %v (measured %v)", tg.What, tg.Pass(), tg.Measured)
		}
	}
	table := ResultsTable(rows)
	for _, s := range []string{"| generic | 12.00 MiB | 1/2 |", "0.500 / 0.500 / 0.500 | 0.80× |", "| 400 |", "| vs tiny-initramfs (same vCPUs) |", "| 6.0 |"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	bt := BreakdownTable(rows)
	if !strings.Contains(bt, "| generic | 200 | 100 | 15 | – | 700 |") || !strings.Contains(bt, "ext4:300:1200") || strings.Contains(bt, "tiny-initramfs") {
		t.Errorf("breakdown table:\n%s", bt)
	}
	near("handover", g.Handover.Median, 100) // (3.6 - 3.3 - 0.1) s - 0.1 s baseline
	if tt := TargetsTable(ts); !strings.Contains(tt, "not measured") || !strings.Contains(tt, "FAIL") {
		t.Errorf("targets table:\n%s", tt)
	}
	if csv := RunsCSV(sampleResults()); strings.Count(csv, "\n") != 7 || !strings.Contains(csv, "boom") {
		t.Errorf("csv:\n%s", csv)
	}
}

// TestAnalyzeCPUGroups checks that NAME@smpN rows are measured against the baseline and the
// peers booted with the same vCPU count, not the first group's.
func TestAnalyzeCPUGroups(t *testing.T) {
	in := sampleResults()
	for _, im := range sampleResults() {
		im.Name += "@smp2"
		for i := range im.Runs {
			im.Runs[i].Uptime += 1 // every boot of the group one second later
		}
		in = append(in, im)
	}
	in[len(in)-1].Runs[0].Uptime = 4.6 // tiny@smp2: stage 4.6 - 4.1 = 0.5
	rows := Analyze(in)
	g2, ok := findRow(rows, "generic@smp2")
	if !ok || math.Abs(g2.Stage.Median-0.5) > 1e-9 {
		t.Fatalf("generic@smp2 stage = %v (found %v), want 0.5 against its own baseline", g2.Stage.Median, ok)
	}
	if _, s := fastestPeer(rows, "@smp2"); math.Abs(s-0.5) > 1e-9 {
		t.Errorf("fastest @smp2 peer stage = %v, want 0.5", s)
	}
	for _, tg := range Targets(rows, 3<<20) {
		if strings.Contains(tg.What, "2 vCPUs") && (math.Abs(tg.Measured-1.0) > 1e-9 || tg.Pass()) {
			t.Errorf("target %q = %v pass %v, want 1.0× failing the 0.8 limit", tg.What, tg.Measured, tg.Pass())
		}
	}
	if !strings.Contains(ResultsTable(rows), "| generic@smp2 | 12.00 MiB | 1/2 | 6.000 | 4.600 | 0.500 / 0.500 / 0.500 | 1.00× |") {
		t.Errorf("table:\n%s", ResultsTable(rows))
	}
}

func TestParseCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{{"1", []int{1}}, {"1,2", []int{1, 2}}, {" 2 , 1", []int{2, 1}}, {"", nil}, {"0", nil}, {"1,1", nil}, {"x", nil}, {"9", nil}} {
		got, err := parseCPUList(c.in)
		if (err != nil) != (c.want == nil) || fmt.Sprint(got) != fmt.Sprint(c.want) && c.want != nil {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	got := Markdown([]string{"a", "b"}, [][]string{{"x|y", "1\n2"}, {"short"}})
	want := "| a | b |\n|---|---|\n| x\\|y | 1 2 |\n| short |  |\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestBarChartSVG(t *testing.T) {
	svg := BarChartSVG(`stage <&> "x"`, []Bar{
		{Label: "generic", Kernel: 0.2, User: 0.3, Median: 0.5, Min: 0.45, Max: 0.6},
		{Label: "dracut", Kernel: -0.1, User: 2, Median: 1.9, Min: math.NaN(), Max: math.NaN()},
		{Label: "broken", Kernel: math.NaN(), User: math.NaN(), Median: math.NaN(), Min: math.NaN(), Max: math.NaN()},
	}, []TargetLine{{"target", 0.5}})
	d := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects != 1+2+3*2 {
		t.Errorf("%d rects, want 9", rects)
	}
	for _, s := range []string{"0.500 s", "1.900 s", "–", "NaN"} {
		if strings.Contains(svg, s) != (s != "NaN") {
			t.Errorf("svg contains %q = %v", s, strings.Contains(svg, s))
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 0.1}, {0.43, 0.5}, {1.2, 2}, {2, 2}, {3.1, 5}, {7, 10}, {math.NaN(), 0.1}} {
		if got := niceCeil(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestModuleNamesAndSelected(t *testing.T) {
	listing := "init 3752062\nlib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko 40000\nlib/modules/6.1.0/kernel/fs/ext4/ext4.ko.zst 9\nlib/modules/6.1.0/modules.earlyroot 100\n/x: 3 entries\n"
	got := strings.Join(moduleNames(listing), ",")
	if got != "virtio_blk,ext4" {
		t.Errorf("moduleNames = %q", got)
	}
	if !selected("", "x") || !selected("a,b", "baseline") || !selected("a, b", "b") || selected("a", "b") {
		t.Error("selected")
	}
}

func TestRunsCSVRoundTrip(t *testing.T) {
	in := sampleResults()
	in[1].Desc = `quoted "desc", with comma`
	back, err := ReadRunsCSV(strings.NewReader(RunsCSV(in)))
	if err != nil {
		t.Fatal(err)
	}
	if RunsCSV(back) != RunsCSV(in) {
		t.Errorf("round trip differs:\n%s\n%s", RunsCSV(in), RunsCSV(back))
	}
	if csvError != len(csvHeader)-1 || csvHeader[csvBreakdown] != "bd_logged_at_s" || csvHeader[csvError-1] != "bd_slowest" {
		t.Errorf("csv column constants do not match the header")
	}
	if x, y := BreakdownTable(Analyze(in)), BreakdownTable(Analyze(back)); x != y || !strings.Contains(x, "ext4:300:1200") {
		t.Errorf("breakdown tables differ:\n%s\n%s", x, y)
	}
	a, b := ResultsTable(Analyze(in)), ResultsTable(Analyze(back))
	if a != b {
		t.Errorf("tables differ:\n%s\n%s", a, b)
	}
	for _, bad := range []string{"", "a,b\n", strings.Join(csvHeader, ",") + "\ng,k,x,d,1,,,,,,,,,,,,,,\n"} {
		if _, err := ReadRunsCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadRunsCSV(%q) succeeded", bad)
		}
	}
}

func FuzzReadRunsCSV(f *testing.F) {
	f.Add(RunsCSV(sampleResults()))
	f.Fuzz(func(t *testing.T, s string) {
		res, err := ReadRunsCSV(strings.NewReader(s))
		if err == nil {
			_ = ResultsTable(Analyze(res))
		}
	})
}

func TestParseKDF(t *testing.T) {
	out := `goos: linux
BenchmarkUnlock/argon2id-64M-t4-p1/earlyroot-2         	       3	 910617757 ns/op	       557.0 cpu-ms/op
BenchmarkUnlock/argon2id-64M-t4-p1/cryptsetup-2        	       3	 728295339 ns/op	       485.0 cpu-ms/op
BenchmarkUnlock/pbkdf2-sha256-1M/earlyroot-2           	       3	1000000000 ns/op	       484.0 cpu-ms/op
BenchmarkUnlock/pbkdf2-sha256-1M/cryptsetup-2          	       3	1250000000 ns/op	       581.0 cpu-ms/op
PASS`
	rs := ParseKDF(out)
	if len(rs) != 2 || rs[0].Format != "argon2id-64M-t4-p1" || math.Abs(rs[1].OursWall-1.0) > 1e-9 || rs[1].TheirsCPUms != 581 {
		t.Fatalf("ParseKDF = %+v", rs)
	}
	table := KDFTable(rs)
	for _, want := range []string{"| argon2id-64M-t4-p1 | 0.911 | 0.728 | 1.25× | 557 | 485 | 1.15× | ≤ 1.2× (FAIL) |",
		"| pbkdf2-sha256-1M | 1.000 | 1.250 | 0.80× |", "(pass) |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if rs := ParseKDF("BenchmarkUnlock/x/earlyroot-2 1 5 ns/op 1 cpu-ms/op"); len(rs) != 1 || !math.IsNaN(rs[0].TheirsWall) || !strings.Contains(KDFTable(rs), "(FAIL)") {
		t.Errorf("a format without cryptsetup's side: %+v", rs)
	}
}

// The speed targets carry the same ratio for the image's measured floor, of the same vCPU
// group; the table says when a floor alone is over the limit, and "–" where there is none.
func TestTargetsFloor(t *testing.T) {
	row := func(name string, stage float64) Row { return Row{Name: name, Stage: Summary{Median: stage}} }
	rows := []Row{
		row(tinyPeer, 0.25), row("generic", 0.75), row(floorName("generic"), 0.5),
		row("host-only", 0.5), // no floor booted
		row(tinyPeer+"@smp2", 0.5), row("generic@smp2", 0.6), row(floorName("generic")+"@smp2", 0.35),
	}
	ts := Targets(rows, 3<<20)
	want := []struct{ measured, floor float64 }{{3, 2}, {2, math.NaN()}, {1.2, 0.7}}
	for i, w := range want {
		got := ts[i]
		for _, c := range []struct {
			what      string
			got, want float64
		}{{"measured", got.Measured, w.measured}, {"floor", got.Floor, w.floor}} {
			if math.IsNaN(c.want) != math.IsNaN(c.got) || !math.IsNaN(c.want) && math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("target %q: %s %v, want %v", got.What, c.what, c.got, c.want)
			}
		}
	}
	for _, tg := range ts[3:] {
		if !math.IsNaN(tg.Floor) {
			t.Errorf("target %q has a floor %v", tg.What, tg.Floor)
		}
	}
	table := TargetsTable(ts)
	for _, line := range []string{
		"| generic image: init stage vs tiny-initramfs | ≤ 1 × | 3.000 × | FAIL | 2.000 × (over the limit: out of any init's reach with this image) |",
		"| host-only image: init stage vs tiny-initramfs | ≤ 0.9 × | 2.000 × | FAIL | – |",
		"| generic image at 2 vCPUs: init stage vs tiny-initramfs at 2 | ≤ 0.8 × | 1.200 × | FAIL | 0.700 × |",
		"| init binary size (build/init) | ≤ 4 MiB | 3.000 MiB | pass | – |",
	} {
		if !strings.Contains(table, line) {
			t.Errorf("targets table lacks %q:\n%s", line, table)
		}
	}
}

// The LVM-on-MD targets are the ratios of the two roots' median uptimes at the real init
// and of their init stages; without both rows neither is measured, and both fail.
func TestStackTargets(t *testing.T) {
	row := func(name string, uptime, stage float64) Row {
		return Row{Name: name, Uptime: Summary{Median: uptime}, Stage: Summary{Median: stage}}
	}
	for _, tc := range []struct {
		rows         []Row
		uptime       float64 // NaN: not measured
		stage        float64
		pass0, pass1 bool
	}{
		{[]Row{row(plainImage, 2.0, 1.0), row(stackImage, 2.2, 1.1)}, 1.1, 1.1, true, true},
		{[]Row{row(stackImage, 2.3, 1.3), row(plainImage, 2.0, 1.0)}, 1.15, 1.3, true, false},
		{[]Row{row(stackImage, 3.0, 1.5), row(plainImage, 2.0, 1.0)}, 1.5, 1.5, false, false},
		{[]Row{row(stackImage, 2.0, 1.5)}, math.NaN(), math.NaN(), false, false},
	} {
		got := stackTargets(tc.rows)
		if len(got) != 2 {
			t.Fatalf("%d targets, want 2", len(got))
		}
		for i, want := range []struct {
			v    float64
			pass bool
		}{{tc.uptime, tc.pass0}, {tc.stage, tc.pass1}} {
			m := got[i].Measured
			if math.IsNaN(want.v) != math.IsNaN(m) || !math.IsNaN(want.v) && math.Abs(m-want.v) > 1e-9 || got[i].Pass() != want.pass {
				t.Errorf("rows %v, target %q: measured %v (pass %v), want %v (pass %v)", tc.rows, got[i].What, m, got[i].Pass(), want.v, want.pass)
			}
		}
	}
}

// The floor text splits each earlyroot image's init stage into tiny-initramfs's, the
// kernel's cost of the image's size and earlyroot's own work, per vCPU group, against that
// image's own floor; without the three rows of a group it says nothing of it.
func TestFloorText(t *testing.T) {
	row := func(name, kind string, stage float64) Row {
		return Row{Name: name, Kind: kind, Good: 1, Stage: Summary{Median: stage}}
	}
	rows := []Row{
		row("generic", KindEarlyroot, 1.2), row(tinyPeer, KindPeer, 0.5), row(floorName("generic"), KindFloor, 0.7),
		row("host-only", KindEarlyroot, 0.9), row(floorName("host-only"), KindFloor, 0.55),
		row("generic@smp2", KindEarlyroot, 1.0), row(floorName("generic")+"@smp2", KindFloor, 0.6),
	}
	got := FloorText(rows)
	for _, want := range []string{
		"- generic, 1 vCPU: 1.200 s = tiny-initramfs 0.500 s + the image's size to the kernel +0.200 s (floor 0.700 s) + earlyroot's own work +0.500 s; generic vs floor 1.71×, floor vs tiny 1.40×.\n",
		"- host-only, 1 vCPU: 0.900 s = tiny-initramfs 0.500 s + the image's size to the kernel +0.050 s (floor 0.550 s) + earlyroot's own work +0.350 s; host-only vs floor 1.64×, floor vs tiny 1.10×.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("floor text lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if strings.Contains(got, "2 vCPUs") {
		t.Errorf("a group without tiny-initramfs is described:\n%s", got)
	}
	if FloorText(rows[:2]) != "" {
		t.Error("text without a floor row")
	}
}
