package switchroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// entry is what the deletion walker needs to know about a path, from lstat.
type entry struct {
	dev uint64
	dir bool // a real directory, not a symbolic link to one
}

// walker deletes a tree without crossing file systems. lstat is a seam for tests, which
// mark a directory as another device.
type walker struct {
	lstat func(path string) (entry, error)
}

// lstatEntry is the real lstat.
func lstatEntry(path string) (entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return entry{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return entry{dev: st.Dev, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}

// RemoveAll deletes everything below dir that lies on the file system with device number
// dev, and keeps dir itself (deleting "/" is the point, and "/" cannot be removed). It uses
// lstat and never follows symbolic links (a link is removed, not its target); an entry on
// another device (a mount point such as the new root, /mnt/data, or a bind-mounted file) is
// skipped with everything below it, and so is every directory that still holds one. Files
// are removed before their directory. It continues past errors and returns them joined.
func RemoveAll(dir string, dev uint64) error {
	w := walker{lstat: lstatEntry}
	return w.removeAll(dir, dev)
}

func (w walker) removeAll(dir string, dev uint64) error {
	e, err := w.lstat(dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if e.dev != dev {
		return nil
	}
	if !e.dir {
		return fmt.Errorf("remove %s: not a directory", dir)
	}
	_, err = w.clear(dir, dev)
	return err
}

// clear deletes the contents of dir (known to be a directory on dev). kept reports that
// something stays in it: an entry on another device, or one that could not be deleted, so
// that removing dir itself is not even tried.
func (w walker) clear(dir string, dev uint64) (kept bool, err error) {
	names, err := readNames(dir)
	if err != nil {
		return true, fmt.Errorf("remove %s: %w", dir, err)
	}
	var errs []error
	for _, name := range names {
		p := filepath.Join(dir, name)
		e, err := w.lstat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			kept = true
			continue
		}
		if e.dev != dev {
			kept = true
			continue
		}
		if !e.dir {
			if err := unix.Unlink(p); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
				kept = true
			}
			continue
		}
		k, err := w.clear(p, dev)
		if err != nil {
			errs = append(errs, err)
		}
		if k {
			kept = true
			continue
		}
		if err := unix.Rmdir(p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			kept = true
		}
	}
	return kept, errors.Join(errs...)
}

// readNames lists dir without following a symbolic link in its place, and closes it before
// returning, so that the walk holds one descriptor at a time however deep the tree.
func readNames(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	return f.Readdirnames(-1)
}
