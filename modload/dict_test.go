package modload

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// testDict returns a zstd dictionary with the given ID, trained on modules like the
// fixture's.
func testDict(t testing.TB, id uint32) []byte {
	t.Helper()
	var samples [][]byte
	for i := range 40 {
		samples = append(samples, makeELF(fmt.Appendf(nil, "license=GPL\x00name=sample%d\x00vermagic=6.1.0 SMP mod_unload modversions \x00", i)))
	}
	dict, err := zstd.BuildDict(zstd.BuildDictOptions{ID: id, Contents: samples, History: bytes.Join(samples[:8], nil), Offsets: [3]int{1, 4, 8}})
	if err != nil {
		t.Fatal(err)
	}
	return dict
}

// compressWithDict returns data as one zstd frame that names dict.
func compressWithDict(t testing.TB, dict, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(dict))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(data, nil)
}

// A frame made with a dictionary decodes with that dictionary only; the error says which
// one it needs.
func TestZstdDecoderDictionary(t *testing.T) {
	dict := testDict(t, 40000)
	plain := makeELF([]byte("license=GPL\x00name=withdict\x00vermagic=6.1.0 SMP mod_unload modversions \x00"))
	z := compressWithDict(t, dict, plain)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, DictFile), dict)
	other := t.TempDir()
	writeFile(t, filepath.Join(other, DictFile), testDict(t, 40001))
	none := t.TempDir()
	for _, tt := range []struct {
		name, dir, wantErr string
		in                 []byte
	}{
		{"its dictionary", dir, "", z},
		{"a frame without one", dir, "", compress(t, "zstd", plain)},
		{"no dictionary", none, "needs dictionary 40000, and the module tree has none", z},
		{"another dictionary", other, "needs dictionary 40000, and the module tree's (modules.zstd-dict) is 40001", z},
		{"truncated", dir, "zstd: ", z[:len(z)-5]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := OpenZstdDecoder(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode(tt.in, maxModule)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("decoded %d bytes, %v; want the %d of the module", len(got), err, len(plain))
			}
		})
	}
	if _, err := openDecoder(t, dir).Decode(z, len(plain)-1); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a limit below the module's size: err = %v", err)
	}
}

func openDecoder(t *testing.T, dir string) *ZstdDecoder {
	t.Helper()
	dec, err := OpenZstdDecoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// A dictionary file that is not one is an error naming it.
func TestOpenZstdDecoderBadDictionary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, DictFile), []byte("not a dictionary"))
	if _, err := OpenZstdDecoder(dir); err == nil || !strings.Contains(err.Error(), DictFile) {
		t.Errorf("err = %v, want one naming %s", err, DictFile)
	}
}

// A module compressed with the tree's dictionary is decoded by the loader and handed to
// init_module, even when the kernel decompresses zstd (it has no dictionary); without the
// tree's dictionary the load fails. The tree is indexed through it too.
func TestLoadWithDictionary(t *testing.T) {
	dict := testDict(t, 50000)
	fm := fixture[slices.IndexFunc(fixture, func(f fixMod) bool { return f.name == "zstmod" })]
	image := makeELF(fm.modinfoBytes())
	for _, kernelHas := range []string{"", "zstd"} {
		for _, withDict := range []bool{true, false} {
			t.Run(fmt.Sprintf("kernel=%s/dict=%v", kernelHas, withDict), func(t *testing.T) {
				e := newLoaderEnv(t)
				writeFile(t, filepath.Join(e.dir, fm.path), compressWithDict(t, dict, image))
				if withDict {
					writeFile(t, filepath.Join(e.dir, DictFile), dict)
					ix, err := Build(e.dir)
					if err != nil || len(ix.Problems()) > 0 {
						t.Fatalf("index of the tree: %v %v", err, ix.Problems())
					}
					if m, ok := ix.Module("zstmod"); !ok || m.Path != fm.path {
						t.Errorf("index: zstmod = %+v", m)
					}
				}
				if kernelHas != "" {
					writeFile(t, filepath.Join(e.sys, "compression"), []byte(kernelHas+"\n"))
				}
				r := e.loader(Options{}).Load("zstmod")
				if !withDict {
					// A tree without its dictionary is broken: the loader decodes the module
					// and names the dictionary, or (reading no module's header when the tree
					// has no dictionary) hands it to a kernel that decompresses zstd, which
					// refuses it.
					want := "needs dictionary 50000"
					if kernelHas == "zstd" {
						want = "invalid argument"
					}
					if r.Status != Failed || r.Err == nil || !strings.Contains(r.Err.Error(), want) {
						t.Fatalf("Load = %+v, want a failure: %s", r, want)
					}
					return
				}
				if r.Status != Loaded || r.ByKernel {
					t.Fatalf("Load = %+v", r)
				}
				if c, n := e.k.call("zstmod"); n != 1 || c.syscall != "init_module" || !bytes.Equal(c.image, image) {
					t.Errorf("%d calls, %s with %d bytes; want init_module with the module's %d", n, c.syscall, len(c.image), len(image))
				}
			})
		}
	}
}

func FuzzZstdDecoderDictionary(f *testing.F) {
	dict := testDict(f, 40000)
	f.Add(compressWithDict(f, dict, []byte("\x7fELF module")))
	f.Add([]byte("\x28\xb5\x2f\xfd\x23\x40\x9c\x00\x00"))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DictFile), dict, 0o644); err != nil {
		f.Fatal(err)
	}
	dec, err := OpenZstdDecoder(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if data, err := dec.Decode(in, 1<<20); err == nil && len(data) > 1<<20 {
			t.Fatalf("%d bytes accepted", len(data))
		}
	})
}
