package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseLogFixture(t *testing.T) {
	raw, err := os.ReadFile("testdata/earlyroot-console.log")
	if err != nil {
		t.Fatal(err)
	}
	b := ParseLog(string(raw))
	checks := []struct {
		name      string
		got, want float64
	}{
		{"unpack start", b.UnpackStart, 1.206274},
		{"unpack end", b.UnpackEnd, 2.126496},
		{"run init", b.RunInit, 3.173140},
		{"first init line", b.FirstInit, 3.212274},
		{"wait for root", b.Phases["wait for root"], 465.6},
		{"mount root", b.Phases["mount root"], 633.6},
		{"module index", b.Phases["module index"], 6.3},
		{"mounted in", b.MountedMS, 1179},
		{"modules", b.Modules, 16},
		{"vmhwm", b.PeakRSSKB, 5372},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseLog(t *testing.T) {
	tests := []struct {
		name                      string
		in                        string
		runInit, mounted, hwm, rw float64
	}{
		{"empty", "", math.NaN(), math.NaN(), math.NaN(), math.NaN()},
		{"crlf and peer init", "[    2.500000] Run /init as init process\r\n", 2.5, math.NaN(), math.NaN(), math.NaN()},
		{"first wins", "[ 1.0] Run /init as init process\n[ 9.0] Run /sbin/init as init process\n", 1, math.NaN(), math.NaN(), math.NaN()},
		{"no stamp ignored", "Run /init as init process\nearlyroot: wait for root took 3 ms\n", math.NaN(), math.NaN(), math.NaN(), math.NaN()},
		{"earlyroot lines", "[ 3.1] earlyroot: peak memory of PID 1: VmHWM 5784 kB\n" +
			"[ 3.2] earlyroot: root /dev/vda1 (xfs) mounted in 412 ms; 3 modules; switching to /sbin/init\n" +
			"[ 3.3] earlyroot: wait for root took 367.6 ms\n",
			math.NaN(), 412, 5784, 367.6},
		{"this init's memory line", "[ 3.1] earlyroot: peak memory of PID 1: 6120 kB; cpu time since /init started: user 130 ms, sys 394 ms\n",
			math.NaN(), math.NaN(), 6120, math.NaN()},
		{"garbled", "[ abc] Run /init as init process\n[ 1.5] earlyroot: wait for root took x ms\n", math.NaN(), math.NaN(), math.NaN(), math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ParseLog(tc.in)
			eq := func(what string, got, want float64) {
				if !(math.IsNaN(got) && math.IsNaN(want)) && got != want {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			eq("RunInit", b.RunInit, tc.runInit)
			eq("MountedMS", b.MountedMS, tc.mounted)
			eq("PeakRSSKB", b.PeakRSSKB, tc.hwm)
			eq("wait for root", phase(b, "wait for root"), tc.rw)
		})
	}
}

func TestParseBreakdown(t *testing.T) {
	in := "[    2.715225] Run /init as init process\n" +
		"[    4.1] earlyroot: breakdown: main_at=2.801000 discovery=14.2 coldplug=40.0 root=700.5 probe_ms=3.1 found=705.0 " +
		"fs_ms=250.0 mount_ms=12.5 switch=980.0 logged_at=7 modules=11 finit_ms=1400.2 bogus=1 slowest=ext4:300:1200,jbd2:100:140\n" +
		"[    4.2] earlyroot: breakdown: main_at=9 slowest=later\n"
	b := ParseLog(in)
	want := map[string]float64{"logged_at": 4.1, "main_at": 2.801, "discovery": 14.2, "coldplug": 40, "root": 700.5, "probe_ms": 3.1,
		"found": 705, "fs_ms": 250, "mount_ms": 12.5, "switch": 980, "modules": 11, "finit_ms": 1400.2}
	for k, v := range want {
		if got := bd(b, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if _, ok := b.Breakdown["bogus"]; ok {
		t.Error("unknown key kept")
	}
	if got := initStart(b); math.Abs(got-3.12) > 1e-9 {
		t.Errorf("initStart = %v, want 3.12", got)
	}
	if b.Slowest != "ext4:300:1200,jbd2:100:140" {
		t.Errorf("slowest = %q", b.Slowest)
	}
	if got := bd(ParseLog("[ 1.0] earlyroot: breakdown: main_at=x root=NaN\n"), "root"); !math.IsNaN(got) {
		t.Errorf("garbled root = %v, want NaN", got)
	}
}

func FuzzParseLog(f *testing.F) {
	if raw, err := os.ReadFile("testdata/earlyroot-console.log"); err == nil {
		f.Add(string(raw))
	}
	f.Add("[    1.0] earlyroot: x took 1e309 ms\n[ 2] Freeing initrd memory: 1K")
	f.Add("[ 1.0] earlyroot: breakdown: main_at=1 root== slowest= x=1e999\n")
	f.Add("[\t\t0.1]\x00earlyroot: root a (b) mounted in 99999999999999999999 ms; 1 modules")
	f.Fuzz(func(t *testing.T, s string) {
		b := ParseLog(s)
		if b.Phases == nil {
			t.Fatal("nil phases")
		}
	})
}

// The start floor's boots: the program runs as /NAME, and the kernel panics when it exits.
func TestParseLogInitExit(t *testing.T) {
	out := "[    2.107000] Run /true as init process\n" +
		"[    2.164500] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\n" +
		"[    2.170000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\n"
	b := ParseLog(out)
	if got := (b.InitExit - b.RunInit) * 1000; math.Abs(got-57.5) > 1e-6 {
		t.Errorf("Run → exit = %v ms, want 57.5", got)
	}
	if b := ParseLog("[ 2.1] Run /init as init process\n"); !math.IsNaN(b.InitExit) {
		t.Errorf("InitExit = %v without the panic line, want NaN", b.InitExit)
	}
}

func TestStartText(t *testing.T) {
	rs := []StartResult{
		{Name: "true", Desc: "C", MS: []float64{57, 56, math.NaN(), 60}},
		{Name: "go-empty", Desc: "Go", MS: []float64{math.NaN()}},
		{Name: "other", Desc: "D", Err: "exec: \"other\": executable file not found in $PATH"},
	}
	rows := []Row{
		{Name: "generic", Kind: KindEarlyroot, GoStart: Summarize([]float64{120, 137, 140})},
		{Name: "generic@smp2", Kind: KindEarlyroot, GoStart: Summarize([]float64{144})},
		{Name: "tiny-initramfs", Kind: KindPeer},
	}
	text := StartText(rs, rows)
	for _, want := range []string{"- true (C): 56 / 57 / 60 ms (3 boots)\n", "- go-empty (Go): – / – / – ms (0 boots)\n",
		"- other (D): not measured: exec: \"other\": executable file not found in $PATH\n",
		"- earlyroot generic: its Go code starts 120 / 137 / 140 ms after `Run /init`"} {
		if !strings.Contains(text, want) {
			t.Errorf("start floor text lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"generic@smp2", "tiny-initramfs"} {
		if strings.Contains(text, not) {
			t.Errorf("start floor text has %s:\n%s", not, text)
		}
	}
}
