package initramfs

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// sampleModules writes n module-like files of size bytes each, every one different, and
// returns the jobs that compress them.
func sampleModules(t *testing.T, n, size int) []stageJob {
	t.Helper()
	dir := t.TempDir()
	words := []string{"__ksymtab_", "virtio", "\x48\x89\xe5", "license=GPL", "depends=", ".text", "\x00\x00\x00\x00"}
	var jobs []stageJob
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		var b bytes.Buffer
		for b.Len() < size {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(byte(r.IntN(256)))
		}
		p := filepath.Join(dir, "m"+strconv.Itoa(i)+".ko")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, stageJob{name: "m" + strconv.Itoa(i), src: p, compress: true})
	}
	return jobs
}

// The program trains a dictionary only when asked, for zstd modules that the kernel does
// not decompress itself, and on enough input; a training that fails is a warning. The
// dictionary's ID comes from the modules, and each job then reads its module's bytes from
// the samples.
func TestTrainDict(t *testing.T) {
	ctx := context.Background()
	program := zstdProgram(t)
	withProgram := func(p string) zstdEncoder {
		e, warning := newZstdEncoder(ctx, Config{ModCompression: Zstd, ZstdProgram: p})
		if warning != "" || e.program == "" {
			t.Fatalf("encoder %+v: %s", e, warning)
		}
		return e
	}
	failing := script(t, `if [ "$1" = --train ]; then echo "not enough samples" >&2; exit 1; fi; exec `+program+` "$@"`)
	dictCfg := Config{ModCompression: Zstd, ModuleDict: true}
	enough := dictMin * dictSampleRatio / (64 << 10)
	cases := []struct {
		name    string
		cfg     Config
		enc     zstdEncoder
		loading moduleLoading
		modules int
		dict    bool
		warning string
	}{
		{"trained", dictCfg, withProgram(program), moduleLoading{}, enough + 2, true, ""},
		{"not asked", Config{ModCompression: Zstd}, withProgram(program), moduleLoading{}, enough + 2, false, ""},
		{"too little input", dictCfg, withProgram(program), moduleLoading{}, enough - 2, false, ""},
		{"kernel decompresses zstd", dictCfg, withProgram(program), moduleLoading{known: true, kernel: Zstd}, enough + 2, false, ""},
		{"built-in encoder", dictCfg, zstdEncoder{}, moduleLoading{}, enough + 2, false, ""},
		{"training fails", dictCfg, withProgram(failing), moduleLoading{}, enough + 2, false, "not enough samples"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jobs := sampleModules(t, c.modules, 64<<10)
			want := make([][]byte, len(jobs))
			for i, j := range jobs {
				want[i], _ = os.ReadFile(j.src)
			}
			dir := t.TempDir()
			dictFile := filepath.Join(dir, "dict")
			enc, warning, err := trainDict(ctx, c.cfg, c.enc, c.loading, jobs, filepath.Join(dir, "samples"), dictFile)
			if err != nil {
				t.Fatal(err)
			}
			if (c.warning == "") != (warning == "") || !strings.Contains(warning, c.warning) {
				t.Errorf("warning %q, want %q", warning, c.warning)
			}
			dict, err := os.ReadFile(dictFile)
			if (err == nil) != c.dict || (enc.dict != "") != c.dict {
				t.Fatalf("dictionary file: %v, encoder's %q; want one: %v", err, enc.dict, c.dict)
			}
			for i, j := range jobs {
				if got, err := readStaged(j); err != nil || !bytes.Equal(got, want[i]) {
					t.Errorf("%s reads %d bytes (%v), want its %d", j.name, len(got), err, len(want[i]))
				}
			}
			if !c.dict {
				return
			}
			d, err := zstd.InspectDictionary(dict)
			if err != nil {
				t.Fatal(err)
			}
			if id := d.ID(); id < 1<<15 || id >= 1<<31 {
				t.Errorf("dictionary ID %d outside the unreserved range", id)
			}
			// The trainer may go a few bytes over its --maxdict.
			if len(dict) > dictMax || len(dict) > c.modules*(64<<10)/dictSampleRatio+64 {
				t.Errorf("dictionary of %d bytes for %d bytes of modules", len(dict), c.modules*(64<<10))
			}
			again := filepath.Join(dir, "again")
			if _, _, err := trainDict(ctx, c.cfg, c.enc, c.loading, sampleModules(t, c.modules, 64<<10), filepath.Join(dir, "samples2"), again); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(again); !bytes.Equal(b, dict) {
				t.Error("the same modules made another dictionary")
			}
			z, err := enc.module(ctx, want[0], Zstd)
			if err != nil {
				t.Fatal(err)
			}
			var h zstd.Header
			if err := h.Decode(z); err != nil || h.DictionaryID != d.ID() {
				t.Errorf("module frame names dictionary %d (%v), want %d", h.DictionaryID, err, d.ID())
			}
			if plain, _ := (zstdEncoder{program: program, id: enc.id}).module(ctx, want[0], Zstd); len(z) >= len(plain) {
				t.Errorf("module %d bytes with the dictionary, %d without", len(z), len(plain))
			}
		})
	}
	for _, b := range []byte{0x00, 0x7f, 0x80, 0xff} {
		if id := dictID(bytes.Repeat([]byte{b}, 32)); id < 1<<15 || id >= 1<<31 {
			t.Errorf("dictID of %#x bytes = %d, outside the unreserved range", b, id)
		}
	}
}
