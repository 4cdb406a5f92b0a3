package vm

import (
	"bufio"
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
	a, err := initramfsArchive(files)
	if err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	if _, err := a.WriteTo(bw); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	return f.Close()
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
