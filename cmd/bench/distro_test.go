package main

import (
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/debroot"
)

// startup is a good boot's figures in seconds; initrd < 0 means no initrd stage.
func startup(kernel, initrd, user float64) DistroRun {
	d := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	st := debroot.Startup{Kernel: d(kernel), Userspace: d(user), Total: d(kernel + max(initrd, 0) + user)}
	if initrd >= 0 {
		st.Initrd, st.HasInitrd = d(initrd), true
	}
	return DistroRun{Startup: st, State: "running"}
}

func TestDistroTable(t *testing.T) {
	failed := DistroRun{Err: "no report from the booted system: timeout\nmore"}
	for _, tc := range []struct {
		name string
		rs   []DistroResult
		want []string // rows (whole lines) the table must hold
	}{
		{"three images, medians", []DistroResult{
			{Name: "generic", Runs: []DistroRun{startup(2, 1, 20), startup(2, 3, 30), startup(2, 2, 25)}},
			{Name: itoolsImage, Runs: []DistroRun{startup(8, -1, 20), startup(8, -1, 20), startup(8, -1, 20)}},
			{Name: dracutImage, Runs: []DistroRun{startup(2, 4, 20), startup(2, 4, 20), startup(2, 4, 20)}},
		}, []string{
			"| generic | 3/3 | 2.000 s | 2.000 s | 4.000 s | 25.000 s | 29.000 s | 0.50× | 0.67× | – | 0.50× |",
			"| initramfs-tools | 3/3 | 8.000 s | none (in kernel) | 8.000 s | 20.000 s | 28.000 s | 1.00× | 1.33× | – | – |",
			"| dracut | 3/3 | 2.000 s | 4.000 s | 6.000 s | 20.000 s | 26.000 s | 0.75× | 1.00× | – | 1.00× |",
		}},
		{"a failed boot is left out of the medians", []DistroResult{
			{Name: "generic", Runs: []DistroRun{failed, startup(1, 1, 10)}},
			{Name: dracutImage, Runs: []DistroRun{startup(1, 2, 10)}},
		}, []string{
			"| generic | 1/2 | 1.000 s | 1.000 s | 2.000 s | 10.000 s | 12.000 s | – | 0.67× | – | 0.50× |",
		}},
		{"a peer that never booted", []DistroResult{
			{Name: "generic", Runs: []DistroRun{startup(1, 1, 10)}},
			{Name: dracutImage, Runs: []DistroRun{failed}},
		}, []string{
			"| dracut | 0/1 | – | – | – | – | – | – | – | – | – |",
			"| generic | 1/1 | 1.000 s | 1.000 s | 2.000 s | 10.000 s | 12.000 s | – | – | – | – |",
		}},
	} {
		got := DistroTable(tc.rs)
		lines := strings.Split(got, "\n")
		for _, w := range tc.want {
			if !contains(lines, w) {
				t.Errorf("%s: table lacks\n%s\ngot:\n%s", tc.name, w, got)
			}
		}
		if n := strings.Count(got, "\n"); n != 2+len(tc.rs) {
			t.Errorf("%s: %d lines, want header, rule and %d rows", tc.name, n, len(tc.rs))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDistroFailures(t *testing.T) {
	degraded := startup(1, 1, 1)
	degraded.State = "degraded"
	got := distroFailures([]DistroResult{
		{Name: "generic", Runs: []DistroRun{startup(1, 1, 1), degraded}},
		{Name: dracutImage, Runs: []DistroRun{{Err: "the guest did not power off: timeout\ndetail"}}},
	})
	want := "- generic, round 2: systemd state \"degraded\" (figures kept)\n" +
		"- dracut, round 1: **failed**: the guest did not power off: timeout\n"
	if got != want {
		t.Errorf("distroFailures:\n%s\nwant:\n%s", got, want)
	}
}
