package mount

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Flags are the mount(2) flags and the filesystem data string for the root
// filesystem.
type Flags struct {
	Flags uintptr // MS_* bits
	Data  string  // filesystem-specific options, comma-joined in order
}

// flagWord describes one rootflags word that maps to MS_* bits.
type flagWord struct {
	word  string
	set   uintptr // bits set by the word
	clear uintptr // bits cleared by the word
}

var flagWords = []flagWord{
	{"ro", unix.MS_RDONLY, 0},
	{"rw", 0, unix.MS_RDONLY},
	{"nosuid", unix.MS_NOSUID, 0},
	{"suid", 0, unix.MS_NOSUID},
	{"nodev", unix.MS_NODEV, 0},
	{"dev", 0, unix.MS_NODEV},
	{"noexec", unix.MS_NOEXEC, 0},
	{"exec", 0, unix.MS_NOEXEC},
	{"sync", unix.MS_SYNCHRONOUS, 0},
	{"async", 0, unix.MS_SYNCHRONOUS},
	{"dirsync", unix.MS_DIRSYNC, 0},
	{"mand", unix.MS_MANDLOCK, 0},
	{"nomand", 0, unix.MS_MANDLOCK},
	{"noatime", unix.MS_NOATIME, 0},
	{"atime", 0, unix.MS_NOATIME},
	{"nodiratime", unix.MS_NODIRATIME, 0},
	{"diratime", 0, unix.MS_NODIRATIME},
	{"relatime", unix.MS_RELATIME, 0},
	{"norelatime", 0, unix.MS_RELATIME},
	{"strictatime", unix.MS_STRICTATIME, 0},
	{"nostrictatime", 0, unix.MS_STRICTATIME},
	{"lazytime", unix.MS_LAZYTIME, 0},
	{"nolazytime", 0, unix.MS_LAZYTIME},
	{"silent", unix.MS_SILENT, 0},
	{"loud", 0, unix.MS_SILENT},
	{"iversion", unix.MS_I_VERSION, 0},
	{"noiversion", 0, unix.MS_I_VERSION},
	{"nosymfollow", unix.MS_NOSYMFOLLOW, 0},
	{"symfollow", 0, unix.MS_NOSYMFOLLOW},
	{"defaults", 0, 0},
}

// userspaceWords are fstab options that mount(8) consumes itself and never
// passes to the kernel; they are dropped.
var userspaceWords = map[string]bool{
	"auto": true, "noauto": true, "user": true, "nouser": true, "users": true,
	"owner": true, "group": true, "nofail": true, "_netdev": true,
}

func isUserspaceWord(w string) bool {
	return userspaceWords[w] || strings.HasPrefix(w, "x-") || strings.HasPrefix(w, "comment=")
}

// forbiddenWords change what mount(2) does rather than how the filesystem
// is mounted; they make no sense for the root filesystem.
var forbiddenWords = map[string]bool{
	"remount": true, "bind": true, "rbind": true, "move": true,
	"shared": true, "private": true, "slave": true, "unbindable": true,
	"rshared": true, "rprivate": true, "rslave": true, "runbindable": true,
}

// ParseFlags splits rootflags= into MS_* flags and the filesystem data
// string. rw (the command line's ro/rw) decides MS_RDONLY unless rootflags
// contains ro or rw (the last one wins). Unknown words are passed to the
// filesystem in order; commas inside double quotes do not split. Options
// only mount(8) understands (noauto, nofail, _netdev, x-*, ...) are dropped;
// remount, bind, move and propagation words are rejected.
func ParseFlags(rootflags string, rw bool) (Flags, error) {
	var f Flags
	if !rw {
		f.Flags = unix.MS_RDONLY
	}
	var data []string
	words, err := splitOptions(rootflags)
	if err != nil {
		return Flags{}, fmt.Errorf("rootflags %q: %w", rootflags, err)
	}
	for _, w := range words {
		if w == "" {
			continue
		}
		if forbiddenWords[w] {
			return Flags{}, fmt.Errorf("rootflags %q: %q is not allowed for the root filesystem", rootflags, w)
		}
		if isUserspaceWord(w) {
			continue
		}
		if fw, ok := lookupFlagWord(w); ok {
			f.Flags = f.Flags&^fw.clear | fw.set
			continue
		}
		data = append(data, w)
	}
	f.Data = strings.Join(data, ",")
	return f, nil
}

func lookupFlagWord(w string) (flagWord, bool) {
	for _, fw := range flagWords {
		if fw.word == w {
			return fw, true
		}
	}
	return flagWord{}, false
}

// splitOptions splits a mount option string at commas outside double quotes.
func splitOptions(s string) ([]string, error) {
	var words []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				words = append(words, s[start:i])
				start = i + 1
			}
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	return append(words, s[start:]), nil
}

// String renders the flags as mount option words: "ro" or "rw", then the
// other MS_* words, then the data string.
func (f Flags) String() string {
	words := []string{"rw"}
	if f.Flags&unix.MS_RDONLY != 0 {
		words[0] = "ro"
	}
	rest := f.Flags &^ unix.MS_RDONLY
	for _, fw := range flagWords {
		if fw.set != 0 && fw.set != unix.MS_RDONLY && rest&fw.set == fw.set {
			words = append(words, fw.word)
			rest &^= fw.set
		}
	}
	if rest != 0 {
		words = append(words, fmt.Sprintf("%#x", rest))
	}
	if f.Data != "" {
		words = append(words, f.Data)
	}
	return strings.Join(words, ",")
}

// mountFunc is mount(2); replaced in tests.
type mountFunc func(source, target, fstype string, flags uintptr, data string) error

// MountRoot mounts dev on target (created if missing), trying each
// filesystem type in order, and returns the type that worked. When a
// read-write mount fails with EACCES or EROFS the type is retried read-only,
// as the kernel does. The error names the device, target, type, options and
// errno of every attempt.
func MountRoot(dev, target string, fstypes []string, f Flags) (string, error) {
	return mountRoot(unix.Mount, dev, target, fstypes, f)
}

func mountRoot(mount mountFunc, dev, target string, fstypes []string, f Flags) (string, error) {
	if len(fstypes) == 0 {
		return "", fmt.Errorf("mount %s on %s: no filesystem type", dev, target)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", dev, target, err)
	}
	var errs []error
	for _, t := range fstypes {
		if t == "" {
			continue
		}
		try := f
		for {
			err := mount(dev, target, t, try.Flags, try.Data)
			if err == nil {
				return t, nil
			}
			errs = append(errs, fmt.Errorf("mount %s on %s (%s, %s): %w", dev, target, t, try, err))
			if try.Flags&unix.MS_RDONLY != 0 || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)) {
				break
			}
			try.Flags |= unix.MS_RDONLY
		}
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("mount %s on %s: no filesystem type", dev, target)
	}
	if len(errs) == 1 {
		return "", errs[0]
	}
	return "", mountErrors(errs)
}

// mountErrors reports every failed attempt on one line.
type mountErrors []error

func (m mountErrors) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (m mountErrors) Unwrap() []error { return m }
