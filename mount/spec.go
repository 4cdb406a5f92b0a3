package mount

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/earlyroot/earlyroot/probe"
)

// Spec kinds.
const (
	KindPath      = "path"
	KindUUID      = "uuid"
	KindLabel     = "label"
	KindPartUUID  = "partuuid"
	KindPartLabel = "partlabel"
	KindDevNum    = "devnum"
)

// Spec is a parsed root= (or resume=) device specification.
type Spec struct {
	Kind      string // KindPath, KindUUID, KindLabel, KindPartUUID, KindPartLabel or KindDevNum
	Value     string // "/dev/vda1", the UUID, label, ...; empty for KindDevNum
	PartNrOff int    // PARTUUID=.../PARTNROFF=n
	Major     int    // KindDevNum
	Minor     int    // KindDevNum
}

// String renders the spec in root= syntax.
func (s Spec) String() string {
	switch s.Kind {
	case KindDevNum:
		return fmt.Sprintf("%d:%d", s.Major, s.Minor)
	case KindPath:
		return s.Value
	case KindPartUUID:
		if s.PartNrOff != 0 {
			return fmt.Sprintf("PARTUUID=%s/PARTNROFF=%d", s.Value, s.PartNrOff)
		}
	}
	return strings.ToUpper(s.Kind) + "=" + s.Value
}

var specPrefixes = []struct{ prefix, kind string }{
	{"PARTUUID=", KindPartUUID},
	{"PARTLABEL=", KindPartLabel},
	{"UUID=", KindUUID},
	{"LABEL=", KindLabel},
}

var byDirs = map[string]string{
	"by-uuid":      KindUUID,
	"by-label":     KindLabel,
	"by-partuuid":  KindPartUUID,
	"by-partlabel": KindPartLabel,
}

// ErrNotLocal is the error of a root= form that names no local block device: a network
// root (NFS, CIFS, iSCSI, NBD, one found by DHCP), a ZFS dataset or a live image, which
// dracut or initramfs-tools read. earlyroot finds roots on block devices only (disks and
// their LUKS, LVM and MD layers), so it says so at once instead of waiting for a device
// that never comes.
var ErrNotLocal = errors.New("earlyroot mounts roots on local block devices only (disks, LUKS, LVM, MD)")

// nonLocalRoots are the forms ErrNotLocal refuses: a prefix (any case) and what it names.
var nonLocalRoots = []struct{ prefix, what string }{
	{"nfs:", "an NFS share"},
	{"nfs4:", "an NFS share"},
	{"cifs:", "a CIFS share"},
	{"iscsi:", "an iSCSI target"},
	{"nbd:", "a network block device"},
	{"live:", "a live image"},
	{"zfs:", "a ZFS dataset"},
	{"ZFS=", "a ZFS dataset"},
}

// nfsDevice is the kernel's name for a root over NFS (root=/dev/nfs with nfsroot=).
const nfsDevice = "/dev/nfs"

// notLocal returns what a root= form that names no local block device names, or "".
func notLocal(s string) string {
	for _, r := range nonLocalRoots {
		if len(s) >= len(r.prefix) && strings.EqualFold(s[:len(r.prefix)], r.prefix) {
			return r.what
		}
	}
	switch {
	case s == nfsDevice || s == "nfs":
		return "the kernel's NFS root"
	case s == "dhcp" || s == "dhcp6":
		return "a network root found by DHCP"
	case !strings.HasPrefix(s, "/") && strings.Contains(s, ":/"):
		return "an NFS share (SERVER:/PATH)"
	}
	return ""
}

// ParseSpec parses a device specification: /dev/NAME, UUID=, LABEL=,
// PARTUUID= (with an optional /PARTNROFF=n), PARTLABEL=, MAJ:MIN, a
// hexadecimal device number ("b302", new_decode_dev style) or a
// /dev/disk/by-*/ link (mapped to the matching kind). Values may be quoted;
// prefixes are case-insensitive. A bare name that is not hexadecimal is
// taken as /dev/NAME. The forms of network roots and the like fail with
// ErrNotLocal.
func ParseSpec(s string) (Spec, error) {
	s = unquote(strings.TrimSpace(s))
	if s == "" {
		return Spec{}, errors.New("empty device specification")
	}
	if kind, prefix := tagKind(s); kind != "" {
		return valueSpec(kind, unquote(s[len(prefix):]), s)
	}
	if what := notLocal(s); what != "" {
		return Spec{}, fmt.Errorf("device specification %q names %s: %w", s, what, ErrNotLocal)
	}
	if rest, ok := strings.CutPrefix(s, "/dev/disk/"); ok {
		dir, name, _ := strings.Cut(rest, "/")
		if kind, ok := byDirs[dir]; ok && name != "" && !strings.Contains(name, "/") {
			return valueSpec(kind, unescapeUdev(name), s)
		}
	}
	if strings.HasPrefix(s, "/") {
		if len(s) < 2 || strings.Contains(s, "\x00") {
			return Spec{}, fmt.Errorf("device specification %q: bad path", s)
		}
		return Spec{Kind: KindPath, Value: s}, nil
	}
	if maj, min, ok := strings.Cut(s, ":"); ok {
		a, err1 := strconv.ParseUint(maj, 10, 32)
		b, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil || a > 0xfff || b > 0xfffff {
			return Spec{}, fmt.Errorf("device specification %q: bad MAJ:MIN", s)
		}
		return Spec{Kind: KindDevNum, Major: int(a), Minor: int(b)}, nil
	}
	if v, err := strconv.ParseUint(s, 16, 32); err == nil {
		return Spec{Kind: KindDevNum, Major: int((v & 0xfff00) >> 8), Minor: int((v & 0xff) | ((v >> 12) & 0xfff00))}, nil
	}
	if strings.ContainsAny(s, "/=\x00") || strings.ContainsAny(s, " \t\n") {
		return Spec{}, fmt.Errorf("device specification %q: not understood", s)
	}
	return Spec{Kind: KindPath, Value: "/dev/" + s}, nil
}

// tagKind returns the kind and the prefix of a KEY=value specification (UUID=, …; any
// case), or "".
func tagKind(s string) (kind, prefix string) {
	for _, p := range specPrefixes {
		if len(s) >= len(p.prefix) && strings.EqualFold(s[:len(p.prefix)], p.prefix) {
			return p.kind, p.prefix
		}
	}
	return "", ""
}

// IsDeviceSource says whether s, the source field of an fstab line, names a block device
// (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/…) rather than a filesystem without one
// (tmpfs) or a network share; ParseSpec, which reads root=, would take a bare word as
// /dev/WORD.
func IsDeviceSource(s string) bool {
	kind, _ := tagKind(s)
	return kind != "" || strings.HasPrefix(s, "/dev/")
}

// valueSpec builds a spec for KEY=value forms.
func valueSpec(kind, v, orig string) (Spec, error) {
	sp := Spec{Kind: kind, Value: v}
	if kind == KindPartUUID {
		if base, off, ok := strings.Cut(v, "/"); ok {
			o, found := strings.CutPrefix(off, "PARTNROFF=")
			n, err := strconv.Atoi(o)
			if !found || err != nil || n < -probe.MaxPartitions || n > probe.MaxPartitions {
				return Spec{}, fmt.Errorf("device specification %q: bad PARTNROFF", orig)
			}
			sp.Value, sp.PartNrOff = base, n
		}
	}
	if kind == KindUUID || kind == KindPartUUID {
		sp.Value = strings.ToLower(sp.Value)
	}
	if sp.Value == "" {
		return Spec{}, fmt.Errorf("device specification %q: empty value", orig)
	}
	return sp, nil
}

// unquote removes one pair of surrounding double or single quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// unescapeUdev decodes udev's \xHH escapes in /dev/disk/by-* names.
func unescapeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeUdev encodes a value for a /dev/disk/by-* name as udev does: bytes
// outside [0-9A-Za-z#+-.:=@_] and not part of valid multi-byte UTF-8 become
// \xHH.
func escapeUdev(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if n > 1 && r != '\uFFFD' {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
		}
		if UdevSafe(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
		i++
	}
	return b.String()
}

// UdevSafe reports whether udev keeps byte c as it is in a /dev/disk/by-* name: ASCII
// letters, digits and "#+-.:=@_". Other bytes are escaped (\xHH, see [LinkName]) or, in
// by-id names made from hardware strings, replaced.
func UdevSafe(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("#+-.:=@_", c) >= 0
}

// LinkName is the name udev gives value (a UUID, a label) under /dev/disk/by-*: escaped as
// udev does, with "." and ".." made harmless. ParseSpec reads such names back.
func LinkName(value string) string {
	e := escapeUdev(value)
	if e == "." || e == ".." {
		e = strings.ReplaceAll(e, ".", `\x2e`)
	}
	return e
}
