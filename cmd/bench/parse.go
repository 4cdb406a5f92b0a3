package main

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// BootLog is what one boot's serial console says about where the time went.
// Timestamps are the kernel's printk times in seconds; NaN marks a line the
// console did not show (a peer initramfs prints no earlyroot lines, for one).
type BootLog struct {
	UnpackStart float64 // "Trying to unpack rootfs image as initramfs..."
	UnpackEnd   float64 // "Freeing initrd memory: ..."
	RunInit     float64 // "Run /init as init process"
	InitExit    float64 // "Kernel panic - not syncing: Attempted to kill init!" (the start floor's programs)
	FirstInit   float64 // earlyroot's first line
	// Phases holds earlyroot's "NAME took N ms" lines, in milliseconds.
	Phases    map[string]float64
	MountedMS float64 // "root /dev/vda (ext4) mounted in N ms"
	Modules   float64 // "...; N modules; ..."
	PeakRSSKB float64 // "peak memory of PID 1: N kB" (getrusage's maxrss, which is VmHWM)
	// Breakdown holds the numeric fields of earlyroot's "breakdown:" line (see
	// breakdownKeys); Slowest is its slowest= field ("ext4:300:1200,...").
	Breakdown map[string]float64
	Slowest   string
}

// breakdownKeys are the numeric fields of the init's breakdown line (boot.breakdownLine),
// in boot order: main_at in seconds of uptime, the rest in milliseconds from /init's
// start (or, for *_ms, durations), modules a count; logged_at is not a field but the
// line's own printk time in seconds. The init's main_at reads CLOCK_MONOTONIC, which can
// be off printk's clock by some milliseconds, so the bench places /init's start at
// logged_at minus switch instead (see goStart).
var breakdownKeys = []string{"logged_at", "main_at", "discovery", "coldplug", "root", "probe_ms", "found", "fs_ms", "mount_ms",
	"switch", "modules", "finit_ms"}

var (
	stampRe   = regexp.MustCompile(`^\[\s*(\d+\.\d+)\]\s?(.*)$`)
	phaseRe   = regexp.MustCompile(`^earlyroot: (.+?) took ([0-9.]+) ms$`)
	mountedRe = regexp.MustCompile(`^earlyroot: root \S+ \(\S+\) mounted in ([0-9]+) ms; ([0-9]+) modules`)
	breakRe   = regexp.MustCompile(`^earlyroot: breakdown: (.*)$`)
	hwmRe     = regexp.MustCompile(`^earlyroot: peak memory of PID 1: (?:VmHWM )?([0-9]+) kB`) // VmHWM: an older init (-compare-init)
	runInitRe = regexp.MustCompile(`^Run \S+ as init process`)
)

// ParseLog reads a serial console capture. Only the first occurrence of each
// kernel line counts; unknown and garbled lines are ignored.
func ParseLog(out string) BootLog {
	nan := math.NaN()
	b := BootLog{UnpackStart: nan, UnpackEnd: nan, RunInit: nan, InitExit: nan, FirstInit: nan,
		Phases: map[string]float64{}, MountedMS: nan, Modules: nan, PeakRSSKB: nan, Breakdown: map[string]float64{}}
	for _, raw := range strings.Split(out, "\n") {
		line := strings.TrimRight(raw, "\r\x00")
		m := stampRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		b.add(t, strings.TrimSpace(m[2]))
	}
	return b
}

func (b *BootLog) add(t float64, msg string) {
	switch {
	case strings.HasPrefix(msg, "Trying to unpack rootfs image as initramfs"):
		setFirst(&b.UnpackStart, t)
	case strings.HasPrefix(msg, "Freeing initrd memory"):
		setFirst(&b.UnpackEnd, t)
	case runInitRe.MatchString(msg):
		setFirst(&b.RunInit, t)
	case strings.HasPrefix(msg, "Kernel panic - not syncing: Attempted to kill init!"):
		setFirst(&b.InitExit, t)
	case strings.HasPrefix(msg, "earlyroot: "):
		setFirst(&b.FirstInit, t)
		b.addEarlyroot(t, msg)
	}
}

func (b *BootLog) addEarlyroot(t float64, msg string) {
	if m := phaseRe.FindStringSubmatch(msg); m != nil {
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			if _, seen := b.Phases[m[1]]; !seen {
				b.Phases[m[1]] = v
			}
		}
		return
	}
	if m := mountedRe.FindStringSubmatch(msg); m != nil {
		setFirst(&b.MountedMS, atof(m[1]))
		setFirst(&b.Modules, atof(m[2]))
		return
	}
	if m := hwmRe.FindStringSubmatch(msg); m != nil {
		setFirst(&b.PeakRSSKB, atof(m[1]))
		return
	}
	if m := breakRe.FindStringSubmatch(msg); m != nil && len(b.Breakdown) == 0 && b.Slowest == "" {
		b.addBreakdown(m[1])
		b.Breakdown["logged_at"] = t
	}
}

// addBreakdown reads the key=value fields of a breakdown line; unknown keys and
// unparsable values are ignored.
func (b *BootLog) addBreakdown(fields string) {
	for _, f := range strings.Fields(fields) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if k == "slowest" {
			b.Slowest = v
			continue
		}
		if x := atof(v); !math.IsNaN(x) && !math.IsInf(x, 0) && k != "logged_at" && slices.Contains(breakdownKeys, k) {
			b.Breakdown[k] = x
		}
	}
}

// bd returns a breakdown field, NaN when the line lacked it.
func bd(b BootLog, key string) float64 {
	if v, ok := b.Breakdown[key]; ok {
		return v
	}
	return math.NaN()
}

func setFirst(dst *float64, v float64) {
	if math.IsNaN(*dst) {
		*dst = v
	}
}

func atof(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// initStart is when /init's Go code began, on printk's clock: the breakdown line's time
// less its switch offset; NaN without the line.
func initStart(b BootLog) float64 { return bd(b, "logged_at") - bd(b, "switch")/1000 }
