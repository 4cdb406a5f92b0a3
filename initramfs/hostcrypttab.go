package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/crypttab"
	"github.com/earlyroot/earlyroot/luks"
	"github.com/earlyroot/earlyroot/mount"
)

// Host is where a host-only build reads the machine's state. Every path is a root a test can
// point at a fixture tree.
type Host struct {
	SysFS   string // sysfs; "/sys"
	Mounts  string // the mount table; "/proc/mounts"
	Cmdline string // the running kernel's command line (resume=); "/proc/cmdline"
	Dev     string // the device directory (LUKS headers, /dev/disk links); "/dev"
	Root    string // the host's root: /etc/crypttab, the key files it names and /etc/fstab are read below it; "/"
}

// CryptDevice is a dm-crypt mapping the host's root, /usr, an x-initrd.mount filesystem or
// the resume device stands on.
type CryptDevice struct {
	Name       string   // its dm name (/dev/mapper/NAME)
	Backing    string   // the device it decrypts, "/dev/sda3"
	UUID       string   // the LUKS UUID; "" when the header could not be read
	Algorithms []string // kernel crypto algorithms of its LUKS header (luks.Header.Algorithms)
}

// HostCrypt is what a host-only image carries for the host's encrypted devices: the
// /etc/crypttab lines of the devices under the root, /usr, the x-initrd.mount filesystems
// (HostMounts) and the resume device, and of every line marked x-initrd.attach or
// initramfs; the key files those lines name; and the modules those devices need (Modules).
type HostCrypt struct {
	Devices  []CryptDevice    // the dm-crypt devices under the root, /usr, x-initrd.mount filesystems and resume=, then those of lines marked for the initramfs
	Entries  []crypttab.Entry // the crypttab lines carried, in file order
	Crypttab []byte           // etc/crypttab for the image: those lines as the host wrote them
	Keyfiles []File           // key files to copy, each to its own path in the image
	Warnings []string         // what could not be read or carried
}

// Modules returns what the devices need, by name or alias, sorted: device mapper, dm-crypt
// and AF_ALG, and the "crypto-<algorithm>" aliases of their LUKS headers. A device whose
// header was not read (mkinitramfs without the right to read the disk, a plain dm-crypt
// mapping) gets the usual ciphers and hashes instead, FallbackCrypto.
func (c HostCrypt) Modules() []string {
	var out []string
	if len(c.Devices) > 0 {
		out = append(out, "dm_mod")
		out = append(out, cryptModules...)
	}
	for _, d := range c.Devices {
		if len(d.Algorithms) == 0 {
			out = append(out, FallbackCrypto...)
		}
		for _, a := range d.Algorithms {
			out = append(out, "crypto-"+a)
		}
	}
	return sortedCopy(out)
}

// FallbackCrypto are the modules (by name or alias) a host-only image carries for an
// encrypted device whose cipher is not known: the ciphers, modes and hashes cryptsetup
// uses by default and by tradition.
var FallbackCrypto = []string{"crypto-aes", "crypto-xts", "crypto-cbc", "crypto-ecb", "crypto-essiv",
	"crypto-sha1", "crypto-sha256", "crypto-sha512"}

// Carried lists the crypttab lines carried for the build summary: "NAME (DEVICE)", with
// ", key FILE" when a key file goes along.
func (c HostCrypt) Carried() []string {
	keys := map[string]bool{}
	for _, f := range c.Keyfiles {
		keys[f.Dst] = true
	}
	var out []string
	for _, e := range c.Entries {
		s := e.Name + " (" + e.Device
		if keys[e.Key.File] && e.Key.Device == "" {
			s += ", key " + e.Key.File
		}
		out = append(out, s+")")
	}
	return out
}

// FindHostCrypt finds the host's encrypted devices under the root, /usr, the filesystems
// the host's fstab marks x-initrd.mount (HostMounts) and the resume device, and selects
// the crypttab lines and key files for a host-only image. A missing crypttab is no error;
// malformed lines, unreadable headers and missing key files are warnings. Only a crypttab
// that exists but cannot be read fails.
func FindHostCrypt(h Host) (HostCrypt, error) {
	h = h.withDefaults()
	var c HostCrypt
	for _, src := range h.sources(&c) {
		h.cryptUnder(src, &c)
	}
	if err := h.selectCrypttab(&c); err != nil {
		return c, err
	}
	return c, nil
}

func (h Host) withDefaults() Host {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&h.SysFS, "/sys")
	def(&h.Mounts, "/proc/mounts")
	def(&h.Cmdline, "/proc/cmdline")
	def(&h.Dev, "/dev")
	def(&h.Root, "/")
	return h
}

// sources returns the block device names (as in sysfs) of the root, /usr, the host's
// x-initrd.mount filesystems (HostMounts) and resume=.
func (h Host) sources(c *HostCrypt) []string {
	var out []string
	ms, err := HostMounts(h.Mounts, h.Root)
	if err != nil {
		c.Warnings = append(c.Warnings, err.Error())
	}
	for _, m := range ms {
		if n := h.blockName(m.Source); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	line, err := readSmall(h.Cmdline)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("resume=: %v", err))
	}
	if err == nil {
		if r := cmdline.Parse(line).Resume; r != "" {
			if n := h.specName(r); n != "" {
				out = append(out, n)
			} else {
				c.Warnings = append(c.Warnings, fmt.Sprintf("resume=%s: no such device", r))
			}
		}
	}
	return slices.Compact(out)
}

// readSmall reads a short text file such as /proc/cmdline.
func readSmall(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	return string(b), err
}

// blockName returns the kernel name ("dm-0", "sda3") of a /dev path, or "".
func (h Host) blockName(src string) string {
	if name, ok := strings.CutPrefix(src, "/dev/mapper/"); ok {
		return dmByName(h.SysFS, name)
	}
	rel, ok := strings.CutPrefix(src, "/dev/")
	if !ok {
		return "" // not a block device (a network or virtual filesystem)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(h.Dev, rel))
	if err != nil {
		p = src
	}
	name := filepath.Base(p)
	if _, err := os.Stat(filepath.Join(h.SysFS, "class", "block", name)); err != nil {
		return ""
	}
	return name
}

// specName resolves a device spec (resume=UUID=…, a path, MAJ:MIN) to a kernel name.
func (h Host) specName(s string) string {
	spec, err := mount.ParseSpec(s)
	if err != nil {
		return ""
	}
	switch spec.Kind {
	case mount.KindPath:
		return h.blockName(spec.Value)
	case mount.KindDevNum:
		p, err := filepath.EvalSymlinks(filepath.Join(h.SysFS, "dev", "block", fmt.Sprintf("%d:%d", spec.Major, spec.Minor)))
		if err != nil {
			return ""
		}
		return filepath.Base(p)
	}
	if spec.PartNrOff != 0 {
		return ""
	}
	return h.blockName("/dev/disk/by-" + spec.Kind + "/" + mount.LinkName(spec.Value))
}

// cryptUnder adds the dm-crypt devices at or below block device name to c, walking the
// slaves of dm and md devices (LVM on LUKS, LUKS on MD, …).
func (h Host) cryptUnder(name string, c *HostCrypt) {
	seen := map[string]bool{}
	var walk func(name string, depth int)
	walk = func(name string, depth int) {
		if seen[name] || depth > 8 {
			return
		}
		seen[name] = true
		blk := filepath.Join(h.SysFS, "class", "block", name)
		slaves := dirNames(filepath.Join(blk, "slaves"))
		if uuid, err := readAttr(filepath.Join(blk, "dm", "uuid")); err == nil && strings.HasPrefix(uuid, "CRYPT-") {
			dmName, _ := readAttr(filepath.Join(blk, "dm", "name"))
			if len(slaves) == 1 && !slices.ContainsFunc(c.Devices, func(d CryptDevice) bool { return d.Name == dmName }) {
				d := CryptDevice{Name: dmName, Backing: "/dev/" + slaves[0]}
				if strings.HasPrefix(uuid, "CRYPT-LUKS") { // not CRYPT-PLAIN, CRYPT-BITLK, …
					h.readHeader(&d, c)
				}
				c.Devices = append(c.Devices, d)
			}
		}
		for _, s := range slaves {
			walk(s, depth+1)
		}
	}
	walk(name, 0)
}

func dirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// readHeader reads the LUKS header of d's backing device for its UUID and algorithms; an
// unreadable header is a warning.
func (h Host) readHeader(d *CryptDevice, c *HostCrypt) {
	f, err := os.Open(filepath.Join(h.Dev, strings.TrimPrefix(d.Backing, "/dev/")))
	if err != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s (%s): LUKS header: %v", d.Backing, d.Name, err))
		return
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		size = 0
	}
	hdr, err := luks.Open(f, size)
	if err != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s (%s): LUKS header: %v", d.Backing, d.Name, err))
		return
	}
	d.UUID, d.Algorithms = hdr.UUID(), hdr.Algorithms()
}

// names returns every name a crypttab line may give d's backing device: its /dev path, the
// LUKS UUID, and the /dev/disk/by-* links to it in both link and TAG= forms.
func (h Host) names(d CryptDevice) []string {
	out := []string{d.Backing}
	if d.UUID != "" {
		out = append(out, d.UUID)
	}
	target := filepath.Base(d.Backing)
	for _, dir := range dirNames(filepath.Join(h.Dev, "disk")) {
		for _, link := range dirNames(filepath.Join(h.Dev, "disk", dir)) {
			p, err := filepath.EvalSymlinks(filepath.Join(h.Dev, "disk", dir, link))
			if err != nil || filepath.Base(p) != target {
				continue
			}
			name := path.Join("/dev/disk", dir, link)
			out = append(out, name)
			if s, err := mount.ParseSpec(name); err == nil && s.Kind != mount.KindPath {
				out = append(out, s.String())
			}
		}
	}
	return out
}

// selectCrypttab reads the host's crypttab and keeps the lines for c.Devices and those
// marked for the initramfs, with their key files.
func (h Host) selectCrypttab(c *HostCrypt) error {
	file := filepath.Join(h.Root, "etc", "crypttab")
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host crypttab: %w", err)
	}
	entries, err := crypttab.Parse(bytes.NewReader(raw))
	var lineErr *crypttab.LineError
	for _, err := range unjoin(err) {
		if errors.As(err, &lineErr) {
			err = fmt.Errorf("/etc/crypttab:%d: %w", lineErr.Line, lineErr.Err)
		}
		c.Warnings = append(c.Warnings, err.Error())
	}
	names := make([][]string, len(c.Devices))
	for i, d := range c.Devices {
		names[i] = h.names(d)
	}
	lines := strings.Split(string(raw), "\n")
	var out bytes.Buffer
	var attached []crypttab.Entry
	for _, e := range entries {
		if !e.Options.InitrdAttach && !e.Options.Initramfs && !under(e, c.Devices, names) {
			continue
		}
		c.Entries = append(c.Entries, e)
		out.WriteString(strings.TrimSpace(lines[e.Line-1]) + "\n")
		h.keyfile(e, c)
		if !under(e, c.Devices, names) {
			attached = append(attached, e)
		}
	}
	// The devices of lines carried for their option alone: their headers name their ciphers.
	for _, e := range attached {
		d := CryptDevice{Name: e.Name, Backing: h.specPath(e.Spec)}
		if d.Backing != "" && !slices.Contains(e.Options.Unsupported, "plain") {
			h.readHeader(&d, c)
		}
		c.Devices = append(c.Devices, d)
	}
	if out.Len() > 0 {
		c.Crypttab = out.Bytes()
	}
	return nil
}

// specPath is the /dev path of a crypttab device spec: the path itself, or the
// /dev/disk/by-* link of a UUID=, LABEL=, PARTUUID= or PARTLABEL=.
func (h Host) specPath(s mount.Spec) string {
	switch s.Kind {
	case mount.KindPath:
		return s.Value
	case mount.KindUUID, mount.KindLabel, mount.KindPartUUID, mount.KindPartLabel:
		return "/dev/disk/by-" + s.Kind + "/" + mount.LinkName(s.Value)
	}
	return ""
}

// under reports whether e is the line of one of devs: by its mapping name, or by a name of
// its device (names[i] are those of devs[i]).
func under(e crypttab.Entry, devs []CryptDevice, names [][]string) bool {
	for i, d := range devs {
		if d.Name == e.Name || e.Matches(names[i]...) {
			return true
		}
	}
	return false
}

// unjoin returns the errors errors.Join put together (err itself when it is a single one).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// keyfile adds e's key file to c when it is a file on the host's root (not a device, not a
// file on another device, which the boot reads there).
func (h Host) keyfile(e crypttab.Entry, c *HostCrypt) {
	k := e.Key
	if k.File == "" || k.Device != "" || slices.ContainsFunc(c.Keyfiles, func(f File) bool { return f.Dst == k.File }) {
		return
	}
	src := filepath.Join(h.Root, k.File)
	fi, err := os.Stat(src)
	if err != nil || !fi.Mode().IsRegular() {
		if err == nil {
			err = errors.New("not a regular file")
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("crypttab %s: key file %s: %v", e.Name, k.File, err))
		return
	}
	c.Keyfiles = append(c.Keyfiles, File{Src: src, Dst: k.File})
}

// hostCryptFor finds what a host-only image carries for the host's encrypted devices and
// records the modules their ciphers need in cfg; a generic image carries nothing.
func hostCryptFor(cfg *Config) (HostCrypt, error) {
	if !cfg.HostOnly {
		return HostCrypt{}, nil
	}
	c, err := FindHostCrypt(Host{SysFS: cfg.SysFS, Mounts: cfg.Mounts, Cmdline: cfg.HostCmdline,
		Dev: cfg.DevDir, Root: cfg.HostRoot})
	if err != nil {
		return c, err
	}
	cfg.cryptModules = c.Modules()
	return c, nil
}

// addTo puts etc/crypttab and the key files into a (owner-readable only) and records them in
// res. A crypttab or key file the image already holds (an extra file) is left as it is.
func (c HostCrypt) addTo(a *Archive, res *Result) error {
	if c.Crypttab != nil {
		if a.Has("/etc/crypttab") {
			res.Warnings = append(res.Warnings, "host crypttab not carried: the image already has /etc/crypttab")
			return nil
		}
		if err := a.AddBytes("etc/crypttab", 0o644, c.Crypttab); err != nil {
			return fmt.Errorf("host crypttab: %w", err)
		}
		res.Crypttab = c.Carried()
	}
	for _, f := range c.Keyfiles {
		if a.Has(f.Dst) {
			continue
		}
		if err := a.AddFile(f.Dst, 0o400, f.Src); err != nil {
			return fmt.Errorf("host crypttab: key file: %w", err)
		}
		res.Keyfiles = append(res.Keyfiles, f.Dst)
	}
	return nil
}
