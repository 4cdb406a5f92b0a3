package builder

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/modload"
)

//go:embed guest/init.sh
var guestInit string

//go:embed guest/lib.sh
var guestLib string

// lvmConf makes lvm work without udev in the guest: it scans /dev itself, creates its own
// device nodes, starts no monitoring, and activates thin pools without thin_check (the pool
// is new; thin-provisioning-tools need not be installed).
const lvmConf = `devices {
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
global {
	thin_check_executable = ""
}
`

// tool is a host program the guest gets, with the names it also answers to.
type tool struct {
	name  string
	links []string
	pkg   string // the Debian package that has it, for the error message
}

// guestTools are the real tools the recipes use. They go to /usr/sbin in the guest.
var guestTools = []tool{
	{"cryptsetup", nil, "cryptsetup-bin"},
	{"lvm", strings.Fields("pvcreate vgcreate lvcreate pvs vgs lvs vgchange lvchange pvdisplay " +
		"vgdisplay lvdisplay lvconvert lvremove vgremove pvremove lvextend pvscan vgscan lvscan"), "lvm2"},
	{"dmsetup", nil, "dmsetup"},
	{"mdadm", nil, "mdadm"},
	{"mke2fs", []string{"mkfs.ext4", "mkfs.ext2"}, "e2fsprogs"},
	{"e2fsck", []string{"fsck.ext4"}, "e2fsprogs"},
	{"resize2fs", nil, "e2fsprogs"},
	{"tune2fs", nil, "e2fsprogs"},
	{"dumpe2fs", nil, "e2fsprogs"},
	{"mkfs.btrfs", nil, "btrfs-progs"},
	{"btrfs", nil, "btrfs-progs"},
	{"mkswap", nil, "util-linux"},
	{"blkid", nil, "util-linux"},
	{"wipefs", nil, "util-linux"},
	{"kmod", []string{"modprobe", "lsmod", "insmod", "modinfo"}, "kmod"},
}

// dlopened are libraries glibc loads at run time without a DT_NEEDED entry: libgcc_s for
// pthread_exit, which libargon2's worker threads call.
var dlopened = []string{"libgcc_s.so.1"}

// guestPreload are the modules /init loads: the disks, the entropy source and the two
// device drivers whose control nodes the tools open. The rest (dm targets, md personalities,
// ciphers, filesystems) the kernel asks for when a tool needs them (dm-crypt, md-level-5,
// crypto-serpent-xts-plain64, fs-ext4), through /sbin/modprobe (kmod) and the index depmod
// made, so that a recipe pays only for what it uses.
var guestPreload = []string{"virtio_pci", "virtio_blk", "virtio_rng", "dm_mod", "md_mod"}

// guestModules are in the guest image, with their dependencies.
var guestModules = []string{
	"virtio_pci", "virtio_blk", "virtio_rng", "dm_mod", "md_mod", "dm_crypt", "dm_snapshot", "dm_thin_pool",
	"dm_raid", "dm_mirror", "dm_integrity", "linear", "raid0", "raid1", "raid10", "raid456", "ext4", "btrfs",
	"af_alg", "algif_skcipher", "algif_hash",
}

// guestModulePaths selects, beside guestModules, every cipher and hash module, so that any
// cipher a recipe names can be loaded on demand.
var guestModulePaths = []string{"crypto/", "arch/x86/crypto/", "lib/crypto/"}

// sbinPath is what the guest's PATH searches first (see guest/init.sh).
const sbinPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// hostPath finds a host program where Debian puts it, whatever the caller's PATH.
func hostPath(name string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH") + ":" + sbinPath) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// base is the part of the builder initramfs every recipe shares, made once per process.
var base struct {
	sync.Mutex
	release string
	cpio    []byte
}

// writeImage writes the builder VM's initramfs to out: the shared part (busybox, the tools
// and their libraries, the modules with kmod's index, /init), then a second archive with the
// files of one recipe run, which the kernel unpacks over the first.
func writeImage(out string, k fixture.Kernel, run map[string][]byte) error {
	shared, err := baseImage(k)
	if err != nil {
		return err
	}
	a := initramfs.NewArchive()
	names := make([]string, 0, len(run))
	for n := range run {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := a.AddBytes(n, 0o755, run[n]); err != nil {
			return fmt.Errorf("builder image: %w", err)
		}
	}
	var b bytes.Buffer
	b.Write(shared)
	if _, err := a.WriteTo(&b); err != nil {
		return fmt.Errorf("builder image: %w", err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("builder image: %w", err)
	}
	return nil
}

func baseImage(k fixture.Kernel) ([]byte, error) {
	base.Lock()
	defer base.Unlock()
	if base.release == k.Release && base.cpio != nil {
		return base.cpio, nil
	}
	a := initramfs.NewArchive()
	if err := addBase(a); err != nil {
		return nil, err
	}
	if err := addTools(a); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp("", "earlyroot-builder-modules-")
	if err != nil {
		return nil, fmt.Errorf("builder image: %w", err)
	}
	defer os.RemoveAll(stage)
	if err := addModules(a, k, stage); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := a.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("builder image: %w", err)
	}
	base.release, base.cpio = k.Release, b.Bytes()
	return base.cpio, nil
}

func addBase(a *initramfs.Archive) error {
	bb, err := hostPath("busybox")
	if err != nil {
		return fmt.Errorf("builder image: %w (apt-get install busybox-static)", err)
	}
	var errs []error
	for _, d := range []string{"proc", "sys", "dev", "run", "mnt", "etc/lvm", "usr/sbin", "sbin", "bin"} {
		errs = append(errs, a.AddDir(d, 0o755))
	}
	errs = append(errs,
		a.AddDir("tmp", 0o1777),
		a.AddFile("bin/busybox", 0o755, bb),
		a.AddSymlink("bin/sh", "busybox"),
		a.AddBytes("init", 0o755, []byte(guestInit)),
		a.AddBytes("lib.sh", 0o644, []byte(guestLib)),
		a.AddBytes("etc/lvm/lvm.conf", 0o644, []byte(lvmConf)),
		a.AddCharDev("dev/console", 0o600, 5, 1),
		a.AddCharDev("dev/null", 0o666, 1, 3),
		a.AddSymlink("sbin/modprobe", "/usr/sbin/kmod"),
	)
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("builder image: %w", err)
		}
	}
	return nil
}

// addTools adds the recipes' tools under /usr/sbin and every shared object they need.
func addTools(a *initramfs.Archive) error {
	var bins []string
	for _, t := range guestTools {
		p, err := hostPath(t.name)
		if err != nil {
			return fmt.Errorf("builder image: %w (apt-get install %s, or make deps)", err, t.pkg)
		}
		bins = append(bins, p)
		if err := a.AddFile("usr/sbin/"+t.name, 0o755, p); err != nil {
			return fmt.Errorf("builder image: %w", err)
		}
		for _, l := range t.links {
			if err := a.AddSymlink("usr/sbin/"+l, t.name); err != nil {
				return fmt.Errorf("builder image: %w", err)
			}
		}
	}
	var extra []string
	for _, l := range dlopened {
		if p := findLib(l, libDirs); p != "" {
			extra = append(extra, p)
		}
	}
	objs, err := sharedObjects(append(bins, extra...), libDirs)
	if err != nil {
		return fmt.Errorf("builder image: %w", err)
	}
	for _, p := range extra {
		objs[strings.TrimPrefix(p, "/")] = p
	}
	dsts := make([]string, 0, len(objs))
	for d := range objs {
		dsts = append(dsts, d)
	}
	sort.Strings(dsts)
	for _, d := range dsts {
		if err := a.AddFile(d, 0o755, objs[d]); err != nil {
			return fmt.Errorf("builder image: %w", err)
		}
	}
	return nil
}

// moduleSet is the guest's module list for one module tree, computed once per process.
var moduleSet struct {
	sync.Mutex
	dir   string
	names []string
	files map[string]string // module name → path relative to the module dir
}

// guestModuleFiles returns the relative paths of the guest's modules in k's tree: the
// selection closed over dependencies and softdeps with modload's index.
func guestModuleFiles(k fixture.Kernel) ([]string, error) {
	moduleSet.Lock()
	defer moduleSet.Unlock()
	if moduleSet.dir != k.ModDir {
		mods, err := initramfs.ScanModules(k.ModDir)
		if err != nil {
			return nil, fmt.Errorf("builder modules: %w", err)
		}
		ix, err := modload.Build(k.ModDir)
		if err != nil {
			return nil, fmt.Errorf("builder modules: index of %s: %w", k.ModDir, err)
		}
		sel := initramfs.Selection{Prefixes: guestModulePaths, Names: guestModules}
		moduleSet.files = map[string]string{}
		for _, m := range mods {
			moduleSet.files[m.Name] = m.Path
		}
		moduleSet.names = ix.Closure(sel.Match(mods))
		moduleSet.dir = k.ModDir
	}
	var rels []string
	for _, n := range moduleSet.names {
		if p, ok := moduleSet.files[initramfs.NormName(n)]; ok {
			rels = append(rels, p)
		}
	}
	return rels, nil
}

// addModules stages the guest's modules in stage, lets the host's depmod index them (kmod's
// modprobe in the guest reads that index) and adds the tree.
func addModules(a *initramfs.Archive, k fixture.Kernel, stage string) error {
	rels, err := guestModuleFiles(k)
	if err != nil {
		return err
	}
	moddir := filepath.Join(stage, "lib", "modules", k.Release)
	for _, rel := range rels {
		if err := copyFile(filepath.Join(k.ModDir, rel), filepath.Join(moddir, rel)); err != nil {
			return fmt.Errorf("builder modules: %w", err)
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if _, err := os.Stat(filepath.Join(k.ModDir, f)); err == nil {
			if err := copyFile(filepath.Join(k.ModDir, f), filepath.Join(moddir, f)); err != nil {
				return fmt.Errorf("builder modules: %w", err)
			}
		}
	}
	depmod, err := hostPath("depmod")
	if err != nil {
		return fmt.Errorf("builder modules: %w (apt-get install kmod)", err)
	}
	if out, err := exec.Command(depmod, "-b", stage, k.Release).CombinedOutput(); err != nil {
		return fmt.Errorf("builder modules: depmod: %w: %s", err, bytes.TrimSpace(out))
	}
	return filepath.WalkDir(moddir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		if err != nil {
			return err
		}
		name := path.Clean(filepath.ToSlash(rel))
		if d.IsDir() {
			return a.AddDir(name, 0o755)
		}
		return a.AddFile(name, 0o644, p)
	})
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
