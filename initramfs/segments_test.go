package initramfs

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/modload"
)

// A split image is a plain archive of the compressed files (the modules, and the list of
// those the image left out) and a compressed one of the rest; read back, it holds every entry of the build, with the same contents as the
// one-archive image of the same configuration.
func TestBuildInitCompression(t *testing.T) {
	cfg := hostConfig(t)
	cfg.HostOnly = false // a generic image without a hint: every module compressed alone
	cfg.ModCompression = Zstd
	one, _ := build(t, cfg)
	for _, c := range []Compression{Zstd, XZ, Gzip} {
		t.Run(string(c), func(t *testing.T) {
			cfg := cfg
			cfg.InitCompression = c
			img, res := build(t, cfg)
			if res.InitCompression != c {
				t.Errorf("Result.InitCompression %q, want %q", res.InitCompression, c)
			}
			segs, err := ReadSegments(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != 2 || segs[0].Compression != None || segs[1].Compression != c {
				t.Fatalf("segments %+v, want a plain one and a %s one", segs, c)
			}
			if segs[1].Offset%4 != 0 || segs[0].Offset != 0 {
				t.Errorf("offsets %d, %d", segs[0].Offset, segs[1].Offset)
			}
			first := readRecords(t, segs[0].Archive)
			for n, r := range first {
				if r.Mode&0o170000 == 0o100000 && !strings.HasSuffix(n, ".ko.zst") && path.Base(n) != modload.LeftOutFile {
					t.Errorf("plain archive holds %s", n)
				}
			}
			if _, ok := first[path.Join("lib/modules", debianKver, "kernel/drivers/block/virtio_blk.ko.zst")]; !ok {
				t.Error("plain archive lacks virtio_blk.ko.zst")
			}
			if _, ok := readRecords(t, segs[1].Archive)["init"]; !ok {
				t.Errorf("%s archive lacks the init", c)
			}
			got, err := ImageRecords(img)
			if err != nil {
				t.Fatal(err)
			}
			want := readRecords(t, one)
			for n, w := range want {
				g, ok := got[n]
				if !ok {
					t.Errorf("split image lacks %s", n)
					continue
				}
				if g.Mode != w.Mode || w.FileSize > 0 && !bytes.Equal(content(t, g), content(t, w)) {
					t.Errorf("%s differs: mode %o, want %o", n, g.Mode, w.Mode)
				}
			}
			if len(got) != len(want) {
				t.Errorf("split image has %d entries, one archive %d", len(got), len(want))
			}
			if len(img) >= len(one) {
				t.Errorf("split image %d bytes, one plain archive %d", len(img), len(one))
			}
		})
	}
}

// A split image carries the modules it expects to load at every boot uncompressed in its
// compressed archive, which the kernel unpacks: a generic image the hinted root
// filesystem's with what they need, a host-only image all of its modules. Each is the
// tree's module byte for byte, and the image's index names that file; every other module
// stays compressed in the plain archive. An image that is not split has none.
func TestUnpackedModules(t *testing.T) {
	ext4 := []string{"crc16", "crc32c_generic", "crc32c_intel", "ext4", "jbd2", "mbcache"}
	for _, tc := range []struct {
		name     string
		hostOnly bool
		hint     string
		unpack   []string
		compress Compression
		init     Compression
		want     []string // nil: every module of the image
	}{
		{"generic, ext4 hint", false, "ext4", nil, None, Zstd, ext4},
		{"generic, no hint", false, "none", nil, None, Zstd, []string{}},
		{"generic, virtio_blk", false, "none", []string{"virtio_blk"}, None, Zstd, []string{"virtio", "virtio_blk", "virtio_ring"}},
		{"generic, virtio_blk and ext4 hint", false, "ext4", []string{"virtio_blk"}, None, Zstd,
			append(slices.Clone(ext4), "virtio", "virtio_blk", "virtio_ring")},
		{"generic, an alias", false, "none", []string{"fs-xfs"}, None, Zstd, []string{"crc32c_generic", "crc32c_intel", "libcrc32c", "xfs"}},
		{"host-only", true, "ext4", nil, None, XZ, nil},
		{"one plain archive", true, "ext4", nil, None, None, []string{}},
		{"one compressed archive", true, "ext4", nil, Zstd, None, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := hostConfig(t)
			cfg.HostOnly, cfg.RootFSHint, cfg.Unpack = tc.hostOnly, tc.hint, tc.unpack
			cfg.Compression, cfg.InitCompression, cfg.ModCompression = tc.compress, tc.init, Zstd
			img, res := build(t, cfg)
			want := tc.want
			if want == nil {
				want = res.Modules
			}
			for _, m := range want {
				if !slices.Contains(res.Modules, m) {
					t.Fatalf("the image's modules %q lack %s", res.Modules, m)
				}
			}
			if !slices.Equal(res.Unpacked, want) && len(res.Unpacked)+len(want) > 0 {
				t.Errorf("Result.Unpacked %q, want %q", res.Unpacked, want)
			}
			segs, err := ReadSegments(img)
			if err != nil {
				t.Fatal(err)
			}
			compressedSeg := map[string]bool{}
			for _, s := range segs {
				for n := range readRecords(t, s.Archive) {
					compressedSeg[n] = s.Compression != None
				}
			}
			recs, err := ImageRecords(img)
			if err != nil {
				t.Fatal(err)
			}
			ix := readIndex(t, recs)
			mdir := path.Join("lib/modules", debianKver)
			for _, name := range res.Modules {
				m, ok := ix.Module(name)
				if !ok {
					t.Errorf("the image's index lacks %s", name)
					continue
				}
				p := path.Join(mdir, m.Path)
				unpacked := slices.Contains(want, name)
				switch {
				case unpacked && (!strings.HasSuffix(p, ".ko") || !compressedSeg[p]):
					t.Errorf("%s: %s, in a compressed archive: %v; want a plain .ko there", name, m.Path, compressedSeg[p])
				case unpacked:
					tree, _ := debianIndex(t).Module(name)
					data, err := os.ReadFile(filepath.Join(cfg.ModDir, tree.Path))
					if err != nil {
						t.Fatal(err)
					}
					if z := compressedSuffix(tree.Path); z != "" {
						if data, err = decompressBytes(data, z, maxModuleFile); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(content(t, recs[p]), data) {
						t.Errorf("%s differs from the tree's module", p)
					}
				case !strings.HasSuffix(p, ".ko.zst"):
					t.Errorf("%s: %s, want .ko.zst", name, m.Path)
				case tc.init != None && compressedSeg[p]:
					t.Errorf("%s is in the compressed archive", p)
				}
			}
		})
	}
}

// ReadSegments takes the early microcode archive in front, zero padding, and refuses what
// the kernel would not unpack.
func TestReadSegments(t *testing.T) {
	early := NewArchive()
	if err := early.AddBytes("kernel/x86/microcode/GenuineIntel.bin", 0o644, []byte("ucode")); err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if _, err := writePlain(early, &img); err != nil {
		t.Fatal(err)
	}
	img.Write(make([]byte, 8)) // padding between archives
	main := sampleArchive(t)
	if _, _, err := writeCompressed(context.Background(), main, &img, Zstd, zstdEncoder{}); err != nil {
		t.Fatal(err)
	}
	segs, err := ReadSegments(img.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].Compression != None || segs[1].Compression != Zstd {
		t.Fatalf("segments %+v", segs)
	}
	recs, err := ImageRecords(img.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"kernel/x86/microcode/GenuineIntel.bin", "sbin/modprobe", "lib/modules/6.1/kernel/x.ko"} {
		if _, ok := recs[n]; !ok {
			t.Errorf("records lack %s", n)
		}
	}

	var plain bytes.Buffer
	if _, err := writePlain(main, &plain); err != nil {
		t.Fatal(err)
	}
	p := plain.Bytes()
	for _, tc := range []struct {
		name string
		img  []byte
		err  string
	}{
		{"empty", nil, "no archive"},
		{"zeros", make([]byte, 16), "no archive"},
		{"garbage", []byte("hello, world"), "neither a newc archive"},
		{"lz4", []byte("\x02\x21\x4c\x18xxxx"), "neither a newc archive"},
		{"truncated", p[:len(p)/2], "without a trailer"},
		{"no trailer", p[:len(p)-124], "without a trailer"},
		{"misaligned", append([]byte{0, 0}, p...), "not 4-byte aligned"},
		{"bad zstd", append(append([]byte{}, p...), "\x28\xb5\x2f\xfdxxxx"...), "zstd"},
		{"name past the end", []byte("070701" + strings.Repeat("0", 11*8) + "eee00000" + "00000000"), "runs past the archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSegments(tc.img)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func FuzzReadSegments(f *testing.F) {
	var plain bytes.Buffer
	a := NewArchive()
	if err := a.AddBytes("init", 0o755, []byte("#!/bin/sh\n")); err != nil {
		f.Fatal(err)
	}
	if _, err := writePlain(a, &plain); err != nil {
		f.Fatal(err)
	}
	f.Add(plain.Bytes())
	f.Add([]byte("\x28\xb5\x2f\xfd"))
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, img []byte) {
		segs, err := ReadSegments(img)
		if err != nil {
			return
		}
		_, _ = ImageRecords(img) // an error is fine; a panic or a runaway allocation is not
		for _, s := range segs {
			if s.Offset < 0 || s.Offset >= int64(len(img)) {
				t.Fatalf("segment offset %d outside the %d-byte image", s.Offset, len(img))
			}
			if s.Compression == None && int(s.Offset)+len(s.Archive) > len(img) {
				t.Fatalf("plain segment runs past the image")
			}
		}
	})
}

// The root filesystem hint: auto takes the type of / from the mounts file when the image
// carries its module, a named type is written when it does, and warned about when not.
func TestRootFSHint(t *testing.T) {
	mounts := func(line string) string {
		p := filepath.Join(t.TempDir(), "mounts")
		if err := os.WriteFile(p, []byte("rootfs / rootfs rw 0 0\n"+line), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, hint, mounts, want, warning string
	}{
		{"auto ext4", "auto", "/dev/vda1 / ext4 rw 0 0\n", "ext4", ""},
		{"auto overlay", "auto", "overlay / overlay rw 0 0\n", "", ""},
		{"named", "xfs", "/dev/vda1 / ext4 rw 0 0\n", "xfs", ""},
		{"named, not in the image", "zfs", "/dev/vda1 / ext4 rw 0 0\n", "", `root filesystem hint "zfs": the image carries no module for it`},
		{"none", "none", "/dev/vda1 / ext4 rw 0 0\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := hostConfig(t)
			cfg.HostOnly = false
			cfg.RootFSHint = tc.hint
			cfg.Mounts = mounts(tc.mounts)
			img, res := build(t, cfg)
			if res.RootFSHint != tc.want {
				t.Errorf("Result.RootFSHint %q, want %q", res.RootFSHint, tc.want)
			}
			r, ok := readRecords(t, img)[modload.RootFSHintPath]
			switch {
			case tc.want == "" && ok:
				t.Errorf("image has %s", modload.RootFSHintPath)
			case tc.want != "" && !ok:
				t.Errorf("image lacks %s", modload.RootFSHintPath)
			case ok && string(content(t, r)) != tc.want+"\n":
				t.Errorf("%s holds %q", modload.RootFSHintPath, content(t, r))
			}
			warned := strings.Join(res.Warnings, "\n")
			if tc.warning == "" && strings.Contains(warned, "hint") || !strings.Contains(warned, tc.warning) {
				t.Errorf("warnings %q, want %q", res.Warnings, tc.warning)
			}
		})
	}
	cfg := hostConfig(t)
	cfg.RootFSHint = "ext4 xfs"
	if _, err := Build(cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "want auto, none or a filesystem type") {
		t.Errorf("hint %q: error %v", cfg.RootFSHint, err)
	}
}

// With the kernel's .config known, an init archive compression its unpacker cannot read
// falls back to one plain archive with a warning, and a whole-archive one is refused.
func TestKernelUnpack(t *testing.T) {
	config := func(lines string) string {
		p := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(p, []byte(lines), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k, err := ReadKernelConfig(config("CONFIG_RD_GZIP=y\nCONFIG_RD_XZ=y\n# CONFIG_RD_ZSTD is not set\nCONFIG_RD_LZ4=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[Compression]bool{Gzip: true, XZ: true, LZ4: true}; !maps.Equal(k.Unpack, want) {
		t.Errorf("Unpack %v, want %v", k.Unpack, want)
	}

	base := hostConfig(t)
	base.HostOnly = false // generic, no hint: the modules go in the plain archive
	base.ModCompression = Zstd
	base.InitCompression = Zstd
	noZstd := config("CONFIG_RD_GZIP=y\nCONFIG_RD_XZ=y\n")

	cfg := base
	cfg.KernelConfig = noZstd
	img, res := build(t, cfg)
	segs, err := ReadSegments(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 1 || segs[0].Compression != None || res.InitCompression != None {
		t.Errorf("kernel without RD_ZSTD: %d archives, the first %s, Result.InitCompression %q; want one plain", len(segs), segs[0].Compression, res.InitCompression)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "lacks CONFIG_RD_ZSTD; writing one plain archive") {
		t.Errorf("warnings %q", res.Warnings)
	}

	cfg.InitCompression = XZ // read by this kernel: split as asked
	img, _ = build(t, cfg)
	if segs, err := ReadSegments(img); err != nil || len(segs) != 2 || segs[1].Compression != XZ {
		t.Errorf("xz init archive on a kernel with RD_XZ: %+v, %v", segs, err)
	}

	cfg = base
	cfg.KernelConfig = noZstd
	cfg.Compression = Zstd
	if _, err := Build(cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "lacks CONFIG_RD_ZSTD") {
		t.Errorf("zstd archive for a kernel without RD_ZSTD: error %v", err)
	}
}
