package switchroot

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// entry is what the deletion walker needs to know about a directory entry, from lstat.
type entry struct {
	dev uint64
	dir bool // a real directory, not a symbolic link to one
}

// walker deletes a tree through directory descriptors (openat, fstatat, unlinkat), so that it
// works on a root that is no longer reachable by path — Switch deletes the old root after
// the chroot, as util-linux does — and is not limited by PATH_MAX. lstat is a seam for
// tests, which mark a directory as another device; p is the entry's path for them and for
// error messages.
type walker struct {
	lstat func(dirfd int, name, p string) (entry, error)
}

// lstatAt is the real lstat.
func lstatAt(dirfd int, name, p string) (entry, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entry{}, &os.PathError{Op: "lstat", Path: p, Err: err}
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
	return walker{lstat: lstatAt}.removeAll(dir, dev)
}

func (w walker) removeAll(dir string, dev uint64) error {
	e, err := w.lstat(unix.AT_FDCWD, dir, dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if e.dev != dev {
		return nil
	}
	if !e.dir {
		return fmt.Errorf("remove %s: not a directory", dir)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	defer unix.Close(fd)
	return w.removeFD(fd, dir, dev)
}

// removeFD deletes the contents of the open directory fd, named p in messages, when it is
// on dev.
func (w walker) removeFD(fd int, p string, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	if st.Dev != dev {
		return nil
	}
	_, err := w.clear(fd, p, dev)
	return err
}

// clear deletes the contents of the directory fd (named p, on dev). kept reports that
// something stays in it: an entry on another device, or one that could not be deleted, so
// that removing the directory itself is not even tried.
func (w walker) clear(fd int, p string, dev uint64) (kept bool, err error) {
	names, err := readNames(fd, p)
	if err != nil {
		return true, fmt.Errorf("remove %s: %w", p, err)
	}
	var errs []error
	for _, name := range names {
		k, err := w.removeEntry(fd, name, path.Join(p, name), dev)
		if err != nil {
			errs = append(errs, err)
		}
		kept = kept || k
	}
	return kept, errors.Join(errs...)
}

// removeEntry deletes name in the directory fd, recursively, unless it is on another device.
func (w walker) removeEntry(fd int, name, p string, dev uint64) (kept bool, err error) {
	e, err := w.lstat(fd, name, p)
	if err != nil {
		return true, fmt.Errorf("remove %s: %w", p, err)
	}
	if e.dev != dev {
		return true, nil
	}
	if !e.dir {
		if err := unix.Unlinkat(fd, name, 0); err != nil {
			return true, fmt.Errorf("remove %s: %w", p, err)
		}
		return false, nil
	}
	cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("remove %s: %w", p, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(cfd, &st); err != nil {
		unix.Close(cfd)
		return true, fmt.Errorf("remove %s: %w", p, err)
	}
	if st.Dev != dev {
		// Mounted over between the lstat and the open: leave it.
		unix.Close(cfd)
		return true, nil
	}
	kept, err = w.clear(cfd, p, dev)
	unix.Close(cfd)
	if kept {
		return true, err
	}
	if rerr := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); rerr != nil {
		return true, errors.Join(err, fmt.Errorf("remove %s: %w", p, rerr))
	}
	return false, err
}

// readNames lists the directory fd. It reads through a duplicate, which shares the offset
// of a freshly opened directory, so that fd stays usable for the *at calls.
func readNames(fd int, p string) ([]string, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), p)
	defer f.Close()
	return f.Readdirnames(-1)
}
