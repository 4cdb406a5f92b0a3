package modload

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMakeELFReadable(t *testing.T) {
	m := fixture[3]
	f, err := elf.NewFile(bytes.NewReader(makeELF(m.modinfoBytes())))
	if err != nil {
		t.Fatalf("debug/elf rejects the synthetic module: %v", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		t.Fatal("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil || !bytes.Equal(data, m.modinfoBytes()) {
		t.Fatalf(".modinfo = %q, %v", data, err)
	}
}

func TestRealModinfo(t *testing.T) {
	mi, err := readModinfoFile(filepath.Join("testdata", "real", "crc16.ko"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Name != "crc16" || len(mi.Depends) != 0 {
		t.Errorf("crc16.ko modinfo = %+v", mi)
	}
}

func TestModinfoCorrupt(t *testing.T) {
	good := makeELF(fixture[3].modinfoBytes())
	bigSection := bytes.Clone(good)
	// .modinfo section header is the second one: make its size huge
	shoff := int(leUint64(good[40:]))
	putLE64(bigSection[shoff+64+32:], 1<<40)
	outOfFile := bytes.Clone(good)
	putLE64(outOfFile[shoff+64+24:], 1<<20) // offset past the end
	noModinfo := bytes.Replace(makeELF(nil), []byte(".modinfo"), []byte(".notinfo"), 1)
	for name, data := range map[string][]byte{
		"empty":      nil,
		"garbage":    []byte("not an ELF file at all, just text"),
		"truncated":  good[:100],
		"huge":       bigSection,
		"outOfFile":  outOfFile,
		"noModinfo":  noModinfo,
		"headerOnly": good[:64],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := modinfoSection(bytes.NewReader(data))
			if err == nil {
				t.Fatalf("no error for %s ELF", name)
			}
			if name == "noModinfo" && !errors.Is(err, errNoModinfo) {
				t.Errorf("err = %v, want %v", err, errNoModinfo)
			}
		})
	}
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func putLE64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// checkFixtureIndex checks the answers every way of building the fixture
// index must give.
func checkFixtureIndex(t *testing.T, ix *Index) {
	t.Helper()
	wantMods := []string{"chain_a", "chain_b", "chain_c", "chain_d", "crc16", "crc32c_generic", "crc32c_intel",
		"dash_name", "ext4", "globby", "gzmod", "jbd2", "mbcache", "posty", "virtio", "virtio_blk", "virtio_pci",
		"virtio_ring", "xzmod", "zstmod"}
	if got := ix.Modules(); !slices.Equal(got, wantMods) {
		t.Errorf("Modules() = %v\nwant %v", got, wantMods)
	}
	mods := []Module{
		{Name: "ext4", Path: "kernel/fs/ext4/ext4.ko", Deps: []string{"crc16", "jbd2", "mbcache"}, SoftPre: []string{"crypto-crc32c"}},
		{Name: "chain_d", Path: "kernel/test/chain-d.ko", Deps: []string{"chain_c", "chain_b", "chain_a"}},
		{Name: "chain_a", Path: "kernel/test/chain-a.ko", Deps: []string{"chain_c", "chain_b"}},
		{Name: "virtio_blk", Path: "kernel/drivers/block/virtio_blk.ko", Deps: []string{"virtio_ring", "virtio"}},
		{Name: "posty", Path: "kernel/test/posty.ko", SoftPost: []string{"chain_c"}},
		{Name: "zstmod", Path: "kernel/test/zstmod.ko.zst", Deps: []string{"chain_c"}},
		{Name: "crc32c_intel", Path: "kernel/arch/x86/crypto/crc32c-intel.ko"},
	}
	for _, want := range mods {
		for _, name := range []string{want.Name, strings.ReplaceAll(want.Name, "_", "-")} {
			got, ok := ix.Module(name)
			if !ok {
				t.Errorf("Module(%q) not found", name)
				continue
			}
			norm := func(m Module) Module {
				for _, l := range []*[]string{&m.Deps, &m.SoftPre, &m.SoftPost} {
					if len(*l) == 0 {
						*l = nil
					}
				}
				return m
			}
			if !reflect.DeepEqual(norm(got), norm(want)) {
				t.Errorf("Module(%q) = %+v\nwant %+v", name, got, want)
			}
		}
	}
	if _, ok := ix.Module("nonesuch"); ok {
		t.Error("Module(nonesuch) found")
	}
	lookups := map[string][]string{
		"fs-ext4":       {"ext4"},
		"fs_ext4":       {"ext4"},
		"crypto-crc32c": {"crc32c_generic", "crc32c_intel"},
		"crc32c":        {"crc32c_generic", "crc32c_intel"},
		"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00":      {"virtio_pci"},
		"pci:v00001AF5d00001001sv00001AF4sd00000002bc01sc00i00":      nil,
		"virtio:d00000002v00001AF4":                                  {"virtio_blk"},
		"cpu:type:x86,ven0000fam0006mod003D:feature:,0001,0094,0095": {"crc32c_intel"},
		"cpu:type:x86,ven0000fam0006mod003D:feature:,0001,0095":      nil,
		"test:bxzy":            {"globby"},
		"test:bxzyanything":    {"globby"},
		"test:dxzy":            nil,
		"test:dz":              {"globby"},
		"test:az":              nil,
		"test:q*":              {"globby"},
		"test:qx":              nil,
		"test:dash_alias":      {"dash_name"},
		"test:dash-alias":      {"dash_name"},
		"test:chain:/a/b":      {"chain_d"},
		"block-major-7-0":      {"loop"},
		"devname:loop-control": {"loop"},
		"net-pf-1":             {"unix"},
		"":                     nil,
	}
	for alias, want := range lookups {
		if got := ix.Lookup(alias); !slices.Equal(got, want) {
			t.Errorf("Lookup(%q) = %v, want %v", alias, got, want)
		}
		if got := ix.lookupLinear(alias); !slices.Equal(got, want) {
			t.Errorf("lookupLinear(%q) = %v, want %v", alias, got, want)
		}
	}
	for name, want := range map[string]bool{"loop": true, "binfmt-misc": true, "unix": true, "ext4": false, "nonesuch": false} {
		if got := ix.Builtin(name); got != want {
			t.Errorf("Builtin(%q) = %v, want %v", name, got, want)
		}
	}
	resolve := map[string][]string{
		"ext4":          {"ext4"},
		"fs-ext4":       {"ext4"},
		"crypto-crc32c": {"crc32c_generic", "crc32c_intel"},
		"loop":          {"loop"},
		"dash-name":     {"dash_name"},
		"nonesuch":      nil,
	}
	for in, want := range resolve {
		if got := ix.Resolve(in); !slices.Equal(got, want) {
			t.Errorf("Resolve(%q) = %v, want %v", in, got, want)
		}
	}
	closure := []struct {
		in, want []string
	}{
		{[]string{"ext4"}, []string{"crc16", "crc32c_generic", "crc32c_intel", "ext4", "jbd2", "mbcache"}},
		{[]string{"fs-ext4", "loop"}, []string{"crc16", "crc32c_generic", "crc32c_intel", "ext4", "jbd2", "mbcache"}},
		{[]string{"posty", "virtio:d00000002v00001AF4"}, []string{"chain_c", "posty", "virtio", "virtio_blk", "virtio_ring"}},
		{[]string{"nonesuch"}, nil},
	}
	for _, c := range closure {
		if got := ix.Closure(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Closure(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBuildFromModinfo(t *testing.T) {
	dir := writeTree(t, treeOpts{})
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := ix.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
	checkFixtureIndex(t, ix)
}

func TestBuildFromDepmodFiles(t *testing.T) {
	dir := writeTree(t, treeOpts{text: true})
	// Break every module file: the text path must not read them.
	for _, m := range fixture {
		writeFile(t, filepath.Join(dir, m.path), []byte("not read"))
	}
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := ix.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
	checkFixtureIndex(t, ix)
}

func TestBuildCorruptModule(t *testing.T) {
	dir := writeTree(t, treeOpts{corrupt: true})
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := ix.Problems()
	if len(p) != 1 || !strings.Contains(p[0].Error(), "broken.ko") {
		t.Errorf("problems = %v, want one naming broken.ko", p)
	}
	checkFixtureIndex(t, ix)
}

func TestBuildBrokenDepmodFallsBack(t *testing.T) {
	dir := writeTree(t, treeOpts{text: true})
	writeFile(t, filepath.Join(dir, "modules.alias"), []byte("alias only-two-fields\n"))
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := ix.Problems(); len(p) != 1 || !strings.Contains(p[0].Error(), "modules.alias") {
		t.Errorf("problems = %v, want one naming modules.alias", p)
	}
	checkFixtureIndex(t, ix)
}

func TestBuildMissing(t *testing.T) {
	if _, err := Build(filepath.Join(t.TempDir(), "nonesuch")); err == nil {
		t.Error("Build of a missing directory: no error")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nonesuch")); err == nil {
		t.Error("Open of a missing directory: no error")
	}
}

func TestIndexFileRoundTrip(t *testing.T) {
	dir := writeTree(t, treeOpts{})
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, IndexFile)
	if err := ix.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	// Remove the modules: Open must answer from the index file alone.
	if err := os.RemoveAll(filepath.Join(dir, "kernel")); err != nil {
		t.Fatal(err)
	}
	ix2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix2.Problems()) != 0 {
		t.Errorf("problems: %v", ix2.Problems())
	}
	checkFixtureIndex(t, ix2)
	sameIndex(t, ix, ix2)
}

// sameIndex checks two indexes hold the same facts.
func sameIndex(t *testing.T, a, b *Index) {
	t.Helper()
	if !slices.Equal(a.Modules(), b.Modules()) {
		t.Fatalf("modules differ")
	}
	for _, n := range a.Modules() {
		ma, _ := a.Module(n)
		mb, _ := b.Module(n)
		if !reflect.DeepEqual(ma, mb) {
			t.Errorf("Module(%q): %+v != %+v", n, ma, mb)
		}
	}
	if !slices.Equal(a.builtin, b.builtin) {
		t.Errorf("builtin differ")
	}
	if !reflect.DeepEqual(a.aliasTable, b.aliasTable) {
		t.Errorf("alias tables differ")
	}
}

// TestOpenImage checks the init's index: the image's modules.earlyroot,
// else depmod's text files, never the module files.
func TestOpenImage(t *testing.T) {
	t.Run("index file", func(t *testing.T) {
		dir := writeTree(t, treeOpts{image: true})
		if err := os.RemoveAll(filepath.Join(dir, "kernel")); err != nil {
			t.Fatal(err)
		}
		ix, err := OpenImage(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkFixtureIndex(t, ix)
	})
	t.Run("depmod text", func(t *testing.T) {
		ix, err := OpenImage(writeTree(t, treeOpts{text: true}))
		if err != nil {
			t.Fatal(err)
		}
		checkFixtureIndex(t, ix)
	})
	t.Run("corrupt index, depmod text", func(t *testing.T) {
		dir := writeTree(t, treeOpts{text: true})
		writeFile(t, filepath.Join(dir, IndexFile), []byte("NOTANIDX"))
		ix, err := OpenImage(dir)
		if err != nil {
			t.Fatal(err)
		}
		if p := ix.Problems(); len(p) == 0 || !errors.Is(p[0], errCorrupt) {
			t.Errorf("problems = %v, want the corrupt index first", p)
		}
		checkFixtureIndex(t, ix)
	})
	t.Run("module files only", func(t *testing.T) {
		dir := writeTree(t, treeOpts{})
		_, err := OpenImage(dir)
		if err == nil || !strings.Contains(err.Error(), "modules.dep") {
			t.Errorf("err = %v, want one naming modules.dep", err)
		}
		if _, err := Open(dir); err != nil {
			t.Errorf("Open (which reads .modinfo): %v", err)
		}
	})
}

func TestIndexFileCorrupt(t *testing.T) {
	dir := writeTree(t, treeOpts{})
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	good := ix.marshal()
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x40
	badVersion := bytes.Clone(good)
	badVersion[8] = 99
	for name, data := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("NOTANIDX" + string(good[8:])),
		"version":   badVersion,
		"flip":      flip,
		"truncated": good[:len(good)-7],
		"appended":  append(bytes.Clone(good), 0),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, IndexFile)
			writeFile(t, p, data)
			if _, err := ReadIndexFile(p); !errors.Is(err, errCorrupt) {
				t.Errorf("ReadIndexFile: err = %v, want corrupt", err)
			}
			ix2, err := Open(dir)
			if err != nil {
				t.Fatalf("Open did not fall back to Build: %v", err)
			}
			if p := ix2.Problems(); len(p) == 0 || !errors.Is(p[0], errCorrupt) {
				t.Errorf("Open problems = %v, want the corrupt index first", p)
			}
			checkFixtureIndex(t, ix2)
		})
	}
}

// TestLookupMatchesLinear checks the indexed lookup against trying every
// pattern, on strings made from the patterns themselves.
func TestLookupMatchesLinear(t *testing.T) {
	ix, err := Build(filepath.Join("testdata", "real"))
	if err != nil {
		t.Fatal(err)
	}
	checkLookupSample(t, ix, 1)
}

func checkLookupSample(t *testing.T, ix *Index, step int) {
	t.Helper()
	queries := slices.Clone(benchAliases)
	for i := 0; i < len(ix.aliases); i += step {
		p := ix.aliases[i].Pattern
		queries = append(queries, instantiate(p, ""), instantiate(p, "x"), instantiate(p, "0094"), p)
	}
	for _, q := range queries {
		if got, want := ix.Lookup(q), ix.lookupLinear(q); !slices.Equal(got, want) {
			t.Errorf("Lookup(%q) = %v, linear scan says %v", q, got, want)
		}
	}
}

// instantiate turns a pattern into a string it matches: stars become
// fill, other tokens a byte they accept when one is easy to find.
func instantiate(p, fill string) string {
	var b strings.Builder
	for p != "" {
		n := tokenLen(p)
		tok := p[:n]
		switch {
		case tok == "*":
			b.WriteString(fill)
		case tok == "?":
			b.WriteByte('Q')
		case n == 2 && tok[0] == '\\':
			b.WriteByte(tok[1])
		case n > 2:
			for c := 0; c < 256; c++ {
				if matchToken(tok, byte(c)) {
					b.WriteByte(byte(c))
					break
				}
			}
		default:
			b.WriteByte(tok[0])
		}
		p = p[n:]
	}
	return b.String()
}

func TestDecompress(t *testing.T) {
	data := makeELF(fixture[3].modinfoBytes())
	for _, algo := range []string{"xz", "zstd", "gzip"} {
		got, err := decompress(algo, bytes.NewReader(compress(t, algo, data)))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s round trip: %v, equal=%v", algo, err, bytes.Equal(got, data))
		}
		if _, err := decompress(algo, bytes.NewReader([]byte("garbage, not compressed"))); err == nil {
			t.Errorf("%s: garbage gives no error", algo)
		}
	}
}

// TestDecompressCLI checks modules compressed the way distributions do it
// (xz --check=crc32, zstd, gzip -n) decompress to the same bytes.
func TestDecompressCLI(t *testing.T) {
	data := mustRead(t, filepath.Join("testdata", "real", "crc16.ko"))
	tools := []struct {
		algo string
		args []string
	}{
		{"xz", []string{"xz", "--check=crc32", "--lzma2=dict=1MiB", "-c"}},
		{"zstd", []string{"zstd", "-q", "-19", "-c"}},
		{"gzip", []string{"gzip", "-9", "-n", "-c"}},
	}
	for _, tool := range tools {
		t.Run(tool.algo, func(t *testing.T) {
			if _, err := exec.LookPath(tool.args[0]); err != nil {
				t.Skipf("%s not installed: %v", tool.args[0], err)
			}
			cmd := exec.Command(tool.args[0], tool.args[1:]...)
			cmd.Stdin = bytes.NewReader(data)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decompress(tool.algo, bytes.NewReader(out))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("decompress: %v, equal=%v", err, bytes.Equal(got, data))
			}
			ext := map[string]string{"xz": ".xz", "zstd": ".zst", "gzip": ".gz"}[tool.algo]
			p := filepath.Join(t.TempDir(), "crc16.ko"+ext)
			writeFile(t, p, out)
			mi, err := readModinfoFile(p, nil)
			if err != nil || mi.Name != "crc16" {
				t.Errorf("modinfo of %s: %+v, %v", p, mi, err)
			}
		})
	}
}

func TestSubset(t *testing.T) {
	ix, err := Build(writeTree(t, treeOpts{}))
	if err != nil {
		t.Fatal(err)
	}
	sub := ix.Subset(ix.Closure([]string{"fs-ext4", "chain_a"}), map[string]string{"jbd2": "kernel/fs/jbd2/jbd2.ko.zst"})
	if got, want := sub.Modules(), []string{"chain_a", "chain_b", "chain_c", "crc16", "crc32c_generic", "crc32c_intel", "ext4", "jbd2", "mbcache"}; !slices.Equal(got, want) {
		t.Errorf("Modules() = %v, want %v", got, want)
	}
	for _, n := range sub.Modules() {
		a, _ := ix.Module(n)
		b, _ := sub.Module(n)
		if n == "jbd2" {
			if b.Path != "kernel/fs/jbd2/jbd2.ko.zst" {
				t.Errorf("moved jbd2's path = %q", b.Path)
			}
			a.Path = b.Path
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Module(%q) = %+v, want %+v", n, b, a)
		}
	}
	if got := sub.Lookup("virtio:d00000002v00001AF4"); got != nil {
		t.Errorf("Lookup of a module left out = %v", got)
	}
	if got := sub.Lookup("fs-ext4"); !slices.Equal(got, []string{"ext4"}) {
		t.Errorf("Lookup(fs-ext4) = %v", got)
	}
	if got := sub.Lookup("block-major-7-1"); !slices.Equal(got, []string{"loop"}) || !sub.Builtin("loop") {
		t.Errorf("built-ins lost: %v", got)
	}
}
