package modload

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/cmdline"
)

// RootFSHintPath is the image file (relative to its root) that names the filesystem type of
// the root the image was made for, one word and a newline: on a machine with more than one
// CPU the init loads that filesystem's modules at once, while the root is still being found
// (the hint only orders loads; the root's own probe decides what is mounted).
const RootFSHintPath = "etc/earlyroot/rootfstype"

// ModprobeTarget is where the image's /sbin/modprobe points: a symlink to /init that the
// init creates when it starts (on the /run tmpfs) and removes before switch_root. Until
// then /sbin/modprobe dangles, so the kernel's module requests while it is still
// initialising (its crypto self-tests ask for algorithms that are built in) fail at once
// instead of each starting this binary, which would only find them built in.
const ModprobeTarget = "/run/earlyroot/modprobe"

// ModprobeMain runs the init binary as modprobe, for the kernel's
// request_module ("/sbin/modprobe -q -- fs-ext4"). args is the whole
// argument vector, args[0] being the program name. Supported:
//
//	modprobe [-q] [-b] [-v] [--] NAME [PARAM=VALUE...]
//	modprobe -a [-q] [-b] [-v] [--] NAME...
//
// NAME is a module name or an alias. Parameters and the blacklist come
// from [SystemOptions], as for PID 1: modprobe.d files under the root that
// holds moddir (<root>/lib/modules/<kver>) and /proc/cmdline as package
// cmdline parses it ("NAME.PARAM=VALUE", module_blacklist=,
// modprobe.blacklist=, rd.driver.blacklist=); parameters given to modprobe
// itself come last. The blacklist applies to aliases, and with -b to
// module names too. -r is not
// supported. The exit status is 0 when every module is loaded, built in or
// already present, else 1.
func ModprobeMain(args []string, moddir string, stderr io.Writer) int {
	return modprobe(args, modprobeEnv{
		moddir:    moddir,
		root:      filepath.Clean(filepath.Join(moddir, "..", "..", "..")),
		cmdline:   "/proc/cmdline",
		sysModule: "/sys/module",
		cpu:       CPUModaliasPath("/sys"),
		stderr:    stderr,
	})
}

// modprobeEnv holds what ModprobeMain takes from the running system.
type modprobeEnv struct {
	moddir    string
	root      string // holds the modprobe.d directories (see confDirs)
	cmdline   string // the kernel command line file; "" reads none
	sysModule string
	cpu       string // the CPU's modalias file (see Options.CPU); "" reads none
	stderr    io.Writer
	setup     func(*Loader) // tests replace the syscalls here
}

type modprobeFlags struct {
	quiet, all, useBlacklist, verbose bool
	names                             []string
}

func parseModprobeArgs(args []string) (modprobeFlags, error) {
	var f modprobeFlags
	if len(args) > 0 {
		args = args[1:]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			f.names = append(f.names, args[i+1:]...)
			return f, nil
		case a == "--quiet":
			f.quiet = true
		case a == "--all":
			f.all = true
		case a == "--use-blacklist":
			f.useBlacklist = true
		case a == "--verbose":
			f.verbose = true
		case a == "--remove":
			return f, errors.New("-r (remove) is not supported")
		case strings.HasPrefix(a, "--"):
			return f, fmt.Errorf("unknown option %s", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 'q':
					f.quiet = true
				case 'a':
					f.all = true
				case 'b':
					f.useBlacklist = true
				case 'v':
					f.verbose = true
				case 'r':
					return f, errors.New("-r (remove) is not supported")
				default:
					return f, fmt.Errorf("unknown option -%c", c)
				}
			}
		default:
			f.names = append(f.names, a)
		}
	}
	return f, nil
}

func modprobe(args []string, env modprobeEnv) int {
	f, err := parseModprobeArgs(args)
	if err != nil {
		fmt.Fprintf(env.stderr, "modprobe: %v\n", err)
		return 1
	}
	if len(f.names) == 0 {
		fmt.Fprintln(env.stderr, "modprobe: no module name given")
		return 1
	}
	ix, err := OpenImage(env.moddir)
	if err != nil {
		fmt.Fprintf(env.stderr, "modprobe: %v\n", err)
		return 1
	}
	opt := env.options()
	if !f.all && len(f.names) > 1 {
		name := normName(f.names[0])
		opt.Params[name] = append(opt.Params[name], f.names[1:]...)
		f.names = f.names[:1]
	}
	l := NewLoader(ix, env.moddir, opt)
	if env.setup != nil {
		env.setup(l)
	}
	status := 0
	for _, name := range f.names {
		var rs []Result
		if n := normName(name); ix.isName(n) {
			if f.useBlacklist && l.blacklist[n] {
				rs = []Result{{Module: n, Alias: name, Status: Blacklisted}}
			} else {
				rs = []Result{l.Load(name)}
			}
		} else {
			rs = l.LoadAlias(name)
		}
		if !report(rs, name, env, f) {
			status = 1
		}
	}
	return status
}

// isName reports whether n is a module or built-in name.
func (ix *Index) isName(n string) bool {
	_, ok := ix.find(n)
	return ok || ix.Builtin(n)
}

// report prints what happened to name and reports success: every module
// loaded or present (a blacklisted alias counts as success, as with
// modprobe), and at least one module found.
func report(rs []Result, name string, env modprobeEnv, f modprobeFlags) bool {
	ok := false
	for _, r := range rs {
		switch {
		case r.Status == NoModule:
			if !f.quiet {
				fmt.Fprintf(env.stderr, "modprobe: module %s not found in %s\n", name, env.moddir)
			}
		case r.Status == Failed:
			fmt.Fprintf(env.stderr, "modprobe: %v\n", r.Err)
		case r.Status == OtherCPU:
			fmt.Fprintf(env.stderr, "modprobe: %s: not for this CPU (it lacks the features of the module's cpu: aliases)\n", r.Module)
		default:
			ok = true
			if f.verbose {
				fmt.Fprintf(env.stderr, "modprobe: %s: %s\n", r.Module, r.Status)
			}
		}
	}
	return ok
}

// options gathers parameters and blacklist from modprobe.d and the kernel
// command line through SystemOptions, the code path PID 1 uses too;
// unreadable files and bad lines are skipped.
func (env modprobeEnv) options() Options {
	var cfg cmdline.Config
	if env.cmdline != "" {
		if data, err := readFileLimit(env.cmdline, maxLine); err == nil {
			cfg = cmdline.Parse(string(data))
		}
	}
	opt, _ := SystemOptions(env.root, cfg)
	opt.SysModule = env.sysModule
	opt.CPU = ReadCPUModalias(env.cpu)
	return opt
}
