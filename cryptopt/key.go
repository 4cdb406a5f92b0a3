package cryptopt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/earlyroot/earlyroot/mount"
)

// Key says where the key of an encrypted device is read from. The zero
// value means "no key file: ask for a passphrase".
//
// The three forms:
//
//   - File only: a file in the initramfs (or, for a crypttab line read on
//     the host, the host's file, which the image builder copies);
//   - File and Device: a file on the file system of Device, which is waited
//     for and mounted read-only (systemd's PATH:SPEC, dracut's
//     rd.luks.key=PATH:KEYDEV, mkinitcpio's cryptkey=DEV:FSTYPE:PATH);
//   - Device only: the key is the bytes of the block device itself
//     (mkinitcpio's cryptkey=DEV:OFFSET:SIZE, or a key file under /dev/).
//
// Offset and Size say which bytes of the file or device are the key; Size 0
// means to the end of the file.
type Key struct {
	File   string // absolute path
	Device string // device spec: UUID=, LABEL=, PARTUUID=, PARTLABEL= or an absolute path
	FSType string // file system type of Device; "" = probe it
	Offset int64  // first byte of the key
	Size   int64  // key length in bytes; 0 = to the end
}

// IsZero reports whether k names no key.
func (k Key) IsZero() bool { return k == Key{} }

// String renders k for messages (it holds no secret, only where the key is).
func (k Key) String() string {
	var s string
	switch {
	case k.IsZero():
		return "none"
	case k.File == "":
		s = "device " + k.Device
	case k.Device == "":
		s = k.File
	default:
		s = k.File + " on " + k.Device
		if k.FSType != "" {
			s += " (" + k.FSType + ")"
		}
	}
	if k.Offset != 0 || k.Size != 0 {
		s += fmt.Sprintf(" [offset %d, size %d]", k.Offset, k.Size)
	}
	return s
}

// WithOptions returns k with Offset and Size taken from keyfile-offset= and
// keyfile-size= unless k already carries them (cryptkey=DEV:OFFSET:SIZE).
func (k Key) WithOptions(o Options) Key {
	if k.IsZero() || k.Offset != 0 || k.Size != 0 {
		return k
	}
	k.Offset, k.Size = o.KeyfileOffset, o.KeyfileSize
	return k
}

// errEmptyPath is returned by ParseKey for ":SPEC" without a path.
var errEmptyPath = errors.New("empty key file path")

// ParseKey parses a key file reference as crypttab's third column and
// rd.luks.key= write it: "none", "-" or "" (no key), PATH, or PATH:SPEC
// where SPEC names the device whose file system holds PATH. A PATH under
// /dev/ without SPEC is a device holding the key itself. The split is made
// at the first ':' followed by a device spec, so a /dev/disk/by-path/ name
// with colons in it stays whole.
func ParseKey(s string) (Key, error) {
	switch s {
	case "", "none", "-":
		return Key{}, nil
	}
	path, spec := splitKey(s)
	if path == "" {
		return Key{}, fmt.Errorf("key %q: %w", s, errEmptyPath)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, 0) {
		return Key{}, fmt.Errorf("key %q: %q is not an absolute path", s, path)
	}
	if spec == "" && strings.HasPrefix(path, "/dev/") {
		return Key{Device: path}, nil
	}
	return Key{File: path, Device: spec}, nil
}

// splitKey cuts PATH:SPEC at the first ':' that is followed by a device
// spec; without one, s is all path.
func splitKey(s string) (path, spec string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && IsDeviceSpec(s[i+1:]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// DeviceSpec parses s as a device spec as crypttab and the cryptdevice=/
// cryptkey= options write it: UUID=, LABEL=, PARTUUID= or PARTLABEL= with
// a value (prefixes in any case), or an absolute path; not the kernel's
// MAJ:MIN or bare names, which mount.ParseSpec also accepts for root=.
func DeviceSpec(s string) (mount.Spec, error) {
	spec, err := mount.ParseSpec(s)
	if err == nil && (spec.Kind == mount.KindDevNum || spec.Kind == mount.KindPath && !strings.HasPrefix(s, "/")) {
		err = fmt.Errorf("device %q: not UUID=, PARTUUID=, LABEL=, PARTLABEL= or a path", s)
	}
	return spec, err
}

// IsDeviceSpec reports whether s is a device spec (DeviceSpec). It only
// checks the syntax; the boot resolves the spec.
func IsDeviceSpec(s string) bool {
	_, err := DeviceSpec(s)
	return err == nil
}

// ValidName reports whether s can be the name of a mapping: a
// device-mapper name (shorter than the kernel's 128 bytes) that is also a
// file name under /dev/mapper, without spaces or control characters so
// that it survives crypttab and the command line. "." and ".." are not.
func ValidName(s string) bool {
	if s == "" || len(s) > 127 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
