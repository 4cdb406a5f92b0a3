package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// Peer generators, as Debian installs them.
const (
	itoolsBin  = "/usr/sbin/mkinitramfs" // initramfs-tools (not build/mkinitramfs)
	dracutBin  = "/usr/bin/dracut"
	mktirfsBin = "/usr/sbin/mktirfs" // tiny-initramfs-core
	busyboxBin = "/bin/busybox"      // busybox-static
)

// namedModules are the modules this bench's root needs, as a person hand-tuning an image
// would name them for the hand-listed peers (tiny-initramfs, the busybox script):
// crc32c_generic because QEMU's default CPU lacks SSE4.2, so crc32c-intel cannot serve
// ext4's metadata checksums.
var namedModules = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}

// peerImages builds initramfs-tools and dracut images for the test kernel.
// Both read the kernel's modules from /lib/modules/<kver>: when that is
// missing, the kernel cache's tree is copied there and depmod run, and the
// copy is removed once the images are built.
func (e *benchEnv) peerImages(ctx context.Context) ([]image, error) {
	if err := needTools(itoolsBin, dracutBin, mktirfsBin, busyboxBin); err != nil {
		return nil, err
	}
	cleanup, err := e.installHostKernel()
	defer cleanup()
	if err != nil {
		return nil, err
	}
	var out []image
	if selected(e.opt.only, itoolsImage) {
		it, err := e.itoolsImage()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	if selected(e.opt.only, dracutImage) {
		dr, err := e.dracutImage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, dr)
	}
	tiny := image{name: "tiny-initramfs", kind: KindPeer, path: e.path("images", "tiny-initramfs.img"),
		desc: "Debian tiny-initramfs (C init, no discovery): mktirfs -m no -M no --include-modules=" +
			strings.Join(namedModules, ",")}
	if selected(e.opt.only, tiny.name) {
		if _, err := runTool(mktirfsBin, "-o", tiny.path, "-m", "no", "-M", "no",
			"--include-modules="+strings.Join(namedModules, ","), e.k.Release); err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
		fmt.Fprintf(e.log, "bench: built %s\n", tiny.path)
		out = append(out, tiny)
	}
	bb := image{name: "busybox-script", kind: KindPeer, path: e.path("images", "busybox-script.img"),
		desc: "busybox-static sh script: insmod of " + strings.Join(namedModules, ",") +
			" and their dependencies (kmod's order), findfs, mount, switch_root"}
	if selected(e.opt.only, bb.name) {
		if err := e.busyboxImage(bb.path); err != nil {
			return nil, fmt.Errorf("peers: busybox script: %w", err)
		}
		fmt.Fprintf(e.log, "bench: built %s\n", bb.path)
		out = append(out, bb)
	}
	return out, nil
}

// The peers the systemd comparison (distro.go) boots too.
const (
	itoolsImage = "initramfs-tools"
	dracutImage = "dracut"
)

// itoolsImage builds initramfs-tools' image with its default configuration; the kernel's
// tree must be in /lib/modules (installHostKernel).
func (e *benchEnv) itoolsImage() (image, error) {
	it := image{name: itoolsImage, kind: KindPeer, path: e.path("images", itoolsImage+".img"),
		desc: "Debian initramfs-tools: mkinitramfs -o X " + e.k.Release + " (default config: MODULES=most, zstd)"}
	if _, err := runTool(itoolsBin, "-o", it.path, e.k.Release); err != nil {
		return image{}, fmt.Errorf("peers: %w", err)
	}
	fmt.Fprintf(e.log, "bench: built %s\n", it.path)
	return it, nil
}

// dracutImage builds dracut's generic (not host-only) image, a systemd initrd, which is
// told to power off rather than wait at a shell when it fails.
func (e *benchEnv) dracutImage(ctx context.Context) (image, error) {
	dr := image{name: dracutImage, kind: KindPeer, path: e.path("images", dracutImage+".img"),
		desc:   "Debian dracut: dracut --no-hostonly --kver " + e.k.Release + " X (systemd initrd); booted with rd.shell=0 rd.emergency=poweroff",
		append: "rd.shell=0 rd.emergency=poweroff"}
	cmd := exec.CommandContext(ctx, dracutBin, "--no-hostonly", "--force", "--kver", e.k.Release, dr.path)
	if b, err := cmd.CombinedOutput(); err != nil {
		return image{}, fmt.Errorf("peers: dracut: %w\n%s", err, b)
	}
	fmt.Fprintf(e.log, "bench: built %s\n", dr.path)
	return dr, nil
}

// busyboxScript is the whole init of the busybox peer: what a person writes by hand for one
// known machine. It waits for the root with findfs, 10 ms at a time.
const busyboxScript = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules.order); do /bin/busybox insmod /modules/$m; done
for w in $(/bin/busybox cat /proc/cmdline); do case $w in root=*) root=${w#root=};; esac; done
until dev=$(/bin/busybox findfs "$root" 2>/dev/null); do /bin/busybox usleep 10000; done
/bin/busybox mount -o ro -t ext4 "$dev" /newroot
exec /bin/busybox switch_root /newroot /sbin/init
`

// busyboxImage writes the busybox peer's archive: the script, busybox-static and the named
// modules with their dependencies in the order kmod's modprobe gives them.
func (e *benchEnv) busyboxImage(path string) error {
	files := []vm.InitramfsFile{
		{Name: "init", Data: []byte(busyboxScript), Mode: 0o755},
		{Name: "bin/busybox", Src: busyboxBin},
		{Name: "proc", Dir: true}, {Name: "sys", Dir: true}, {Name: "dev", Dir: true}, {Name: "newroot", Dir: true},
	}
	var order []string
	seen := map[string]bool{}
	for _, m := range namedModules {
		out, err := runTool("modprobe", "-S", e.k.Release, "--show-depends", m)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "insmod" || seen[f[1]] {
				continue
			}
			seen[f[1]] = true
			base := filepath.Base(f[1])
			order = append(order, base)
			files = append(files, vm.InitramfsFile{Name: "modules/" + base, Src: f[1]})
		}
	}
	files = append(files, vm.InitramfsFile{Name: "modules.order", Data: []byte(strings.Join(order, "\n") + "\n")})
	return vm.WriteInitramfs(path, files)
}

// needTools checks that the peer generators are installed.
func needTools(bins ...string) error {
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("peers: %s missing (apt-get install --no-install-recommends initramfs-tools dracut-core tiny-initramfs-core busybox-static): %w", b, err)
		}
	}
	return nil
}

// installHostKernel puts the test kernel's module tree (then runs depmod) and
// config where the peer generators look: /lib/modules/<kver> and
// /boot/config-<kver>. Only what is missing is copied; cleanup removes it.
func (e *benchEnv) installHostKernel() (cleanup func(), err error) {
	var made []string
	cleanup = func() {
		for _, p := range made {
			os.RemoveAll(p)
			fmt.Fprintf(e.log, "bench: peers: removed %s\n", p)
		}
	}
	hostMods := filepath.Join("/lib/modules", e.k.Release)
	copies := [][2]string{
		{e.k.ModDir, hostMods},
		{filepath.Join(e.k.Dir, "boot", "config-"+e.k.Release), filepath.Join("/boot", "config-"+e.k.Release)},
	}
	for _, c := range copies {
		if _, err := os.Stat(c[1]); !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.log, "bench: peers: using the existing %s\n", c[1])
			continue
		}
		fmt.Fprintf(e.log, "bench: peers: copying %s to %s for the bench only (removed afterwards)\n", c[0], c[1])
		if err := os.MkdirAll(filepath.Dir(c[1]), 0o755); err != nil {
			return cleanup, err
		}
		made = append(made, c[1])
		if _, err := runTool("cp", "-a", c[0], c[1]); err != nil {
			return cleanup, fmt.Errorf("peers: %w", err)
		}
		if c[1] == hostMods {
			fmt.Fprintf(e.log, "bench: peers: depmod -a %s\n", e.k.Release)
			if _, err := runTool("depmod", "-a", e.k.Release); err != nil {
				return cleanup, fmt.Errorf("peers: %w", err)
			}
		}
	}
	return cleanup, nil
}
