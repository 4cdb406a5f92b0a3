// Package cryptopt is the one model of the options of an encrypted device,
// shared by the kernel command line (rd.luks.options=, cryptdevice=) and
// /etc/crypttab's fourth column, and of where its key comes from
// (rd.luks.key=, cryptkey=, crypttab's third column).
//
// The option names are systemd's crypttab(5) names, with the aliases that
// dracut, mkinitcpio and Debian users write. Parsing never fails: a
// malformed value keeps the default and is reported, an option that is
// known but not supported here is recorded and reported (unlocking then
// falls back to what is supported, usually the passphrase), and an unknown
// option is kept verbatim and reported. Nothing is ever fatal, because a
// boot that cannot honour an option should still try to open the device.
//
// Device specs are mount.ParseSpec's syntax (see DeviceSpec); the package
// depends on nothing else of the repository's, so the command line parser
// can use it.
package cryptopt

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTries is how many times a passphrase is asked for when tries= is
// not given, as in systemd and cryptsetup.
const DefaultTries = 3

// maxTries bounds tries= so that a typo cannot mean "practically forever";
// tries=0 is the way to say forever.
const maxTries = 1000

// maxKeyfileBytes bounds keyfile-offset= and keyfile-size=; cryptsetup's
// own limit on a key file is far smaller, this only keeps the numbers sane.
const maxKeyfileBytes = 1 << 40

// Options are the options of one encrypted device. The zero value is "no
// options given".
type Options struct {
	// dm-crypt performance and TRIM flags; see TableFlags.
	Discard             bool // discard, allow-discards
	SameCPUCrypt        bool // same-cpu-crypt
	SubmitFromCryptCPUs bool // submit-from-crypt-cpus
	NoReadWorkqueue     bool // no-read-workqueue
	NoWriteWorkqueue    bool // no-write-workqueue

	SectorSize int // sector-size=N (512..4096, a power of two); 0 = the header's

	Tries    int  // tries=N; meaningful when TriesSet, see MaxTries
	TriesSet bool // tries= was given (validly)

	KeyfileOffset int64 // keyfile-offset=N bytes
	KeyfileSize   int64 // keyfile-size=N bytes; 0 = to the end of the file

	ReadOnly bool // readonly, read-only

	Timeout        time.Duration // timeout=: how long to wait for a passphrase; 0 = no limit
	KeyfileTimeout time.Duration // keyfile-timeout=: how long to wait for the key's device before asking; 0 = not set

	Header      string // header=PATH (detached header): not supported, reported
	TPM2Device  string // tpm2-device=PATH|auto: not supported yet, passphrase instead
	FIDO2Device string // fido2-device=PATH|auto: not supported yet, passphrase instead

	InitrdAttach bool // x-initrd.attach: open in the initramfs
	Initramfs    bool // initramfs (Debian's name for x-initrd.attach)
	LUKS         bool // luks: the device must be LUKS
	NoFail       bool // nofail
	NoAuto       bool // noauto

	Unsupported []string // known options that are not supported here (plain, keyscript=, ...), verbatim
	Unknown     []string // unknown options, verbatim, in order
}

// MaxTries returns how many passphrases to ask for: tries= when given,
// otherwise DefaultTries. 0 means no limit.
func (o Options) MaxTries() int {
	if o.TriesSet {
		return o.Tries
	}
	return DefaultTries
}

// TableFlags returns the optional parameters of a dm-crypt table line that
// the flags ask for, in dm-crypt's spelling and in a fixed order. The
// sector size is not among them: it belongs to the LUKS segment.
func (o Options) TableFlags() []string {
	var out []string
	for _, f := range []struct {
		on   bool
		word string
	}{
		{o.Discard, "allow_discards"},
		{o.SameCPUCrypt, "same_cpu_crypt"},
		{o.SubmitFromCryptCPUs, "submit_from_crypt_cpus"},
		{o.NoReadWorkqueue, "no_read_workqueue"},
		{o.NoWriteWorkqueue, "no_write_workqueue"},
	} {
		if f.on {
			out = append(out, f.word)
		}
	}
	return out
}

// flags maps the names of value-less options to the field they set.
var flags = map[string]func(*Options){
	"discard":                func(o *Options) { o.Discard = true },
	"allow-discards":         func(o *Options) { o.Discard = true },
	"same-cpu-crypt":         func(o *Options) { o.SameCPUCrypt = true },
	"submit-from-crypt-cpus": func(o *Options) { o.SubmitFromCryptCPUs = true },
	"no-read-workqueue":      func(o *Options) { o.NoReadWorkqueue = true },
	"no-write-workqueue":     func(o *Options) { o.NoWriteWorkqueue = true },
	"readonly":               func(o *Options) { o.ReadOnly = true },
	"read-only":              func(o *Options) { o.ReadOnly = true },
	"x-initrd.attach":        func(o *Options) { o.InitrdAttach = true },
	"initramfs":              func(o *Options) { o.Initramfs = true },
	"luks":                   func(o *Options) { o.LUKS = true },
	"nofail":                 func(o *Options) { o.NoFail = true },
	"noauto":                 func(o *Options) { o.NoAuto = true },
	"auto":                   func(o *Options) { o.NoAuto = false },
	"fail":                   func(o *Options) { o.NoFail = false },
}

// unsupported names known options that this implementation does not act
// on, with the reason reported. The key is the option name without value.
var unsupported = map[string]string{
	"plain":         "only LUKS devices are supported",
	"tcrypt":        "only LUKS devices are supported",
	"bitlk":         "only LUKS devices are supported",
	"swap":          "formatting a swap device is not supported",
	"tmp":           "formatting a temporary file system is not supported",
	"keyscript":     "key scripts are not supported",
	"cipher":        "plain dm-crypt is not supported",
	"hash":          "plain dm-crypt is not supported",
	"size":          "plain dm-crypt is not supported",
	"offset":        "plain dm-crypt is not supported",
	"skip":          "plain dm-crypt is not supported",
	"pkcs11-uri":    "PKCS#11 unlocking is not supported, asking for the passphrase",
	"tpm2-pcrs":     "TPM2 unlocking is not supported yet, asking for the passphrase",
	"tpm2-pin":      "TPM2 unlocking is not supported yet, asking for the passphrase",
	"fido2-cid":     "FIDO2 unlocking is not supported yet, asking for the passphrase",
	"fido2-rp":      "FIDO2 unlocking is not supported yet, asking for the passphrase",
	"verify":        "asking for the passphrase twice is not supported, asking once",
	"token-timeout": "token unlocking is not supported, asking for the passphrase",
}

// Parse parses a comma-separated option list. It never fails: problems
// lists each option it could not honour as "OPTION: reason[, fallback]".
// Names compare with '-' and '_' equivalent; for a repeated option the
// last one wins.
func Parse(list string) (o Options, problems []string) {
	for _, opt := range strings.Split(list, ",") {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		if msg := o.apply(opt); msg != "" {
			problems = append(problems, opt+": "+msg)
		}
	}
	return o, problems
}

// apply records one option and returns a problem description, or "".
func (o *Options) apply(opt string) string {
	name, value, hasValue := strings.Cut(opt, "=")
	name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if set, ok := flags[name]; ok {
		if hasValue {
			return "takes no value, ignored"
		}
		set(o)
		return ""
	}
	switch name {
	case "sector-size":
		return o.sectorSize(value)
	case "tries":
		n, ok := number(value, maxTries)
		if !ok {
			return fmt.Sprintf("not a number 0-%d, using %d", maxTries, o.MaxTries())
		}
		o.Tries, o.TriesSet = int(n), true
	case "keyfile-offset":
		return bytesValue(value, &o.KeyfileOffset)
	case "keyfile-size":
		return bytesValue(value, &o.KeyfileSize)
	case "timeout":
		return timeValue(value, &o.Timeout)
	case "keyfile-timeout":
		return timeValue(value, &o.KeyfileTimeout)
	case "header":
		o.Header = value
		return "detached headers are not supported, reading the header from the device"
	case "tpm2-device":
		o.TPM2Device = value
		return "TPM2 unlocking is not supported yet, asking for the passphrase"
	case "fido2-device":
		o.FIDO2Device = value
		return "FIDO2 unlocking is not supported yet, asking for the passphrase"
	default:
		if why, ok := unsupported[name]; ok {
			o.Unsupported = append(o.Unsupported, opt)
			return why
		}
		o.Unknown = append(o.Unknown, opt)
		return "unknown option, ignored"
	}
	return ""
}

func (o *Options) sectorSize(v string) string {
	n, ok := number(v, 4096)
	if !ok || n < 512 || n&(n-1) != 0 {
		old := "the header's"
		if o.SectorSize != 0 {
			old = strconv.Itoa(o.SectorSize)
		}
		return "not a power of two from 512 to 4096, using " + old
	}
	o.SectorSize = int(n)
	return ""
}

func bytesValue(v string, dst *int64) string {
	n, ok := number(v, maxKeyfileBytes)
	if !ok {
		return fmt.Sprintf("not a number of bytes, using %d", *dst)
	}
	*dst = n
	return ""
}

func timeValue(v string, dst *time.Duration) string {
	d, ok := ParseTimespan(v)
	if !ok {
		return fmt.Sprintf("not a time span (such as 30, 10s or 1min 30s), using %s", *dst)
	}
	*dst = d
	return ""
}

// timeUnits are the units of systemd time spans that make sense for a
// boot prompt.
var timeUnits = map[string]time.Duration{
	"": time.Second, "ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
}

// maxTimespan bounds a time span far below time.Duration's limit.
const maxTimespan = 1000 * time.Hour

// ParseTimespan parses a systemd time span as crypttab's timeout options
// write it: whole numbers each followed by a unit (ms, s, min, h and their
// long forms), optionally separated by spaces; a bare number is seconds.
func ParseTimespan(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, ok := number(s[:i], int64(maxTimespan/time.Millisecond))
		if !ok {
			return 0, false
		}
		s = strings.TrimLeft(s[i:], " ")
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		unit, ok := timeUnits[s[:j]]
		if !ok {
			return 0, false
		}
		s = strings.TrimLeft(s[j:], " ")
		if n > int64(maxTimespan/unit) {
			return 0, false
		}
		total += time.Duration(n) * unit
		if total > maxTimespan {
			return 0, false
		}
	}
	return total, true
}

// number parses a decimal integer from 0 to max, digits only.
func number(s string, max int64) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}
