package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earlyroot/earlyroot/initramfs"
)

// The configuration files, below the -config directory (default
// /etc/earlyroot): earlyroot.conf, then every earlyroot.conf.d/*.conf in
// lexical order. Each line is "key = value", blank, or a comment starting
// with '#' (a whole line only: '#' inside a value is part of it). A scalar
// key set again replaces the earlier value; a list key appends to it. Flags
// given on the command line win over every file: a scalar flag replaces the
// value, a list flag appends to it.
const (
	confFile = "earlyroot.conf"
	confDir  = "earlyroot.conf.d"
	// maxConfFile bounds one configuration file.
	maxConfFile = 1 << 20
)

// settings are the configurable parts of an image: every key of the
// configuration files, each also a flag of the same name. The image's keys
// are the fields of initramfs.Config they set (Modules, Omit, Files,
// Compression, InitCompression, ModCompression, ModuleDict, RootFSHint, Unpack,
// HostOnly, Microcode, Firmware); the other fields of Config come from the flags alone
// (see config).
type settings struct {
	initramfs.Config
	// keymap and font are the console keymap and font (as vconsole.conf's
	// KEYMAP and FONT name them): "" takes the system's (see console),
	// "none" puts none in the image.
	keymap, font string
	// zstd and modcache are the zstd program making the module files and the init's
	// archive, and the cache of its module files, as written (resolved by encoder).
	zstd, modcache string
}

// defaultSettings are the built-in defaults: zstd-compressed modules, of
// which the init decompresses only the few it loads, in an uncompressed
// archive, which the kernel unpacks with a copy; the init and the other
// files in a second, zstd-compressed one (the init binary is most of an
// image's uncompressed bytes); microcode and firmware included.
func defaultSettings() settings {
	return settings{Config: initramfs.Config{
		Compression: initramfs.None, InitCompression: initramfs.Zstd, ModCompression: initramfs.Zstd,
		RootFSHint: "auto", Unpack: defaultUnpack, Microcode: true, Firmware: true, ModuleDict: true,
	}, zstd: "auto", modcache: "auto"}
}

// defaultUnpack are the modules a generic image carries uncompressed for the kernel to
// unpack (initramfs.Config.Unpack): a virtual machine's disk drivers, the virtio PCI
// transport and virtio's block driver, which most boots of a generic image load (the
// bench's VM among them, which reaches its real init sooner than when the init decodes
// their .ko.zst). They add a few hundred KB to what the kernel unpacks at every boot.
var defaultUnpack = []string{"virtio_pci", "virtio_blk"}

// confKey is one key of the configuration format.
type confKey struct {
	name, doc string
	set       func(s *settings, value string) error
	show      func(s settings) string
}

// confKeys lists the keys in the order -print-config shows them.
var confKeys = []confKey{
	{"modules", "extra modules (names or aliases), comma or space separated; list",
		func(s *settings, v string) error { s.Modules = append(s.Modules, splitList(v)...); return nil },
		func(s settings) string { return strings.Join(s.Modules, ", ") }},
	{"omit", "modules to leave out, with every module that depends on them; list",
		func(s *settings, v string) error { s.Omit = append(s.Omit, splitList(v)...); return nil },
		func(s settings) string { return strings.Join(s.Omit, ", ") }},
	{"files", "extra files SRC[:DST], SRC absolute, space separated; list",
		func(s *settings, v string) error {
			for _, w := range strings.Fields(v) {
				if !strings.HasPrefix(w, "/") {
					return fmt.Errorf("file %q: source is not an absolute path", w)
				}
				f, err := initramfs.ParseFile(w)
				if err != nil {
					return err
				}
				s.Files = append(s.Files, f)
			}
			return nil
		},
		func(s settings) string {
			var w []string
			for _, f := range s.Files {
				w = append(w, f.Src+":"+f.Dst)
			}
			return strings.Join(w, " ")
		}},
	{"compress", "archive compression: zstd, gzip, xz, lz4 or none",
		func(s *settings, v string) (err error) {
			s.Compression, err = initramfs.ParseCompression(v)
			return err
		},
		func(s settings) string { return string(s.Compression) }},
	{"initcompress", "with compress none: compression of a second archive holding the init and every other file not compressed already (the modules stay in a plain one): zstd, gzip, xz or none (one plain archive)",
		func(s *settings, v string) (err error) {
			s.InitCompression, err = initramfs.ParseInitCompression(v)
			return err
		},
		func(s settings) string { return string(s.InitCompression) }},
	{"modcompress", "compression of each module file: none, xz, zst or gz",
		func(s *settings, v string) error {
			c, err := initramfs.ParseCompression(v)
			if err == nil {
				_, err = c.ModuleSuffix()
			}
			if err == nil {
				s.ModCompression = c
			}
			return err
		},
		func(s settings) string { return string(s.ModCompression) }},
	{"zstd", "the program making the .ko.zst modules and the init's zstd archive (initcompress): auto (zstd on $PATH, else the built-in encoder), builtin, or the program's absolute path",
		autoWordOrPath("builtin", func(s *settings) *string { return &s.zstd }),
		func(s settings) string { return s.zstd }},
	{"moddict", "yes: the zstd program trains a dictionary on the .ko.zst modules, which they are compressed with (modules.zstd-dict in the image's module directory); no: each module alone",
		func(s *settings, v string) (err error) { s.ModuleDict, err = parseBool(v); return err },
		func(s settings) string { return showBool(s.ModuleDict) }},
	{"modcache", "where the zstd program's module files are kept for the next image: auto ($XDG_CACHE_HOME/earlyroot/modules, else /var/cache/earlyroot/modules for root, else ~/.cache/earlyroot/modules), none, or an absolute path",
		autoWordOrPath("none", func(s *settings) *string { return &s.modcache }),
		func(s settings) string { return s.modcache }},
	{"roothint", "root filesystem type whose modules load at once on a machine with more than one CPU: auto (the type of / on the system making the image), none, or a type",
		func(s *settings, v string) (err error) {
			if v == "" {
				v = "auto"
			}
			s.RootFSHint, err = initramfs.ParseRootFSHint(v)
			return err
		},
		func(s settings) string { return s.RootFSHint }},
	{"unpack", "generic image: modules (names or aliases) expected at most boots, which the image carries with what they need uncompressed, for the kernel to unpack with the init, comma or space separated; replaces the list; none: only the root filesystem hint's",
		func(s *settings, v string) error {
			s.Unpack = []string{}
			if v != "none" {
				s.Unpack = splitList(v)
			}
			return nil
		},
		func(s settings) string {
			if len(s.Unpack) == 0 {
				return "none"
			}
			return strings.Join(s.Unpack, ", ")
		}},
	{"hostonly", "yes: only the modules this machine needs; no: the generic set",
		func(s *settings, v string) (err error) { s.HostOnly, err = parseBool(v); return err },
		func(s settings) string { return showBool(s.HostOnly) }},
	{"legacyhba", "yes: a generic image also has the legacy host adapters it leaves out (parallel-SCSI adapters and the SCSI and PATA RAID cards of the 1990s and early 2000s: aic7xxx, aic79xx, advansys, qla1280, ips, megaraid, 3w-xxxx and others)",
		func(s *settings, v string) (err error) { s.LegacyHBAs, err = parseBool(v); return err },
		func(s settings) string { return showBool(s.LegacyHBAs) }},
	{"microcode", "yes: prepend the early CPU microcode archive",
		func(s *settings, v string) (err error) { s.Microcode, err = parseBool(v); return err },
		func(s settings) string { return showBool(s.Microcode) }},
	{"firmware", "yes: add the firmware files the modules name",
		func(s *settings, v string) (err error) { s.Firmware, err = parseBool(v); return err },
		func(s settings) string { return showBool(s.Firmware) }},
	{"keymap", "console keymap (kbd name, e.g. de-latin1); empty: the system's; none: no keymap",
		func(s *settings, v string) error { s.keymap = v; return checkWord(v) },
		func(s settings) string { return s.keymap }},
	{"font", "console font (PSF name, e.g. eurlatgr); empty: the system's; none: no font",
		func(s *settings, v string) error { s.font = v; return checkWord(v) },
		func(s settings) string { return s.font }},
}

// autoWordOrPath sets the key's field to its value: auto, word or an absolute path.
func autoWordOrPath(word string, field func(*settings) *string) func(*settings, string) error {
	return func(s *settings, v string) error {
		if v != "auto" && v != word && !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q: want auto, %s or an absolute path", v, word)
		}
		*field(s) = v
		return nil
	}
}

func findKey(name string) (confKey, bool) {
	i := slices.IndexFunc(confKeys, func(k confKey) bool { return k.name == name })
	if i < 0 {
		return confKey{}, false
	}
	return confKeys[i], true
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

func showBool(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// checkWord accepts a name without blanks ("" unsets it).
func checkWord(v string) error {
	if strings.ContainsAny(v, " \t") {
		return fmt.Errorf("%q: a name has no blanks", v)
	}
	return nil
}

// parseConf applies the lines of one configuration file (named name in
// errors) to s.
func parseConf(name string, r io.Reader, s *settings) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for no := 1; sc.Scan(); no++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: %q is not key = value", name, no, truncate(line))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		k, ok := findKey(key)
		if !ok {
			return fmt.Errorf("%s:%d: unknown key %q", name, no, truncate(key))
		}
		if err := k.set(s, val); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", name, no, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// confFiles lists the configuration files below dir that exist, in the
// order they apply.
func confFiles(dir string) ([]string, error) {
	var out []string
	main := filepath.Join(dir, confFile)
	if _, err := os.Stat(main); err == nil {
		out = append(out, main)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, confDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	for _, e := range ents { // ReadDir sorts by name
		if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
			out = append(out, filepath.Join(dir, confDir, e.Name()))
		}
	}
	return out, nil
}

// loadConf applies every configuration file below dir to s and returns
// the files read.
func loadConf(dir string, s *settings) ([]string, error) {
	files, err := confFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range files {
		if err := loadConfFile(p, s); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func loadConfFile(p string, s *settings) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfFile+1))
	if err != nil {
		return fmt.Errorf("configuration %s: %w", p, err)
	}
	if len(data) > maxConfFile {
		return fmt.Errorf("configuration %s: larger than %d bytes", p, maxConfFile)
	}
	return parseConf(p, strings.NewReader(string(data)), s)
}

// printConf writes s in the configuration format (so that it can be read
// back), after a comment naming the files it came from.
func printConf(w io.Writer, s settings, files []string) {
	fmt.Fprintln(w, "# effective configuration: built-in defaults, then")
	for _, f := range files {
		fmt.Fprintf(w, "#   %s\n", f)
	}
	fmt.Fprintln(w, "#   then the command line's flags")
	for _, k := range confKeys {
		fmt.Fprintf(w, "%s = %s\n", k.name, k.show(s))
	}
}

// encoder resolves the zstd and modcache settings to the zstd program ("" for the built-in
// encoder) and the cache directory ("" for none), with lookPath finding a program on $PATH
// and getenv reading the environment.
func encoder(s settings, lookPath func(string) (string, error), getenv func(string) string, euid int) (program, cache string) {
	switch s.zstd {
	case "auto":
		program, _ = lookPath("zstd")
	case "builtin":
	default:
		program = s.zstd
	}
	if program == "" {
		return "", ""
	}
	switch {
	case s.modcache == "none":
	case s.modcache != "auto":
		cache = s.modcache
	case getenv("XDG_CACHE_HOME") != "":
		cache = filepath.Join(getenv("XDG_CACHE_HOME"), "earlyroot", "modules")
	case euid == 0:
		cache = "/var/cache/earlyroot/modules"
	case getenv("HOME") != "":
		cache = filepath.Join(getenv("HOME"), ".cache", "earlyroot", "modules")
	}
	return program, cache
}
