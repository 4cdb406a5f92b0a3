package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// rootUUID is the bench root filesystem's UUID (root=UUID=...).
const rootUUID = "b3e4c0de-0000-4000-8000-0000000be4c4"

// baseAppend starts every kernel command line: panic=-1 so a panic ends QEMU
// at once (internal/vm adds what every TCG boot needs).
const baseAppend = "panic=-1"

// benchEnv holds what the steps share.
type benchEnv struct {
	opt   options
	k     fixture.Kernel
	log   io.Writer
	disks []string // one root disk per parallel VM (QEMU locks images)
	kdf   []KDFResult
	start []StartResult // the start floor (startfloor.go)
	gen   []GenResult   // the generation-time comparison (gentime.go)
	// The systemd comparison (distro.go) and the host's load average before and after it.
	distro     []DistroResult
	distroLoad [2]string
}

// image is one initramfs to boot.
type image struct {
	name, desc, kind, path string
	init                   string // earlyroot's init binary in the image (-profile names its code)
	append                 string // kernel command line after baseAppend
	cpus                   int    // vCPUs of the VM (0 = 1)
	// root is root= ("": UUID= of the bench's root disk); disks are the VM's disks per
	// parallel slot (nil: the bench's root disk of the slot).
	root  string
	disks [][]string
}

func (e *benchEnv) path(parts ...string) string {
	return filepath.Join(append([]string{e.opt.out}, parts...)...)
}

// prepareDisk builds the ext4 root disk (whole-disk filesystem, /sbin/init
// = testinit) and a copy per parallel slot.
func (e *benchEnv) prepareDisk() error {
	tree := e.path("images", "root-tree")
	os.RemoveAll(tree)
	if err := vm.RootDir(tree, filepath.Join(e.opt.build, "testinit")); err != nil {
		return err
	}
	// systemd (dracut's initrd) switches only into a root holding os-release.
	osRelease := "ID=earlyroot-bench\nNAME=\"earlyroot bench root\"\n"
	if err := os.WriteFile(filepath.Join(tree, "etc", "os-release"), []byte(osRelease), 0o644); err != nil {
		return err
	}
	for i := 0; i < e.opt.parallel; i++ {
		d := e.path("images", fmt.Sprintf("root-%d.img", i))
		if err := vm.MakeDisk(d, vm.Disk{FS: &vm.FS{Type: "ext4", UUID: rootUUID, Label: "bench-root", SrcDir: tree}}); err != nil {
			return err
		}
		e.disks = append(e.disks, d)
	}
	return nil
}

// images builds every image to boot, baseline first.
func (e *benchEnv) images(ctx context.Context) ([]image, error) {
	var out []image
	base := image{name: "baseline", kind: KindBaseline, path: e.path("images", "baseline.img"),
		desc: "kernel only: /init is cmd/testinit itself (prints its uptime, powers off)"}
	if err := vm.WriteInitramfs(base.path, []vm.InitramfsFile{{Name: "init", Src: filepath.Join(e.opt.build, "testinit")}}); err != nil {
		return nil, err
	}
	out = append(out, base)
	gen, err := e.genericImages()
	if err != nil {
		return nil, err
	}
	out = append(out, gen...)
	if selected(e.opt.only, "host-only") || selected(e.opt.only, "host-only-alldev") {
		ims, err := e.hostOnly(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ims...)
	}
	if e.opt.peers {
		peers, err := e.peerImages(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, peers...)
		for _, base := range floorBases {
			if !selected(e.opt.only, floorName(base)) {
				continue
			}
			if fl, ok, err := e.floorImage(out, base); err != nil {
				return nil, err
			} else if ok {
				out = append(out, fl)
			}
		}
	}
	if e.opt.stack && selected(e.opt.only, stackImage) {
		ims, err := e.stackImages(ctx, out)
		if err != nil {
			return nil, err
		}
		out = append(out, ims...)
	}
	return out, nil
}

// layouts are the generic image's archive layouts compared; each names both
// flags, so the set does not depend on the generator's defaults.
var layouts = []struct {
	name string
	args []string
}{
	{"generic-zstd", []string{"-compress", "zstd", "-modcompress", "none"}},
	{"generic-none-modzst-initzstd", []string{"-compress", "none", "-initcompress", "zstd", "-modcompress", "zst"}},
	{"generic-none-modzst", []string{"-compress", "none", "-initcompress", "none", "-modcompress", "zst"}},
	{"generic-lz4", []string{"-compress", "lz4", "-modcompress", "none"}},
	{"generic-none", []string{"-compress", "none", "-initcompress", "none", "-modcompress", "none"}},
}

// genericImages builds the generic image with the generator's defaults and,
// with -layouts, each layout; a layout whose image is byte-identical to the
// default one (the generator is reproducible) is not booted twice.
func (e *benchEnv) genericImages() ([]image, error) {
	var out []image
	var defData []byte
	if selected(e.opt.only, "generic") || e.opt.layouts {
		im, summary, err := e.mkinitramfs("generic", "", nil...)
		if err != nil {
			return nil, err
		}
		im.desc = "build/mkinitramfs defaults (generic module set): " + strings.TrimSpace(summaryTail(summary))
		if defData, err = os.ReadFile(im.path); err != nil {
			return nil, err
		}
		if selected(e.opt.only, "generic") {
			out = append(out, im)
		}
	}
	if e.opt.compareInit != "" && selected(e.opt.only, "generic-compare") {
		im, _, err := e.mkinitramfs("generic-compare", "generic, -init "+e.opt.compareInit, "-init", e.opt.compareInit)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	for _, v := range e.opt.variants {
		if !selected(e.opt.only, v.name) {
			continue
		}
		im, _, err := e.mkinitramfs(v.name, "generic, "+strings.Join(v.args, " "), v.args...)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	if !e.opt.layouts {
		return out, nil
	}
	for _, l := range layouts {
		if !selected(e.opt.only, l.name) {
			continue
		}
		im, _, err := e.mkinitramfs(l.name, "generic, "+strings.Join(l.args, " "), l.args...)
		if err != nil {
			return nil, err
		}
		if data, err := os.ReadFile(im.path); err == nil && bytes.Equal(data, defData) {
			fmt.Fprintf(e.log, "bench: %s is the generator's default layout: booted as \"generic\"\n", l.name)
			os.Remove(im.path)
			for i := range out {
				if out[i].name == "generic" {
					out[i].desc += " (= " + strings.Join(l.args, " ") + ")"
				}
			}
			continue
		}
		out = append(out, im)
	}
	return out, nil
}

// summaryTail is the part of mkinitramfs's summary line after the image
// path: "387 entries, archive 16.1 MiB, image 16.1 MiB (none)".
func summaryTail(out string) string {
	l := lastLine(out)
	if i := strings.Index(l, ": "); i >= 0 {
		return l[i+2:]
	}
	return l
}

func (e *benchEnv) mkinitramfs(name, desc string, extra ...string) (image, string, error) {
	p := e.path("images", name+".img")
	// An empty configuration directory and no console keymap or font: the host's
	// /etc/earlyroot and console settings do not change the images.
	noConfig := e.path("no-config")
	if err := os.MkdirAll(noConfig, 0o755); err != nil {
		return image{}, "", err
	}
	args := append([]string{"-o", p, "-kver", e.k.Release, "-moddir", e.k.ModDir,
		"-init", filepath.Join(e.opt.build, "init"), "-config", noConfig, "-keymap", "none", "-font", "none",
		"-modcache", filepath.Join(fixture.CacheDir(), "modules")}, extra...)
	out, err := runTool(filepath.Join(e.opt.build, "mkinitramfs"), args...)
	if err != nil {
		return image{}, out, err
	}
	fmt.Fprintf(e.log, "bench: %s: %s", name, lastLine(out))
	return image{name: name, desc: desc, kind: KindEarlyroot, path: p, init: initArg(args)}, out, nil
}

// initArg is the init binary an mkinitramfs command line names: its last -init.
func initArg(args []string) string {
	init := ""
	for i, a := range args[:max(len(args)-1, 0)] {
		if a == "-init" {
			init = args[i+1]
		}
	}
	return init
}

func runTool(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, buf.String())
	}
	return buf.String(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}

// hostOnly builds the host-only images. A bench VM records its sysfs (the
// modalias of every device, with the generic image's drivers loaded so the
// virtio bus devices exist too) and the sysfs path of its root disk. Two
// sysfs trees are written from that: every device ("host-only-alldev", what
// mkinitramfs -hostonly would see on that machine), and only the root
// disk's chain of devices ("host-only": the modules this disk needs, as
// dracut's host-only mode picks them). Both are run through mkinitramfs
// -hostonly with a mount table saying / is ext4 on /dev/vda.
func (e *benchEnv) hostOnly(ctx context.Context) ([]image, error) {
	rec, rootDev, err := e.recordSysfs(ctx)
	if err != nil {
		return nil, fmt.Errorf("record vm sysfs: %w", err)
	}
	variants := []struct {
		name, what string
		aliases    map[string]string
	}{
		{"host-only", "the root disk's device chain (" + rootDev + ")", ChainModaliases(rec, rootDev)},
		{"host-only-alldev", "every device of the bench VM", rec},
	}
	var out []image
	for _, v := range variants {
		if !selected(e.opt.only, v.name) {
			continue
		}
		dir := e.path("images", "sysfs-"+v.name)
		if err := writeSysfs(dir, v.aliases); err != nil {
			return nil, err
		}
		mounts := filepath.Join(dir, "mounts")
		if err := os.WriteFile(mounts, []byte("/dev/vda / ext4 ro,relatime 0 0\n"), 0o644); err != nil {
			return nil, err
		}
		im, listing, err := e.mkinitramfs(v.name, "", "-hostonly", "-sysfs", dir, "-mounts", mounts, "-v")
		if err != nil {
			return nil, err
		}
		mods := moduleNames(listing)
		im.desc = fmt.Sprintf("mkinitramfs -hostonly, -sysfs = modaliases of %s (%d recorded), -mounts = \"/dev/vda / ext4\"; %d modules: %s",
			v.what, len(v.aliases), len(mods), strings.Join(mods, ", "))
		out = append(out, im)
	}
	return out, nil
}

// ChainModaliases keeps the modaliases of devPath and its ancestors (paths
// relative to the sysfs root, "devices/pci0000:00/0000:00:02.0/...").
func ChainModaliases(all map[string]string, devPath string) map[string]string {
	out := map[string]string{}
	for dir, alias := range all {
		if dir == devPath || strings.HasPrefix(devPath, dir+"/") {
			out[dir] = alias
		}
	}
	return out
}

// writeSysfs recreates dir/<device>/modalias for every recorded device.
func writeSysfs(dir string, aliases map[string]string) error {
	os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "devices"), 0o755); err != nil {
		return err
	}
	for dev, alias := range aliases {
		p := filepath.Join(dir, dev, "modalias")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(alias+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// moduleNames lists the module files in mkinitramfs -v output.
func moduleNames(listing string) []string {
	var out []string
	for _, l := range strings.Split(listing, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		base := filepath.Base(f[0])
		if i := strings.Index(base, ".ko"); i > 0 {
			out = append(out, base[:i])
		}
	}
	return out
}

// ParseRecord reads the recording VM's console: "BENCH-MODALIAS /sys/PATH
// ALIAS" lines (device dirs relative to the sysfs root, only under
// devices/) and the "BENCH-ROOTDEV /sys/PATH" line.
func ParseRecord(out string) (aliases map[string]string, rootDev string) {
	aliases = map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimRight(line, "\r"))
		for i, w := range f {
			switch {
			case w == "BENCH-MODALIAS" && i+2 < len(f):
				if dev, ok := sysRel(path.Dir(f[i+1])); ok {
					aliases[dev] = f[i+2]
				}
			case w == "BENCH-ROOTDEV" && i+1 < len(f) && rootDev == "":
				if dev, ok := sysRel(f[i+1]); ok {
					rootDev = dev
				}
			}
		}
	}
	return aliases, rootDev
}

// sysRel turns "/sys/devices/x/y" into "devices/x/y"; anything else
// (outside /sys/devices, or with "..") is rejected.
func sysRel(p string) (string, bool) {
	c := path.Clean(p)
	if c != p || !strings.HasPrefix(c, "/sys/devices/") {
		return "", false
	}
	return strings.TrimPrefix(c, "/sys/"), true
}

// recordSysfs boots the generic image with a root whose /sbin/init is a
// busybox script printing every /sys/devices/**/modalias and the root
// disk's device path.
func (e *benchEnv) recordSysfs(ctx context.Context) (map[string]string, string, error) {
	gen := e.path("images", "generic.img")
	if _, err := os.Stat(gen); err != nil {
		im, _, err := e.mkinitramfs("generic", "")
		if err != nil {
			return nil, "", err
		}
		gen = im.path
	}
	tree := e.path("images", "record-tree")
	os.RemoveAll(tree)
	if err := vm.RootDir(tree, ""); err != nil {
		return nil, "", err
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		return nil, "", fmt.Errorf("busybox-static is needed to record sysfs: %w", err)
	}
	os.MkdirAll(filepath.Join(tree, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(tree, "bin", "busybox"), bb, 0o755); err != nil {
		return nil, "", err
	}
	script := "#!/bin/busybox sh\n" +
		"b=/bin/busybox\n" +
		"$b find /sys/devices -name modalias -type f | while read f; do echo \"BENCH-MODALIAS $f $($b cat $f)\"; done\n" +
		"echo \"BENCH-ROOTDEV $($b readlink -f /sys/block/vda/device)\"\n" +
		"echo BENCH-RECORD-DONE\n$b poweroff -f\n"
	if err := os.WriteFile(filepath.Join(tree, "sbin", "init"), []byte(script), 0o755); err != nil {
		return nil, "", err
	}
	disk := e.path("images", "record.img")
	if err := vm.MakeDisk(disk, vm.Disk{FS: &vm.FS{Type: "ext4", UUID: rootUUID, SrcDir: tree, SizeMB: 32}}); err != nil {
		return nil, "", err
	}
	defer os.Remove(disk)
	v, err := vm.Start(ctx, vm.Config{Kernel: e.k.Image, Initrd: gen,
		Append: baseAppend + " root=UUID=" + rootUUID, Drives: []vm.Drive{{Path: disk}}, Timeout: e.opt.timeout})
	if err != nil {
		return nil, "", err
	}
	defer v.Close()
	if _, err := v.Expect(regexp.MustCompile(`^BENCH-RECORD-DONE`), e.opt.timeout); err != nil {
		return nil, "", fmt.Errorf("%w\n%s", err, v.Tail(30))
	}
	aliases, rootDev := ParseRecord(v.Output())
	if len(aliases) == 0 || rootDev == "" {
		return nil, "", fmt.Errorf("no modalias or root device lines in the console\n%s", v.Tail(30))
	}
	fmt.Fprintf(e.log, "bench: recorded %d modaliases from the bench VM; root disk at /sys/%s\n", len(aliases), rootDev)
	return aliases, rootDev, nil
}
