package initramfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earlyroot/earlyroot/consolefont"
	"github.com/earlyroot/earlyroot/keymap"
)

// Console is the console keymap and font an image carries, for the
// passphrase prompt and the rescue shell. The keymap is compiled at build
// time by the distribution's own tools (kbd's loadkeys, console-setup's
// ckbcomp) into the binary form the init loads (package keymap); the font
// is checked and stored decompressed (package consolefont).
type Console struct {
	// Keymap is a kbd keymap name or file ("de-latin1", vconsole.conf's
	// KEYMAP), compiled with loadkeys. When empty, XKB is used.
	Keymap string
	// XKB is an X keyboard layout (Debian's /etc/default/keyboard,
	// vconsole.conf's XKB_*), compiled with ckbcomp and loadkeys, when
	// XKB.Layout is set and Keymap is empty.
	XKB XKB
	// Font is a console font name or file ("eurlatgr",
	// "Lat15-Fixed16"), a PSF font in one of the system's font
	// directories.
	Font string
	// Root is the system whose keymap and font files are used; "" is
	// "/". The compilers and XKB's data are the build host's.
	Root string
	// KeymapOptional and FontOptional make a keymap or font that cannot
	// be found or compiled a warning (Result.Warnings), and leave it out,
	// instead of failing the build: for settings read from the system
	// rather than asked for.
	KeymapOptional, FontOptional bool
}

// XKB names an X keyboard layout as /etc/default/keyboard does.
type XKB struct{ Model, Layout, Variant, Options string }

// KeymapName is the keymap's name as the init shows it: the kbd name, or
// the XKB layout with its variant ("de(nodeadkeys)"); "" when there is no
// keymap.
func (c Console) KeymapName() string {
	switch {
	case c.Keymap != "":
		return strings.TrimSuffix(strings.TrimSuffix(filepath.Base(c.Keymap), ".gz"), ".map")
	case c.XKB.Layout != "" && c.XKB.Variant != "":
		return c.XKB.Layout + "(" + c.XKB.Variant + ")"
	}
	return c.XKB.Layout
}

// Directories of keymaps and fonts below a root: Debian's console-data and
// console-setup, then kbd's own (Fedora, Arch) and its older places.
var (
	keymapDirs = []string{"usr/share/keymaps", "usr/share/kbd/keymaps", "usr/lib/kbd/keymaps", "lib/kbd/keymaps"}
	fontDirs   = []string{"usr/share/consolefonts", "usr/share/kbd/consolefonts", "usr/lib/kbd/consolefonts", "lib/kbd/consolefonts"}
)

// SystemConsole reads the console settings of the system at root, as its
// own boot would apply them: /etc/vconsole.conf (KEYMAP, FONT, XKB_LAYOUT,
// XKB_MODEL, XKB_VARIANT, XKB_OPTIONS; systemd), then for what it leaves
// unset Debian's /etc/default/keyboard (XKBLAYOUT, XKBMODEL, XKBVARIANT,
// XKBOPTIONS) and /etc/default/console-setup (FONT, or CODESET, FONTFACE
// and FONTSIZE). A missing file sets nothing.
func SystemConsole(root string) (Console, error) {
	c := Console{Root: root}
	vc, err := readShellVars(filepath.Join(root, "etc/vconsole.conf"))
	if err != nil {
		return c, err
	}
	c.Keymap, c.Font = vc["KEYMAP"], vc["FONT"]
	c.XKB = XKB{Model: vc["XKB_MODEL"], Layout: vc["XKB_LAYOUT"], Variant: vc["XKB_VARIANT"], Options: vc["XKB_OPTIONS"]}
	if c.Keymap == "" && c.XKB.Layout == "" {
		kb, err := readShellVars(filepath.Join(root, "etc/default/keyboard"))
		if err != nil {
			return c, err
		}
		c.XKB = XKB{Model: kb["XKBMODEL"], Layout: kb["XKBLAYOUT"], Variant: kb["XKBVARIANT"], Options: kb["XKBOPTIONS"]}
	}
	if c.Font == "" {
		cs, err := readShellVars(filepath.Join(root, "etc/default/console-setup"))
		if err != nil {
			return c, err
		}
		c.Font = consoleSetupFont(cs)
	}
	return c, nil
}

// consoleSetupFont is the font file name console-setup's setupcon makes of
// its settings: FONT as it is, or CODESET-FONTFACE<size> where a size
// "8x16" is "16" and "16x32" is "32x16". CODESET=guess (chosen from the
// locale by setupcon) is taken as Uni2, which covers Latin, Greek and
// Cyrillic.
func consoleSetupFont(v map[string]string) string {
	if f := strings.Fields(v["FONT"]); len(f) > 0 {
		return f[0]
	}
	face, size := v["FONTFACE"], v["FONTSIZE"]
	if face == "" || size == "" {
		return ""
	}
	codeset := v["CODESET"]
	if codeset == "" || codeset == "guess" {
		codeset = "Uni2"
	}
	if w, h, ok := strings.Cut(size, "x"); ok {
		switch {
		case w == "8":
			size = h
		case h == "8":
			size = w
		case len(w) < len(h) || len(w) == len(h) && w < h:
			size = h + "x" + w
		}
	}
	return codeset + "-" + face + size
}

// readShellVars reads the NAME=value lines of a shell fragment such as
// vconsole.conf: values may be quoted with ' or " (with \ escapes inside
// "), lines starting with # are comments. A missing file is empty.
func readShellVars(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseShellVars(data), nil
}

func parseShellVars(data []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || name == "" || strings.ContainsAny(name, " \t\"'") {
			continue
		}
		vars[name] = shellWord(value)
	}
	return vars
}

// shellWord unquotes one shell word; what follows it (a comment) is dropped.
func shellWord(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				end = len(s) - i - 1
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == ' ' || c == '\t':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// consoleFiles are the files of a Console in the image.
type consoleFiles struct {
	keymap, keymapName, font []byte
}

// buildConsole compiles c's keymap and reads its font; the failures of
// optional ones are returned as warnings.
func buildConsole(ctx context.Context, c Console) (out consoleFiles, warnings []string, err error) {
	if c.Root == "" {
		c.Root = "/"
	}
	fail := func(e error, optional bool) {
		switch {
		case ctx.Err() != nil:
			err = errors.Join(err, ctx.Err())
		case optional:
			warnings = append(warnings, fmt.Sprintf("%v: left out of the image", e))
		default:
			err = errors.Join(err, e)
		}
	}
	if c.Keymap != "" || c.XKB.Layout != "" {
		km, e := compileKeymap(ctx, c)
		if e != nil {
			fail(fmt.Errorf("keymap %s: %w", c.KeymapName(), e), c.KeymapOptional)
		} else {
			out.keymap, out.keymapName = km, []byte(c.KeymapName()+"\n")
		}
	}
	if c.Font != "" {
		f, e := readFont(c.Root, c.Font)
		if e != nil {
			fail(fmt.Errorf("font %s: %w", c.Font, e), c.FontOptional)
		} else {
			out.font = f
		}
	}
	return out, warnings, err
}

// compileKeymap runs loadkeys (after ckbcomp for an XKB layout) and checks
// its output. Unicode mode (-u): the console the init runs on is in UTF-8
// mode, the kernel's default.
func compileKeymap(ctx context.Context, c Console) ([]byte, error) {
	var stdin io.Reader
	src := "-"
	if c.Keymap != "" {
		p, err := findKeymap(c.Root, c.Keymap)
		if err != nil {
			return nil, err
		}
		src = p
	} else {
		args := []string{"-layout", c.XKB.Layout}
		for _, a := range [][2]string{{"-model", c.XKB.Model}, {"-variant", c.XKB.Variant}, {"-option", c.XKB.Options}} {
			if a[1] != "" {
				args = append(args, a[0], a[1])
			}
		}
		xkb, err := runTool(ctx, nil, "ckbcomp", "console-setup", args...)
		if err != nil {
			return nil, err
		}
		stdin = bytes.NewReader(xkb)
	}
	bin, err := runTool(ctx, stdin, "loadkeys", "kbd", "-u", "-b", src)
	if err != nil {
		return nil, err
	}
	if _, err := keymap.Parse(bin); err != nil {
		return nil, fmt.Errorf("loadkeys -b: %w", err)
	}
	return bin, nil
}

// runTool runs a compiler and returns its output; its messages go in the error.
func runTool(ctx context.Context, stdin io.Reader, name, pkg string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s not found (install %s): %w", name, pkg, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if lines := strings.Split(msg, "\n"); len(lines) > 5 {
			msg = strings.Join(lines[len(lines)-5:], "\n")
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// findKeymap finds a kbd keymap source below root: name itself when it is
// a path, else name.map/.kmap (gzipped or not) in the keymap directories,
// the PC (i386) layouts first.
func findKeymap(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		p := filepath.Join(root, name)
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	var found []string
	want := []string{name + ".map.gz", name + ".kmap.gz", name + ".map", name + ".kmap"}
	for _, d := range keymapDirs {
		dir := filepath.Join(root, d)
		_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && slices.Contains(want, e.Name()) {
				found = append(found, p)
			}
			return nil
		})
	}
	if len(found) == 0 {
		return "", fmt.Errorf("no %s.map or %s.kmap in %s below %s (install console-data, or kbd's keymaps)",
			name, name, strings.Join(keymapDirs, ", "), root)
	}
	// i386 before the other machines' layouts (amiga, atari, mac, sun).
	slices.SortStableFunc(found, func(a, b string) int {
		ai, bi := strings.Contains(a, "/i386/"), strings.Contains(b, "/i386/")
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return 0
	})
	return found[0], nil
}

// maxFont bounds a decompressed font file (the largest console fonts hold
// 512 glyphs of 32x32 pixels and a Unicode table: well under this).
const maxFont = 1 << 20

// readFont finds a PSF font below root (name itself when it is a path,
// else in the font directories with the usual suffixes), decompresses it
// and checks it.
func readFont(root, name string) ([]byte, error) {
	var cands []string
	if strings.Contains(name, "/") {
		cands = []string{filepath.Join(root, name)}
	} else {
		for _, d := range fontDirs {
			for _, suf := range []string{"", ".psfu.gz", ".psf.gz", ".psfu", ".psf", ".gz"} {
				cands = append(cands, filepath.Join(root, d, name+suf))
			}
		}
	}
	for _, p := range cands {
		data, err := readMaybeGzip(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, err := consolefont.Parse(data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("not found in %s below %s", strings.Join(fontDirs, ", "), root)
}

// readMaybeGzip reads a file, decompressing it when it is gzipped.
func readMaybeGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return nil, fs.ErrNotExist
	}
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFont+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFont {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a console font", path, maxFont)
	}
	return data, nil
}

// addConsole puts the keymap and font files in the image.
func addConsole(a *Archive, con consoleFiles) error {
	if con.keymap == nil && con.font == nil {
		return nil
	}
	if err := a.AddDir(path.Dir(keymap.ImageFile), 0o755); err != nil {
		return err
	}
	if con.keymap != nil {
		if err := errors.Join(a.AddBytes(keymap.ImageFile, 0o644, con.keymap),
			a.AddBytes(keymap.ImageNameFile, 0o644, con.keymapName)); err != nil {
			return err
		}
	}
	if con.font != nil {
		return a.AddBytes(consolefont.ImageFile, 0o644, con.font)
	}
	return nil
}
