package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// kdfLimit is the goal for unlocking a LUKS keyslot: within 1.2× of cryptsetup on the same
// header.
const kdfLimit = 1.2

// KDFResult is one LUKS format of luks's BenchmarkUnlock: key derivation plus keyslot
// decryption, earlyroot's luks package against cryptsetup open --test-passphrase, each in a
// fresh process on the same header.
type KDFResult struct {
	Format                 string
	OursWall, TheirsWall   float64 // seconds per unlock
	OursCPUms, TheirsCPUms float64
}

var kdfLine = regexp.MustCompile(`^BenchmarkUnlock/(\S+)/(earlyroot|cryptsetup)(?:-\d+)?\s+\d+\s+(\d+) ns/op\s+([\d.]+) cpu-ms/op`)

// ParseKDF reads go test -bench output of luks's BenchmarkUnlock, formats in order of first
// appearance.
func ParseKDF(out string) []KDFResult {
	var res []KDFResult
	index := map[string]int{}
	for _, l := range regexp.MustCompile(`\r?\n`).Split(out, -1) {
		m := kdfLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		i, ok := index[m[1]]
		if !ok {
			i = len(res)
			index[m[1]] = i
			res = append(res, KDFResult{Format: m[1], OursWall: math.NaN(), TheirsWall: math.NaN(), OursCPUms: math.NaN(), TheirsCPUms: math.NaN()})
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		cpu, _ := strconv.ParseFloat(m[4], 64)
		if m[2] == "earlyroot" {
			res[i].OursWall, res[i].OursCPUms = ns/1e9, cpu
		} else {
			res[i].TheirsWall, res[i].TheirsCPUms = ns/1e9, cpu
		}
	}
	return res
}

// KDFTable renders the unlock comparison with its ratios and the goal.
func KDFTable(rs []KDFResult) string {
	var rows [][]string
	for _, r := range rs {
		verdict := "FAIL"
		if w := r.OursWall / r.TheirsWall; !math.IsNaN(w) && w <= kdfLimit {
			verdict = "pass"
		}
		rows = append(rows, []string{r.Format, sec(r.OursWall), sec(r.TheirsWall), ratio(r.OursWall, r.TheirsWall),
			ms(r.OursCPUms), ms(r.TheirsCPUms), ratio(r.OursCPUms, r.TheirsCPUms), fmt.Sprintf("≤ %g× (%s)", kdfLimit, verdict)})
	}
	return Markdown([]string{"LUKS format", "earlyroot (s)", "cryptsetup (s)", "ratio", "earlyroot CPU (ms)",
		"cryptsetup CPU (ms)", "CPU ratio", "goal (wall)"}, rows)
}

// runKDF runs luks's BenchmarkUnlock n times per format from the repository's root.
func runKDF(ctx context.Context, n int) ([]KDFResult, string, error) {
	root, err := fixture.RepoRoot()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkUnlock$",
		"-benchtime", fmt.Sprintf("%dx", n), "./luks/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("luks unlock benchmark: %w\n%s", err, out)
	}
	res := ParseKDF(string(out))
	if len(res) == 0 {
		return nil, string(out), fmt.Errorf("luks unlock benchmark: no results in its output:\n%s", out)
	}
	return res, string(out), nil
}
