package modload

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func readTestdata(f testing.TB, name string) []byte {
	f.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "real", name))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func TestParseAliases(t *testing.T) {
	got, err := parseAliases(strings.NewReader("# comment\nalias fs-ext4 ext4\n\n  alias pci:v*d* some-mod  \n"))
	want := []aliasEntry{{"fs_ext4", "ext4"}, {"pci:v*d*", "some_mod"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"alias x\n", "softdep a b c\n", "alias a b c\n", strings.Repeat("x", maxLine+1)} {
		if _, err := parseAliases(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %.20q", bad)
		}
	}
	real, err := parseAliases(bytes.NewReader(readTestdata(t, "modules.alias")))
	if err != nil || len(real) < 50 {
		t.Errorf("real modules.alias: %d entries, %v", len(real), err)
	}
}

func TestParseDep(t *testing.T) {
	got, err := parseDep(strings.NewReader("kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\nkernel/lib/crc16.ko:\n"))
	want := []depLine{{"kernel/fs/ext4/ext4.ko", []string{"kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko"}}, {"kernel/lib/crc16.ko", nil}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"no colon\n", ": x\n"} {
		if _, err := parseDep(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
	real, err := parseDep(bytes.NewReader(readTestdata(t, "modules.dep")))
	if err != nil || len(real) < 10 {
		t.Errorf("real modules.dep: %d entries, %v", len(real), err)
	}
}

func TestParseSoftdep(t *testing.T) {
	got, err := parseSoftdep(strings.NewReader("softdep ext4 pre: crypto-crc32c\nsoftdep cifs gcm\nsoftdep a-b pre: x y post: z\nsoftdep a_b pre: x w\n"))
	want := map[string]softdep{
		"ext4": {Pre: []string{"crypto-crc32c"}},
		"cifs": {},
		"a_b":  {Pre: []string{"x", "y", "w"}, Post: []string{"z"}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseSoftdep(strings.NewReader("softdep\n")); err == nil {
		t.Error("no error for a bare softdep")
	}
	real, err := parseSoftdep(bytes.NewReader(readTestdata(t, "modules.softdep")))
	if err != nil || !slices.Equal(real["ext4"].Pre, []string{"crypto-crc32c"}) {
		t.Errorf("real modules.softdep: ext4 %v, %v", real["ext4"], err)
	}
}

func TestParseBuiltin(t *testing.T) {
	got, err := parseBuiltin(strings.NewReader("kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio-blk.ko.xz\n"))
	if err != nil || !slices.Equal(got, []string{"ext4", "virtio_blk"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"a b\n", "kernel/fs/README\n"} {
		if _, err := parseBuiltin(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
	bi, err := parseBuiltinModinfo([]byte("a-b.alias=x-y\x00a_b.file=f\x00c.parm=p:desc\x00"))
	if err != nil || !slices.Equal(bi.Names, []string{"a_b", "c"}) || !reflect.DeepEqual(bi.Aliases, []aliasEntry{{"x_y", "a_b"}}) {
		t.Errorf("builtin modinfo: %+v, %v", bi, err)
	}
	for _, bad := range []string{"noequals\x00", ".alias=x\x00", "a.=x\x00"} {
		if _, err := parseBuiltinModinfo([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestParseModinfo(t *testing.T) {
	mi, err := parseModinfo([]byte("alias=fs-ext4\x00depends=crc16,mbcache,jbd2\x00softdep=pre: crypto-crc32c\x00name=ext4\x00alias=\x00\x00"))
	want := modinfo{Name: "ext4", Aliases: []string{"fs_ext4"}, Depends: []string{"crc16", "mbcache", "jbd2"}, Soft: softdep{Pre: []string{"crypto-crc32c"}}}
	if err != nil || !reflect.DeepEqual(mi, want) {
		t.Errorf("got %+v, %v", mi, err)
	}
	if _, err := parseModinfo([]byte("novalue\x00")); err == nil {
		t.Error("no error without '='")
	}
}

func TestParseModprobeConf(t *testing.T) {
	conf := `# comment
options virtio-blk queue_depth=64 name="a b"
options  e1000e  \
   InterruptThrottleRate=3000
blacklist pcspkr
blacklist nouveau
install foo /bin/true
alias foo bar
options
blacklist a b
`
	params, bl, err := ParseModprobeConf(strings.NewReader(conf))
	wantParams := map[string][]string{"virtio_blk": {"queue_depth=64", "name=a b"}, "e1000e": {"InterruptThrottleRate=3000"}}
	if !reflect.DeepEqual(params, wantParams) {
		t.Errorf("params %v, want %v", params, wantParams)
	}
	if !slices.Equal(bl, []string{"pcspkr", "nouveau"}) {
		t.Errorf("blacklist %v", bl)
	}
	if err == nil || !strings.Contains(err.Error(), "line 9:") || !strings.Contains(err.Error(), "line 10:") {
		t.Errorf("err = %v, want the two malformed lines", err)
	}
}

func TestJoinParams(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"a=1", " ", "b=x y", `c="q r"`, "d"}, `a=1 b="x y" c="q r" d`},
		{[]string{"a=1", "b=2", "a=3"}, "a=3 b=2"},
		{[]string{"queue_depth=8", "queue-depth=16", "flag", "flag"}, "queue-depth=16 flag"},
		{nil, ""},
	} {
		if got := joinParams(c.in); got != c.want {
			t.Errorf("joinParams(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The fuzz targets check the parsers never panic and that what they accept
// is well formed.

func FuzzParseAliases(f *testing.F) {
	f.Add(readTestdata(f, "modules.alias"))
	f.Add([]byte("alias fs-ext4 ext4\nalias x[-]y a-b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := parseAliases(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Pattern == "" || a.Module == "" || strings.Contains(a.Module, "-") {
				t.Fatalf("bad entry %+v", a)
			}
		}
		var ta aliasTable
		ta.setAliases(as)
		for _, a := range as {
			ta.match(a.Pattern, func(string) {})
		}
	})
}

func FuzzParseDep(f *testing.F) {
	f.Add(readTestdata(f, "modules.dep"))
	f.Add([]byte("a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko: a.ko\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := parseDep(bytes.NewReader(data))
		if err != nil {
			return
		}
		var mods []rawMod
		for _, d := range ds {
			if d.Path == "" {
				t.Fatal("empty path accepted")
			}
			m := rawMod{name: moduleNameFromPath(d.Path), path: d.Path}
			for _, p := range d.Deps {
				m.deps = append(m.deps, moduleNameFromPath(p))
			}
			mods = append(mods, m)
		}
		ix := newIndex(mods, true, nil, nil)
		for _, n := range ix.Modules() {
			ix.Module(n)
		}
		ix.Closure(ix.Modules())
	})
}

func FuzzParseSoftdep(f *testing.F) {
	f.Add(readTestdata(f, "modules.softdep"))
	f.Add([]byte("softdep a pre: b post: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := parseSoftdep(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, s := range sd {
			if name == "" || slices.Contains(s.Pre, "pre:") || slices.Contains(s.Post, "post:") {
				t.Fatalf("bad softdep %q %+v", name, s)
			}
		}
	})
}

func FuzzParseBuiltin(f *testing.F) {
	f.Add(readTestdata(f, "modules.builtin"), readTestdata(f, "modules.builtin.modinfo"))
	f.Add([]byte("kernel/a.ko\n"), []byte("a.alias=x\x00"))
	f.Fuzz(func(t *testing.T, list, modinfo []byte) {
		if names, err := parseBuiltin(bytes.NewReader(list)); err == nil {
			for _, n := range names {
				if n == "" {
					t.Fatal("empty name")
				}
			}
		}
		if bi, err := parseBuiltinModinfo(modinfo); err == nil {
			for _, a := range bi.Aliases {
				if a.Module == "" || a.Pattern == "" {
					t.Fatalf("bad alias %+v", a)
				}
			}
		}
	})
}

func FuzzModinfo(f *testing.F) {
	f.Add(readTestdata(f, "crc16.ko"))
	for _, m := range fixture[:5] {
		f.Add(makeELF(m.modinfoBytes()))
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sec, err := modinfoSection(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(sec) > maxModinfo {
			t.Fatalf("section of %d bytes accepted", len(sec))
		}
		parseModinfo(sec)
	})
}

func FuzzModprobeConf(f *testing.F) {
	f.Add([]byte("options virtio-blk queue_depth=64 name=\"a b\"\nblacklist pcspkr\n# c\noptions a \\\n b=1\n"))
	f.Add([]byte("install foo /bin/true\nalias x y\nsoftdep a pre: b\n"))
	// the kind of lines distributions ship in /lib/modprobe.d
	f.Add([]byte("# sound\noptions snd-pcsp index=-2\noptions cx88_alsa index=-2\nsoftdep uhci-hcd pre: ehci-hcd\noptions bonding max_bonds=0\nblacklist evbug\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		params, bl, _ := ParseModprobeConf(bytes.NewReader(data))
		for name := range params {
			if name == "" || strings.Contains(name, "-") {
				t.Fatalf("name %q not normalised", name)
			}
		}
		for _, b := range bl {
			if b == "" || strings.Contains(b, "-") {
				t.Fatalf("bad blacklist entry %q", b)
			}
		}
	})
}

// FuzzIndexFile feeds mutated index files to the reader (with the checksum
// repaired so the decoder is reached) and uses whatever it accepts.
func FuzzIndexFile(f *testing.F) {
	ix, err := Build(filepath.Join("testdata", "real"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ix.marshal())
	small := newIndex([]rawMod{{name: "a", path: "a.ko", deps: []string{"b"}}, {name: "b", path: "b.ko", soft: softdep{Pre: []string{"x"}}}},
		true, []string{"c"}, []aliasEntry{{"x*", "a"}, {"y", "b"}, {"z", "zz"}})
	f.Add(small.marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= headerSize {
			data = bytes.Clone(data)
			fixChecksum(data)
		}
		ix, err := unmarshal(data)
		if err != nil {
			return
		}
		for _, n := range ix.Modules() {
			ix.Module(n)
		}
		ix.Closure(ix.Modules())
		for _, a := range ix.aliases {
			ix.Lookup(a.Pattern)
			ix.Resolve(a.Pattern)
		}
		ix.Lookup("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
		if again, err := unmarshal(ix.marshal()); err != nil || !reflect.DeepEqual(again.aliasTable, ix.aliasTable) {
			t.Fatalf("re-encoding an accepted index: %v", err)
		}
	})
}

func TestReadModprobeDirs(t *testing.T) {
	root := t.TempDir()
	etc, lib := filepath.Join(root, "etc"), filepath.Join(root, "lib")
	writeFile(t, filepath.Join(etc, "b.conf"), []byte("options m b=etc\n"))
	writeFile(t, filepath.Join(lib, "b.conf"), []byte("options m b=lib\nblacklist hidden\n"))
	writeFile(t, filepath.Join(lib, "a.conf"), []byte("options m a=1\nblacklist x-y\nblacklist\n"))
	writeFile(t, filepath.Join(lib, "c.txt"), []byte("options m ignored=1\n"))
	params, bl, err := ReadModprobeDirs(etc, filepath.Join(root, "run"), lib)
	if want := map[string][]string{"m": {"a=1", "b=etc"}}; !reflect.DeepEqual(params, want) {
		t.Errorf("params %v, want %v", params, want)
	}
	if !slices.Equal(bl, []string{"x_y"}) {
		t.Errorf("blacklist %v", bl)
	}
	if err == nil || !strings.Contains(err.Error(), "a.conf") {
		t.Errorf("err = %v, want the bad line of a.conf", err)
	}
}
