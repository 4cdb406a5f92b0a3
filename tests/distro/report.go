package distro

import (
	"strings"
)

// ReportPrefix starts each line the report service writes to the console: "KEY=VALUE".
const ReportPrefix = "EARLYROOT-DISTRO "

// parseReport collects the report lines of a console transcript: the first value of each
// key wins (the console may repeat nothing, but a later boot's lines are not this boot's).
// Kernel and systemd messages may interleave on a serial console, so text before the prefix
// on a line is ignored, and carriage returns are dropped.
func parseReport(out string) map[string]string {
	r := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, ReportPrefix)
		if i < 0 {
			continue
		}
		kv := strings.TrimSpace(strings.ReplaceAll(line[i+len(ReportPrefix):], "\r", ""))
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		if _, seen := r[k]; !seen {
			r[k] = v
		}
	}
	return r
}
