package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Peer generators, as Debian installs them.
const (
	itoolsBin = "/usr/sbin/mkinitramfs" // initramfs-tools (not build/mkinitramfs)
	dracutBin = "/usr/bin/dracut"
)

// peerImages builds initramfs-tools and dracut images for the test kernel.
// Both read the kernel's modules from /lib/modules/<kver>: when that is
// missing, the kernel cache's tree is copied there and depmod run, and the
// copy is removed once the images are built.
func (e *benchEnv) peerImages(ctx context.Context) ([]image, error) {
	for _, b := range []string{itoolsBin, dracutBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("peers: %s missing (apt-get install --no-install-recommends initramfs-tools dracut-core): %w", b, err)
		}
	}
	cleanup, err := e.installHostKernel()
	defer cleanup()
	if err != nil {
		return nil, err
	}
	var out []image
	it := image{name: "initramfs-tools", kind: KindPeer, path: e.path("images", "initramfs-tools.img"),
		desc: "Debian initramfs-tools: mkinitramfs -o X " + e.k.release + " (default config: MODULES=most, zstd)"}
	if selected(e.opt.only, it.name) {
		if _, err := runTool(itoolsBin, "-o", it.path, e.k.release); err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
		fmt.Fprintf(e.log, "bench: built %s\n", it.path)
		out = append(out, it)
	}
	dr := image{name: "dracut", kind: KindPeer, path: e.path("images", "dracut.img"),
		desc:   "Debian dracut: dracut --no-hostonly --kver " + e.k.release + " X (systemd initrd); booted with rd.shell=0 rd.emergency=poweroff",
		append: "rd.shell=0 rd.emergency=poweroff"}
	if selected(e.opt.only, dr.name) {
		cmd := exec.CommandContext(ctx, dracutBin, "--no-hostonly", "--force", "--kver", e.k.release, dr.path)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("peers: dracut: %w\n%s", err, b)
		}
		fmt.Fprintf(e.log, "bench: built %s\n", dr.path)
		out = append(out, dr)
	}
	return out, nil
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
	hostMods := filepath.Join("/lib/modules", e.k.release)
	copies := [][2]string{
		{e.k.moddir, hostMods},
		{filepath.Join(e.k.dir, "boot", "config-"+e.k.release), filepath.Join("/boot", "config-"+e.k.release)},
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
			fmt.Fprintf(e.log, "bench: peers: depmod -a %s\n", e.k.release)
			if _, err := runTool("depmod", "-a", e.k.release); err != nil {
				return cleanup, fmt.Errorf("peers: %w", err)
			}
		}
	}
	return cleanup, nil
}
