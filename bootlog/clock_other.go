//go:build !linux

package bootlog

import "time"

// monotonicNow has no boot reference outside Linux; timestamps start at 0.
func monotonicNow() time.Duration { return 0 }
