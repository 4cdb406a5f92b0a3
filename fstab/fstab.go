// Package fstab reads tables in the format of fstab(5): a system's /etc/fstab, where the init
// finds the mounts the initramfs must make besides the root (/usr, and those marked
// x-initrd.mount, as systemd's initrd mounts them), and /proc/mounts, where mkinitramfs finds
// the host's root. Both have the same fields and the same octal escapes (\040 for a space), so
// one parser serves both.
//
// Each line is "SPEC FILE [VFSTYPE [MNTOPS [FREQ [PASSNO]]]]", fields separated by spaces or
// tabs; '#' starts a comment line. As in mount(8), VFSTYPE defaults to "auto" and MNTOPS to
// "defaults". A malformed line (a lone field, a FREQ or PASSNO that is not a number) is
// reported in Table.Problems with its line number and skipped: the lines around it still count.
package fstab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxLine bounds one line, and maxSize a whole table: they only stop a garbage file from being
// read into memory whole (/proc/mounts of a busy host is a few hundred KB).
const (
	maxLine = 1 << 20
	maxSize = 16 << 20
)

// Entry is one line of a table.
type Entry struct {
	Line    int    // 1-based line number
	Spec    string // the device or source (UUID=…, /dev/sda1, tmpfs), unescaped
	File    string // the mount point, unescaped
	Type    string // the filesystem type; "auto" when not given
	Options string // the mount options as written, unescaped; "defaults" when not given
	Freq    int    // dump frequency
	Pass    int    // fsck order
}

// Table is a parsed table: its entries in file order and its malformed lines.
type Table struct {
	Entries  []Entry
	Problems []string // "line N: reason", one per skipped line
}

// ReadFile parses the table in the file at path. A file that cannot be opened is the os
// error, unwrapped beyond the path (errors.Is(err, fs.ErrNotExist) for a missing one), so a
// caller can take a missing fstab as an empty table.
func ReadFile(path string) (Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return Table{}, err
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads a table from r. Only a failure to read r is an error.
func Parse(r io.Reader) (Table, error) {
	var t Table
	sc := bufio.NewScanner(io.LimitReader(r, maxSize))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := parseLine(sc.Text())
		if err != nil {
			t.Problems = append(t.Problems, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		if ok {
			e.Line = n
			t.Entries = append(t.Entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("fstab: %w", err)
	}
	return t, nil
}

// parseLine parses one line; ok is false for a blank or comment line.
func parseLine(line string) (e Entry, ok bool, err error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return Entry{}, false, nil
	}
	if len(fields) < 2 {
		return Entry{}, false, fmt.Errorf("%q: no mount point", line)
	}
	e = Entry{Spec: Unescape(fields[0]), File: Unescape(fields[1]), Type: "auto", Options: "defaults"}
	if len(fields) > 2 {
		e.Type = Unescape(fields[2])
	}
	if len(fields) > 3 {
		e.Options = Unescape(fields[3])
	}
	for i, p := range []*int{&e.Freq, &e.Pass} {
		if len(fields) <= 4+i {
			break
		}
		if *p, err = strconv.Atoi(fields[4+i]); err != nil || *p < 0 {
			return Entry{}, false, fmt.Errorf("%q: field %d is not a number", line, 5+i)
		}
	}
	return e, true, nil
}

// Find returns the last entry mounted on file (the one a mount(8) of the whole table leaves
// on top), skipping those of type skip (the initramfs's "rootfs" in /proc/mounts).
func (t Table) Find(file string, skip ...string) (Entry, bool) {
	for i := len(t.Entries) - 1; i >= 0; i-- {
		e := t.Entries[i]
		if e.File == file && !slices.Contains(skip, e.Type) {
			return e, true
		}
	}
	return Entry{}, false
}

// HasOption says whether the entry's options hold the word name (nofail, x-initrd.mount) or a
// name=value.
func (e Entry) HasOption(name string) bool {
	_, ok := e.Option(name)
	return ok
}

// Option returns the value of the last name=value among the entry's options ("" for a bare
// name), and whether name is there at all.
func (e Entry) Option(name string) (value string, ok bool) {
	for w := range strings.SplitSeq(e.Options, ",") {
		k, v, _ := strings.Cut(w, "=")
		if k == name {
			value, ok = v, true
		}
	}
	return value, ok
}

// Unescape undoes the octal escapes of a field (\040 a space, \011 a tab, \134 a backslash).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
