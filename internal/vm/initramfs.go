package vm

import (
	"bytes"
	"fmt"
	"os"

	"github.com/earlyroot/earlyroot/initramfs"
)

// InitramfsFile is one entry of an initramfs built by WriteInitramfs.
// Exactly one of Src, Data, Link, Dir describes the content.
type InitramfsFile struct {
	Name string      // path inside the archive, e.g. "init" or "bin/sh"
	Src  string      // host file to copy
	Data []byte      // literal contents
	Link string      // symlink target
	Dir  bool        // a directory
	Mode os.FileMode // permissions; 0 means 0755 for dirs and executables Src, else 0644
}

// WriteInitramfs writes an uncompressed newc cpio archive to path holding
// files, their parent directories, and /dev/console (char 5:1), which the
// kernel needs to give /init a console. The archive is written by
// initramfs.Archive, the writer mkinitramfs uses.
func WriteInitramfs(path string, files []InitramfsFile) error {
	data, err := AppendInitramfs(nil, files)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// AppendInitramfs appends the archive WriteInitramfs writes to dst (another image, to
// which the kernel unpacks it after the rest) and returns the extended slice.
func AppendInitramfs(dst []byte, files []InitramfsFile) ([]byte, error) {
	a, err := initramfsArchive(files)
	if err != nil {
		return dst, fmt.Errorf("initramfs: %w", err)
	}
	b := bytes.NewBuffer(dst)
	if _, err := a.WriteTo(b); err != nil {
		return dst, fmt.Errorf("initramfs: %w", err)
	}
	return b.Bytes(), nil
}

func initramfsArchive(files []InitramfsFile) (*initramfs.Archive, error) {
	a := initramfs.NewArchive()
	if err := a.AddDir("dev", 0o755); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := addInitramfsFile(a, f); err != nil {
			return nil, err
		}
	}
	if !a.Has("dev/console") {
		if err := a.AddCharDev("dev/console", 0o600, 5, 1); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func addInitramfsFile(a *initramfs.Archive, f InitramfsFile) error {
	perm := uint64(f.Mode.Perm())
	switch {
	case f.Dir:
		if perm == 0 {
			perm = 0o755
		}
		return a.AddDir(f.Name, perm)
	case f.Link != "":
		return a.AddSymlink(f.Name, f.Link)
	case f.Src != "":
		if perm == 0 {
			perm = 0o644
			if fi, err := os.Stat(f.Src); err == nil && fi.Mode().Perm()&0o111 != 0 {
				perm = 0o755
			}
		}
		return a.AddFile(f.Name, perm, f.Src)
	default:
		if perm == 0 {
			perm = 0o644
		}
		return a.AddBytes(f.Name, perm, f.Data)
	}
}
