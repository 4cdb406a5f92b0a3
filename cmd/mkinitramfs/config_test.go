package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
)

func TestParseConf(t *testing.T) {
	def := defaultSettings()
	with := func(f func(*settings)) settings { s := defaultSettings(); f(&s); return s }
	cases := []struct {
		name, in string
		want     settings
		err      string
	}{
		{"empty", "", def, ""},
		{"comments and blanks", "# a comment\n\n   # indented\n\t\n", def, ""},
		{"every key", `modules = xfs, btrfs
omit=floppy
files = /usr/bin/busybox:/bin/busybox /etc/hosts
compress = zstd
modcompress = none
zstd = /opt/zstd
moddict = no
modcache = none
initcompress = xz
roothint = xfs
unpack = nvme, ahci
hostonly = yes
microcode = no
firmware = off
keymap = de-latin1
font = eurlatgr
`, settings{
			Config: initramfs.Config{
				Modules: []string{"xfs", "btrfs"}, Omit: []string{"floppy"},
				Files:       []initramfs.File{{Src: "/usr/bin/busybox", Dst: "/bin/busybox"}, {Src: "/etc/hosts", Dst: "/etc/hosts"}},
				Compression: initramfs.Zstd, ModCompression: initramfs.None, InitCompression: initramfs.XZ, HostOnly: true,
				RootFSHint: "xfs", Unpack: []string{"nvme", "ahci"},
			},
			keymap: "de-latin1", font: "eurlatgr", zstd: "/opt/zstd", modcache: "none",
		}, ""},
		{"lists append, scalars replace", "modules = a b\nmodules = c\ncompress = xz\ncompress = gz\n",
			with(func(s *settings) { s.Modules = []string{"a", "b", "c"}; s.Compression = initramfs.Gzip }), ""},
		{"empty values", "modules =\nkeymap =\nfiles=\n", def, ""},
		{"unpack replaces", "unpack = a b\nunpack = c\n", with(func(s *settings) { s.Unpack = []string{"c"} }), ""},
		{"unpack none", "unpack = none\n", with(func(s *settings) { s.Unpack = []string{} }), ""},
		{"# inside a value", "keymap = us#x\n", with(func(s *settings) { s.keymap = "us#x" }), ""},
		{"unknown key", "# c\ncompress = xz\nmodulez = a\n", settings{}, `test.conf:3: unknown key "modulez"`},
		{"no =", "hostonly\n", settings{}, `test.conf:1: "hostonly" is not key = value`},
		{"bad bool", "\nmicrocode = maybe\n", settings{}, `test.conf:2: microcode: "maybe" is not yes or no`},
		{"bad compression", "compress = bzip2\n", settings{}, `test.conf:1: compress: unknown compression "bzip2"`},
		{"lz4 modules", "modcompress = lz4\n", settings{}, "test.conf:1: modcompress: compression lz4 is not supported"},
		{"bad root hint", "roothint = ext4 xfs\n", settings{}, `test.conf:1: roothint: root filesystem hint "ext4 xfs": want auto, none or a filesystem type`},
		{"lz4 init archive", "initcompress = lz4\n", settings{}, "test.conf:1: initcompress: init archive compression lz4: want zstd, gzip, xz or none"},
		{"relative zstd", "zstd = zstd\n", settings{}, `test.conf:1: zstd: "zstd": want auto, builtin or an absolute path`},
		{"relative cache", "modcache = cache\n", settings{}, `test.conf:1: modcache: "cache": want auto, none or an absolute path`},
		{"empty compression", "compress =\n", def, ""},
		{"relative file", "files = busybox\n", settings{}, `test.conf:1: files: file "busybox": source is not an absolute path`},
		{"blank in keymap", "keymap = de latin1\n", settings{}, "test.conf:1: keymap"},
		{"empty key", "= x\n", settings{}, `test.conf:1: unknown key ""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := defaultSettings()
			err := parseConf("test.conf", strings.NewReader(c.in), &s)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, c.want) {
				t.Errorf("got %+v\nwant %+v", s, c.want)
			}
		})
	}
}

// A compress key with an empty value means none, like the flag's "".
func TestParseConfEmptyCompress(t *testing.T) {
	s := defaultSettings()
	s.Compression = initramfs.Zstd
	if err := parseConf("x", strings.NewReader("compress =\n"), &s); err != nil || s.Compression != initramfs.None {
		t.Errorf("compress %q, %v", s.Compression, err)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add("modules = a, b\n# c\ncompress = zstd\nhostonly = yes\n")
	f.Add("files = /a:/b /c\nkeymap = de\n")
	f.Add("x\n=\n\x00")
	f.Fuzz(func(t *testing.T, in string) {
		s := defaultSettings()
		if err := parseConf("fuzz.conf", strings.NewReader(in), &s); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		// What parses prints back to the same settings.
		var buf bytes.Buffer
		printConf(&buf, s, nil)
		again := defaultSettings()
		if err := parseConf("printed", &buf, &again); err != nil {
			t.Fatalf("printed configuration does not parse: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(normal(s), normal(again)) {
			t.Errorf("round trip: %+v became %+v", s, again)
		}
	})
}

// normal makes empty lists nil, as a round trip through the text does.
func normal(s settings) settings {
	for _, l := range []*[]string{&s.Modules, &s.Omit} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(s.Files) == 0 {
		s.Files = nil
	}
	return s
}

// confTree writes a configuration directory: earlyroot.conf and snippets.
func confTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadConfOrder(t *testing.T) {
	dir := confTree(t, map[string]string{
		"earlyroot.conf":                  "modules = a\ncompress = xz\nkeymap = us\n",
		"earlyroot.conf.d/20-b.conf":      "modules = c\ncompress = lz4\n",
		"earlyroot.conf.d/10-a.conf":      "modules = b\ncompress = gzip\nkeymap = de\n",
		"earlyroot.conf.d/30-x.conf.dpkg": "unknown = ignored, not a .conf\n",
		"earlyroot.conf.d/README":         "ignored\n",
	})
	s := defaultSettings()
	files, err := loadConf(dir, &s)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "earlyroot.conf"), filepath.Join(dir, "earlyroot.conf.d/10-a.conf"), filepath.Join(dir, "earlyroot.conf.d/20-b.conf")}
	if !reflect.DeepEqual(files, wantFiles) {
		t.Errorf("files %q, want %q", files, wantFiles)
	}
	if strings.Join(s.Modules, ",") != "a,b,c" || s.Compression != initramfs.LZ4 || s.keymap != "de" {
		t.Errorf("settings %+v", s)
	}

	// No configuration at all is the defaults.
	s = defaultSettings()
	if files, err := loadConf(filepath.Join(t.TempDir(), "none"), &s); err != nil || len(files) != 0 || !reflect.DeepEqual(s, defaultSettings()) {
		t.Errorf("missing dir: %q %+v %v", files, s, err)
	}
}

func TestPrintConfigFlagsWin(t *testing.T) {
	dir := confTree(t, map[string]string{
		"earlyroot.conf":             "modules = xfs\ncompress = xz\nhostonly = yes\nmicrocode = no\n",
		"earlyroot.conf.d/50-a.conf": "omit = floppy\nfiles = /etc/hosts\n",
	})
	args := []string{"-config", dir, "-print-config", "-compress", "zstd", "-hostonly=false",
		"-modules", "btrfs", "-file", "/etc/passwd:/x", "-file", "rel/busybox", "-firmware=false", "-keymap", "de"}
	rel, err := filepath.Abs("rel/busybox")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"#   " + filepath.Join(dir, "earlyroot.conf") + "\n",
		"#   " + filepath.Join(dir, "earlyroot.conf.d/50-a.conf") + "\n",
		"\nmodules = xfs, btrfs\n", "\nomit = floppy\n", "\nfiles = /etc/hosts:/etc/hosts /etc/passwd:/x " + rel + ":" + rel + "\n",
		"\ncompress = zstd\n", "\nmodcompress = zstd\n", "\nhostonly = no\n", "\nmicrocode = no\n",
		"\nfirmware = no\n", "\nkeymap = de\n", "\nfont = \n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// The output is itself a configuration, which gives the same settings back.
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := effective(o)
	if err != nil {
		t.Fatal(err)
	}
	s := defaultSettings()
	if err := parseConf("printed", strings.NewReader(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("read back %+v\nwant %+v", s, want)
	}
}

func TestRunConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"unknown key", map[string]string{"earlyroot.conf.d/10-x.conf": "\nhostonyl = yes\n"}, nil, "earlyroot.conf.d/10-x.conf:2: unknown key \"hostonyl\""},
		{"bad value", map[string]string{"earlyroot.conf": "firmware = perhaps\n"}, nil, "earlyroot.conf:1: firmware"},
		{"bad flag", nil, []string{"-microcode=perhaps"}, "-microcode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := confTree(t, c.files)
			out := filepath.Join(t.TempDir(), "initrd.img")
			code, _, stderr := runCmd(append([]string{"-config", dir, "-o", out}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q lacks %q", code, stderr, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an image was written")
			}
		})
	}
}

// The usage text, the synopsis and README.md name every flag, and the
// README's Configuration section every key.
func TestUsageAndReadme(t *testing.T) {
	var o options
	fs := newFlagSet(&o, io.Discard)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.Usage()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, conf, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	conf, _, _ = strings.Cut(conf, "\n## ")
	i := strings.Index(string(readme), "\nmkinitramfs -o OUT")
	if i < 0 {
		t.Fatal("README.md has no mkinitramfs synopsis")
	}
	readmeSynopsis, _, _ := strings.Cut(string(readme)[i:], "```")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(usage.String(), "\n  -"+f.Name) {
			t.Errorf("usage lacks -%s", f.Name)
		}
		if !containsFlag(synopsis, f.Name) {
			t.Errorf("the synopsis lacks -%s", f.Name)
		}
		if !containsFlag(readmeSynopsis, f.Name) {
			t.Errorf("README.md's mkinitramfs synopsis lacks -%s", f.Name)
		}
	})
	for _, k := range confKeys {
		if !strings.Contains(conf, "`"+k.name+"`") {
			t.Errorf("README.md's Configuration section lacks the key %s", k.name)
		}
	}
}

func containsFlag(text, name string) bool {
	for _, end := range []string{" ", "]", "=", "\n"} {
		if strings.Contains(text, "-"+name+end) {
			return true
		}
	}
	return false
}

// config hands every flag and every setting to initramfs.Config.
func TestConfigFromFlagsAndSettings(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "7")
	o := options{kver: "6.1.0-9-amd64", moddir: "/m", init: "/i", sysfs: "/s", mounts: "/mo",
		cpuinfo: "/c", firmwareDir: "/f", kconfig: "/k", mdadmConf: "/md", devDir: "/d", root: t.TempDir()}
	s := defaultSettings()
	s.Modules, s.Omit, s.HostOnly, s.Compression = []string{"xfs"}, []string{"floppy"}, true, initramfs.XZ
	s.keymap, s.zstd, s.modcache = "de-latin1", "/opt/zstd", "/c"
	got, err := config(o, s)
	if err != nil {
		t.Fatal(err)
	}
	want := initramfs.Config{KernelVersion: "6.1.0-9-amd64", ModDir: "/m", Init: "/i", SysFS: "/s", Mounts: "/mo",
		CPUInfo: "/c", FirmwareDir: "/f", KernelConfig: "/k", MDAdmConf: "/md", DevDir: "/d", HostRoot: o.root, MTime: 7,
		Modules: []string{"xfs"}, Omit: []string{"floppy"}, HostOnly: true, Compression: initramfs.XZ,
		ModCompression: initramfs.Zstd, InitCompression: initramfs.Zstd, RootFSHint: "auto", Unpack: defaultUnpack,
		Microcode: true, Firmware: true, Console: initramfs.Console{Keymap: "de-latin1", Root: o.root, FontOptional: true},
		ZstdProgram: "/opt/zstd", ModuleCache: "/c", ModuleDict: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %+v\nwant %+v", got, want)
	}
}

// encoder resolves the zstd program and its cache from the settings and the environment.
func TestEncoder(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/zstd", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	env := func(vars ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(vars); i += 2 {
				if vars[i] == k {
					return vars[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		name           string
		zstd, modcache string
		lookPath       func(string) (string, error)
		getenv         func(string) string
		euid           int
		program, cache string
	}{
		{"auto as root", "auto", "auto", found, env("HOME", "/root"), 0, "/usr/bin/zstd", "/var/cache/earlyroot/modules"},
		{"auto with XDG", "auto", "auto", found, env("XDG_CACHE_HOME", "/x", "HOME", "/root"), 0, "/usr/bin/zstd", "/x/earlyroot/modules"},
		{"auto as a user", "auto", "auto", found, env("HOME", "/home/u"), 1000, "/usr/bin/zstd", "/home/u/.cache/earlyroot/modules"},
		{"a user without a home", "auto", "auto", found, env(), 1000, "/usr/bin/zstd", ""},
		{"no program on PATH", "auto", "auto", missing, env("HOME", "/root"), 0, "", ""},
		{"builtin", "builtin", "/c", found, env(), 0, "", ""},
		{"a path", "/opt/zstd", "none", missing, env("HOME", "/root"), 0, "/opt/zstd", ""},
		{"a cache dir", "auto", "/c", found, env("XDG_CACHE_HOME", "/x"), 0, "/usr/bin/zstd", "/c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := defaultSettings()
			s.zstd, s.modcache = c.zstd, c.modcache
			program, cache := encoder(s, c.lookPath, c.getenv, c.euid)
			if program != c.program || cache != c.cache {
				t.Errorf("encoder = %q, %q; want %q, %q", program, cache, c.program, c.cache)
			}
		})
	}
}
