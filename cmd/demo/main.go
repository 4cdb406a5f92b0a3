// Command demo builds a generic earlyroot initramfs for the test kernel, a sample ext4 root
// disk whose /sbin/init is cmd/testinit, and boots both under QEMU with the console on
// stdout: the kernel, earlyroot's log with its phase timings, switch_root, and the real
// root's init reporting its facts before it powers the machine off. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

func main() {
	build := flag.String("build", "build", "directory with init, testinit and mkinitramfs")
	kernelDir := flag.String("kernel-dir", "", "unpacked Debian kernel package (scripts/fetch-kernel.sh)")
	bus := flag.String("bus", vm.BusVirtioBlk, "controller of the root disk")
	appendArgs := flag.String("append", "", "extra kernel command line")
	flag.Parse()
	if err := run(*build, *kernelDir, *bus, *appendArgs); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(build, kernelDir, bus, extra string) error {
	if kernelDir == "" {
		return fmt.Errorf("-kernel-dir is required")
	}
	kver := filepath.Base(kernelDir)
	work, err := os.MkdirTemp("", "earlyroot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	img := filepath.Join(work, "initrd.img")
	gen := exec.Command(filepath.Join(build, "mkinitramfs"), "-o", img, "-kver", kver,
		"-moddir", filepath.Join(kernelDir, "lib/modules", kver), "-init", filepath.Join(build, "init"))
	gen.Stdout, gen.Stderr = os.Stdout, os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("mkinitramfs: %w", err)
	}

	const uuid = "e0a1f00d-0000-4000-8000-00000000d3e0"
	tree := filepath.Join(work, "root")
	if err := vm.RootDir(tree, filepath.Join(build, "testinit")); err != nil {
		return err
	}
	disk := filepath.Join(work, "root.img")
	if err := vm.MakeDisk(disk, vm.Disk{FS: &vm.FS{Type: "ext4", UUID: uuid, Label: "demo-root", SrcDir: tree}}); err != nil {
		return err
	}
	fmt.Printf("demo: booting %s with root=UUID=%s on %s (QEMU TCG, about 10 s)\n", kver, uuid, bus)

	v, err := vm.Start(context.Background(), vm.Config{
		Kernel:  filepath.Join(kernelDir, "boot", "vmlinuz-"+kver),
		Initrd:  img,
		Append:  "panic=-1 root=UUID=" + uuid + " " + extra,
		Drives:  []vm.Drive{{Path: disk, Bus: bus}},
		Timeout: 3 * time.Minute,
		Console: os.Stdout,
	})
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.Wait(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	f, err := vm.ParseFacts(v.Output())
	if err != nil {
		return fmt.Errorf("the real init did not report: %w", err)
	}
	fmt.Printf("\ndemo: the real init ran as PID %d on %s (%s, %s), %.2f s after the kernel started\n",
		f.PID, f.RootSource, f.RootFSType, f.RootOptions, f.UptimeSec)
	return nil
}
