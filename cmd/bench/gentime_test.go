package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenTable(t *testing.T) {
	s := time.Second
	rs := []GenResult{
		{Tree: "Debian 13 (6.12, .ko.xz)", State: Unpacked, OursMB: 15.5, PeerMB: 40.25,
			Peer: []GenTime{{Wall: 40 * s, CPU: 30 * s}, {Wall: 60 * s, CPU: 32 * s}, {Wall: 50 * s, CPU: 31 * s}},
			Ours: []GenTime{{Wall: 9 * s, CPU: 6 * s}, {Wall: 10 * s, CPU: 7 * s}, {Wall: 30 * s, CPU: 8 * s}}},
		{Tree: "Debian 12 (6.1, .ko)", State: Installed, OursMB: 16, PeerMB: 33,
			Peer: []GenTime{{Wall: 20 * s, CPU: 10 * s}, {Wall: 22 * s, CPU: 12 * s}},
			Ours: []GenTime{{Wall: 6 * s, CPU: 4 * s}, {Wall: 8 * s, CPU: 6 * s}}},
	}
	got := GenTable(rs)
	for _, want := range []string{
		// medians: 50 s against 10 s, CPU 31 s against 7 s
		"| Debian 13 (6.12, .ko.xz) | as unpacked | 50.000 s | 10.000 s | **0.20×** | 31.000 s | 7.000 s | 0.23× | 40.2 / 15.5 MiB |",
		// even count: the mean of the middle two; 0.33× misses the goal, not bold
		"| Debian 12 (6.1, .ko) | after depmod | 21.000 s | 7.000 s | 0.33× | 11.000 s | 5.000 s | 0.45× | 33.0 / 16.0 MiB |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("%d lines, want a header, a rule and 2 rows:\n%s", n, got)
	}
}

func TestShadowTree(t *testing.T) {
	tree := t.TempDir()
	for _, p := range []string{"kernel/fs/ext4/ext4.ko.xz", "modules.builtin"} {
		if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shadow := filepath.Join(t.TempDir(), "modules", "6.12.0")
	if err := shadowTree(tree, shadow); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(shadow, "kernel/fs/ext4/ext4.ko.xz")); err != nil || string(got) != "kernel/fs/ext4/ext4.ko.xz" {
		t.Errorf("module through the shadow: %q, %v", got, err)
	}
	// What a generator writes into the shadow stays out of the tree.
	if err := os.WriteFile(filepath.Join(shadow, "modules.dep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tree, "modules.dep")); err == nil {
		t.Error("modules.dep written in the shadow appeared in the tree")
	}
}
