package initramfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/modload"
	"github.com/u-root/u-root/pkg/cpio"
)

// hostConfig is a small, fast image: the fixture machine's modules.
func hostConfig(t testing.TB) Config {
	t.Helper()
	sysfs, mounts := fixtureSysfs(t)
	return Config{
		KernelVersion: debianKver,
		ModDir:        debianModDir(t),
		Init:          fakeInit(t),
		HostOnly:      true,
		SysFS:         sysfs,
		Mounts:        mounts,
		HostRoot:      t.TempDir(), // no /etc/fstab: the test machine's is not read
		TempDir:       t.TempDir(),
		Index:         debianIndex(t),
	}
}

func build(t testing.TB, cfg Config) ([]byte, Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Build(cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageBytes != int64(buf.Len()) {
		t.Errorf("ImageBytes %d, wrote %d", res.ImageBytes, buf.Len())
	}
	return buf.Bytes(), res
}

func readRecords(t testing.TB, archive []byte) map[string]cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(archive))})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cpio.Record{}
	for _, r := range recs {
		if _, dup := m[r.Name]; dup {
			t.Errorf("duplicate entry %s", r.Name)
		}
		m[r.Name] = r
	}
	return m
}

func content(t testing.TB, r cpio.Record) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readIndex loads modules.earlyroot from the image records.
func readIndex(t testing.TB, recs map[string]cpio.Record) *modload.Index {
	t.Helper()
	r, ok := recs[path.Join("lib/modules", debianKver, IndexFile)]
	if !ok {
		t.Fatal("no module index in the image")
	}
	p := filepath.Join(t.TempDir(), IndexFile)
	if err := os.WriteFile(p, content(t, r), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := modload.ReadIndexFile(p)
	if err != nil {
		t.Fatalf("read image index: %v", err)
	}
	return ix
}

func TestBuildLayout(t *testing.T) {
	cfg := hostConfig(t)
	extra := filepath.Join(t.TempDir(), "busybox")
	os.WriteFile(extra, []byte("rescue shell"), 0o755)
	cfg.Files = []File{{Src: extra, Dst: "/bin/busybox"}}
	cfg.MTime = 1700000000
	img, res := build(t, cfg)
	recs := readRecords(t, img)
	mdir := path.Join("lib/modules", debianKver)

	initData, _ := os.ReadFile(cfg.Init)
	if r := recs["init"]; r.Mode != cpio.S_IFREG|0o755 || !bytes.Equal(content(t, r), initData) {
		t.Errorf("init: mode %o", r.Mode)
	}
	if r := recs["sbin/modprobe"]; r.Mode&cpio.S_IFMT != cpio.S_IFLNK || string(content(t, r)) != modload.ModprobeTarget {
		t.Errorf("sbin/modprobe: %v -> %q", r.Info, content(t, r))
	}
	if r := recs["dev/console"]; r.Mode != cpio.S_IFCHR|0o600 || r.Rmajor != 5 || r.Rminor != 1 {
		t.Errorf("dev/console: %v", r.Info)
	}
	if r := recs["dev/null"]; r.Mode != cpio.S_IFCHR|0o666 || r.Rmajor != 1 || r.Rminor != 3 {
		t.Errorf("dev/null: %v", r.Info)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "newroot", "tmp", "etc", "lib", "sbin", mdir} {
		if r, ok := recs[d]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("directory %s missing", d)
		}
	}
	if r := recs["etc/os-release"]; string(content(t, r)) != "initrd-release" {
		t.Errorf("etc/os-release: %v", r.Info)
	}
	rel := string(content(t, recs["etc/initrd-release"]))
	for _, want := range []string{"NAME=earlyroot\n", "ID=earlyroot\n", "VERSION_ID=" + DefaultVersion + "\n", "PRETTY_NAME=\"earlyroot "} {
		if !strings.Contains(rel, want) {
			t.Errorf("initrd-release lacks %q:\n%s", want, rel)
		}
	}
	if r := recs["bin/busybox"]; string(content(t, r)) != "rescue shell" || r.Mode != cpio.S_IFREG|0o755 {
		t.Errorf("extra file: %v", r.Info)
	}
	if _, ok := recs[mdir+"/modules.builtin"]; !ok {
		t.Error("no modules.builtin")
	}
	if _, ok := recs[mdir+"/modules.builtin.modinfo"]; ok {
		t.Error("modules.builtin.modinfo is in the image")
	}
	for _, r := range recs {
		if r.MTime != cfg.MTime || r.UID != 0 || r.GID != 0 {
			t.Errorf("%s: mtime %d uid %d gid %d", r.Name, r.MTime, r.UID, r.GID)
		}
	}

	vb := path.Join(mdir, "kernel/drivers/block/virtio_blk.ko")
	orig, _ := os.ReadFile(filepath.Join(cfg.ModDir, "kernel/drivers/block/virtio_blk.ko"))
	if !bytes.Equal(content(t, recs[vb]), orig) {
		t.Error("virtio_blk.ko differs from the tree")
	}
	var kos []string
	for n := range recs {
		if strings.HasSuffix(n, ".ko") {
			kos = append(kos, path.Base(n))
		}
	}
	if len(kos) != len(res.Modules) {
		t.Errorf("%d module files for %d modules", len(kos), len(res.Modules))
	}

	ix := readIndex(t, recs)
	if got := ix.Modules(); !slices.Equal(got, res.Modules) {
		t.Errorf("index modules %q, selected %q", got, res.Modules)
	}
	if m, ok := ix.Module("virtio_blk"); !ok || m.Path != "kernel/drivers/block/virtio_blk.ko" {
		t.Errorf("index: virtio_blk = %+v, %v", m, ok)
	}
	if got := ix.Lookup(aliasVirtioBlk); !slices.Contains(got, "virtio_blk") {
		t.Errorf("index: Lookup(%s) = %q", aliasVirtioBlk, got)
	}
	if m, ok := ix.Module("ext4"); !ok || !slices.Contains(m.Deps, "jbd2") {
		t.Errorf("index: ext4 = %+v", m)
	}
	if !ix.Builtin("unix") {
		t.Error("index: built-in modules missing")
	}

	// What the image was made without: the generic set's controllers this machine lacks.
	leftDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(leftDir, modload.LeftOutFile), content(t, recs[path.Join(mdir, modload.LeftOutFile)]), 0o644); err != nil {
		t.Fatal(err)
	}
	lix, err := modload.ReadLeftOut(leftDir)
	if err != nil {
		t.Fatalf("the image's %s: %v", modload.LeftOutFile, err)
	}
	for alias, want := range map[string][]string{
		"pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02": {"nvme"},
		"pci:v00009005d00008000sv00009005sd00000000bc01sc00i00": {"aic79xx"},
		aliasVirtioBlk: nil, // in the image
	} {
		if got := lix.Lookup(alias); !slices.Equal(got, want) {
			t.Errorf("left out: Lookup(%s) = %q, want %q", alias, got, want)
		}
	}
}

func TestBuildReproducibleGeneric(t *testing.T) {
	cfg := hostConfig(t)
	cfg.HostOnly = false
	cfg.Compression = Zstd
	img1, res := build(t, cfg)
	img2, _ := build(t, cfg)
	if !bytes.Equal(img1, img2) {
		t.Fatal("two runs gave different images")
	}
	t.Logf("generic: %d modules, %d bytes in the tree, archive %d, zstd image %d",
		len(res.Modules), res.ModuleBytes, res.ArchiveBytes, res.ImageBytes)
	// The generic image leaves out the legacy host adapters, and only those.
	for _, n := range res.LeftOut {
		if m, _ := cfg.Index.Module(n); !LegacySelection().matchPath(strings.TrimPrefix(m.Path, "kernel/")) {
			t.Errorf("left out %s (%s), which is no legacy host adapter", n, m.Path)
		}
	}
	if !slices.Contains(res.LeftOut, "aic7xxx") || slices.Contains(res.Modules, "aic7xxx") {
		t.Errorf("aic7xxx: left out %v, in the image %v", slices.Contains(res.LeftOut, "aic7xxx"), slices.Contains(res.Modules, "aic7xxx"))
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	archive := decompress(t, Zstd, img1)
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(archive)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	list := strings.Split(strings.TrimSpace(string(out)), "\n")
	mdir := "lib/modules/" + debianKver + "/"
	for _, want := range []string{
		"init", "sbin/modprobe", "dev/console", "dev/null", "etc/initrd-release", "newroot",
		mdir + IndexFile, mdir + "modules.builtin",
		mdir + "kernel/drivers/block/virtio_blk.ko", mdir + "kernel/drivers/scsi/sd_mod.ko",
		mdir + "kernel/fs/ext4/ext4.ko", mdir + "kernel/drivers/usb/storage/uas.ko",
	} {
		if !slices.Contains(list, want) {
			t.Errorf("cpio -t lacks %s", want)
		}
	}
	if len(list) != len(res.Entries) {
		t.Errorf("cpio -t lists %d entries, Result has %d", len(list), len(res.Entries))
	}
}

func TestBuildCompressions(t *testing.T) {
	cfg := hostConfig(t)
	plain, _ := build(t, cfg)
	for _, c := range []Compression{Gzip, Zstd, XZ, LZ4} {
		t.Run(string(c), func(t *testing.T) {
			cfg := cfg
			cfg.Compression = c
			out := filepath.Join(t.TempDir(), "initrd.img")
			res, err := WriteFile(cfg, out)
			if err != nil {
				t.Fatal(err)
			}
			img, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(img)) != res.ImageBytes {
				t.Errorf("ImageBytes %d, file %d", res.ImageBytes, len(img))
			}
			checkFormat(t, c, img)
			if !bytes.Equal(decompress(t, c, img), plain) {
				t.Error("decompressed image differs from the uncompressed one")
			}
			argv := toolTest[c]
			if _, err := exec.LookPath(argv[0]); err != nil {
				t.Skipf("%s not installed", argv[0])
			}
			if out, err := exec.Command(argv[0], append(argv[1:], out)...).CombinedOutput(); err != nil {
				t.Errorf("%v: %v\n%s", argv, err, out)
			}
		})
	}
}

func TestBuildModCompression(t *testing.T) {
	for _, c := range []Compression{XZ, Zstd, Gzip} {
		t.Run(string(c), func(t *testing.T) {
			cfg := hostConfig(t)
			cfg.ModCompression = c
			if c != Zstd {
				// the init decodes zstd only: xz and gzip modules are for a kernel that
				// decompresses them, and refused for one that does not (Debian 12's)
				if _, err := Build(cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "the kernel does not decompress") {
					t.Errorf("%s modules for a kernel without module decompression: %v", c, err)
				}
				cfg.KernelConfig = filepath.Join(t.TempDir(), "config")
				kc := fmt.Sprintf("CONFIG_MODULE_COMPRESS_%s=y\nCONFIG_MODULE_DECOMPRESS=y\n", strings.ToUpper(string(c)))
				if err := os.WriteFile(cfg.KernelConfig, []byte(kc), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			img, res := build(t, cfg)
			suffix, _ := c.ModuleSuffix()
			recs := readRecords(t, img)
			rel := "kernel/drivers/block/virtio_blk.ko" + suffix
			r, ok := recs[path.Join("lib/modules", debianKver, rel)]
			if !ok {
				t.Fatalf("no %s in the image", rel)
			}
			orig, _ := os.ReadFile(filepath.Join(cfg.ModDir, "kernel/drivers/block/virtio_blk.ko"))
			if !bytes.Equal(decompress(t, c, content(t, r)), orig) {
				t.Error("module content differs after decompression")
			}
			for n := range recs {
				if strings.HasSuffix(n, ".ko") {
					t.Errorf("uncompressed module %s", n)
				}
			}
			ix := readIndex(t, recs)
			if m, ok := ix.Module("virtio_blk"); !ok || m.Path != rel {
				t.Errorf("index: virtio_blk = %+v", m)
			}
			if res.ModuleImageBytes >= res.ModuleBytes {
				t.Errorf("modules %d bytes compressed, %d plain", res.ModuleImageBytes, res.ModuleBytes)
			}
		})
	}
}

// A failed build leaves the previous image as it was: same bytes, same
// file (inode), nothing beside it.
func TestWriteFileKeepsPreviousOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "initrd.img")
	old := []byte("the previous image")
	if err := os.WriteFile(out, old, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(out)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, run := range map[string]func() error{
		"unknown module": func() error {
			cfg := hostConfig(t)
			cfg.Modules = []string{"no_such_module"}
			_, err := WriteFile(cfg, out)
			return err
		},
		"missing extra file": func() error {
			cfg := hostConfig(t)
			cfg.Files = []File{{Src: "/nonexistent/x", Dst: "/x"}}
			_, err := WriteFile(cfg, out)
			return err
		},
		"interrupted": func() error {
			_, err := WriteFileContext(ctx, hostConfig(t), out)
			return err
		},
	} {
		if err := run(); err == nil {
			t.Fatalf("%s: no error", name)
		}
		got, err := os.ReadFile(out)
		after, _ := os.Stat(out)
		if err != nil || !bytes.Equal(got, old) || !os.SameFile(before, after) || after.Mode().Perm() != 0o600 {
			t.Errorf("%s: the previous image changed: %q, %v", name, got, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%s: directory holds %d files", name, len(ents))
		}
	}
}

func TestWriteFileErrors(t *testing.T) {
	good := hostConfig(t)
	cases := []struct {
		name   string
		mutate func(*Config)
		out    func(dir string) string
		want   string
	}{
		{"missing module tree", func(c *Config) { c.ModDir = "/nonexistent/lib/modules/0.0" }, nil, "module tree"},
		{"missing init", func(c *Config) { c.Init = "/nonexistent/init" }, nil, "init binary"},
		{"unknown module", func(c *Config) { c.Modules = []string{"no_such_module"} }, nil, `unknown module "no_such_module"`},
		{"unknown omit", func(c *Config) { c.Omit = []string{"nope"} }, nil, `unknown module "nope"`},
		{"missing extra file", func(c *Config) { c.Files = []File{{Src: "/nonexistent/x", Dst: "/x"}} }, nil, "/nonexistent/x"},
		{"extra file clash", func(c *Config) { c.Files = []File{{Src: c.Init, Dst: "/init"}} }, nil, "already in the image"},
		{"bad compression", func(c *Config) { c.Compression = "bzip2" }, nil, "unknown compression"},
		{"lz4 modules", func(c *Config) { c.ModCompression = LZ4 }, nil, "not supported for module files"},
		{"output dir missing", nil, func(dir string) string { return filepath.Join(dir, "no", "such", "dir", "img") }, "output"},
		{"output is a dir", nil, func(dir string) string { return dir }, "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			if c.mutate != nil {
				c.mutate(&cfg)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "initrd.img")
			if c.out != nil {
				out = c.out(dir)
			}
			_, err := WriteFile(cfg, out)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

func TestWriteFileReplaces(t *testing.T) {
	cfg := hostConfig(t)
	out := filepath.Join(t.TempDir(), "initrd.img")
	os.WriteFile(out, []byte("old image"), 0o600)
	if _, err := WriteFile(cfg, out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() < 1000 || fi.Mode().Perm() != 0o644 {
		t.Errorf("output: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("directory holds %d files", len(ents))
	}
}

func TestParseFile(t *testing.T) {
	abs, _ := filepath.Abs("busybox")
	cases := []struct {
		in   string
		want File
		ok   bool
	}{
		{"/bin/busybox", File{"/bin/busybox", "/bin/busybox"}, true},
		{"/usr/bin/busybox:/bin/busybox", File{"/usr/bin/busybox", "/bin/busybox"}, true},
		{"busybox", File{"busybox", abs}, true},
		{"/a:b/c", File{"/a", "/b/c"}, true},
		{":/x", File{}, false},
		{"", File{}, false},
	}
	for _, c := range cases {
		got, err := ParseFile(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseFile(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	for _, s := range []string{"/bin/busybox", "a:b", ":", "x:/y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFile(s)
		if err == nil && (got.Src == "" || !strings.HasPrefix(got.Dst, "/")) {
			t.Errorf("ParseFile(%q) = %+v", s, got)
		}
	})
}

func TestWriteFileCanceled(t *testing.T) {
	cfg := hostConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := WriteFileContext(ctx, cfg, filepath.Join(dir, "initrd.img"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
