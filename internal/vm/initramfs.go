package vm

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
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
// kernel needs to give /init a console.
func WriteInitramfs(path string, files []InitramfsFile) error {
	recs, err := initramfsRecords(files)
	if err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	w := cpio.Newc.Writer(bw)
	if err := cpio.WriteRecords(w, recs); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	return f.Close()
}

func initramfsRecords(files []InitramfsFile) ([]cpio.Record, error) {
	var recs []cpio.Record
	seen := map[string]bool{}
	addDirs := func(name string) {
		d := path.Dir(name)
		if d == "." || seen[d] {
			return
		}
		var parts []string
		for ; d != "." && d != "/"; d = path.Dir(d) {
			parts = append([]string{d}, parts...)
		}
		for _, p := range parts {
			if !seen[p] {
				seen[p] = true
				recs = append(recs, cpio.Directory(p, 0o755))
			}
		}
	}
	all := append([]InitramfsFile{{Name: "dev", Dir: true}}, files...)
	for _, f := range all {
		name := strings.Trim(path.Clean("/"+f.Name), "/")
		if name == "" {
			return nil, fmt.Errorf("bad entry name %q", f.Name)
		}
		if seen[name] {
			if f.Dir {
				continue
			}
			return nil, fmt.Errorf("duplicate entry %q", name)
		}
		addDirs(name)
		seen[name] = true
		r, err := initramfsRecord(name, f)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if !seen["dev/console"] {
		recs = append(recs, cpio.CharDev("dev/console", 0o600, 5, 1))
	}
	return recs, nil
}

func initramfsRecord(name string, f InitramfsFile) (cpio.Record, error) {
	perm := uint64(f.Mode.Perm())
	switch {
	case f.Dir:
		if perm == 0 {
			perm = 0o755
		}
		return cpio.Directory(name, perm), nil
	case f.Link != "":
		return cpio.Symlink(name, f.Link), nil
	case f.Src != "":
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return cpio.Record{}, err
		}
		if perm == 0 {
			perm = 0o644
			if fi, err := os.Stat(f.Src); err == nil && fi.Mode().Perm()&0o111 != 0 {
				perm = 0o755
			}
		}
		return cpio.StaticRecord(data, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm}), nil
	default:
		if perm == 0 {
			perm = 0o644
		}
		return cpio.StaticRecord(f.Data, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm}), nil
	}
}
