// Package crypttab reads /etc/crypttab, the table of encrypted devices
// (crypttab(5)).
//
// Each line is "NAME DEVICE [KEYFILE [OPTIONS]]", fields separated by
// spaces or tabs; '#' starts a comment line. DEVICE is UUID=, PARTUUID=,
// LABEL=, PARTLABEL= or a path; KEYFILE is a path, PATH:SPEC (a file on
// another device), or "none"/"-" to ask for a passphrase; OPTIONS is the
// comma list of package cryptopt. The boot reads the copy in the image.
//
// A malformed line is an error naming its line number; the well-formed
// lines are still returned, so a boot can open what it can. Options that
// are not honoured are not errors: they are listed in Entry.Problems.
package crypttab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/mount"
)

// maxLine bounds one line; crypttab lines are short, this only stops a
// garbage file from being read into memory whole.
const maxLine = 64 << 10

// Entry is one line of a crypttab.
type Entry struct {
	Line     int              // 1-based line number
	Name     string           // mapping name: /dev/mapper/NAME
	Device   string           // the DEVICE field as written
	Spec     mount.Spec       // DEVICE parsed
	Key      cryptopt.Key     // KEYFILE, with keyfile-offset= and keyfile-size= applied; zero: ask
	Options  cryptopt.Options // OPTIONS
	Problems []string         // options not honoured, as "OPTION: reason"
}

// LineError is a malformed line.
type LineError struct {
	File string // file name, or "crypttab" when reading a stream
	Line int    // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ReadFile parses the crypttab at path. A missing file is returned as the
// os error (errors.Is(err, fs.ErrNotExist)), so a caller can treat it as
// an empty table.
func ReadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f, path)
}

// Parse parses a crypttab from r. It returns every well-formed entry, in
// order, and an error joining a *LineError for each malformed line.
func Parse(r io.Reader) ([]Entry, error) {
	return parse(r, "crypttab")
}

func parse(r io.Reader, file string) ([]Entry, error) {
	var (
		entries []Entry
		errs    []error
		names   = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		e, err := parseLine(text)
		if err == nil {
			if first, dup := names[e.Name]; dup {
				err = fmt.Errorf("name %q is already used on line %d", e.Name, first)
			}
		}
		if err != nil {
			errs = append(errs, &LineError{File: file, Line: n, Err: err})
			continue
		}
		e.Line = n
		names[e.Name] = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &LineError{File: file, Line: n + 1, Err: err})
	}
	return entries, errors.Join(errs...)
}

// parseLine parses one non-comment line.
func parseLine(text string) (Entry, error) {
	f := strings.Fields(text)
	if len(f) < 2 || len(f) > 4 {
		return Entry{}, fmt.Errorf("%d fields, want NAME DEVICE [KEYFILE [OPTIONS]]", len(f))
	}
	e := Entry{Name: f[0], Device: f[1]}
	if !cryptopt.ValidName(e.Name) {
		return Entry{}, fmt.Errorf("name %q: not a valid device-mapper name", e.Name)
	}
	spec, err := deviceSpec(e.Device)
	if err != nil {
		return Entry{}, err
	}
	e.Spec = spec
	if len(f) > 3 {
		e.Options, e.Problems = cryptopt.Parse(f[3])
	}
	if len(f) > 2 {
		if e.Key, err = cryptopt.ParseKey(f[2]); err != nil {
			return Entry{}, err
		}
		e.Key = e.Key.WithOptions(e.Options)
	}
	return e, nil
}

// deviceSpec parses the DEVICE field: the fstab forms crypttab allows
// (UUID=, PARTUUID=, LABEL=, PARTLABEL=, a path), not the kernel's
// MAJ:MIN or bare names.
func deviceSpec(s string) (mount.Spec, error) {
	spec, err := cryptopt.DeviceSpec(s)
	if err != nil {
		return mount.Spec{}, err
	}
	if spec.Kind == mount.KindPath {
		spec.Value = filepath.Clean(spec.Value)
	}
	return spec, nil
}

// Matches reports whether the entry's device is one of names. Each name is
// a device spec (UUID=…, PARTUUID=…, LABEL=…, PARTLABEL=…, a path, a
// /dev/disk/by-* link) or a bare UUID; a device is matched when the entry
// names it the same way, so a caller passes every name it knows for a
// device (its /dev path and the UUID of the LUKS header on it, say).
func (e Entry) Matches(names ...string) bool {
	for _, n := range names {
		if s, ok := nameSpec(n); ok && s == e.Spec {
			return true
		}
	}
	return false
}

// nameSpec parses a name given to Matches.
func nameSpec(n string) (mount.Spec, bool) {
	n = strings.TrimSpace(n)
	if isUUID(n) {
		return mount.Spec{Kind: mount.KindUUID, Value: strings.ToLower(n)}, true
	}
	s, err := deviceSpec(n)
	return s, err == nil
}

// isUUID reports whether s is a bare UUID, 8-4-4-4-12 hexadecimal digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
