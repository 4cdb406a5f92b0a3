package initramfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/consolefont"
	"github.com/earlyroot/earlyroot/keymap"
)

// Key codes of the keys a German layout swaps with a US one, and the key
// value of a letter (KT_LETTER).
const (
	keyY = 21
	keyZ = 44
)

func letter(c byte) uint16 { return 0x0b00 | uint16(c) }

func TestParseShellVars(t *testing.T) {
	got := parseShellVars([]byte(`# comment
KEYMAP=de-latin1
FONT="eurlatgr"  # a comment
XKB_LAYOUT='de'
XKBVARIANT=""
export XKBOPTIONS="ctrl:nocaps,\"x\""
XKBMODEL=pc\ 105
not a line
=empty
`))
	want := map[string]string{"KEYMAP": "de-latin1", "FONT": "eurlatgr", "XKB_LAYOUT": "de", "XKBVARIANT": "",
		"XKBOPTIONS": `ctrl:nocaps,"x"`, "XKBMODEL": "pc 105"}
	if len(got) != len(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestConsoleSetupFont(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"CODESET": "guess", "FONTFACE": "Fixed", "FONTSIZE": "8x16"}, "Uni2-Fixed16"},
		{map[string]string{"CODESET": "Lat15", "FONTFACE": "TerminusBold", "FONTSIZE": "16x32"}, "Lat15-TerminusBold32x16"},
		{map[string]string{"CODESET": "Lat2", "FONTFACE": "Terminus", "FONTSIZE": "16"}, "Lat2-Terminus16"},
		{map[string]string{"CODESET": "Lat15", "FONTFACE": "VGA", "FONTSIZE": "16x8"}, "Lat15-VGA16"},
		{map[string]string{"FONT": "Lat7-Fixed14.psf.gz other.psf", "FONTFACE": "Fixed", "FONTSIZE": "8x16"}, "Lat7-Fixed14.psf.gz"},
		{map[string]string{"CODESET": "Lat15", "FONTFACE": "Fixed"}, ""},
		{map[string]string{}, ""},
	} {
		if got := consoleSetupFont(tc.vars); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.vars, got, tc.want)
		}
	}
}

func TestSystemConsole(t *testing.T) {
	debian := map[string]string{
		"etc/default/keyboard":      "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"de\"\nXKBVARIANT=\"nodeadkeys\"\nXKBOPTIONS=\"\"\n",
		"etc/default/console-setup": "CODESET=\"Lat15\"\nFONTFACE=\"Fixed\"\nFONTSIZE=\"8x16\"\n",
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  Console
		shown string
	}{
		{"nothing", nil, Console{}, ""},
		{"vconsole", map[string]string{"etc/vconsole.conf": "KEYMAP=de-latin1\nFONT=eurlatgr\n"},
			Console{Keymap: "de-latin1", Font: "eurlatgr"}, "de-latin1"},
		{"vconsole xkb", map[string]string{"etc/vconsole.conf": "XKB_LAYOUT=fr\nXKB_VARIANT=bepo\n"},
			Console{XKB: XKB{Layout: "fr", Variant: "bepo"}}, "fr(bepo)"},
		{"debian", debian, Console{XKB: XKB{Model: "pc105", Layout: "de", Variant: "nodeadkeys"}, Font: "Lat15-Fixed16"}, "de(nodeadkeys)"},
		{"vconsole wins", merge(debian, map[string]string{"etc/vconsole.conf": "KEYMAP=us\n"}),
			Console{Keymap: "us", Font: "Lat15-Fixed16"}, "us"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.files)
			c, err := SystemConsole(root)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Root = root
			if c != tc.want {
				t.Errorf("got %+v, want %+v", c, tc.want)
			}
			if got := c.KeymapName(); got != tc.shown {
				t.Errorf("KeymapName = %q, want %q", got, tc.shown)
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func TestFindKeymap(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"usr/share/keymaps/atari/de.kmap.gz":          "x",
		"usr/share/keymaps/i386/qwertz/de.kmap.gz":    "x",
		"usr/share/kbd/keymaps/i386/qwerty/fi.map.gz": "x",
		"usr/share/kbd/keymaps/i386/qwerty/fi.map":    "x",
	})
	for _, tc := range []struct{ name, want, err string }{
		{"de", "usr/share/keymaps/i386/qwertz/de.kmap.gz", ""},
		{"fi", "usr/share/kbd/keymaps/i386/qwerty/fi.map", ""}, // the first in directory order
		{"/usr/share/keymaps/atari/de.kmap.gz", "usr/share/keymaps/atari/de.kmap.gz", ""},
		{"xx", "", "no xx.map or xx.kmap in usr/share/keymaps"},
	} {
		got, err := findKeymap(root, tc.name)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %q, %v; want an error with %q", tc.name, got, err, tc.err)
		case tc.err == "" && (err != nil || got != filepath.Join(root, tc.want)):
			t.Errorf("%s: %q, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestReadFont(t *testing.T) {
	gz, err := os.ReadFile("../consolefont/testdata/Lat15-Fixed16.psf.gz")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"usr/share/consolefonts/Lat15-Fixed16.psf.gz": string(gz),
		"usr/share/kbd/consolefonts/broken.psfu.gz":   "\x1f\x8bnot gzip",
		"usr/share/kbd/consolefonts/lat0-16.sbf":      "not a psf",
	})
	data, err := readFont(root, "Lat15-Fixed16")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := consolefont.Parse(data); err != nil || f.Height != 16 {
		t.Errorf("the font read does not parse as 8x16: %v", err)
	}
	for name, want := range map[string]string{
		"broken":      "broken.psfu.gz: gzip: invalid header",
		"lat0-16.sbf": "lat0-16.sbf: font: not a PSF1 or PSF2 font",
		"nowhere":     "not found in usr/share/consolefonts",
	} {
		if _, err := readFont(root, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", name, err, want)
		}
	}
}

func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (Debian package %s): the keymap is compiled with it", name, pkg)
	}
}

// A keymap source is compiled by the real loadkeys into the binary form,
// and the image holds it with its name and the font.
func TestBuildConsole(t *testing.T) {
	needTool(t, "loadkeys", "kbd")
	root := t.TempDir()
	gz, err := os.ReadFile("../consolefont/testdata/Lat15-Fixed16.psf.gz")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, root, map[string]string{
		// y and z swapped, as on a German keyboard.
		"usr/share/keymaps/i386/qwertz/yz.map":        "keymaps 0-1\nkeycode 21 = +z +Z\nkeycode 44 = +y +Y\n",
		"usr/share/consolefonts/Lat15-Fixed16.psf.gz": string(gz),
	})
	cfg := hostConfig(t)
	cfg.Console = Console{Keymap: "yz", Font: "Lat15-Fixed16", Root: root}
	img, res := build(t, cfg)
	if res.Keymap != "yz" || res.Font != "Lat15-Fixed16" {
		t.Errorf("result keymap %q font %q", res.Keymap, res.Font)
	}
	recs := readRecords(t, img)
	k, err := keymap.Parse(content(t, recs[keymap.ImageFile]))
	if err != nil {
		t.Fatal(err)
	}
	if k.Count() != 2 || k.Tables[0][keyY] != letter('z') || k.Tables[1][keyZ] != letter('Y') {
		t.Errorf("keymap: %d tables, KEY_Y %#x, shift KEY_Z %#x", k.Count(), k.Tables[0][keyY], k.Tables[1][keyZ])
	}
	if got := string(content(t, recs[keymap.ImageNameFile])); got != "yz\n" {
		t.Errorf("keymap name %q", got)
	}
	if _, err := consolefont.Parse(content(t, recs[consolefont.ImageFile])); err != nil {
		t.Errorf("font in the image: %v", err)
	}

	cfg.Console = Console{Keymap: "missing", Root: root}
	if _, err := Build(cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "keymap missing: no missing.map") {
		t.Errorf("a missing keymap: %v", err)
	}
	writeTree(t, root, map[string]string{"usr/share/keymaps/i386/bad.map": "keycode 21 = no_such_keysym\n"})
	cfg.Console = Console{Keymap: "bad", Root: root}
	if _, err := Build(cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "keymap bad: loadkeys -u -b") {
		t.Errorf("a keymap loadkeys refuses: %v", err)
	}
}

// Debian's way: an XKB layout through ckbcomp and loadkeys. The German
// layout has z where a US keyboard has y.
func TestCompileXKB(t *testing.T) {
	needTool(t, "loadkeys", "kbd")
	needTool(t, "ckbcomp", "console-setup")
	bin, err := compileKeymap(context.Background(), Console{XKB: XKB{Layout: "de", Model: "pc105"}, Root: "/"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := keymap.Parse(bin)
	if err != nil {
		t.Fatal(err)
	}
	// ckbcomp writes letters as Unicode (U+007A) keysyms; Caps Lock
	// applies (+), so they are letters: KT_LETTER.
	if got := k.Tables[0][keyY]; got != letter('z') {
		t.Errorf("KEY_Y = %#04x, want z (%#04x)", got, letter('z'))
	}
	if got := k.Tables[0][keyZ]; got != letter('y') {
		t.Errorf("KEY_Z = %#04x, want y (%#04x)", got, letter('y'))
	}
	_, err = compileKeymap(context.Background(), Console{XKB: XKB{Layout: "no-such-layout"}, Root: "/"})
	if err == nil {
		t.Errorf("an unknown layout compiled")
	}
}

func FuzzParseShellVars(f *testing.F) {
	f.Add([]byte("KEYMAP=de\nFONT=\"a b\" # c\nX='y\n"))
	f.Add([]byte("A=\"\\\nB=\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k := range parseShellVars(data) {
			if k == "" || strings.ContainsAny(k, " \t\"'\n") {
				t.Fatalf("variable name %q", k)
			}
		}
	})
}

// Settings read from the system (optional) that cannot be used are
// warnings; asked for, they are errors.
func TestBuildConsoleOptional(t *testing.T) {
	c := Console{Keymap: "missing", Font: "missing", Root: t.TempDir()}
	_, warnings, err := buildConsole(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "keymap missing: ") || !strings.Contains(err.Error(), "font missing: not found") || warnings != nil {
		t.Errorf("asked for: %v, warnings %q", err, warnings)
	}
	c.KeymapOptional, c.FontOptional = true, true
	files, warnings, err := buildConsole(context.Background(), c)
	if err != nil || len(warnings) != 2 || files.keymap != nil || files.font != nil ||
		!strings.HasPrefix(warnings[0], "keymap missing: ") || !strings.HasSuffix(warnings[1], ": left out of the image") {
		t.Errorf("optional: %v, warnings %q", err, warnings)
	}
}
