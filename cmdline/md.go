package cmdline

import (
	"fmt"
	"time"

	"github.com/earlyroot/earlyroot/md"
)

// DefaultRetry is how long the boot waits, after the last member of an incomplete MD array
// arrived, before it starts the array degraded (rd.retry=). dracut waits two thirds of its
// 180 s root timeout; that keeps an unattended server with a dead disk from booting for two
// minutes. A disk that is merely slow is announced within a few seconds of its siblings on
// the same controller (they are probed in one scan), and the wait restarts with every member
// that arrives, so ten seconds of silence means the member is not coming. It stays well
// inside the 30 s root timeout (DefaultTimeout), so the degraded array still has time to
// show its filesystem.
const DefaultRetry = 10 * time.Second

// MD is what the command line says about MD RAID arrays (dracut's names):
//
//	rd.md=0               assemble no array
//	rd.md.uuid=UUID       assemble only the arrays listed (repeatable; mdadm's
//	                      8:8:8:8 hex form or any md.ParseUUID reads)
//	rd.retry=N            start an incomplete array degraded after N seconds
//	                      without a new member (default DefaultRetry)
type MD struct {
	Disabled bool     // rd.md=0
	UUIDs    []string // rd.md.uuid=, 32 lower-case hex digits each
	Retry    time.Duration
}

// RetryOrDefault is rd.retry=, or DefaultRetry when it was not given.
func (m MD) RetryOrDefault() time.Duration {
	if m.Retry <= 0 {
		return DefaultRetry
	}
	return m.Retry
}

// Wants says whether the command line lets the boot assemble the array with this UUID (in
// any spelling md.ParseUUID reads: mdadm's 8:8:8:8, blkid's 8-4-4-4-12).
func (m MD) Wants(uuid string) bool {
	if m.Disabled {
		return false
	}
	if len(m.UUIDs) == 0 {
		return true
	}
	u, err := md.ParseUUID(uuid)
	if err != nil {
		return false
	}
	h := fmt.Sprintf("%x", u)
	for _, w := range m.UUIDs {
		if w == h {
			return true
		}
	}
	return false
}

// applyMD records an MD parameter and reports whether key was one.
func (c *Config) applyMD(p Param, key string) bool {
	switch key {
	case "rd.md":
		c.MD.Disabled = !c.boolean(p, !c.MD.Disabled)
	case "rd.md.uuid":
		u, err := md.ParseUUID(p.Value)
		if err != nil {
			c.problem(p, "not an MD array UUID, ignored")
			return true
		}
		c.MD.UUIDs = append(c.MD.UUIDs, fmt.Sprintf("%x", u))
	case "rd.retry":
		if !p.HasValue {
			c.problem(p, "missing value, ignored")
			return true
		}
		d, ok := parseSeconds(p.Value, false)
		if !ok || d == 0 {
			c.problem(p, "not a positive number of seconds, using %v", c.MD.RetryOrDefault())
			return true
		}
		c.MD.Retry = d
	default:
		return false
	}
	return true
}
