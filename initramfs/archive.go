package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// Entry is one file in an Archive, as listed by Archive.Entries.
type Entry struct {
	Name   string // relative to the archive root, no leading "/", e.g. "lib/modules"
	Mode   uint64 // cpio mode: file type bits and permissions
	Size   int64  // content size (link target length for symlinks)
	Target string // symlink target
	Source string // host file the content comes from, if any
}

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Mode&cpio.S_IFMT == cpio.S_IFDIR }

type archiveEntry struct {
	Entry
	data         []byte // content when not read from Source
	rmajor, rmin uint64
}

// Archive collects the files of an initramfs image and writes them as a
// reproducible newc cpio archive: entries sorted by name (so each parent
// comes before its children), missing parent directories added, uid/gid 0,
// one fixed mtime, inode numbers assigned in order from 1.
//
// An Archive is not safe for concurrent use.
type Archive struct {
	// MTime is the modification time of every entry (seconds since the
	// epoch; 0 or SOURCE_DATE_EPOCH for reproducible images).
	MTime uint64

	entries map[string]*archiveEntry
}

// NewArchive returns an empty Archive.
func NewArchive() *Archive {
	return &Archive{entries: map[string]*archiveEntry{}}
}

func cleanName(name string) (string, error) {
	n := strings.TrimLeft(path.Clean("/"+name), "/")
	if n == "" || n == "." {
		return "", fmt.Errorf("archive entry %q: empty name", name)
	}
	return n, nil
}

func (a *Archive) add(e *archiveEntry) error {
	n, err := cleanName(e.Name)
	if err != nil {
		return err
	}
	e.Name = n
	if old, ok := a.entries[n]; ok {
		if old.IsDir() && e.IsDir() {
			old.Mode = e.Mode
			return nil
		}
		return fmt.Errorf("archive entry %q: added twice", n)
	}
	for d := path.Dir(n); d != "."; d = path.Dir(d) {
		if p, ok := a.entries[d]; ok && !p.IsDir() {
			return fmt.Errorf("archive entry %q: parent %q is not a directory", n, d)
		}
	}
	if !e.IsDir() {
		for other := range a.entries {
			if strings.HasPrefix(other, n+"/") {
				return fmt.Errorf("archive entry %q: already a directory (holds %q)", n, other)
			}
		}
	}
	a.entries[n] = e
	return nil
}

// AddDir adds a directory with permissions perm (e.g. 0o755). Adding an
// existing directory again only updates its permissions.
func (a *Archive) AddDir(name string, perm uint64) error {
	return a.add(&archiveEntry{Entry: Entry{Name: name, Mode: cpio.S_IFDIR | perm&0o7777}})
}

// AddBytes adds a regular file with the given content.
func (a *Archive) AddBytes(name string, perm uint64, data []byte) error {
	return a.add(&archiveEntry{
		Entry: Entry{Name: name, Mode: cpio.S_IFREG | perm&0o7777, Size: int64(len(data))},
		data:  data,
	})
}

// AddFile adds a regular file whose content is read from the host file src
// when the archive is written. perm 0 keeps src's permission bits.
func (a *Archive) AddFile(name string, perm uint64, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("add %s: not a regular file", src)
	}
	if perm == 0 {
		perm = uint64(fi.Mode().Perm())
	}
	return a.add(&archiveEntry{
		Entry: Entry{Name: name, Mode: cpio.S_IFREG | perm&0o7777, Size: fi.Size(), Source: src},
	})
}

// AddSymlink adds a symbolic link name → target.
func (a *Archive) AddSymlink(name, target string) error {
	if target == "" {
		return fmt.Errorf("archive symlink %q: empty target", name)
	}
	return a.add(&archiveEntry{
		Entry: Entry{Name: name, Mode: cpio.S_IFLNK | 0o777, Size: int64(len(target)), Target: target},
	})
}

// AddCharDev adds a character device node.
func (a *Archive) AddCharDev(name string, perm, major, minor uint64) error {
	return a.add(&archiveEntry{
		Entry:  Entry{Name: name, Mode: cpio.S_IFCHR | perm&0o7777},
		rmajor: major, rmin: minor,
	})
}

// Has reports whether name (or an implicit parent directory of an entry
// with that name) is in the archive.
func (a *Archive) Has(name string) bool {
	n, err := cleanName(name)
	if err != nil {
		return false
	}
	if _, ok := a.entries[n]; ok {
		return true
	}
	for other := range a.entries {
		if strings.HasPrefix(other, n+"/") {
			return true
		}
	}
	return false
}

// complete returns every entry, implicit parents included, sorted by name.
func (a *Archive) complete() []*archiveEntry {
	all := make(map[string]*archiveEntry, len(a.entries))
	for n, e := range a.entries {
		all[n] = e
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if _, ok := a.entries[d]; ok {
				continue
			}
			if _, ok := all[d]; !ok {
				all[d] = &archiveEntry{Entry: Entry{Name: d, Mode: cpio.S_IFDIR | 0o755}}
			}
		}
	}
	list := make([]*archiveEntry, 0, len(all))
	for _, e := range all {
		list = append(list, e)
	}
	// Plain byte order puts every directory before its children, since a
	// parent's name is a prefix of the child's.
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// Entries lists every entry that WriteTo writes, implicit parent
// directories included, in archive order.
func (a *Archive) Entries() []Entry {
	c := a.complete()
	out := make([]Entry, len(c))
	for i, e := range c {
		out[i] = e.Entry
	}
	return out
}

// WriteTo writes the archive, trailer included, as newc cpio to w and
// returns the number of bytes written.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	rw := cpio.Newc.Writer(cw)
	for i, e := range a.complete() {
		rec, closer, err := a.record(e, uint64(i+1))
		if err != nil {
			return cw.n, err
		}
		err = rw.WriteRecord(rec)
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return cw.n, fmt.Errorf("write cpio record %s: %w", e.Name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return cw.n, fmt.Errorf("write cpio trailer: %w", err)
	}
	return cw.n, nil
}

func (a *Archive) record(e *archiveEntry, ino uint64) (cpio.Record, io.Closer, error) {
	info := cpio.Info{
		Ino:   ino,
		Mode:  e.Mode,
		NLink: 1,
		MTime: a.MTime,
		Name:  e.Name,
	}
	var rec cpio.Record
	var closer io.Closer
	switch e.Mode & cpio.S_IFMT {
	case cpio.S_IFDIR:
		info.NLink = 2
		rec = cpio.Record{Info: info}
	case cpio.S_IFCHR, cpio.S_IFBLK:
		info.Rmajor, info.Rminor = e.rmajor, e.rmin
		rec = cpio.Record{Info: info}
	case cpio.S_IFLNK:
		rec = cpio.StaticRecord([]byte(e.Target), info)
	default:
		if e.Source == "" {
			rec = cpio.StaticRecord(e.data, info)
			break
		}
		f, err := os.Open(e.Source)
		if err != nil {
			return rec, nil, fmt.Errorf("archive %s: %w", e.Name, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return rec, nil, fmt.Errorf("archive %s: %w", e.Name, err)
		}
		if fi.Size() != e.Size {
			f.Close()
			return rec, nil, fmt.Errorf("archive %s: %s changed size (%d, was %d)", e.Name, e.Source, fi.Size(), e.Size)
		}
		info.FileSize = uint64(fi.Size())
		rec = cpio.Record{ReaderAt: noCloseReaderAt{f}, Info: info}
		closer = f
	}
	return rec, closer, nil
}

// noCloseReaderAt hides the Closer of an *os.File from the cpio writer, so
// the file is closed exactly once, by WriteTo.
type noCloseReaderAt struct{ r io.ReaderAt }

func (n noCloseReaderAt) ReadAt(p []byte, off int64) (int, error) { return n.r.ReadAt(p, off) }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
