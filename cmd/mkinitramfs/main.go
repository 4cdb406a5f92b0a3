// Command mkinitramfs builds an earlyroot initramfs image.
//
//	mkinitramfs -o OUT [-kver VER] [-moddir DIR] [-init PATH] [-config DIR] [-print-config]
//	            [-compress ...] [-modcompress ...] [-hostonly] [-modules a,b] [-omit a,b]
//	            [-file SRC[:DST]]... [-microcode=false] [-firmware=false]
//	            [-keymap NAME] [-font NAME] [-root DIR] [-v] ...
//
// (mkinitramfs -h lists every flag.) By default the image holds every
// module a root device could need (the generic set, see
// initramfs.GenericSelection) but the legacy host adapters, which -legacyhba
// adds; -hostonly narrows it to the drivers of this machine's devices and its
// root filesystem. An early microcode archive
// goes in front, and the firmware the modules name goes in, and so do the
// console keymap (compiled by kbd's loadkeys) and font: the configuration's,
// or else the system's (vconsole.conf, or Debian's keyboard and
// console-setup files), so that a passphrase is typed with the user's
// layout.
//
// Settings come from built-in defaults, then /etc/earlyroot/earlyroot.conf
// and earlyroot.conf.d/*.conf (see config.go and README.md's
// Configuration), then the flags, which win.
//
// The image is reproducible: the same inputs give the same bytes (entry
// mtimes are 0, or SOURCE_DATE_EPOCH when set). The output is written to a
// temporary file next to OUT, synced and renamed, so a failed run leaves
// the previous image untouched.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/host"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// synopsis is the first part of the usage text; README.md shows the same.
const synopsis = `usage: mkinitramfs -o OUT [-kver VER] [-moddir DIR] [-init PATH] [-config DIR] [-print-config]
                   [-compress zstd|gzip|xz|lz4|none] [-initcompress zstd|gzip|xz|none] [-modcompress none|xz|zst|gz]
                   [-zstd auto|builtin|PATH] [-moddict=false] [-modcache auto|none|DIR]
                   [-roothint auto|none|TYPE] [-unpack a,b,...|none] [-hostonly] [-legacyhba] [-sysfs DIR] [-mounts FILE] [-cpuinfo FILE]
                   [-mdadmconf FILE]
                   [-devdir DIR] [-cmdline FILE]
                   [-modules a,b,...] [-omit a,b,...] [-file SRC[:DST]]...
                   [-microcode=false] [-firmware=false] [-firmwaredir DIR] [-kconfig FILE]
                   [-keymap NAME] [-font NAME] [-root DIR] [-v]

Settings come from the built-in defaults, then DIR/earlyroot.conf and
DIR/earlyroot.conf.d/*.conf (-config, default /etc/earlyroot), then the flags:
a flag replaces a value, or appends to a list (-modules, -omit, -file).

`

// confFlag is a flag that sets a configuration key. Its values are kept
// in command-line order and applied after the configuration files.
type confFlag struct {
	key    string
	isBool bool
	given  *[]keyValue
}

type keyValue struct{ key, value string }

func (f confFlag) String() string {
	if f.key == "" {
		return ""
	}
	k, _ := findKey(f.key)
	return k.show(defaultSettings())
}

// Set checks v at once (so that a bad value is a usage error) and records it.
func (f confFlag) Set(v string) error {
	k, _ := findKey(f.key)
	scratch := defaultSettings()
	if err := k.set(&scratch, v); err != nil {
		return err
	}
	*f.given = append(*f.given, keyValue{f.key, v})
	return nil
}

func (f confFlag) IsBoolFlag() bool { return f.isBool }

// fileList collects repeated -file flags. A relative SRC is allowed here
// and made absolute, as the configuration's files key wants it (so that
// -print-config's output reads back).
type fileList []initramfs.File

func (l *fileList) String() string { return "" }

func (l *fileList) Set(s string) error {
	f, err := initramfs.ParseFile(s)
	if err != nil {
		return err
	}
	if f.Src, err = filepath.Abs(f.Src); err != nil {
		return fmt.Errorf("-file %q: %w", s, err)
	}
	*l = append(*l, f)
	return nil
}

type options struct {
	out, kver, moddir, init       string
	sysfs, mounts, cpuinfo        string
	devDir, cmdline               string
	mdadmConf                     string
	firmwareDir, kconfig, confDir string
	root                          string // the system the image is for: its console settings, crypttab, mdadm.conf
	verbose, printConfig          bool
	given                         []keyValue // configuration flags, in order
	files                         fileList
}

// flagDocs are the usage lines of the flags that set a configuration key.
var flagDocs = map[string]string{
	"modules":      "extra `modules`, comma separated (names or aliases)",
	"omit":         "`modules` to leave out, comma separated, with every module that depends on them",
	"compress":     "archive compression `method`: zstd, gzip, xz, lz4 or none",
	"modcompress":  "compression `method` of each module file: none, xz, zst or gz (xz and gz only for a kernel that decompresses them: the init decodes zst only)",
	"zstd":         "the `program` making the .ko.zst modules and the init's zstd archive (-initcompress) (its level 19, checked by decoding): auto (zstd on $PATH, else the built-in encoder), builtin, or the program's absolute path",
	"moddict":      "the zstd program trains a dictionary on the .ko.zst modules and compresses them with it (modules.zstd-dict in the image's module dir; the init decodes them with it, `zstd -d -D` does too)",
	"modcache":     "`dir` where the zstd program's module files are kept for the next image: auto ($XDG_CACHE_HOME/earlyroot/modules, else /var/cache/earlyroot/modules for root, else ~/.cache/earlyroot/modules), none, or an absolute path",
	"initcompress": "with -compress none, compression `method` of a second archive holding the init and every other file not compressed already (the modules stay in a plain archive, which the kernel only copies): zstd, gzip, xz or none (one plain archive)",
	"roothint":     "root filesystem `type` whose modules load at once on a machine with more than one CPU, while the root is being found: auto (the type of / in -mounts: the system making the image, as a kernel hook makes it), none, or a type",
	"unpack":       "generic image: `modules` expected at most boots, comma separated, carried with what they need uncompressed for the kernel to unpack with the init (replaces the default list; none: only the -roothint filesystem's)",
	"hostonly":     "only the modules this machine needs",
	"legacyhba":    "a generic image also has the legacy host adapters it leaves out: parallel-SCSI adapters and the SCSI and PATA RAID cards of the 1990s and early 2000s (aic7xxx, aic79xx, advansys, qla1280, ips, megaraid, 3w-xxxx and others)",
	"microcode":    "prepend the early CPU microcode archive (host-only: this CPU's only)",
	"firmware":     "add the firmware files the included modules name",
	"keymap":       "console keymap `name` (kbd's, e.g. de-latin1; none: no keymap; default: the system's)",
	"font":         "console font `name` (a PSF font, e.g. eurlatgr; none: no font; default: the system's)",
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mkinitramfs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), synopsis)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.out, "o", "", "output image `file` (required unless -print-config)")
	fs.StringVar(&o.kver, "kver", "", "kernel `version` (default: uname -r)")
	fs.StringVar(&o.moddir, "moddir", "", "module `dir` (default: /lib/modules/<kver>)")
	fs.StringVar(&o.init, "init", "", "init `binary` (default: init next to this executable)")
	fs.StringVar(&o.confDir, "config", "/etc/earlyroot", "configuration `dir`: earlyroot.conf and earlyroot.conf.d/*.conf")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration and exit")
	fs.BoolVar(&o.verbose, "v", false, "list every file in the image")
	fs.StringVar(&o.sysfs, "sysfs", "/sys", "sysfs root `dir` for -hostonly")
	fs.StringVar(&o.mounts, "mounts", "/proc/mounts", "mount table `file` for -hostonly")
	fs.StringVar(&o.devDir, "devdir", "/dev", "device `dir` for -hostonly: LUKS headers, MD members' superblocks and /dev/disk links")
	fs.StringVar(&o.cmdline, "cmdline", "/proc/cmdline", "kernel command line `file` for -hostonly (resume=)")
	fs.StringVar(&o.cpuinfo, "cpuinfo", "/proc/cpuinfo", "CPU description `file` for -hostonly microcode")
	fs.StringVar(&o.mdadmConf, "mdadmconf", "", "the host's mdadm.conf `file` for -hostonly: the ARRAY lines of the arrays under the root, /usr and the x-initrd.mount filesystems go into the image (default: etc/mdadm/mdadm.conf, else etc/mdadm.conf, below -root)")
	fs.StringVar(&o.firmwareDir, "firmwaredir", "/lib/firmware", "firmware and microcode `dir`")
	fs.StringVar(&o.kconfig, "kconfig", "", "the kernel's .config `file`, for the compressed firmware and modules it loads (default: /boot/config-<kver>, or boot/ beside lib/modules)")
	fs.StringVar(&o.root, "root", "/", "the system `dir` the image is for: its console settings (vconsole.conf, /etc/default/keyboard, console-setup), keymaps and fonts, and for -hostonly its /etc/crypttab, key files and mdadm.conf, are read below it")
	fs.Var(&o.files, "file", "extra file `SRC[:DST]` (repeatable; DST defaults to SRC's absolute path)")
	for _, k := range confKeys {
		if k.name == "files" {
			continue // -file above
		}
		b := k.show(defaultSettings())
		fs.Var(confFlag{key: k.name, isBool: b == "yes" || b == "no", given: &o.given}, k.name, flagDocs[k.name])
	}
	return fs
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.out == "" && !o.printConfig {
		return o, errors.New("-o OUT is required")
	}
	return o, nil
}

// effective returns the settings: defaults, configuration files, flags.
func effective(o options) (settings, []string, error) {
	s := defaultSettings()
	files, err := loadConf(o.confDir, &s)
	if err != nil {
		return s, nil, err
	}
	for _, g := range o.given {
		k, _ := findKey(g.key)
		if err := k.set(&s, g.value); err != nil {
			return s, nil, fmt.Errorf("-%s: %w", g.key, err)
		}
	}
	s.Files = append(s.Files, o.files...)
	return s, files, nil
}

// run is the whole command; an interrupt (ctx done) stops the build and
// leaves no output behind.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mkinitramfs: %v\n", err)
		return 2
	}
	s, confs, err := effective(o)
	if err != nil {
		fmt.Fprintf(stderr, "mkinitramfs: %v\n", err)
		return 2
	}
	if o.printConfig {
		printConf(stdout, s, confs)
		return 0
	}
	cfg, err := config(o, s)
	if err != nil {
		fmt.Fprintf(stderr, "mkinitramfs: %v\n", err)
		return 2
	}
	res, err := initramfs.WriteFileContext(ctx, cfg, o.out)
	if err != nil {
		fmt.Fprintf(stderr, "mkinitramfs: %v\n", err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "mkinitramfs: warning: %s\n", w)
	}
	summary(stdout, o, s, res)
	return 0
}

// config is the image's initramfs.Config: the settings' keys, and the
// flags that are no configuration key.
func config(o options, s settings) (initramfs.Config, error) {
	cfg := s.Config
	cfg.KernelVersion, cfg.ModDir, cfg.Init = o.kver, o.moddir, o.init
	cfg.SysFS, cfg.Mounts, cfg.CPUInfo = o.sysfs, o.mounts, o.cpuinfo
	cfg.HostRoot, cfg.DevDir, cfg.HostCmdline = o.root, o.devDir, o.cmdline
	cfg.MDAdmConf = o.mdadmConf
	cfg.FirmwareDir, cfg.KernelConfig = o.firmwareDir, o.kconfig
	var err error
	if cfg.KernelVersion == "" {
		if cfg.KernelVersion, err = host.KernelRelease(); err != nil {
			return cfg, err
		}
	}
	if cfg.ModDir == "" {
		cfg.ModDir = filepath.Join("/lib/modules", cfg.KernelVersion)
	}
	if cfg.Init == "" {
		if cfg.Init, err = defaultInit(); err != nil {
			return cfg, err
		}
	}
	cfg.ZstdProgram, cfg.ModuleCache = encoder(s, exec.LookPath, os.Getenv, os.Geteuid())
	if cfg.Console, err = console(o.root, s); err != nil {
		return cfg, err
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if cfg.MTime, err = strconv.ParseUint(s, 10, 32); err != nil {
			return cfg, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a valid time", s)
		}
	}
	return cfg, nil
}

// console is the image's keymap and font: the settings', or where they
// are empty the system's below root. What comes from the system is
// optional: a keymap its tools cannot compile leaves the image without
// one, with a warning, rather than failing a kernel's installation.
func console(root string, s settings) (initramfs.Console, error) {
	c := initramfs.Console{Root: root}
	if s.keymap == "" || s.font == "" {
		sys, err := initramfs.SystemConsole(root)
		if err != nil {
			return c, fmt.Errorf("console settings: %w", err)
		}
		c = sys
	}
	switch s.keymap {
	case "":
		c.KeymapOptional = true
	case "none":
		c.Keymap, c.XKB = "", initramfs.XKB{}
	default:
		c.Keymap, c.XKB = s.keymap, initramfs.XKB{}
	}
	switch s.font {
	case "":
		c.FontOptional = true
	case "none":
		c.Font = ""
	default:
		c.Font = s.font
	}
	return c, nil
}

// splitList splits a list of module names at commas and blanks.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// defaultInit is the init binary next to this executable (build/init next
// to build/mkinitramfs).
func defaultInit() (string, error) {
	exe, err := executable(os.Executable, os.Args[0], exec.LookPath)
	if err != nil {
		return "", fmt.Errorf("find default init: %w", err)
	}
	p := filepath.Join(filepath.Dir(exe), "init")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no -init given and no init binary next to %s: %w", exe, err)
	}
	return p, nil
}

// executable is this program's path with symbolic links resolved. os.Executable reads
// /proc/self/exe, which a chroot without /proc lacks: a kernel package installed in an image
// builder's or installer's chroot runs the kernel hook there. The path then comes from argv[0]
// (through $PATH when it has no slash), as the hook ran it: /usr/sbin/earlyroot-mkinitramfs,
// a link to /usr/lib/earlyroot/mkinitramfs, beside which the init is.
func executable(osExecutable func() (string, error), argv0 string, lookPath func(string) (string, error)) (string, error) {
	exe, err := osExecutable()
	if err == nil {
		return exe, nil
	}
	p := argv0
	if !strings.Contains(p, "/") {
		if p, err = lookPath(argv0); err != nil {
			return "", fmt.Errorf("%s: not found in $PATH without /proc: %w", argv0, err)
		}
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("argv[0] %s (no /proc): %w", argv0, err)
	}
	return resolved, nil
}

func summary(w io.Writer, o options, s settings, res initramfs.Result) {
	if o.verbose {
		for _, e := range res.Entries {
			switch {
			case e.Target != "":
				fmt.Fprintf(w, "%s -> %s\n", e.Name, e.Target)
			case e.IsDir():
				fmt.Fprintf(w, "%s/\n", e.Name)
			default:
				fmt.Fprintf(w, "%s %d\n", e.Name, e.Size)
			}
		}
	}
	mode := "generic"
	if s.HostOnly {
		mode = "host-only"
	}
	fmt.Fprintf(w, "kernel %s: %d modules (%s), %s in the tree", res.KernelVersion, len(res.Modules), mode, host.Size(res.ModuleBytes))
	if res.ModCompression != initramfs.None && res.ModuleImageBytes != res.ModuleBytes { // (a tree of .ko.xz stays as it is)
		fmt.Fprintf(w, ", %s as %s", host.Size(res.ModuleImageBytes), res.ModCompression)
		switch {
		case res.ModCompression == initramfs.Zstd && res.ZstdDict > 0:
			fmt.Fprintf(w, " (%s, with a %s dictionary)", res.ZstdEncoder, host.Size(int64(res.ZstdDict)))
		case res.ModCompression == initramfs.Zstd:
			fmt.Fprintf(w, " (%s)", res.ZstdEncoder)
		}
	}
	fmt.Fprintf(w, "\n")
	switch {
	case len(res.LeftOut) == 0:
	case s.HostOnly:
		fmt.Fprintf(w, "left out: %d modules of the generic set (the rescue shell names the one a controller it sees needs)\n", len(res.LeftOut))
	default:
		fmt.Fprintf(w, "left out (-legacyhba or -modules adds them; the rescue shell names the one a controller it sees needs): %s\n", strings.Join(res.LeftOut, " "))
	}
	switch {
	case !s.Microcode:
	case len(res.Microcode) == 0 && res.CPU != nil:
		fmt.Fprintf(w, "microcode: none for %s in %s\n", res.CPU, o.firmwareDir)
	case len(res.Microcode) == 0:
		fmt.Fprintf(w, "microcode: none in %s\n", o.firmwareDir)
	default:
		fmt.Fprintf(w, "microcode: %s (early archive %s)\n", strings.Join(res.Microcode, " "), host.Size(res.EarlyBytes))
	}
	if s.Firmware {
		list := strings.Join(res.Firmware, " ")
		if list == "" {
			list = "none"
		}
		fmt.Fprintf(w, "firmware: %s\n", list)
	}
	if s.HostOnly {
		list := strings.Join(res.Crypttab, ", ")
		if list == "" {
			list = "none"
		}
		fmt.Fprintf(w, "crypttab: %s\n", list)
	}
	if res.Keymap != "" || res.Font != "" {
		fmt.Fprintf(w, "console: keymap %s, font %s\n", orNone(res.Keymap), orNone(res.Font))
	}
	if res.RootFSHint != "" {
		fmt.Fprintf(w, "root filesystem hint: %s (its modules load at once with more than one CPU)\n", res.RootFSHint)
	}
	if len(res.Unpacked) > 0 {
		fmt.Fprintf(w, "modules the kernel unpacks with the init archive: %s\n", strings.Join(res.Unpacked, " "))
	}
	how := string(res.Compression)
	if res.InitCompression != "" && res.InitCompression != initramfs.None {
		how = "compressed files plain, the rest " + string(res.InitCompression)
	}
	fmt.Fprintf(w, "%s: %d entries, archive %s, image %s (%s)\n", o.out, len(res.Entries),
		host.Size(res.ArchiveBytes), host.Size(res.ImageBytes), how)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
