package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/fstab"
)

// maxSysfsRead bounds every sysfs attribute read.
const maxSysfsRead = 4096

// Modaliases returns every distinct modalias found in sysfs/devices/**/modalias
// (symlinks are not followed), sorted. A sysfs without a devices directory
// is an error; unreadable attributes are skipped.
func Modaliases(sysfs string) ([]string, error) {
	root := filepath.Join(sysfs, "devices")
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("host devices: %w", err)
	}
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return fmt.Errorf("host devices: %w", err)
			}
			return nil // vanished or unreadable device: skip
		}
		if d.Name() != "modalias" || !d.Type().IsRegular() {
			return nil
		}
		v, err := readAttr(p)
		if err == nil && v != "" {
			set[v] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sortedKeys(set), nil
}

func readAttr(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsRead))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Mount is one line of /proc/mounts.
type Mount struct {
	Source, Target, FSType string
}

// RootMount returns the mount of "/" from a /proc/mounts style file (the
// last one wins, skipping the initial "rootfs").
func RootMount(mounts string) (Mount, error) {
	tab, err := readMounts(mounts)
	if err != nil {
		return Mount{}, fmt.Errorf("root filesystem: %w", err)
	}
	e, ok := tab.Find("/", "rootfs")
	if !ok {
		return Mount{}, fmt.Errorf("root filesystem: no / in %s", mounts)
	}
	return Mount{Source: e.Spec, Target: "/", FSType: e.Type}, nil
}

// HostMounts returns the host's mounts a host-only image must be able to make, each as the
// mount table mounts (a /proc/mounts style file, read once) has it: the root first, then
// /usr when it is mounted there, then the mount points of the entries of the host's
// /etc/fstab (below hostRoot; "" is "/") marked x-initrd.mount that mounts has mounted,
// in the fstab's order, each mount point once. These are what the init mounts before
// switch_root; those but the root without a block device (a /dev source: not tmpfs or a
// network share) are left out, as the image needs nothing to reach them. A mount table
// without a root is an error, as in RootMount; a missing host fstab is none, one that
// cannot be read an error.
func HostMounts(mounts, hostRoot string) ([]Mount, error) {
	tab, err := readMounts(mounts)
	if err != nil {
		return nil, fmt.Errorf("root filesystem: %w", err)
	}
	targets := []string{"/", "/usr"}
	if hostRoot == "" {
		hostRoot = "/"
	}
	host, err := readHostFstab(filepath.Join(hostRoot, "etc", "fstab"))
	if err != nil {
		return nil, err
	}
	for _, e := range host.Entries {
		if e.HasOption("x-initrd.mount") && path.IsAbs(e.File) {
			targets = append(targets, path.Clean(e.File))
		}
	}
	var out []Mount
	seen := map[string]bool{}
	for _, target := range targets {
		if seen[target] {
			continue
		}
		seen[target] = true
		e, ok := tab.Find(target, "rootfs")
		switch {
		case ok && (target == "/" || strings.HasPrefix(e.Spec, "/dev/")):
			out = append(out, Mount{Source: e.Spec, Target: target, FSType: e.Type})
		case !ok && target == "/":
			return nil, fmt.Errorf("root filesystem: no / in %s", mounts)
		}
	}
	return out, nil
}

// readHostFstab reads the host's fstab at p; a missing file is an empty table.
func readHostFstab(p string) (fstab.Table, error) {
	tab, err := fstab.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fstab.Table{}, fmt.Errorf("host fstab: %w", err)
	}
	return tab, nil
}

// readMounts reads a /proc/mounts style file.
func readMounts(mounts string) (fstab.Table, error) {
	tab, err := fstab.ReadFile(mounts)
	if err != nil {
		return fstab.Table{}, fmt.Errorf("mounts: %w", err)
	}
	return tab, nil
}

// StackModules returns the names (or aliases) of the modules needed to
// assemble the device src of a filesystem the image mounts (the root, /usr, …;
// see HostMounts) beyond its disks' drivers: device mapper (and dm-crypt for
// LUKS) for /dev/mapper/* and /dev/dm-*, md and the RAID personality for
// /dev/md*. sysfs is read to classify the device; missing
// attributes only make the answer less precise.
func StackModules(sysfs, src string) []string {
	set := map[string]bool{}
	dev := filepath.Base(src)
	switch {
	case strings.HasPrefix(src, "/dev/mapper/"), strings.HasPrefix(src, "/dev/dm-"):
		set["dm_mod"] = true
		if strings.HasPrefix(src, "/dev/mapper/") {
			dev = dmByName(sysfs, dev)
		}
		stackDM(sysfs, dev, set, 0)
	case strings.HasPrefix(src, "/dev/md"):
		stackMD(sysfs, dev, set)
	}
	return sortedKeys(set)
}

func dmByName(sysfs, name string) string {
	ents, _ := filepath.Glob(filepath.Join(sysfs, "block", "dm-*", "dm", "name"))
	for _, p := range ents {
		if v, err := readAttr(p); err == nil && v == name {
			return filepath.Base(filepath.Dir(filepath.Dir(p)))
		}
	}
	return ""
}

// stackDM adds the modules for dm device dev and, recursively, for the dm
// and md devices below it.
func stackDM(sysfs, dev string, set map[string]bool, depth int) {
	if dev == "" || depth > 8 {
		return
	}
	blk := filepath.Join(sysfs, "block", dev)
	if uuid, err := readAttr(filepath.Join(blk, "dm", "uuid")); err == nil {
		switch {
		case strings.HasPrefix(uuid, "CRYPT-"):
			// dm-crypt and the AF_ALG sockets the init decrypts keyslots through; the
			// volume's ciphers are in its header, which FindHostCrypt reads.
			for _, m := range cryptModules {
				set[m] = true
			}
		case strings.HasPrefix(uuid, "LVM-"):
			set["dm_mod"] = true
		}
	}
	slaves, _ := os.ReadDir(filepath.Join(blk, "slaves"))
	for _, s := range slaves {
		switch n := s.Name(); {
		case strings.HasPrefix(n, "dm-"):
			stackDM(sysfs, n, set, depth+1)
		case strings.HasPrefix(n, "md"):
			stackMD(sysfs, n, set)
		}
	}
}

// cryptModules are what a host-only image needs for any LUKS device, by name or alias.
var cryptModules = []string{"dm_crypt", "af_alg", "algif_skcipher"}

func stackMD(sysfs, dev string, set map[string]bool) {
	set["md_mod"] = true
	dev = wholeDevice(sysfs, dev) // a partitioned array's md0p1: md0's level
	level, err := readAttr(filepath.Join(sysfs, "block", dev, "md", "level"))
	if err != nil {
		return
	}
	switch level {
	case "raid4", "raid5", "raid6":
		set["raid456"] = true
	case "raid0", "raid1", "raid10", "linear":
		set[level] = true
	}
}
