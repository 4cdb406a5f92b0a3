package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// FactsPrefix starts the one line cmd/testinit prints.
const FactsPrefix = "EARLYROOT-FACTS "

// Facts is what cmd/testinit, running as the real init, reports about the
// system it was started into. The JSON field names are shared with
// cmd/testinit.
type Facts struct {
	PID         int    `json:"pid"`
	RootFSType  string `json:"rootfstype"`  // from /proc/self/mountinfo for /
	RootSource  string `json:"rootsource"`  // e.g. "/dev/vda1"
	RootOptions string `json:"rootoptions"` // per-mount and super options, "rw,relatime,..."
	// Proc, Sys, Dev, Run: mounted when init started (before testinit
	// mounted anything itself).
	Proc bool `json:"proc"`
	Sys  bool `json:"sys"`
	Dev  bool `json:"dev"`
	Run  bool `json:"run"`
	// Argv is init's argument vector, argv[0] included.
	Argv      []string `json:"argv"`
	UptimeSec float64  `json:"uptime"`
	// Extra holds further observations; keys documented in cmd/testinit
	// (cmdline, fds, earlyroot_log, memfree_kb, virtio_blk_queue_depth,
	// mounts, env, hostname, kernel, dev_fstype, run_fstype, ...).
	Extra map[string]string `json:"extra"`
}

// ErrNoFacts is returned by ParseFacts when no facts line is present.
var ErrNoFacts = errors.New("no " + strings.TrimSpace(FactsPrefix) + " line")

// ParseFacts finds the first well-formed facts line in console output.
// Kernel messages may interleave with the line on a serial console, so
// every occurrence of the prefix is tried in turn.
func ParseFacts(out string) (Facts, error) {
	var firstErr error
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, FactsPrefix)
		if i < 0 {
			continue
		}
		js := strings.TrimSpace(strings.ReplaceAll(line[i+len(FactsPrefix):], "\r", ""))
		// The first JSON value is the facts: the console may carry a kernel message right
		// after it on the same line (printk does not wait for the newline).
		var f Facts
		err := json.NewDecoder(strings.NewReader(js)).Decode(&f)
		if err == nil {
			return f, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("parse facts %.80q: %w", js, err)
		}
	}
	if firstErr != nil {
		return Facts{}, firstErr
	}
	return Facts{}, ErrNoFacts
}
