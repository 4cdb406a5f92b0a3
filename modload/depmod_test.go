package modload

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDepmodAgreement builds the index of the real kernel twice, from the
// modules' .modinfo and from the files depmod writes, and checks both give
// the same answers.
func TestDepmodAgreement(t *testing.T) {
	src := needKernel(t)
	dm := depmodDir(t)

	start := time.Now()
	fromELF, err := Build(src)
	if err != nil {
		t.Fatal(err)
	}
	tELF := time.Since(start)
	start = time.Now()
	fromText, err := Build(dm)
	if err != nil {
		t.Fatal(err)
	}
	tText := time.Since(start)
	t.Logf("Build from .modinfo: %v; from depmod files: %v; %d modules, %d aliases",
		tELF, tText, len(fromELF.mods), len(fromELF.aliases))
	for _, ix := range []*Index{fromELF, fromText} {
		if p := ix.Problems(); len(p) != 0 {
			t.Errorf("problems: %v", p)
		}
	}

	// Aliases: what .modinfo gives must be exactly depmod's modules.alias
	// (plus the built-in aliases both read from modules.builtin.modinfo).
	depAliases, err := parseFile(dm, "modules.alias", false, parseAliases)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := parseBuiltinModinfo(mustRead(t, filepath.Join(src, "modules.builtin.modinfo")))
	if err != nil {
		t.Fatal(err)
	}
	want := aliasSet(append(depAliases, bi.Aliases...))
	got := aliasSet(fromELF.aliases)
	if !slices.Equal(got, want) {
		t.Errorf("aliases from .modinfo differ from depmod's: %d vs %d; first differences: %v",
			len(got), len(want), firstDiff(got, want))
	}
	if !slices.Equal(aliasSet(fromText.aliases), want) {
		t.Errorf("aliases read from modules.alias differ")
	}

	// Modules, paths, dependencies (same closure and the same load order),
	// soft dependencies.
	if !slices.Equal(fromELF.Modules(), fromText.Modules()) {
		t.Fatalf("module lists differ: %d vs %d", len(fromELF.mods), len(fromText.mods))
	}
	diffs := 0
	for _, n := range fromELF.Modules() {
		a, _ := fromELF.Module(n)
		b, _ := fromText.Module(n)
		if !reflect.DeepEqual(a, b) && diffs < 10 {
			diffs++
			t.Errorf("Module(%q):\n from .modinfo %+v\n from depmod   %+v", n, a, b)
		}
		checkLoadOrder(t, fromText, a)
	}
	if !slices.Equal(fromELF.builtin, fromText.builtin) {
		t.Errorf("built-in lists differ")
	}
	if !reflect.DeepEqual(fromELF.aliasTable, fromText.aliasTable) {
		t.Errorf("alias tables differ")
	}

	ext4, _ := fromText.Module("ext4")
	if !slices.Equal(ext4.SoftPre, []string{"crypto-crc32c"}) || !slices.Equal(ext4.Deps, []string{"crc16", "jbd2", "mbcache"}) {
		t.Errorf("ext4 = %+v", ext4)
	}
	if got := fromText.Resolve("crypto-crc32c"); !slices.Equal(got, []string{"crc32c_generic", "crc32c_intel"}) {
		t.Errorf("Resolve(crypto-crc32c) = %v", got)
	}

	// The compact file answers the same, and is read much faster.
	p := filepath.Join(t.TempDir(), IndexFile)
	if err := fromText.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	fromFile, err := ReadIndexFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tOpen := time.Since(start)
	st, _ := os.Stat(p)
	t.Logf("ReadIndexFile: %v (%d bytes)", tOpen, st.Size())
	sameIndex(t, fromText, fromFile)
	checkLookupSample(t, fromFile, 61)
}

// checkLoadOrder checks every dependency of m comes after its own
// dependencies.
func checkLoadOrder(t *testing.T, ix *Index, m Module) {
	t.Helper()
	pos := map[string]int{}
	for i, d := range m.Deps {
		pos[d] = i
	}
	for i, d := range m.Deps {
		dm, _ := ix.Module(d)
		for _, dd := range dm.Deps {
			if j, ok := pos[dd]; !ok || j >= i {
				t.Errorf("%s: dependency %s loads before its dependency %s (or lacks it)", m.Name, d, dd)
			}
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func aliasSet(as []aliasEntry) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Pattern + " " + a.Module
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func firstDiff(a, b []string) string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok && len(out) < 5 {
			out = append(out, "+"+s)
		}
	}
	for _, s := range b {
		if _, ok := slices.BinarySearch(a, s); !ok && len(out) < 10 {
			out = append(out, "-"+s)
		}
	}
	return fmt.Sprint(strings.Join(out, ", "))
}
