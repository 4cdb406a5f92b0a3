package initramfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/md"
)

// A host-only image assembles only the MD arrays the root, /usr and the
// x-initrd.mount filesystems stand on (HostMounts), as the host's mdadm.conf
// names them: the image gets the host's HOMEHOST line and the ARRAY lines of
// those arrays (the init reads them from md.ConfPaths[0]). An array is
// recognised by the UUID (or name) in its members' superblocks, read through
// the host's /dev, so the 0.90 format's byte order and every way of writing a
// UUID compare as md compares them. When something cannot be matched (an
// unreadable member, an array the file does not list), the image gets no
// mdadm.conf and assembles every array, which still boots; a warning says why.

// maxStackDepth bounds the walk down a device stack (dm on md on dm …).
const maxStackDepth = 8

// HostMDConf returns the mdadm.conf a host-only image needs to assemble the arrays
// under the devices srcs (the sources of the root, /usr, …), made from the host's
// mdadm.conf at confPath (see hostMDConfPath; "" or a missing file is none, which is
// no error): "" when no src stands on an MD array or the file lists no arrays, with
// warnings for what could not be matched. The ARRAY lines kept are those of every
// array under any src, each once, in the file's order. sysfs is the host's /sys (the
// stack is walked through its slaves directories), devDir its /dev (each array's
// members are read there for their superblocks). The file is read only when some src
// is on MD; only an unreadable file is an error.
func HostMDConf(confPath, sysfs, devDir string, srcs ...string) (string, []string, error) {
	var arrays []string
	holds := map[string]string{} // array → the first src it is under
	for _, src := range srcs {
		for _, a := range stackArrays(sysfs, blockName(sysfs, devDir, src)) {
			if _, ok := holds[a]; !ok {
				holds[a] = src
				arrays = append(arrays, a)
			}
		}
	}
	if len(arrays) == 0 {
		return "", nil, nil
	}
	conf, err := readHostMDConf(confPath)
	if err != nil || strings.TrimSpace(conf) == "" {
		return "", nil, err
	}
	c, err := md.ParseConf(conf)
	if err != nil {
		return "", []string{fmt.Sprintf("mdadm.conf: %v; the image assembles every array", err)}, nil
	}
	if len(c.Arrays) == 0 {
		return "", nil, nil
	}
	var sbs []*md.Superblock
	for _, a := range arrays {
		sb, err := arraySuperblock(sysfs, devDir, a)
		if err != nil {
			return "", []string{fmt.Sprintf("mdadm.conf: %v; the image assembles every array", err)}, nil
		}
		if !c.Wants(sb) {
			return "", []string{fmt.Sprintf("mdadm.conf lists no ARRAY for %s (UUID %s), which holds %s; the image assembles every array",
				a, sb.UUIDString(), holds[a])}, nil
		}
		sbs = append(sbs, sb)
	}
	return c.Filter(func(a md.ConfArray) bool {
		for _, sb := range sbs {
			if a.Matches(sb) {
				return true
			}
		}
		return false
	}), nil, nil
}

// blockName is the kernel's name of the block device src (/dev/md0,
// /dev/md/root, /dev/mapper/vg-root, /dev/dm-1): links under devDir are
// followed, device-mapper names looked up in sysfs, and a partition
// (md0p1) stands for its whole device, whose stack is the same.
func blockName(sysfs, devDir, src string) string {
	if rel, ok := strings.CutPrefix(src, "/dev/"); ok {
		if strings.HasPrefix(rel, "mapper/") {
			return dmByName(sysfs, strings.TrimPrefix(rel, "mapper/"))
		}
		if p, err := filepath.EvalSymlinks(filepath.Join(devDir, rel)); err == nil {
			src = p
		}
	}
	return wholeDevice(sysfs, filepath.Base(src))
}

// wholeDevice is the device a partition (md0p1) is part of, found through
// /sys/class/block (md0p1 → …/block/md0/md0p1), or name itself: what
// stands below a partition is what stands below its device.
func wholeDevice(sysfs, name string) string {
	if _, err := os.Stat(filepath.Join(sysfs, "block", name)); err == nil {
		return name
	}
	if p, err := filepath.EvalSymlinks(filepath.Join(sysfs, "class", "block", name)); err == nil {
		if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
			return filepath.Base(filepath.Dir(p))
		}
	}
	return name
}

// stackArrays returns the MD arrays in the stack of block device dev
// (dev itself included), top first, each once; a partition in the stack
// stands for its whole device.
func stackArrays(sysfs, dev string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(dev string, depth int)
	walk = func(dev string, depth int) {
		if dev == "" || seen[dev] || depth > maxStackDepth {
			return
		}
		seen[dev] = true
		if _, err := os.Stat(filepath.Join(sysfs, "block", dev, "md")); err == nil {
			out = append(out, dev)
		}
		slaves, _ := os.ReadDir(filepath.Join(sysfs, "block", dev, "slaves"))
		for _, s := range slaves {
			walk(wholeDevice(sysfs, s.Name()), depth+1)
		}
	}
	walk(dev, 0)
	return out
}

// arraySuperblock reads the superblock of the first member of array that
// has a readable one.
func arraySuperblock(sysfs, devDir, array string) (*md.Superblock, error) {
	members, err := os.ReadDir(filepath.Join(sysfs, "block", array, "slaves"))
	if err != nil {
		return nil, fmt.Errorf("%s: members: %w", array, err)
	}
	var errs []error
	for _, m := range members {
		sb, err := readSuperblock(filepath.Join(devDir, m.Name()))
		if err == nil {
			return sb, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: no members", array)
	}
	return nil, fmt.Errorf("%s: %w", array, errors.Join(errs...))
}

func readSuperblock(path string) (*md.Superblock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sb, err := md.Read(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sb, nil
}

// readHostMDConf reads the host's mdadm.conf: path, or when it is "" the
// first of md.ConfPaths under /. A missing file is no error.
func readHostMDConf(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("host mdadm.conf: %w", err)
	}
	return string(data), nil
}

// hostMDConfPath is the host's mdadm.conf: the one named, else the first of md.ConfPaths below hostRoot that exists, else "".
func hostMDConfPath(named, hostRoot string) string {
	if named != "" {
		return named
	}
	if hostRoot == "" {
		hostRoot = "/"
	}
	for _, p := range md.ConfPaths {
		path := filepath.Join(hostRoot, p)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			return path
		}
	}
	return ""
}

// addHostMDConf puts the mdadm.conf of a host-only image into a (see
// HostMDConf), unless an extra file already holds that place.
func addHostMDConf(cfg Config, a *Archive, res *Result) error {
	if !cfg.HostOnly || a.Has(md.ConfPaths[0]) {
		return nil
	}
	ms, err := HostMounts(cfg.Mounts, cfg.HostRoot)
	if err != nil {
		return err
	}
	var srcs []string
	for _, m := range ms {
		srcs = append(srcs, m.Source)
	}
	if cfg.MDAdmConf != "" {
		if _, err := os.Stat(cfg.MDAdmConf); errors.Is(err, os.ErrNotExist) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("mdadm.conf %s does not exist; the image assembles every array", cfg.MDAdmConf))
		}
	}
	text, warnings, err := HostMDConf(hostMDConfPath(cfg.MDAdmConf, cfg.HostRoot), cfg.SysFS, cfg.DevDir, srcs...)
	res.Warnings = append(res.Warnings, warnings...)
	if err != nil || text == "" {
		return err
	}
	return a.AddBytes(md.ConfPaths[0], 0o644, []byte(text))
}
