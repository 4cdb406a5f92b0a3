package cmdline

import (
	"strconv"
	"strings"

	"github.com/earlyroot/earlyroot/cryptopt"
)

// LUKS is what the command line says about encrypted (LUKS) devices, in
// the dracut and systemd forms (rd.luks.*, and luks.* which systemd also
// honours in the initramfs) and mkinitcpio's (cryptdevice=, cryptkey=):
//
//	rd.luks=0                          open no LUKS device
//	rd.luks.crypttab=0                 ignore the image's /etc/crypttab
//	rd.luks.uuid=[luks-]UUID           open this device (repeatable)
//	rd.luks.name=UUID=NAME             open it as /dev/mapper/NAME
//	rd.luks.options=[UUID=]OPTS        options (see package cryptopt); per
//	                                   device, or for every device without
//	                                   options of its own
//	rd.luks.key=[UUID=]PATH[:SPEC]     key file in the image, or on the
//	                                   device SPEC (UUID=, LABEL=, ...)
//	rd.luks.key=PATH:SPEC:LUKSDEV      dracut's per-device form
//	rd.luks.allow-discards[=UUID]      discard on every device, or on one
//	cryptdevice=DEV:NAME[:OPTS]        mkinitcpio: device and name
//	cryptkey=rootfs:PATH               its key: a file in the image,
//	cryptkey=DEV:FSTYPE:PATH           a file on a device,
//	cryptkey=DEV:OFFSET:SIZE           or bytes of a device
//
// UUIDs are compared in lower case; like dracut, a UUID may be given as a
// prefix of the device's. Use Lookup to get the settings of one device,
// with the global ones and the defaults applied.
type LUKS struct {
	Disabled      bool             // rd.luks=0 or luks=0
	NoCrypttab    bool             // rd.luks.crypttab=0 or luks.crypttab=0
	Devices       []LUKSDevice     // devices the command line mentions, in order of first mention
	Options       cryptopt.Options // rd.luks.options=OPTS, for devices without options of their own
	OptionsSet    bool             // rd.luks.options=OPTS was given (even empty): a crypttab line's options then do not apply
	Key           cryptopt.Key     // rd.luks.key=PATH[:SPEC], for devices without a key of their own
	CryptKey      cryptopt.Key     // cryptkey=, the key of the cryptdevice= device
	AllowDiscards bool             // bare rd.luks.allow-discards: discard on every device
}

// LUKSDevice is one device the command line mentions.
type LUKSDevice struct {
	UUID          string           // LUKS UUID (or a prefix of it), lower case, no "luks-" prefix
	Device        string           // device spec when the device is not named by UUID (cryptdevice=/dev/sda2:…)
	Name          string           // mapping name; "" = "luks-UUID"
	Options       cryptopt.Options // the device's own options, when OptionsSet
	OptionsSet    bool             // the device has options of its own (global ones do not apply)
	Key           cryptopt.Key     // the device's own key; zero = the global one
	AllowDiscards bool             // rd.luks.allow-discards=UUID
	Listed        bool             // named by rd.luks.uuid=, rd.luks.name= or cryptdevice=
	CryptDevice   bool             // from cryptdevice= (cryptkey= is its key)
}

// Restricted reports whether the command line lists the devices to open
// (rd.luks.uuid=, rd.luks.name=, cryptdevice=): then no other LUKS device
// is opened.
func (l LUKS) Restricted() bool {
	for _, d := range l.Devices {
		if d.Listed {
			return true
		}
	}
	return false
}

// Lookup returns the settings for the LUKS device with the given UUID,
// with the global options, key and discard setting and the default name
// applied, and whether the command line allows opening it (LUKS is not
// disabled, and the device is listed or no device is). match, if not nil,
// tells whether a device spec (cryptdevice=/dev/sda2) names this device;
// it is asked only when no entry matches by UUID.
func (l LUKS) Lookup(uuid string, match func(spec string) bool) (LUKSDevice, bool) {
	uuid = strings.ToLower(uuid)
	d, _ := l.find(uuid, match)
	eff := d
	eff.UUID = uuid
	if eff.Name == "" {
		eff.Name = "luks-" + uuid
	}
	if !d.OptionsSet {
		eff.Options = l.Options
	}
	if d.AllowDiscards || l.AllowDiscards {
		eff.Options.Discard = true
	}
	switch {
	case !d.Key.IsZero():
	case d.CryptDevice && !l.CryptKey.IsZero():
		eff.Key = l.CryptKey
	default:
		eff.Key = l.Key
	}
	eff.Key = eff.Key.WithOptions(eff.Options)
	allowed := !l.Disabled && (d.Listed || !l.Restricted())
	return eff, allowed
}

// find returns the entry for a device: an exact UUID match, else the
// longest UUID prefix, else the first device spec match says yes to.
func (l LUKS) find(uuid string, match func(string) bool) (LUKSDevice, bool) {
	best := -1
	for i, d := range l.Devices {
		if d.UUID == "" || !strings.HasPrefix(uuid, d.UUID) {
			continue
		}
		if best < 0 || len(d.UUID) > len(l.Devices[best].UUID) {
			best = i
		}
	}
	if best >= 0 {
		return l.Devices[best], true
	}
	if match != nil {
		for _, d := range l.Devices {
			if d.Device != "" && match(d.Device) {
				return d, true
			}
		}
	}
	return LUKSDevice{}, false
}

// luksKeys are the parameters handled here, by normalised name.
var luksKeys = map[string]func(*Config, Param){
	"rd.luks":                (*Config).luksEnable,
	"luks":                   (*Config).luksEnable,
	"rd.luks.crypttab":       (*Config).luksCrypttab,
	"luks.crypttab":          (*Config).luksCrypttab,
	"rd.luks.uuid":           (*Config).luksUUID,
	"luks.uuid":              (*Config).luksUUID,
	"rd.luks.name":           (*Config).luksName,
	"luks.name":              (*Config).luksName,
	"rd.luks.options":        (*Config).luksOptions,
	"luks.options":           (*Config).luksOptions,
	"rd.luks.key":            (*Config).luksKey,
	"luks.key":               (*Config).luksKey,
	"rd.luks.allow_discards": (*Config).luksDiscards,
	"cryptdevice":            (*Config).cryptDevice,
	"cryptkey":               (*Config).cryptKey,
}

// luksBare are the parameters of luksKeys that mean something without a
// value; the others need one.
var luksBare = map[string]bool{"rd.luks": true, "rd.luks.crypttab": true, "rd.luks.allow_discards": true}

// applyLUKS records a LUKS parameter and reports whether key was one. A
// bare "luks" is left alone: it is an argument for init, as the kernel
// passes it.
func (c *Config) applyLUKS(p Param, key string) bool {
	apply, ok := luksKeys[key]
	if !ok || (!p.HasValue && key == "luks") {
		return false
	}
	if !p.HasValue && !luksBare[key] {
		c.problem(p, "missing value, ignored")
		return true
	}
	apply(c, p)
	return true
}

func (c *Config) luksEnable(p Param) {
	c.LUKS.Disabled = !c.boolean(p, !c.LUKS.Disabled)
}

func (c *Config) luksCrypttab(p Param) {
	c.LUKS.NoCrypttab = !c.boolean(p, !c.LUKS.NoCrypttab)
}

func (c *Config) luksUUID(p Param) {
	uuid, ok := luksUUID(p.Value)
	if !ok {
		c.problem(p, "not a LUKS UUID, ignored")
		return
	}
	c.luksDevice(uuid).Listed = true
}

func (c *Config) luksName(p Param) {
	u, name, _ := strings.Cut(p.Value, "=")
	uuid, ok := luksUUID(u)
	if !ok || !cryptopt.ValidName(name) {
		c.problem(p, "not UUID=NAME, ignored")
		return
	}
	d := c.luksDevice(uuid)
	d.Name, d.Listed = name, true
}

func (c *Config) luksOptions(p Param) {
	if uuid, opts, ok := cutUUID(p.Value); ok {
		d := c.luksDevice(uuid)
		d.Options, d.OptionsSet = c.luksParseOptions(p, opts), true
		return
	}
	c.LUKS.Options, c.LUKS.OptionsSet = c.luksParseOptions(p, p.Value), true
}

func (c *Config) luksParseOptions(p Param, list string) cryptopt.Options {
	o, problems := cryptopt.Parse(list)
	for _, q := range problems {
		c.problem(p, "%s", q)
	}
	return o
}

// luksKey handles systemd's [UUID=]PATH[:SPEC] and dracut's
// PATH:KEYDEV:LUKSDEV.
func (c *Config) luksKey(p Param) {
	v := p.Value
	uuid, rest, perUUID := cutUUID(v)
	var luksdev string
	switch {
	case perUUID:
		v = rest
	case strings.HasSuffix(v, ":"):
		v = strings.TrimRight(v, ":") // dracut's empty KEYDEV and LUKSDEV
	case strings.Contains(v, "::"):
		// PATH::LUKSDEV: a key in the image for one device
		path, dev, _ := strings.Cut(v, "::")
		if cryptopt.IsDeviceSpec(dev) && !strings.Contains(path, ":") {
			v, luksdev = path, dev
		}
	default:
		i := strings.LastIndexByte(v, ':')
		if i < 0 || !cryptopt.IsDeviceSpec(v[i+1:]) {
			break
		}
		if k, err := cryptopt.ParseKey(v[:i]); err == nil && k.File != "" && k.Device != "" {
			v, luksdev = v[:i], v[i+1:]
		}
	}
	k, err := cryptopt.ParseKey(v)
	if err != nil || k.IsZero() {
		c.problem(p, "not PATH[:DEVICE], ignored")
		return
	}
	switch {
	case perUUID:
		c.luksDevice(uuid).Key = k
	case luksdev != "":
		c.luksDeviceSpec(luksdev).Key = k
	default:
		c.LUKS.Key = k
	}
}

func (c *Config) luksDiscards(p Param) {
	switch strings.ToLower(p.Value) {
	case "", "1", "yes", "y", "on", "true":
		c.LUKS.AllowDiscards = true
		return
	case "0", "no", "n", "off", "false":
		c.LUKS.AllowDiscards = false
		return
	}
	uuid, ok := luksUUID(p.Value)
	if !ok {
		c.problem(p, "not a LUKS UUID, ignored")
		return
	}
	c.luksDevice(uuid).AllowDiscards = true
}

// cryptDevice handles mkinitcpio's cryptdevice=DEV:NAME[:OPTIONS]. There
// is one such device: a later cryptdevice= replaces an earlier one.
func (c *Config) cryptDevice(p Param) {
	parts := strings.SplitN(p.Value, ":", 3)
	if len(parts) < 2 || !cryptopt.IsDeviceSpec(parts[0]) || !cryptopt.ValidName(parts[1]) {
		c.problem(p, "not DEVICE:NAME[:OPTIONS], ignored")
		return
	}
	d := LUKSDevice{Name: parts[1], Listed: true, CryptDevice: true}
	if u, ok := cutPrefixFold(parts[0], "UUID="); ok {
		if d.UUID, ok = luksUUID(u); !ok {
			c.problem(p, "not a LUKS UUID, ignored")
			return
		}
	} else {
		d.Device = parts[0]
	}
	if len(parts) == 3 {
		d.Options, d.OptionsSet = c.luksParseOptions(p, parts[2]), true
	}
	devs := c.LUKS.Devices[:0]
	for _, old := range c.LUKS.Devices {
		if !old.CryptDevice {
			devs = append(devs, old)
		}
	}
	c.LUKS.Devices = append(devs, d)
}

// cryptKey handles mkinitcpio's cryptkey=rootfs:PATH, DEV:FSTYPE:PATH and
// DEV:OFFSET:SIZE.
func (c *Config) cryptKey(p Param) {
	if path, ok := strings.CutPrefix(p.Value, "rootfs:"); ok {
		if !strings.HasPrefix(path, "/") {
			c.problem(p, "rootfs:PATH needs an absolute path, ignored")
			return
		}
		c.LUKS.CryptKey = cryptopt.Key{File: path}
		return
	}
	parts := strings.SplitN(p.Value, ":", 3)
	if len(parts) != 3 || !cryptopt.IsDeviceSpec(parts[0]) || parts[1] == "" {
		c.problem(p, "not rootfs:PATH, DEVICE:FSTYPE:PATH or DEVICE:OFFSET:SIZE, ignored")
		return
	}
	off, err1 := strconv.ParseUint(parts[1], 10, 62)
	size, err2 := strconv.ParseUint(parts[2], 10, 62)
	switch {
	case err1 == nil && err2 == nil && size > 0:
		c.LUKS.CryptKey = cryptopt.Key{Device: parts[0], Offset: int64(off), Size: int64(size)}
	case err1 == nil:
		c.problem(p, "DEVICE:OFFSET:SIZE needs a size in bytes, ignored")
	case strings.HasPrefix(parts[2], "/"):
		c.LUKS.CryptKey = cryptopt.Key{Device: parts[0], FSType: parts[1], File: parts[2]}
	default:
		c.problem(p, "DEVICE:FSTYPE:PATH needs an absolute path, ignored")
	}
}

// luksDevice returns the entry for uuid, adding one if needed.
func (c *Config) luksDevice(uuid string) *LUKSDevice {
	for i := range c.LUKS.Devices {
		if c.LUKS.Devices[i].UUID == uuid {
			return &c.LUKS.Devices[i]
		}
	}
	c.LUKS.Devices = append(c.LUKS.Devices, LUKSDevice{UUID: uuid})
	return &c.LUKS.Devices[len(c.LUKS.Devices)-1]
}

// luksDeviceSpec returns the entry for a device spec (UUID= specs go by
// UUID), adding one if needed.
func (c *Config) luksDeviceSpec(spec string) *LUKSDevice {
	if u, ok := cutPrefixFold(spec, "UUID="); ok {
		if uuid, ok := luksUUID(u); ok {
			return c.luksDevice(uuid)
		}
	}
	for i := range c.LUKS.Devices {
		if c.LUKS.Devices[i].Device == spec {
			return &c.LUKS.Devices[i]
		}
	}
	c.LUKS.Devices = append(c.LUKS.Devices, LUKSDevice{Device: spec})
	return &c.LUKS.Devices[len(c.LUKS.Devices)-1]
}

// cutUUID splits "UUID=rest" where UUID is a LUKS UUID (systemd's per-device
// form of rd.luks.options= and rd.luks.key=).
func cutUUID(v string) (uuid, rest string, ok bool) {
	u, rest, found := strings.Cut(v, "=")
	if !found {
		return "", "", false
	}
	uuid, ok = luksUUID(u)
	return uuid, rest, ok
}

// luksUUID normalises a LUKS UUID (or a prefix of one): the "luks-" prefix
// removed, lower case, hexadecimal digits and dashes only.
func luksUUID(s string) (string, bool) {
	if rest, ok := cutPrefixFold(s, "luks-"); ok {
		s = rest
	}
	s = strings.ToLower(s)
	if strings.Trim(s, "-") == "" || strings.Trim(s, "0123456789abcdef-") != "" {
		return "", false
	}
	return s, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
