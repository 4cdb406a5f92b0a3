// Package cmdline parses the Linux kernel command line (/proc/cmdline) into
// the settings an initramfs /init needs, with the semantics the kernel,
// dracut, systemd and mkinitcpio give them.
//
// It is the one parser of the command line: PID 1 and the modprobe
// personality alike take module parameters and the blacklist from a
// Config (see modload.SystemOptions).
//
// Parsing is pure and never fails: unknown parameters are ignored, and
// malformed values of known parameters are reported in Config.Problems
// (naming the parameter and the fallback used) instead of aborting.
//
// Summary of the rules:
//
//   - words are split like the kernel's next_arg() (see Params): double
//     quotes group, and the quotes around a whole word or a value are removed;
//   - the last value wins, except for the accumulating lists (rootflags=,
//     modules_load=, rd.modules_load=, rd.driver.pre=, module_blacklist=,
//     modprobe.blacklist=, rd.driver.blacklist=, module parameters);
//   - a bare "--" sends every following word to Config.InitArgs;
//   - bare words (no '=', no '.') that are not switches known here (ro, rw,
//     rootwait, quiet, debug) go to Config.InitArgs, in order, as the kernel
//     passes them to init (e.g. "single", "emergency", "1", "s", "S");
//   - dotted words whose prefix is not a user-space namespace (rd.,
//     earlyroot., systemd., modprobe., udev., ...) are module parameters:
//     "virtio-blk.queue_depth=64" → ModParams["virtio_blk"] = ["queue_depth=64"];
//   - key names compare with '-' and '_' equivalent, like the kernel's parameq().
package cmdline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the root device timeout used when neither rootwait nor
// rd.timeout is given.
const DefaultTimeout = 30 * time.Second

// maxSeconds bounds every "N seconds" value so that the conversion to a
// time.Duration cannot overflow (about 68 years).
const maxSeconds = 1<<31 - 1

// Config is the result of parsing a kernel command line.
type Config struct {
	Root        string              // root= (raw spec string, quotes removed)
	RootFSTypes []string            // rootfstype= comma list (last wins)
	RootFlags   string              // rootflags=, repeated ones joined with ","
	ReadWrite   bool                // ro/rw, last wins, default false (read-only)
	RootWait    bool                // rootwait or rootwait=N (N > 0)
	RootWaitFor time.Duration       // rootwait=N; 0 = forever when RootWait
	RootDelay   time.Duration       // rootdelay=N seconds
	Timeout     time.Duration       // rd.timeout=N (0 = forever); default 30 s
	TimeoutSet  bool                // rd.timeout= was given (validly)
	Init        string              // init=
	InitArgs    []string            // bare words and everything after "--" (to pass to the real init)
	ModulesLoad []string            // modules_load=, rd.modules_load=, rd.driver.pre= (comma lists, accumulated, deduplicated)
	Blacklist   []string            // module_blacklist=, modprobe.blacklist=, rd.driver.blacklist= (accumulated, deduplicated, '-'→'_')
	ModParams   map[string][]string // "virtio_blk" -> ["queue_depth=64"]; module name normalised '-'→'_'; nil when none
	Resume      string              // resume=
	Usr         string              // mount.usr=: the /usr filesystem to mount (instead of the root's /etc/fstab's)
	UsrFSTypes  []string            // mount.usrfstype= comma list (last wins)
	UsrFlags    string              // mount.usrflags= (last wins)
	Break       string              // "" | "pre-mount" | "pre-switch" (bare rd.break = "pre-switch")
	Shell       bool                // rd.shell, default true
	Emergency   string              // rd.emergency=reboot|poweroff|halt, default "reboot"
	Panic       time.Duration       // panic=N seconds, as the kernel means it: 0 = forever, negative = at once (see PanicDelay)
	PanicSet    bool                // panic= was given (validly)
	Quiet       bool                // quiet
	Debug       bool                // rd.debug
	LogTarget   string              // earlyroot.log=console|kmsg|both (default both)
	LUKS        LUKS                // rd.luks.*, luks.*, cryptdevice=, cryptkey= (see luks.go)
	MD          MD                  // rd.md, rd.md.uuid=, rd.retry= (see md.go)
	LVM         LVM                 // rd.lvm, rd.lvm.vg=, rd.lvm.lv= (see lvm.go)
	Problems    []string            // "rootdelay=abc: not a number, using 0s" — malformed known values
}

// RootTimeout returns how long to wait for the root device:
//
//   - bare rootwait (or an invalid rootwait=N) waits forever;
//   - rootwait=N waits N seconds;
//   - otherwise rd.timeout=N (0 = forever);
//   - otherwise DefaultTimeout (30 s).
//
// rootwait wins over rd.timeout because it is the kernel's own, more
// specific, statement about the root device. rootwait=0 means "do not
// wait" to the kernel; an initramfs always has to wait for the device to
// appear, so rootwait=0 is treated as if rootwait were absent.
func (c Config) RootTimeout() (d time.Duration, forever bool) {
	switch {
	case c.RootWait && c.RootWaitFor > 0:
		return c.RootWaitFor, false
	case c.RootWait:
		return 0, true
	case c.TimeoutSet && c.Timeout <= 0:
		return 0, true
	case c.TimeoutSet:
		return c.Timeout, false
	}
	return DefaultTimeout, false
}

// PanicDelay is how long to wait before the emergency action (rd.emergency=) when the boot
// fails without a shell, as the kernel reads panic=N after its own panics: N seconds, wait
// forever for 0, act at once for a negative N. Without panic= it is def.
func (c Config) PanicDelay(def time.Duration) (d time.Duration, forever bool) {
	switch {
	case !c.PanicSet:
		return def, false
	case c.Panic == 0:
		return 0, true
	case c.Panic < 0:
		return 0, false
	}
	return c.Panic, false
}

// userNamespaces are dotted prefixes that belong to user space, not to
// kernel modules; dotted words with these prefixes are never ModParams.
var userNamespaces = map[string]bool{
	"rd": true, "earlyroot": true, "systemd": true, "modprobe": true,
	"udev": true, "vconsole": true, "locale": true, "luks": true,
	"plymouth": true, "mkinitcpio": true, "mount": true,
}

// valueKeys are known parameters that need a value; given bare they are a
// Problem, not an init argument.
var valueKeys = map[string]bool{
	"root": true, "rootfstype": true, "rootflags": true, "rootdelay": true,
	"init": true, "modules_load": true, "module_blacklist": true,
	"resume": true, "panic": true, "loglevel": true, "rd.timeout": true,
	"rd.modules_load": true, "rd.driver.pre": true, "rd.driver.blacklist": true,
	"modprobe.blacklist": true, "rd.emergency": true, "earlyroot.log": true,
	"mount.usr": true, "mount.usrfstype": true, "mount.usrflags": true,
}

// Parse parses a kernel command line. It never fails; see Config.Problems.
func Parse(line string) Config {
	c := Config{
		Timeout:   DefaultTimeout,
		Shell:     true,
		Emergency: "reboot",
		LogTarget: "both",
	}
	rest := skipSpaces(line)
	for rest != "" {
		var p Param
		p, rest = nextParam(rest)
		if !p.HasValue && p.Name == "--" {
			c.InitArgs = append(c.InitArgs, Split(rest)...)
			break
		}
		c.apply(p)
	}
	c.ModulesLoad = dedupe(c.ModulesLoad)
	c.Blacklist = dedupe(c.Blacklist)
	return c
}

// normKey makes '-' and '_' equivalent in parameter names.
func normKey(s string) string {
	return strings.ReplaceAll(s, "-", "_")
}

func (c *Config) problem(p Param, format string, args ...any) {
	c.Problems = append(c.Problems, p.String()+": "+fmt.Sprintf(format, args...))
}

// apply records one parameter.
func (c *Config) apply(p Param) {
	key := normKey(p.Name)
	if c.applyLUKS(p, key) || c.applyMD(p, key) || c.applyLVM(p, key) {
		return
	}
	if !p.HasValue {
		c.applyBare(p, key)
		return
	}
	if c.applyValue(p, key) {
		return
	}
	c.applyDotted(p)
}

// applyBare handles words without '='.
func (c *Config) applyBare(p Param, key string) {
	switch key {
	case "ro":
		c.ReadWrite = false
	case "rw":
		c.ReadWrite = true
	case "rootwait":
		c.RootWait, c.RootWaitFor = true, 0
	case "quiet":
		c.Quiet = true
	case "debug":
		// consumed by the kernel (and systemd); not an init argument
	case "rd.break":
		c.Break = "pre-switch"
	case "rd.shell":
		c.Shell = true
	case "rd.debug":
		c.Debug = true
	default:
		switch {
		case valueKeys[key]:
			c.problem(p, "missing value, ignored")
		case strings.Contains(p.Name, "."):
			c.applyDotted(p)
		case p.Name != "":
			c.InitArgs = append(c.InitArgs, p.Name)
		}
	}
}

// applyValue handles known name=value parameters; it reports whether the
// key was known.
func (c *Config) applyValue(p Param, key string) bool {
	v := p.Value
	switch key {
	case "root":
		c.Root = v
	case "rootfstype":
		c.RootFSTypes = commaList(v, nil, false)
	case "rootflags":
		if v != "" {
			if c.RootFlags != "" {
				c.RootFlags += ","
			}
			c.RootFlags += v
		}
	case "rootwait":
		c.parseRootWait(p)
	case "rootdelay":
		c.RootDelay = c.seconds(p, c.RootDelay, false)
	case "rd.timeout":
		if d, ok := parseSeconds(v, false); ok {
			c.Timeout, c.TimeoutSet = d, true
		} else {
			c.problem(p, "not a number of seconds, using %s", describeTimeout(*c))
		}
	case "init":
		c.Init = v
	case "modules_load", "rd.modules_load", "rd.driver.pre":
		c.ModulesLoad = commaList(v, c.ModulesLoad, false)
	case "module_blacklist", "modprobe.blacklist", "rd.driver.blacklist":
		c.Blacklist = commaList(v, c.Blacklist, true)
	case "resume":
		c.Resume = v
	case "mount.usr":
		c.Usr = v
	case "mount.usrfstype":
		c.UsrFSTypes = commaList(v, nil, false)
	case "mount.usrflags":
		c.UsrFlags = v
	case "rd.break":
		c.parseBreak(p)
	case "rd.shell":
		c.Shell = c.boolean(p, c.Shell)
	case "rd.debug":
		c.Debug = c.boolean(p, c.Debug)
	case "rd.emergency":
		c.parseEmergency(p)
	case "panic":
		if d, ok := parseSeconds(v, true); ok {
			c.Panic, c.PanicSet = d, true
		} else {
			c.problem(p, "not a number of seconds, using %s", c.Panic)
		}
	case "loglevel":
		// The kernel's own: it sets console_loglevel, which the boot log reads back from
		// /proc/sys/kernel/printk. Only checked here, as the kernel drops a bad one silently.
		if n, err := strconv.Atoi(p.Value); err != nil || n < 0 || n > 15 {
			c.problem(p, "not a log level 0-15, ignored")
		}
	case "earlyroot.log":
		c.parseLogTarget(p)
	default:
		return false
	}
	return true
}

func describeTimeout(c Config) string {
	if c.TimeoutSet && c.Timeout <= 0 {
		return "forever"
	}
	return c.Timeout.String()
}

// parseRootWait implements rootwait=N (Linux 6.5+): N seconds; an invalid
// value falls back to waiting forever, as the kernel does; 0 means no
// rootwait.
func (c *Config) parseRootWait(p Param) {
	d, ok := parseSeconds(p.Value, false)
	switch {
	case !ok:
		c.problem(p, "not a number of seconds, waiting forever")
		c.RootWait, c.RootWaitFor = true, 0
	case d == 0:
		c.RootWait, c.RootWaitFor = false, 0
	default:
		c.RootWait, c.RootWaitFor = true, d
	}
}

// seconds parses a non-negative number of seconds, reporting a problem and
// keeping old when it is malformed.
func (c *Config) seconds(p Param, old time.Duration, neg bool) time.Duration {
	d, ok := parseSeconds(p.Value, neg)
	if !ok {
		c.problem(p, "not a number of seconds, using %s", old)
		return old
	}
	return d
}

// parseSeconds parses a decimal integer number of seconds.
func parseSeconds(s string, neg bool) (time.Duration, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxSeconds || n < -maxSeconds || (n < 0 && !neg) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// boolean parses dracut-style booleans (0/no/off/false, 1/yes/on/true,
// empty = true), keeping old on anything else.
func (c *Config) boolean(p Param, old bool) bool {
	switch strings.ToLower(p.Value) {
	case "", "1", "yes", "y", "on", "true":
		return true
	case "0", "no", "n", "off", "false":
		return false
	}
	c.problem(p, "not a boolean, using %d", btoi(old))
	return old
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// breakPoints maps dracut hook names to the nearest supported break point.
var breakPoints = map[string]string{
	"cmdline": "pre-mount", "pre-udev": "pre-mount", "pre-trigger": "pre-mount",
	"initqueue": "pre-mount", "mount": "pre-switch", "pre-pivot": "pre-switch",
	"cleanup": "pre-switch",
}

func (c *Config) parseBreak(p Param) {
	switch p.Value {
	case "", "pre-switch":
		c.Break = "pre-switch"
	case "pre-mount":
		c.Break = "pre-mount"
	default:
		bp, ok := breakPoints[p.Value]
		if !ok {
			bp = "pre-switch"
		}
		c.problem(p, "unsupported break point, using %s", bp)
		c.Break = bp
	}
}

func (c *Config) parseEmergency(p Param) {
	switch p.Value {
	case "reboot", "poweroff", "halt":
		c.Emergency = p.Value
	default:
		c.problem(p, "not reboot, poweroff or halt, using %s", c.Emergency)
	}
}

func (c *Config) parseLogTarget(p Param) {
	switch p.Value {
	case "console", "kmsg", "both":
		c.LogTarget = p.Value
	default:
		c.problem(p, "not console, kmsg or both, using %s", c.LogTarget)
	}
}

// applyDotted records "module.param[=value]" for dotted words whose prefix
// is not a user-space namespace; everything else is ignored.
func (c *Config) applyDotted(p Param) {
	mod, param, ok := strings.Cut(p.Name, ".")
	if !ok || mod == "" || param == "" || userNamespaces[mod] || !validModule(mod) {
		return
	}
	if strings.ContainsAny(param, " \t\n\v\f\r\"") {
		return
	}
	mod = normKey(mod)
	if p.HasValue {
		param += "=" + quoteValue(p.Value)
	}
	if c.ModParams == nil {
		c.ModParams = make(map[string][]string)
	}
	c.ModParams[mod] = append(c.ModParams[mod], param)
}

// validModule reports whether s looks like a module name.
func validModule(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// quoteValue re-adds the double quotes finit_module needs to keep a value
// containing whitespace in one piece.
func quoteValue(v string) string {
	for i := 0; i < len(v); i++ {
		if isSpace(v[i]) {
			return `"` + v + `"`
		}
	}
	return v
}

// commaList appends the non-empty items of the comma list s to dst,
// optionally normalising '-' to '_'. Parse removes duplicates at the end.
func commaList(s string, dst []string, norm bool) []string {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if norm {
			item = normKey(item)
		}
		dst = append(dst, item)
	}
	return dst
}

// dedupe removes repeated items, keeping the first occurrence.
func dedupe(list []string) []string {
	if len(list) < 2 {
		return list
	}
	seen := make(map[string]bool, len(list))
	out := list[:0]
	for _, x := range list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
