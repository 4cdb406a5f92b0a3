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

// flagWord describes one mount option word that maps to MS_* bits.
type flagWord struct {
	word  string
	set   uintptr // bits set by the word
	clear uintptr // bits cleared by the word
	// op marks the words that change what mount(2) does rather than how the filesystem is
	// mounted (remount, bind, move, propagation): the rescue shell's mount takes them, the
	// root's rootflags= does not.
	op bool
}

// flagWords is the one table of mount(8) option words with MS_* meanings, for rootflags=
// and the rescue shell's mount alike.
var flagWords = []flagWord{
	{"ro", unix.MS_RDONLY, 0, false},
	{"rw", 0, unix.MS_RDONLY, false},
	{"nosuid", unix.MS_NOSUID, 0, false},
	{"suid", 0, unix.MS_NOSUID, false},
	{"nodev", unix.MS_NODEV, 0, false},
	{"dev", 0, unix.MS_NODEV, false},
	{"noexec", unix.MS_NOEXEC, 0, false},
	{"exec", 0, unix.MS_NOEXEC, false},
	{"sync", unix.MS_SYNCHRONOUS, 0, false},
	{"async", 0, unix.MS_SYNCHRONOUS, false},
	{"dirsync", unix.MS_DIRSYNC, 0, false},
	{"mand", unix.MS_MANDLOCK, 0, false},
	{"nomand", 0, unix.MS_MANDLOCK, false},
	{"noatime", unix.MS_NOATIME, 0, false},
	{"atime", 0, unix.MS_NOATIME, false},
	{"nodiratime", unix.MS_NODIRATIME, 0, false},
	{"diratime", 0, unix.MS_NODIRATIME, false},
	{"relatime", unix.MS_RELATIME, 0, false},
	{"norelatime", 0, unix.MS_RELATIME, false},
	{"strictatime", unix.MS_STRICTATIME, 0, false},
	{"nostrictatime", 0, unix.MS_STRICTATIME, false},
	{"lazytime", unix.MS_LAZYTIME, 0, false},
	{"nolazytime", 0, unix.MS_LAZYTIME, false},
	{"silent", unix.MS_SILENT, 0, false},
	{"loud", 0, unix.MS_SILENT, false},
	{"iversion", unix.MS_I_VERSION, 0, false},
	{"noiversion", 0, unix.MS_I_VERSION, false},
	{"nosymfollow", unix.MS_NOSYMFOLLOW, 0, false},
	{"symfollow", 0, unix.MS_NOSYMFOLLOW, false},
	{"defaults", 0, 0, false},
	{"remount", unix.MS_REMOUNT, 0, true},
	{"bind", unix.MS_BIND, 0, true},
	{"rbind", unix.MS_BIND | unix.MS_REC, 0, true},
	{"move", unix.MS_MOVE, 0, true},
	{"private", unix.MS_PRIVATE, 0, true},
	{"rprivate", unix.MS_PRIVATE | unix.MS_REC, 0, true},
	{"shared", unix.MS_SHARED, 0, true},
	{"rshared", unix.MS_SHARED | unix.MS_REC, 0, true},
	{"slave", unix.MS_SLAVE, 0, true},
	{"rslave", unix.MS_SLAVE | unix.MS_REC, 0, true},
	{"unbindable", unix.MS_UNBINDABLE, 0, true},
	{"runbindable", unix.MS_UNBINDABLE | unix.MS_REC, 0, true},
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

// ParseFlags splits rootflags= (or the options of another filesystem the boot
// mounts, such as /usr's in the root's fstab) into MS_* flags and the filesystem data
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
		return Flags{}, err
	}
	for _, w := range words {
		if fw, ok := lookupFlagWord(w); ok && fw.op {
			return Flags{}, fmt.Errorf("%q is an operation of mount(8), not an option of a filesystem the boot mounts", w)
		}
		f, data = f.apply(w, data)
	}
	f.Data = strings.Join(data, ",")
	return f, nil
}

// ParseOptions splits a mount(8) -o list, as the rescue shell's mount takes it, into MS_*
// flags and the filesystem data string: every word of the table (remount, bind, move and
// propagation included) sets or clears its bits, the last one winning; the words only
// mount(8) understands are dropped; the rest is filesystem data, in order. Commas inside
// double quotes do not split.
func ParseOptions(opts string) (Flags, error) {
	words, err := splitOptions(opts)
	if err != nil {
		return Flags{}, fmt.Errorf("mount options %q: %w", opts, err)
	}
	var f Flags
	var data []string
	for _, w := range words {
		f, data = f.apply(w, data)
	}
	f.Data = strings.Join(data, ",")
	return f, nil
}

// apply applies one option word to f, or appends it to data when it is the filesystem's.
func (f Flags) apply(w string, data []string) (Flags, []string) {
	switch fw, ok := lookupFlagWord(w); {
	case w == "" || isUserspaceWord(w):
	case ok:
		f.Flags = f.Flags&^fw.clear | fw.set
	default:
		data = append(data, w)
	}
	return f, data
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

// MountFunc has the signature of unix.Mount: the mount(2) system call, or a test's.
type MountFunc func(source, target, fstype string, flags uintptr, data string) error

// MountRoot mounts dev on target (created if missing) with mount (unix.Mount, or a
// test's), trying each filesystem type in order, and returns the type that worked. When a
// read-write mount fails with EACCES or EROFS the type is retried read-only,
// as the kernel does. The error names the device, target, type, options and
// errno of every attempt.
func MountRoot(mount MountFunc, dev, target string, fstypes []string, f Flags) (string, error) {
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
