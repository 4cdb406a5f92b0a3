package builder

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// payloadTime is the modification time of every file of the test root in the guest.
var payloadTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tarTree packs the directory tree at root into a tar archive whose bytes depend only on
// the names, types, contents and link targets of the files and on whether they are
// executable: entries sorted, owner root, one fixed mtime, permissions 0755, 0644 or (world-writable directories) 0777, so the
// umask that made the tree does not matter; set-id and sticky bits are kept. Its hash is part of the cache key. Devices, sockets and
// FIFOs are refused.
func tarTree(root string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: payloadTime, Format: tar.FormatUSTAR,
			Mode: perm(fi.Mode())}
		var data []byte
		switch m := fi.Mode(); {
		case m.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case m&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case m.IsRegular():
			h.Typeflag = tar.TypeReg
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
			h.Size = int64(len(data))
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, m.Type())
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("test root %s: %w", root, err)
	}
	return buf.Bytes(), nil
}

// perm is the tar mode of a file: 0755 for directories and executables, else 0644, with
// the set-uid, set-gid and sticky bits.
func perm(m fs.FileMode) int64 {
	b := int64(0o644)
	switch {
	case m&fs.ModeSymlink != 0:
		return 0o777
	case m.IsDir() && m.Perm()&0o002 != 0:
		b = 0o777 // /tmp
	case m.IsDir() || m.Perm()&0o111 != 0:
		b = 0o755
	}
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}
