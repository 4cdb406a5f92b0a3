package debroot

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Startup is the first line of systemd-analyze: how systemd split the boot. Systemd knows
// where an initramfs began only when the initramfs says so (a systemd initrd, or earlyroot's
// RD_TIMESTAMP); otherwise the initramfs's time is in Kernel and Initrd is absent.
type Startup struct {
	Firmware, Loader time.Duration // present on EFI machines with a boot loader that reports
	Kernel           time.Duration
	Initrd           time.Duration
	HasInitrd        bool
	Userspace        time.Duration
	Total            time.Duration
}

const startupPrefix = "Startup finished in "

// ParseStartup reads systemd-analyze's summary, "Startup finished in 1.2s (kernel) + 800ms
// (initrd) + 1min 2.5s (userspace) = 1min 4.5s". Every stage but kernel and userspace is
// optional; each time is one or more of systemd's spans (us or µs, ms, s, min, h, d).
func ParseStartup(line string) (Startup, error) {
	var s Startup
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), startupPrefix)
	if !ok {
		return s, fmt.Errorf("systemd-analyze %q: no %q", line, strings.TrimSpace(startupPrefix))
	}
	stages, total, ok := strings.Cut(rest, " = ")
	if !ok {
		return s, fmt.Errorf("systemd-analyze %q: no total", line)
	}
	var err error
	if s.Total, err = ParseSpan(total); err != nil {
		return s, fmt.Errorf("systemd-analyze %q: total: %w", line, err)
	}
	seen := map[string]bool{}
	for _, st := range strings.Split(stages, " + ") {
		name, d, err := parseStage(st)
		if err != nil {
			return s, fmt.Errorf("systemd-analyze %q: %w", line, err)
		}
		if seen[name] {
			return s, fmt.Errorf("systemd-analyze %q: stage %s twice", line, name)
		}
		seen[name] = true
		if err := s.set(name, d); err != nil {
			return s, fmt.Errorf("systemd-analyze %q: %w", line, err)
		}
	}
	if !seen["kernel"] || !seen["userspace"] {
		return s, fmt.Errorf("systemd-analyze %q: want kernel and userspace stages", line)
	}
	return s, nil
}

// parseStage reads "1.2s (kernel)".
func parseStage(st string) (string, time.Duration, error) {
	st = strings.TrimSpace(st)
	i := strings.LastIndex(st, " (")
	if i < 0 || !strings.HasSuffix(st, ")") {
		return "", 0, fmt.Errorf("stage %q: want SPAN (NAME)", st)
	}
	d, err := ParseSpan(st[:i])
	if err != nil {
		return "", 0, fmt.Errorf("stage %q: %w", st, err)
	}
	return st[i+2 : len(st)-1], d, nil
}

func (s *Startup) set(name string, d time.Duration) error {
	switch name {
	case "firmware":
		s.Firmware = d
	case "loader":
		s.Loader = d
	case "kernel":
		s.Kernel = d
	case "initrd":
		s.Initrd, s.HasInitrd = d, true
	case "userspace":
		s.Userspace = d
	default:
		return fmt.Errorf("unknown stage %q", name)
	}
	return nil
}

// spanUnits are systemd's format_timespan units, longest suffix first where one ends
// another ("ms" before "s").
var spanUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"min", time.Minute}, {"ms", time.Millisecond}, {"us", time.Microsecond}, {"µs", time.Microsecond},
	{"d", 24 * time.Hour}, {"h", time.Hour}, {"s", time.Second},
}

// ParseSpan reads one of systemd's time spans: space-separated parts such as "1min 2.345s",
// "850ms" or "1h 2min 3s", each a non-negative number and a unit.
func ParseSpan(span string) (time.Duration, error) {
	parts := strings.Fields(span)
	if len(parts) == 0 {
		return 0, errors.New("empty time span")
	}
	var total time.Duration
	for _, p := range parts {
		d, err := spanPart(p)
		if err != nil {
			return 0, fmt.Errorf("time span %q: %w", span, err)
		}
		total += d
	}
	return total, nil
}

func spanPart(p string) (time.Duration, error) {
	for _, u := range spanUnits {
		num, ok := strings.CutSuffix(p, u.suffix)
		if !ok || num == "" {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || num[0] == '+' {
			return 0, fmt.Errorf("%q: not a number of %s", p, u.suffix)
		}
		if v*float64(u.unit) > math.MaxInt64/2 {
			return 0, fmt.Errorf("%q: too long", p)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("%q: no unit", p)
}
