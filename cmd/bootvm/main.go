// Command bootvm boots a kernel under QEMU with earlyroot's test bench
// (internal/vm) and streams the serial console to stdout. It is what
// `make demo` runs.
//
//	bootvm -kernel K [-initrd I] [-append '...'] [-drive path[,bus=virtio-blk][,serial=x][,ro]]...
//	       [-mem 512] [-smp 1] [-cpu model] [-timeout 120s] [-expect REGEX] [-print-args]
//
// It exits 0 when QEMU exits by itself (guest power-off or reboot) or, with
// -expect, as soon as a console line matches REGEX (QEMU is then killed);
// 1 on timeout or a QEMU failure; 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

type driveList []vm.Drive

func (d *driveList) String() string { return fmt.Sprint(*d) }

func (d *driveList) Set(s string) error {
	drv, err := parseDrive(s)
	if err != nil {
		return err
	}
	*d = append(*d, drv)
	return nil
}

// parseDrive parses "path[,bus=B][,serial=S][,ro][,format=F]".
func parseDrive(s string) (vm.Drive, error) {
	parts := strings.Split(s, ",")
	d := vm.Drive{Path: parts[0]}
	if d.Path == "" {
		return d, errors.New("drive: empty path")
	}
	for _, p := range parts[1:] {
		k, v, hasValue := strings.Cut(p, "=")
		if (k == "bus" || k == "serial" || k == "format") && (!hasValue || v == "") {
			return d, fmt.Errorf("drive %q: %s needs a value", s, k)
		}
		switch k {
		case "bus":
			d.Bus = v
		case "serial":
			d.Serial = v
		case "format":
			d.Format = v
		case "ro", "readonly":
			d.ReadOnly = v == "" || v == "on" || v == "1" || v == "true"
		default:
			return d, fmt.Errorf("drive %q: unknown option %q", s, k)
		}
	}
	return d, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("bootvm", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cfg vm.Config
	var drives driveList
	fl.StringVar(&cfg.Kernel, "kernel", "", "kernel image (required)")
	fl.StringVar(&cfg.Initrd, "initrd", "", "initramfs")
	fl.StringVar(&cfg.Append, "append", "", "kernel command line (console=ttyS0 is added)")
	fl.Var(&drives, "drive", "disk image: path[,bus="+strings.Join(vm.Buses, "|")+"][,serial=S][,ro] (repeatable)")
	fl.IntVar(&cfg.MemMB, "mem", 512, "memory in MiB")
	fl.IntVar(&cfg.CPUs, "smp", 1, "CPUs")
	fl.StringVar(&cfg.CPU, "cpu", "", "CPU model (default: QEMU's)")
	timeout := fl.Duration("timeout", 120*time.Second, "kill QEMU after this long")
	expect := fl.String("expect", "", "exit 0 as soon as a console line matches this regexp")
	printArgs := fl.Bool("print-args", false, "print the QEMU command line and exit")
	if err := fl.Parse(argv); err != nil {
		return 2
	}
	cfg.Drives = drives
	if cfg.Kernel == "" || fl.NArg() != 0 {
		fmt.Fprintln(stderr, "bootvm: -kernel is required and no positional arguments are accepted")
		fl.Usage()
		return 2
	}
	var re *regexp.Regexp
	if *expect != "" {
		var err error
		if re, err = regexp.Compile(*expect); err != nil {
			fmt.Fprintf(stderr, "bootvm: -expect: %v\n", err)
			return 2
		}
	}
	a, err := vm.Args(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bootvm: %v\n", err)
		return 2
	}
	if *printArgs {
		fmt.Fprintln(stdout, strings.Join(a, " "))
		return 0
	}
	cfg.Timeout = *timeout
	cfg.Console = stdout
	return boot(cfg, re, *timeout, stderr)
}

func boot(cfg vm.Config, re *regexp.Regexp, timeout time.Duration, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bootvm: %v\n", err)
		return 1
	}
	defer v.Close()
	if re != nil {
		line, err := v.Expect(re, timeout)
		if err != nil {
			fmt.Fprintf(stderr, "\nbootvm: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "\nbootvm: matched %.100q\n", line)
		return 0
	}
	if err := v.Wait(); err != nil {
		fmt.Fprintf(stderr, "\nbootvm: %v\n", err)
		return 1
	}
	return 0
}
