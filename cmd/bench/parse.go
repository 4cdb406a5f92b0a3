package main

import (
	"math"
	"regexp"
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
	FirstInit   float64 // earlyroot's first line
	// Phases holds earlyroot's "NAME took N ms" lines, in milliseconds.
	Phases    map[string]float64
	MountedMS float64 // "root /dev/vda (ext4) mounted in N ms"
	Modules   float64 // "...; N modules; ..."
	PeakRSSKB float64 // "peak memory of PID 1: VmHWM N kB"
}

var (
	stampRe   = regexp.MustCompile(`^\[\s*(\d+\.\d+)\]\s?(.*)$`)
	phaseRe   = regexp.MustCompile(`^earlyroot: (.+?) took ([0-9.]+) ms$`)
	mountedRe = regexp.MustCompile(`^earlyroot: root \S+ \(\S+\) mounted in ([0-9]+) ms; ([0-9]+) modules`)
	hwmRe     = regexp.MustCompile(`^earlyroot: peak memory of PID 1: VmHWM ([0-9]+) kB`)
	runInitRe = regexp.MustCompile(`^Run \S+ as init process`)
)

// ParseLog reads a serial console capture. Only the first occurrence of each
// kernel line counts; unknown and garbled lines are ignored.
func ParseLog(out string) BootLog {
	nan := math.NaN()
	b := BootLog{UnpackStart: nan, UnpackEnd: nan, RunInit: nan, FirstInit: nan,
		Phases: map[string]float64{}, MountedMS: nan, Modules: nan, PeakRSSKB: nan}
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
	case strings.HasPrefix(msg, "earlyroot: "):
		setFirst(&b.FirstInit, t)
		b.addEarlyroot(msg)
	}
}

func (b *BootLog) addEarlyroot(msg string) {
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
	}
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
