package initramfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKernelConfigModules(t *testing.T) {
	cases := []struct {
		name, config string
		want         Compression
	}{
		{"debian 13", "CONFIG_MODULE_COMPRESS=y\nCONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_MODULE_DECOMPRESS=y\n", XZ},
		{"zstd", "CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_DECOMPRESS=y\n", Zstd},
		{"compressed, not decompressed by the kernel", "CONFIG_MODULE_COMPRESS_XZ=y\n# CONFIG_MODULE_DECOMPRESS is not set\n", None},
		{"debian 12", "CONFIG_MODULE_COMPRESS_NONE=y\n", None},
		{"beside the firmware options", "CONFIG_FW_LOADER_COMPRESS=y\nCONFIG_FW_LOADER_COMPRESS_ZSTD=y\nCONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_DECOMPRESS=y\n", Zstd},
	}
	for _, c := range cases {
		p := filepath.Join(t.TempDir(), "config")
		os.WriteFile(p, []byte(c.config), 0o644)
		if got, err := ReadKernelConfig(p); err != nil || got.ModuleDecompress != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got.ModuleDecompress, err, c.want)
		}
	}
}

func TestModuleLoadingKeep(t *testing.T) {
	cases := []struct {
		l         moduleLoading
		src, want string
		keep      bool
	}{
		{moduleLoading{}, ".xz", ".zst", false},                        // kernel unknown: the init decodes zstd only
		{moduleLoading{}, ".zst", ".zst", true},                        // which it decodes
		{moduleLoading{}, ".xz", ".xz", false},                         // (-modcompress xz is refused: TestModCompressionCheck)
		{moduleLoading{known: true}, ".xz", ".zst", false},             // the kernel decompresses nothing
		{moduleLoading{known: true}, ".xz", "", false},                 // -modcompress none
		{moduleLoading{known: true}, ".zst", ".zst", true},             // already as wanted
		{moduleLoading{known: true, kernel: XZ}, ".xz", ".zst", true},  // finit_module takes .ko.xz
		{moduleLoading{known: true, kernel: XZ}, ".gz", ".zst", false}, // but not .ko.gz
		{moduleLoading{known: true, kernel: Zstd}, ".xz", ".zst", false},
	}
	for _, c := range cases {
		if got := c.l.keep(c.src, c.want); got != c.keep {
			t.Errorf("%+v.keep(%q, %q) = %v", c.l, c.src, c.want, got)
		}
	}
}

// An image gets xz or gzip modules only for a kernel known to decompress them itself: the
// init decodes zstd only.
func TestModCompressionCheck(t *testing.T) {
	cases := []struct {
		l       moduleLoading
		c       Compression
		wantErr string
	}{
		{moduleLoading{}, Zstd, ""},
		{moduleLoading{}, None, ""},
		{moduleLoading{}, XZ, "it is unknown whether the kernel decompresses xz modules"},
		{moduleLoading{known: true}, Gzip, "the kernel does not decompress gzip modules (config: no CONFIG_MODULE_DECOMPRESS with CONFIG_MODULE_COMPRESS_GZIP)"},
		{moduleLoading{known: true, kernel: XZ}, XZ, ""},
		{moduleLoading{known: true, kernel: XZ}, Gzip, "does not decompress gzip"},
		{moduleLoading{known: true}, LZ4, "not supported for module files"},
	}
	for _, c := range cases {
		err := c.l.check(c.c, "config")
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%+v.check(%s) = %v, want %q", c.l, c.c, err, c.wantErr)
		}
	}
}

// A .ko.xz tree: modules are recompressed with the image's module
// compression unless the kernel is known to load .ko.xz itself.
func TestStageRecompress(t *testing.T) {
	tree := xzTree(t)
	orig, err := os.ReadFile(filepath.Join(debianModDir(t), "kernel/drivers/block/virtio_blk.ko"))
	if err != nil {
		t.Fatal(err)
	}
	xzFile, _ := os.ReadFile(filepath.Join(tree, "kernel/drivers/block/virtio_blk.ko.xz"))
	mods, err := ScanModules(tree)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, config string
		modc         Compression
		rel          string
		suffix       string // to undo before comparing with the module
	}{
		{"kernel without module decompression", "CONFIG_MODULE_COMPRESS_NONE=y\n", Zstd, "kernel/drivers/block/virtio_blk.ko.zst", ".zst"},
		{"kernel without, modules plain", "CONFIG_MODULE_COMPRESS_NONE=y\n", None, "kernel/drivers/block/virtio_blk.ko", ""},
		{"kernel loads .ko.xz", "CONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_MODULE_DECOMPRESS=y\n", Zstd, "kernel/drivers/block/virtio_blk.ko.xz", "keep"},
		{"kernel unknown", "", Zstd, "kernel/drivers/block/virtio_blk.ko.zst", ".zst"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{KernelVersion: debianKver, ModDir: tree, Init: fakeInit(t), ModCompression: c.modc, Index: nil}
			cfg, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			cfg.KernelConfig = ""
			if c.config != "" {
				cfg.KernelConfig = filepath.Join(t.TempDir(), "config")
				os.WriteFile(cfg.KernelConfig, []byte(c.config), 0o644)
			}
			stage := t.TempDir()
			loading, _, _, err := kernelSupport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			st, err := stageModules(context.Background(), cfg, zstdEncoder{}, loading, mods, []string{"virtio_blk", "virtio", "virtio_ring"}, nil, stage)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(stage, c.rel))
			if err != nil {
				t.Fatalf("staged files %+v: %v", st.files, err)
			}
			switch c.suffix {
			case "keep":
				if !bytes.Equal(got, xzFile) {
					t.Error("the .ko.xz file was not kept as it is")
				}
			case "":
				if !bytes.Equal(got, orig) {
					t.Error("the module is not the decompressed original")
				}
			default:
				if d, err := decompressBytes(got, c.suffix, maxModuleFile); err != nil || !bytes.Equal(d, orig) {
					t.Errorf("the recompressed module does not decompress to the original: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(stage, IndexFile)); err != nil {
				t.Error(err)
			}
		})
	}
}
