package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/earlyroot/earlyroot/consolefont"
	testfixture "github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/keymap"
	"github.com/earlyroot/earlyroot/modload"
)

// testKernel is the Debian test kernel (make kernel); modDir skips (or, under make test,
// fails) the tests that need it when there is none.
var testKernel, _ = testfixture.FindKernel()

var kver = testKernel.Release

func modDir(t *testing.T) string {
	t.Helper()
	return testfixture.NeedKernel(t).ModDir
}

// fixture writes a stand-in init, a sysfs with a virtio disk and a mount
// table with an ext4 root, and returns the common flags for a fast
// host-only image.
func fixture(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"init": "stand-in init\n",
		"sys/devices/pci0000:00/0000:00:04.0/modalias":         "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n",
		"sys/devices/pci0000:00/0000:00:04.0/virtio1/modalias": "virtio:d00000002v00001AF4\n",
		"mounts": "/dev/vda1 / ext4 rw 0 0\n",
		"extra":  "rescue shell\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"-kver", kver, "-moddir", modDir(t), "-init", filepath.Join(dir, "init"),
		"-hostonly", "-sysfs", filepath.Join(dir, "sys"), "-mounts", filepath.Join(dir, "mounts"),
		"-file", filepath.Join(dir, "extra") + ":/bin/busybox",
		"-config", filepath.Join(dir, "etc"), "-firmwaredir", filepath.Join(dir, "firmware"), "-root", dir}
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// records reads every file of img, whatever its archives and their compression
// (initramfs.ImageRecords). With compressed, the image must be one zstd archive.
func records(t *testing.T, img []byte, compressed bool) map[string]cpio.Record {
	t.Helper()
	segs, err := initramfs.ReadSegments(img)
	if err != nil {
		t.Fatal(err)
	}
	if compressed && (len(segs) != 1 || segs[0].Compression != initramfs.Zstd) {
		t.Fatalf("image is not one zstd archive: %d archives, the first %s", len(segs), segs[0].Compression)
	}
	m, err := initramfs.ImageRecords(img)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// firstArchive reads the records of img's first archive.
func firstArchive(t *testing.T, img []byte) map[string]cpio.Record {
	t.Helper()
	segs, err := initramfs.ReadSegments(img)
	if err != nil {
		t.Fatal(err)
	}
	m, err := initramfs.ImageRecords(segs[0].Archive) // a plain archive is an image too
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRun(t *testing.T) {
	flags := append(fixture(t), "-compress", "zstd", "-modcompress", "none")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out := filepath.Join(t.TempDir(), "initrd.img")
	code, stdout, stderr := runCmd(append(flags, "-o", out, "-v", "-modules", "xfs")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"init ", "sbin/modprobe -> " + modload.ModprobeTarget + "\n", "(host-only)", "image ", "(zstd)",
		"\nleft out: ", " modules of the generic set (the rescue shell names",
		"lib/modules/" + kver + "/kernel/drivers/block/virtio_blk.ko ", "lib/modules/" + kver + "/kernel/fs/xfs/xfs.ko "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	img1, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, img1, true)
	for _, name := range []string{"init", "bin/busybox", "lib/modules/" + kver + "/modules.earlyroot"} {
		r, ok := recs[name]
		if !ok {
			t.Errorf("image lacks %s", name)
		}
		if r.MTime != 1700000000 {
			t.Errorf("%s: mtime %d", name, r.MTime)
		}
	}

	out2 := filepath.Join(t.TempDir(), "initrd.img")
	if code, _, stderr := runCmd(append(flags, "-o", out2, "-modules", "xfs")...); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	img2, _ := os.ReadFile(out2)
	if !bytes.Equal(img1, img2) {
		t.Error("two runs gave different images")
	}
}

func TestRunErrors(t *testing.T) {
	flags := fixture(t)
	cases := []struct {
		name string
		args []string
		env  string
		code int
		want string
	}{
		{"no output", flags, "", 2, "-o OUT is required"},
		{"stray argument", append([]string{"-o", "x", "extra"}, flags...), "", 2, "unexpected argument"},
		{"bad compression", append(flags, "-compress", "bzip2"), "", 2, "-compress"},
		{"bad module compression", append(flags, "-modcompress", "lz4"), "", 2, "-modcompress"},
		{"bad epoch", flags, "yesterday", 2, "SOURCE_DATE_EPOCH"},
		{"bad -file", append(flags, "-file", ":/x"), "", 2, "empty source"},
		{"unknown module", append(flags, "-modules", "virtio_blk,no_such_mod"), "", 1, `unknown module "no_such_mod"`},
		{"unknown omit", append(flags, "-omit", "no_such_mod"), "", 1, `unknown module "no_such_mod"`},
		{"missing tree", append(flags, "-moddir", "/nonexistent/modules"), "", 1, "module tree"},
		{"missing init", append(flags, "-init", "/nonexistent/init"), "", 1, "init binary"},
		{"default init missing", []string{"-kver", kver, "-moddir", "/nonexistent"}, "", 2, "no -init given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", c.env)
			dir := t.TempDir()
			args := c.args
			if c.name != "no output" && c.name != "stray argument" {
				args = append([]string{"-o", filepath.Join(dir, "initrd.img")}, args...)
			}
			code, _, stderr := runCmd(args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (%s)", code, c.code, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q lacks %q", stderr, c.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

func TestRunUnwritableOutput(t *testing.T) {
	flags := fixture(t)
	out := filepath.Join(t.TempDir(), "missing-dir", "initrd.img")
	code, _, stderr := runCmd(append(flags, "-o", out)...)
	if code != 1 || !strings.Contains(stderr, "output") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Dir(out)); err == nil {
		t.Error("output directory was created")
	}
}

func TestSplitList(t *testing.T) {
	cases := map[string][]string{
		"":             nil,
		"a":            {"a"},
		"a, b,,c ":     {"a", "b", "c"},
		" , ":          nil,
		"fs-ext4,ahci": {"fs-ext4", "ahci"},
	}
	for in, want := range cases {
		got := splitList(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("splitList(%q) = %q", in, got)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	flags := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(ctx, append(flags, "-o", filepath.Join(dir, "initrd.img")), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "context canceled") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// The default layout is the one `make bench` measured fastest: a generic image's modules
// compressed with zstd one by one in an uncompressed archive, and the init with the other
// files in a zstd-compressed one after it, with the modules it expects at most boots (a
// virtual machine's disk drivers, -unpack) uncompressed there; a host-only image's modules,
// which it expects to load at every boot, all uncompressed in that second archive, and its
// first holding only the compressed list of the modules it left out, for the rescue shell.
func TestDefaultLayout(t *testing.T) {
	mod := func(p string) string { return path.Join("lib/modules", kver, "kernel", p) }
	leftOut := path.Join("lib/modules", kver, modload.LeftOutFile)
	virtioBlk, virtioPCI, ahci := mod("drivers/block/virtio_blk.ko"), mod("drivers/virtio/virtio_pci.ko"), mod("drivers/ata/ahci.ko")
	split := []initramfs.Compression{initramfs.None, initramfs.Zstd}
	for _, tc := range []struct {
		name     string
		hostOnly bool
		flags    []string
		segments []initramfs.Compression
		files    [][]string // names in the image, by the segment that holds them
	}{
		{"generic", false, nil, split, [][]string{{ahci + ".zst"}, {virtioBlk, virtioPCI}}},
		{"generic, -unpack none", false, []string{"-unpack", "none"}, split, [][]string{{virtioBlk + ".zst", virtioPCI + ".zst"}, nil}},
		{"generic, -unpack ahci", false, []string{"-unpack", "ahci"}, split, [][]string{{virtioBlk + ".zst"}, {ahci}}},
		{"host-only", true, nil, split, [][]string{{leftOut}, {virtioBlk, virtioPCI}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(fixture(t), tc.flags...)
			if !tc.hostOnly {
				args = slices.DeleteFunc(args, func(a string) bool { return a == "-hostonly" })
			}
			out := filepath.Join(t.TempDir(), "initrd.img")
			if code, _, stderr := runCmd(append(args, "-o", out)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			img, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := initramfs.ReadSegments(img)
			if err != nil {
				t.Fatal(err)
			}
			var got []initramfs.Compression
			for _, s := range segs {
				got = append(got, s.Compression)
			}
			if !slices.Equal(got, tc.segments) {
				t.Fatalf("archives %v, want %v", got, tc.segments)
			}
			for i, names := range tc.files {
				for _, name := range names {
					if !bytes.Contains(segs[i].Archive, []byte(name+"\x00")) {
						t.Errorf("archive %d (%s) lacks %s", i, got[i], name)
					}
				}
			}
		})
	}
}

func TestRunMicrocodeFirmware(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "firmware")
	for p, c := range map[string]string{
		"firmware/intel-ucode/06-8e-0a": "intel update",
		"firmware/intel-ucode/06-9e-0d": "other cpu",
		"firmware/qlogic/12160.bin":     "qla firmware",
		"cpuinfo":                       "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 142\nstepping : 10\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flags := append(fixture(t), "-firmwaredir", fw, "-cpuinfo", filepath.Join(dir, "cpuinfo"), "-modules", "qla1280")
	out := filepath.Join(dir, "initrd.img")
	code, stdout, stderr := runCmd(append(flags, "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"\nmicrocode: intel-ucode/06-8e-0a (early archive ", "\nfirmware: qlogic/12160.bin\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if n := strings.Count(stderr, "warning: firmware of qla1280 not found in "+fw+": qlogic/1280.bin, qlogic/1040.bin\n"); n != 1 {
		t.Errorf("want one firmware warning line, stderr:\n%s", stderr)
	}
	img, _ := os.ReadFile(out)
	if _, ok := firstArchive(t, img)["kernel/x86/microcode/GenuineIntel.bin"]; !ok {
		t.Error("the image does not start with the microcode archive")
	}

	code, stdout, stderr = runCmd(append(flags, "-o", out, "-microcode=false", "-firmware=false")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "microcode") || strings.Contains(stdout, "firmware") || strings.Contains(stderr, "firmware") {
		t.Errorf("microcode and firmware off, output:\n%s%s", stdout, stderr)
	}
	img, _ = os.ReadFile(out)
	if _, ok := firstArchive(t, img)["kernel/x86/microcode/GenuineIntel.bin"]; ok {
		t.Error("-microcode=false: the image starts with the microcode archive")
	}
	if _, ok := records(t, img, false)["init"]; !ok {
		t.Error("-microcode=false: the image lacks the init")
	}
}

// -hostonly carries the host's crypttab lines marked for the initramfs with their key files,
// read below -root; the summary names them and the image is readable by its owner only.
func TestRunHostCrypttab(t *testing.T) {
	root := t.TempDir()
	for p, c := range map[string]string{
		"etc/crypttab":       "early LABEL=early /etc/keys/early.key luks,x-initrd.attach\nhome UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee none luks\n",
		"etc/keys/early.key": "key bytes",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "initrd.img")
	args := append(fixture(t), "-o", out, "-compress", "none", "-root", root, "-devdir", t.TempDir(),
		"-cmdline", filepath.Join(root, "no-cmdline"))
	code, stdout, stderr := runCmd(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "crypttab: early (LABEL=early, key /etc/keys/early.key)\n"; !strings.Contains(stdout, want) {
		t.Errorf("summary lacks %q:\n%s", want, stdout)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("image with a key file: mode %v (%v), want 0600", fi.Mode(), err)
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, img, false)
	if r, ok := recs["etc/keys/early.key"]; !ok || r.Mode&0o777 != 0o400 {
		t.Errorf("key file in the image: %v (present %v)", r.Info, ok)
	}
	if _, ok := recs["etc/crypttab"]; !ok {
		t.Error("image lacks etc/crypttab")
	}

	// Without a crypttab: "none", and the usual mode.
	os.Remove(filepath.Join(root, "etc/crypttab"))
	if code, stdout, stderr = runCmd(args...); code != 0 || !strings.Contains(stdout, "crypttab: none\n") {
		t.Errorf("exit %d, summary:\n%s%s", code, stdout, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("image without keys: mode %v (%v), want 0644", fi.Mode(), err)
	}
}

// The console keymap and font come from the system under -root (Debian's
// files here) unless the flags name others or none; the system's that
// cannot be compiled are a warning, a keymap asked for is an error.
func TestRunConsole(t *testing.T) {
	for _, tool := range []string{"loadkeys", "ckbcomp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages kbd, console-setup): it compiles the keymap", tool)
		}
	}
	font, err := os.ReadFile("../../consolefont/testdata/Lat15-Fixed16.psf.gz")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for p, c := range map[string]string{
		"etc/default/keyboard":                        "XKBMODEL=pc105\nXKBLAYOUT=de\n",
		"etc/default/console-setup":                   "CODESET=Lat15\nFONTFACE=Fixed\nFONTSIZE=8x16\n",
		"usr/share/consolefonts/Lat15-Fixed16.psf.gz": string(font),
		"usr/share/keymaps/i386/yz.map":               "keymaps 0\nkeycode 21 = +z\n",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name       string
		flags      []string
		code       int
		keymap     string // in the image, "" for none
		font       bool
		out, warns string
	}{
		{"system", nil, 0, "de", true, "console: keymap de, font Lat15-Fixed16\n", ""},
		{"flags", []string{"-keymap", "yz", "-font", "none"}, 0, "yz", false, "console: keymap yz, font none\n", ""},
		{"none", []string{"-keymap", "none", "-font", "none"}, 0, "", false, "", ""},
		{"missing", []string{"-keymap", "nowhere"}, 1, "", false, "", "keymap nowhere: no nowhere.map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "img")
			args := append(append(fixture(t), "-root", root, "-o", out), tc.flags...)
			code, stdout, stderr := runCmd(args...)
			if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.warns) {
				t.Fatalf("exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", code, tc.code, stdout, tc.out, stderr, tc.warns)
			}
			if code != 0 {
				return
			}
			img, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			recs := records(t, img, false)
			name, hasKeymap := recs[keymap.ImageNameFile]
			_, hasBin := recs[keymap.ImageFile]
			_, hasFont := recs[consolefont.ImageFile]
			switch {
			case tc.keymap == "" && (hasKeymap || hasBin):
				t.Errorf("the image has a keymap")
			case tc.keymap != "" && (!hasBin || !hasKeymap):
				t.Errorf("the image lacks the keymap")
			case tc.keymap != "" && readAll(t, name) != tc.keymap+"\n":
				t.Errorf("keymap name %q, want %q", readAll(t, name), tc.keymap)
			}
			if hasFont != tc.font {
				t.Errorf("font in the image: %v, want %v", hasFont, tc.font)
			}
		})
	}
	// A system layout the tools refuse is left out with a warning.
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "etc"), 0o755)
	os.WriteFile(filepath.Join(bad, "etc/vconsole.conf"), []byte("XKB_LAYOUT=no-such-layout\n"), 0o644)
	code, _, stderr := runCmd(append(fixture(t), "-root", bad, "-o", filepath.Join(t.TempDir(), "img"))...)
	if code != 0 || !strings.Contains(stderr, "warning: keymap no-such-layout: ckbcomp") || !strings.Contains(stderr, "left out of the image") {
		t.Errorf("an unusable system layout: exit %d, %s", code, stderr)
	}
}

func readAll(t *testing.T, r cpio.Record) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExecutableWithoutProc: in a chroot without /proc (a kernel package installed in an
// image builder's chroot), the generator finds itself, and so the init beside it, from argv[0]
// as the kernel hook runs it: through $PATH or a path, links resolved.
func TestExecutableWithoutProc(t *testing.T) {
	dir := t.TempDir()
	lib, sbin := filepath.Join(dir, "usr/lib/earlyroot"), filepath.Join(dir, "usr/sbin")
	for _, d := range []string{lib, sbin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gen := filepath.Join(lib, "mkinitramfs")
	if err := os.WriteFile(gen, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(sbin, "earlyroot-mkinitramfs")
	if err := os.Symlink("../lib/earlyroot/mkinitramfs", link); err != nil {
		t.Fatal(err)
	}
	noProc := func() (string, error) { return "", errors.New("readlink /proc/self/exe: no such file or directory") }
	inPath := func(name string) (string, error) {
		if name == "earlyroot-mkinitramfs" {
			return link, nil
		}
		return "", errors.New("not found")
	}
	for _, tc := range []struct {
		name, argv0 string
		exe         func() (string, error)
		want        string // "" for an error
	}{
		{"proc", "whatever", func() (string, error) { return "/proc/says/this", nil }, "/proc/says/this"},
		{"path", link, noProc, gen},
		{"PATH", "earlyroot-mkinitramfs", noProc, gen},
		{"not in PATH", "mkinitramfs-elsewhere", noProc, ""},
		{"dangling", filepath.Join(dir, "missing"), noProc, ""},
	} {
		got, err := executable(tc.exe, tc.argv0, inPath)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: executable = %q, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: executable = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
