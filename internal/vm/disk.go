package vm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FS describes one filesystem image.
type FS struct {
	// Type is one of "ext4", "ext2", "xfs", "btrfs", "vfat", "f2fs".
	Type string
	// UUID is the filesystem UUID ("" lets mkfs choose). For vfat it is the
	// volume id, written "ABCD-1234" or "abcd1234".
	UUID string
	// Label is the filesystem label ("" for none).
	Label string
	// SrcDir holds the contents to copy into the filesystem ("" for an
	// empty filesystem). f2fs cannot be populated and rejects a SrcDir.
	SrcDir string
	// SizeMB is the image size in MiB; 0 picks DefaultSizeMB(Type).
	SizeMB int
}

// DefaultSizeMB returns the image size used when FS.SizeMB is 0: small,
// but above each mkfs's minimum (xfs needs 300 MiB, btrfs 114 MiB).
// Images are sparse, so the host pays only for what is written.
func DefaultSizeMB(fstype string) int {
	switch fstype {
	case "xfs":
		return 300
	case "btrfs":
		return 128
	case "f2fs":
		return 64
	default:
		return 32
	}
}

func (fs FS) sizeMB() int {
	if fs.SizeMB > 0 {
		return fs.SizeMB
	}
	return DefaultSizeMB(fs.Type)
}

// MakeFS creates (or overwrites) a filesystem image at path, populated
// from fs.SrcDir, using only userspace tools (no loop devices, no mount).
func MakeFS(path string, fs FS) error {
	if err := CreateSparse(path, int64(fs.sizeMB())<<20); err != nil {
		return fmt.Errorf("make %s image %s: %w", fs.Type, path, err)
	}
	var err error
	switch fs.Type {
	case "ext4", "ext2":
		err = makeExt(path, fs)
	case "btrfs":
		err = makeBtrfs(path, fs)
	case "xfs":
		err = makeXFS(path, fs)
	case "vfat":
		err = makeVFAT(path, fs)
	case "f2fs":
		err = makeF2FS(path, fs)
	default:
		err = fmt.Errorf("unsupported filesystem type %q", fs.Type)
	}
	if err != nil {
		return fmt.Errorf("make %s image %s: %w", fs.Type, path, err)
	}
	return nil
}

// CreateSparse makes path an empty (sparse) file of size bytes: a blank disk image.
func CreateSparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// run executes a host tool and folds its combined output into the error.
func run(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func makeExt(path string, fs FS) error {
	args := []string{"-q", "-F", "-t", fs.Type, "-E", "root_owner=0:0"}
	if fs.UUID != "" {
		args = append(args, "-U", fs.UUID)
	}
	if fs.Label != "" {
		args = append(args, "-L", fs.Label)
	}
	if fs.SrcDir != "" {
		args = append(args, "-d", fs.SrcDir)
	}
	return run(nil, "mke2fs", append(args, path)...)
}

func makeBtrfs(path string, fs FS) error {
	args := []string{"-q", "-f"}
	if fs.UUID != "" {
		args = append(args, "-U", fs.UUID)
	}
	if fs.Label != "" {
		args = append(args, "-L", fs.Label)
	}
	if fs.SrcDir != "" {
		args = append(args, "--rootdir", fs.SrcDir)
	}
	return run(nil, "mkfs.btrfs", append(args, path)...)
}

func makeXFS(path string, fs FS) error {
	args := []string{"-q", "-f"}
	if fs.UUID != "" {
		args = append(args, "-m", "uuid="+fs.UUID)
	}
	if fs.Label != "" {
		args = append(args, "-L", fs.Label)
	}
	if fs.SrcDir != "" {
		proto, err := xfsProto(fs.SrcDir)
		if err != nil {
			return err
		}
		pf, err := os.CreateTemp("", "earlyroot-xfsproto-*")
		if err != nil {
			return err
		}
		defer os.Remove(pf.Name())
		if _, err := pf.WriteString(proto); err != nil {
			pf.Close()
			return err
		}
		if err := pf.Close(); err != nil {
			return err
		}
		args = append(args, "-p", pf.Name())
	}
	return run(nil, "mkfs.xfs", append(args, path)...)
}

// xfsProto renders SrcDir as an mkfs.xfs prototype file (see mkfs.xfs(8),
// "-p protofile"). Owners are recorded as 0:0, like ext4's root_owner.
func xfsProto(src string) (string, error) {
	var b strings.Builder
	b.WriteString("/dev/null\n0 0\n")
	fi, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "d%s 0 0\n", protoMode(fi.Mode()))
	if err := xfsProtoDir(&b, src, 1); err != nil {
		return "", err
	}
	b.WriteString("$\n")
	return b.String(), nil
}

func xfsProtoDir(b *strings.Builder, dir string, depth int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	ind := strings.Repeat(" ", depth)
	for _, e := range ents {
		name := e.Name()
		if strings.ContainsAny(name, " \t\n$") {
			return fmt.Errorf("xfs protofile: cannot encode file name %q", filepath.Join(dir, name))
		}
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		m := fi.Mode()
		switch {
		case m.IsDir():
			fmt.Fprintf(b, "%s%s d%s 0 0\n", ind, name, protoMode(m))
			if err := xfsProtoDir(b, p, depth+1); err != nil {
				return err
			}
			fmt.Fprintf(b, "%s$\n", ind)
		case m&os.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "%s%s l%s 0 0 %s\n", ind, name, protoMode(m), t)
		case m.IsRegular():
			fmt.Fprintf(b, "%s%s -%s 0 0 %s\n", ind, name, protoMode(m), p)
		default:
			return fmt.Errorf("xfs protofile: unsupported file type %v for %s", m.Type(), p)
		}
	}
	return nil
}

// protoMode renders the set-uid/set-gid flags and octal permissions of a
// prototype entry ("u-755").
func protoMode(m os.FileMode) string {
	u, g := "-", "-"
	if m&os.ModeSetuid != 0 {
		u = "u"
	}
	if m&os.ModeSetgid != 0 {
		g = "g"
	}
	return fmt.Sprintf("%s%s%03o", u, g, m.Perm())
}

func makeVFAT(path string, fs FS) error {
	args := []string{}
	if fs.UUID != "" {
		id := strings.ReplaceAll(fs.UUID, "-", "")
		if len(id) != 8 {
			return fmt.Errorf("vfat volume id %q: want 8 hex digits", fs.UUID)
		}
		args = append(args, "-i", id)
	}
	if fs.Label != "" {
		args = append(args, "-n", fs.Label)
	}
	if err := run(nil, "mkfs.vfat", append(args, path)...); err != nil {
		return err
	}
	if fs.SrcDir == "" {
		return nil
	}
	ents, err := os.ReadDir(fs.SrcDir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	cp := []string{"-s", "-p", "-Q", "-i", path}
	for _, e := range ents {
		cp = append(cp, filepath.Join(fs.SrcDir, e.Name()))
	}
	return run([]string{"MTOOLS_SKIP_CHECK=1"}, "mcopy", append(cp, "::/")...)
}

func makeF2FS(path string, fs FS) error {
	if fs.SrcDir != "" {
		return errors.New("f2fs images cannot be populated from a directory")
	}
	args := []string{"-q", "-f"}
	if fs.UUID != "" {
		args = append(args, "-U", fs.UUID)
	}
	if fs.Label != "" {
		args = append(args, "-l", fs.Label)
	}
	return run(nil, "mkfs.f2fs", append(args, path)...)
}

// copySparse writes the file src into dst at byte offset off, skipping
// all-zero blocks so the destination stays sparse. It fails when src is
// larger than limit bytes.
func copySparse(dst *os.File, off, limit int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > limit {
		return fmt.Errorf("%s is %d bytes, partition holds %d", src, fi.Size(), limit)
	}
	return WriteSparse(dst, off, f, 0, fi.Size())
}

// WriteSparse copies n bytes of src from srcOff to dst at dstOff, skipping
// blocks of zeros so that a sparse dst keeps its holes there.
func WriteSparse(dst io.WriterAt, dstOff int64, src io.ReaderAt, srcOff, n int64) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for pos := int64(0); pos < n; {
		m, err := src.ReadAt(buf[:min(int64(len(buf)), n-pos)], srcOff+pos)
		if m > 0 && !bytes.Equal(buf[:m], zero[:m]) {
			if _, werr := dst.WriteAt(buf[:m], dstOff+pos); werr != nil {
				return werr
			}
		}
		pos += int64(m)
		if err != nil && !(errors.Is(err, io.EOF) && pos == n) {
			return err
		}
	}
	return nil
}
