package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/earlyroot/earlyroot/modload"
)

// moduleLike returns n bytes compressible as a module is: words from a small vocabulary.
func moduleLike(n int) []byte {
	words := []string{"\x00\x00\x00\x00", "__ksymtab_", "virtio", "\x48\x89\xe5", "license=GPL", "\xff\xff", "depends=", ".text"}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(byte(r.IntN(256)))
	}
	return b.Bytes()[:n]
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zstd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func zstdProgram(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("SKIP: no zstd program on $PATH (make deps installs it)")
	}
	return p
}

// The program's outputs decode to the module, name its size, and are cached; a cached
// entry is used only when it decodes to the module.
func TestModuleEncoderProgramAndCache(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	e, warning := newZstdEncoder(ctx, Config{ModCompression: Zstd, ZstdProgram: zstdProgram(t), ModuleCache: cache})
	if warning != "" || !strings.HasPrefix(e.Name(), "zstd v") || !strings.HasSuffix(e.Name(), " -19") {
		t.Fatalf("encoder %q, warning %q", e.Name(), warning)
	}
	data := moduleLike(300 << 10)
	z, err := e.module(ctx, data, Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if err := (zstdEncoder{}).checkModule(z, data); err != nil {
		t.Fatalf("program's output: %v", err)
	}
	builtin, err := CompressModule(data, Zstd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes: program %d, built-in %d", len(data), len(z), len(builtin))
	cached, err := os.ReadFile(e.cachePath(data))
	if err != nil || !bytes.Equal(cached, z) {
		t.Fatalf("cache entry: %v (same bytes: %v)", err, bytes.Equal(cached, z))
	}

	failing := e
	failing.program = script(t, "echo broken >&2; exit 1")
	if got, err := failing.module(ctx, data, Zstd); err != nil || !bytes.Equal(got, z) {
		t.Fatalf("from the cache: %v (same bytes: %v)", err, bytes.Equal(got, z))
	}
	if err := os.WriteFile(e.cachePath(data), builtin[:len(builtin)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := failing.module(ctx, data, Zstd); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a truncated cache entry was used: %v", err)
	}
	if got, err := e.module(ctx, data, Zstd); err != nil || !bytes.Equal(got, z) {
		t.Fatalf("recompressed: %v", err)
	}
	if cached, _ := os.ReadFile(e.cachePath(data)); !bytes.Equal(cached, z) {
		t.Error("the truncated cache entry was not replaced")
	}
	other := e
	other.id = "zstd v0.0.1 -19"
	if other.cachePath(data) == e.cachePath(data) {
		t.Error("another program version shares the cache entry")
	}
}

// A program whose output is not the module's zstd frame with its size is an error.
func TestModuleEncoderBadPrograms(t *testing.T) {
	real := zstdProgram(t)
	cases := []struct{ name, body, err string }{
		{"copies its input", "exec cat", "frame header"},
		{"no size in the frame", "exec " + real + " -q -c", "names no decoded size"},
		{"other bytes of the same size", "head -c 65536 /dev/zero | " + real + " -q -c --stream-size=65536", "decodes to other bytes"},
		{"fails", "echo 'zstd: out of memory' >&2; exit 1", "out of memory"},
	}
	data := moduleLike(64 << 10)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := zstdEncoder{program: script(t, c.body), id: "zstd test"}
			if _, err := e.module(context.Background(), data, Zstd); err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %v, want %q", err, c.err)
			}
		})
	}
}

func TestNewModuleEncoder(t *testing.T) {
	ctx := context.Background()
	version := script(t, `echo '*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***'`)
	cases := []struct {
		name     string
		cfg      Config
		encoder  string
		warning  string
		programs bool
	}{
		{"built-in", Config{ModCompression: Zstd}, "built-in", "", false},
		{"program", Config{ModCompression: Zstd, ZstdProgram: version}, "zstd v1.5.4 -19", "", true},
		{"no zstd stream", Config{ModCompression: XZ, Compression: None, InitCompression: Gzip, ZstdProgram: version}, "built-in", "", false},
		{"zstd init archive only", Config{ModCompression: None, Compression: None, InitCompression: Zstd, ZstdProgram: version}, "zstd v1.5.4 -19", "", true},
		{"one zstd archive", Config{ModCompression: None, Compression: Zstd, InitCompression: Zstd, ZstdProgram: version}, "built-in", "", false},
		{"missing program", Config{ModCompression: Zstd, ZstdProgram: "/nonexistent/zstd"}, "built-in", "the built-in encoder makes", false},
		{"no version", Config{ModCompression: Zstd, ZstdProgram: script(t, "echo zstd")}, "built-in", "no version", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, warning := newZstdEncoder(ctx, c.cfg)
			if e.Name() != c.encoder || (e.program != "") != c.programs {
				t.Errorf("encoder %q (program %q), want %q", e.Name(), e.program, c.encoder)
			}
			if (c.warning == "") != (warning == "") || !strings.Contains(warning, c.warning) {
				t.Errorf("warning %q, want %q", warning, c.warning)
			}
		})
	}
}

// Entries unused for longer than moduleCacheMaxAge go; the others stay.
func TestPruneModuleCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := map[string]time.Duration{
		"ab/old.zst":    moduleCacheMaxAge + time.Hour,
		"ab/recent.zst": moduleCacheMaxAge - time.Hour,
		"cd/.tmp-1":     moduleCacheMaxAge + time.Hour,
		"cd/new.zst":    0,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	zstdEncoder{cache: dir}.pruneCache(now)
	for name, age := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != (age > moduleCacheMaxAge) {
			t.Errorf("%s (unused for %v): removed %v", name, age, gone)
		}
	}
}

// The program's archive decodes to its bytes in a frame the kernel's unpacker reads with a
// bounded window; one that does not decode is an error.
func TestZstdEncoderArchive(t *testing.T) {
	ctx := context.Background()
	e, warning := newZstdEncoder(ctx, Config{Compression: None, InitCompression: Zstd, ZstdProgram: zstdProgram(t)})
	if warning != "" {
		t.Fatal(warning)
	}
	data := bytes.Repeat(moduleLike(1<<20), 9) // past the window
	z, err := e.archive(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(z); err != nil {
		t.Fatal(err)
	}
	if h.SingleSegment || h.WindowSize != programArchiveWindow || !h.HasCheckSum {
		t.Errorf("frame: single segment %v, window %d, checksum %v", h.SingleSegment, h.WindowSize, h.HasCheckSum)
	}
	if got, err := decodeZstdStream(z, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("decoded: %v", err)
	}
	program := e.program
	e.program = script(t, "head -c 100 /dev/zero | "+program+" -q -c")
	if _, err := e.archive(ctx, data); err == nil || !strings.Contains(err.Error(), "does not decode to its bytes") {
		t.Errorf("another archive: %v", err)
	}
	e.program = script(t, "exec cat")
	if _, err := e.archive(ctx, data); err == nil || !strings.Contains(err.Error(), "does not decode:") {
		t.Errorf("no zstd stream: %v", err)
	}
}

// An image made with the zstd program holds the same files as one made with the built-in
// encoder, its module files and its zstd archive made by the program.
func TestBuildWithZstdProgram(t *testing.T) {
	program := zstdProgram(t)
	for _, tc := range []struct {
		initc Compression
		dict  bool
	}{{None, true}, {Zstd, true}, {None, false}} {
		initc := tc.initc
		t.Run(fmt.Sprintf("init archive %s, dictionary %v", initc, tc.dict), func(t *testing.T) {
			cfg := hostConfig(t)
			cfg.ModCompression, cfg.InitCompression, cfg.ModuleDict = Zstd, initc, tc.dict
			builtin, res := build(t, cfg)
			if res.ZstdEncoder != "built-in" {
				t.Errorf("encoder %q without the program", res.ZstdEncoder)
			}
			cfg.ZstdProgram, cfg.ModuleCache = program, t.TempDir()
			img, res := build(t, cfg)
			if !strings.HasPrefix(res.ZstdEncoder, "zstd v") {
				t.Errorf("encoder %q with the program", res.ZstdEncoder)
			}
			want, got := imageFiles(t, builtin), imageFiles(t, img)
			dict := "lib/modules/" + cfg.KernelVersion + "/" + modload.DictFile
			if _, ok := got[dict]; ok != (res.ZstdDict > 0) || len(got[dict]) != res.ZstdDict {
				t.Errorf("dictionary of %d bytes, %d in the image", res.ZstdDict, len(got[dict]))
			}
			delete(got, dict)
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("%d files with the program, %d with the built-in encoder", len(got), len(want))
			}
			modules := 0
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Errorf("%s differs", name)
				}
				if strings.HasSuffix(name, ".ko.zst") {
					modules++
				}
			}
			if initc == None && modules == 0 {
				t.Error("no .ko.zst module in the image")
			}
			if modules > 0 && (res.ZstdDict > 0) != tc.dict {
				t.Errorf("dictionary of %d bytes, asked for: %v", res.ZstdDict, tc.dict)
			}
			if len(img) >= len(builtin) {
				t.Errorf("image %d bytes with the program, %d with the built-in encoder", len(img), len(builtin))
			}
		})
	}
}

// imageFiles is every regular file of an image, module files decompressed (with the
// image's dictionary when it has one).
func imageFiles(t *testing.T, img []byte) map[string][]byte {
	t.Helper()
	recs, err := ImageRecords(img)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, r := range recs {
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG {
			files[name] = content(t, r)
		}
	}
	var dict []byte
	for name, data := range files {
		if path.Base(name) == modload.DictFile {
			dict = data
		}
	}
	dec, err := modload.NewZstdDecoder(dict)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if strings.HasSuffix(name, ".ko.zst") {
			if files[name], err = dec.Decode(data, maxModuleFile); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	return files
}
