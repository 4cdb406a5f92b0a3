// Command mkinitramfs builds an earlyroot initramfs image.
//
//	mkinitramfs -o OUT [-kver VER] [-moddir DIR] [-compress zstd|gzip|xz|lz4|none]
//	            [-hostonly] [-modules a,b,...] [-omit a,b,...] [-file SRC[:DST]]...
//	            [-init PATH] [-modcompress none|xz|zst|gz] [-v]
//
// By default the image holds every module a root device could need (the
// generic set, see initramfs.GenericSelection); -hostonly narrows it to the
// drivers of this machine's devices and its root filesystem. The image is
// reproducible: the same inputs give the same bytes (entry mtimes are 0, or
// SOURCE_DATE_EPOCH when set). The output is written to a temporary file
// next to OUT and renamed, so a failed run leaves no partial image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

// fileList collects repeated -file flags.
type fileList []initramfs.File

func (l *fileList) String() string { return fmt.Sprint(*l) }

func (l *fileList) Set(s string) error {
	f, err := initramfs.ParseFile(s)
	if err != nil {
		return err
	}
	*l = append(*l, f)
	return nil
}

type options struct {
	out, kver, moddir, compress, modcompress, init string
	sysfs, mounts                                  string
	hostonly, verbose                              bool
	modules, omit                                  string
	files                                          fileList
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mkinitramfs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "o", "", "output image `file` (required)")
	fs.StringVar(&o.kver, "kver", "", "kernel `version` (default: uname -r)")
	fs.StringVar(&o.moddir, "moddir", "", "module `dir` (default: /lib/modules/<kver>)")
	// The defaults are the layout that boots fastest (make bench): an uncompressed archive,
	// which the kernel unpacks with a copy, holding zstd-compressed modules, of which the
	// init decompresses only the few it loads.
	fs.StringVar(&o.compress, "compress", "none", "archive compression: zstd, gzip, xz, lz4 or none")
	fs.StringVar(&o.modcompress, "modcompress", "zst", "compression of each module file: none, xz, zst or gz")
	fs.BoolVar(&o.hostonly, "hostonly", false, "only the modules this machine needs")
	fs.StringVar(&o.modules, "modules", "", "extra modules, comma separated (names or aliases)")
	fs.StringVar(&o.omit, "omit", "", "modules to leave out, comma separated")
	fs.Var(&o.files, "file", "extra file `SRC[:DST]` (repeatable; DST defaults to SRC's absolute path)")
	fs.StringVar(&o.init, "init", "", "init `binary` (default: init next to this executable)")
	fs.BoolVar(&o.verbose, "v", false, "list every file in the image")
	fs.StringVar(&o.sysfs, "sysfs", "/sys", "sysfs root for -hostonly")
	fs.StringVar(&o.mounts, "mounts", "/proc/mounts", "mount table for -hostonly")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.out == "" {
		return o, errors.New("-o OUT is required")
	}
	return o, nil
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
	cfg, err := config(o)
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
	summary(stdout, o, res)
	return 0
}

func config(o options) (initramfs.Config, error) {
	cfg := initramfs.Config{
		KernelVersion: o.kver,
		ModDir:        o.moddir,
		Init:          o.init,
		HostOnly:      o.hostonly,
		SysFS:         o.sysfs,
		Mounts:        o.mounts,
		Modules:       splitList(o.modules),
		Omit:          splitList(o.omit),
		Files:         o.files,
	}
	var err error
	if cfg.Compression, err = initramfs.ParseCompression(o.compress); err != nil {
		return cfg, fmt.Errorf("-compress: %w", err)
	}
	if cfg.ModCompression, err = initramfs.ParseCompression(o.modcompress); err != nil {
		return cfg, fmt.Errorf("-modcompress: %w", err)
	}
	if _, err := cfg.ModCompression.ModuleSuffix(); err != nil {
		return cfg, fmt.Errorf("-modcompress: %w", err)
	}
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
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if cfg.MTime, err = strconv.ParseUint(s, 10, 32); err != nil {
			return cfg, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a valid time", s)
		}
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// defaultInit is the init binary next to this executable (build/init next
// to build/mkinitramfs).
func defaultInit() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find default init: %w", err)
	}
	p := filepath.Join(filepath.Dir(exe), "init")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no -init given and no init binary next to %s: %w", exe, err)
	}
	return p, nil
}

func summary(w io.Writer, o options, res initramfs.Result) {
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
	if o.hostonly {
		mode = "host-only"
	}
	fmt.Fprintf(w, "kernel %s: %d modules (%s), %s in the tree", res.KernelVersion, len(res.Modules), mode, host.Size(res.ModuleBytes))
	if res.ModCompression != initramfs.None {
		fmt.Fprintf(w, ", %s as %s", host.Size(res.ModuleImageBytes), res.ModCompression)
	}
	fmt.Fprintf(w, "\n%s: %d entries, archive %s, image %s (%s)\n", o.out, len(res.Entries),
		host.Size(res.ArchiveBytes), host.Size(res.ImageBytes), res.Compression)
}
