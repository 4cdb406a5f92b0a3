package modload

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A module that needs an undeclared provider gets it as a softdep pre:, once, and only
// when the index has a module answering it; the image's closure then carries it, and the
// loader inserts it first.
func TestMissingSoftdeps(t *testing.T) {
	const dep = "kernel/lib/crc64.ko:\n" +
		"kernel/lib/crc64-rocksoft.ko: kernel/lib/crc64.ko\n" +
		"kernel/block/t10-pi.ko: kernel/lib/crc64-rocksoft.ko kernel/lib/crc64.ko\n"
	const generic = "kernel/crypto/crc64_rocksoft_generic.ko: kernel/lib/crc64.ko\n"
	const alias = "alias crypto-crc64-rocksoft crc64_rocksoft_generic\nalias crc64-rocksoft crc64_rocksoft_generic\n"
	tests := []struct {
		name, dep, alias, softdep string
		wantPre                   []string
	}{
		{"provider in the tree", dep + generic, alias, "softdep crc64_rocksoft pre: crc64\n", []string{"crc64", "crypto-crc64-rocksoft"}},
		{"declared already", dep + generic, alias, "softdep crc64_rocksoft pre: crypto-crc64-rocksoft\n", []string{"crypto-crc64-rocksoft"}},
		{"no provider", dep, "", "softdep crc64_rocksoft pre: crc64\n", []string{"crc64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range map[string]string{"modules.dep": tt.dep, "modules.alias": tt.alias, "modules.softdep": tt.softdep} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ix, err := Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := ix.Module("crc64_rocksoft")
			if !ok || !slices.Equal(m.SoftPre, tt.wantPre) {
				t.Fatalf("crc64_rocksoft softdep pre: %q (found %v), want %q", m.SoftPre, ok, tt.wantPre)
			}
			closure := ix.Closure([]string{"t10_pi"})
			if got, want := slices.Contains(closure, "crc64_rocksoft_generic"), tt.alias != ""; got != want {
				t.Errorf("closure of t10_pi %q: has crc64_rocksoft_generic %v, want %v", closure, got, want)
			}
			// The compact index keeps it.
			p := filepath.Join(t.TempDir(), IndexFile)
			if err := ix.WriteFile(p); err != nil {
				t.Fatal(err)
			}
			rix, err := ReadIndexFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if m, _ := rix.Module("crc64_rocksoft"); !slices.Equal(m.SoftPre, tt.wantPre) {
				t.Errorf("after a round trip through %s: softdep pre: %q, want %q", IndexFile, m.SoftPre, tt.wantPre)
			}
		})
	}
}
