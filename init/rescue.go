package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/rescue"
)

// failed handles a failed boot attempt: the rescue shell, or with rd.shell=0 the emergency
// action. It returns when the user asks to try again.
func (b *boot) failed(err error) {
	b.log.Errorf("boot failed: %v", err)
	b.shell(err.Error(), false)
}

// stopped readies the initramfs for a stopped boot, diagnosis and shell alike: the
// modprobe helper link back (a failed switch_root removed it), and the drivers of the
// devices put off once the root was found loaded, so that every device is seen and usable.
func (b *boot) stopped() {
	if err := enableModprobe(); err != nil {
		b.log.Warnf("%v", err)
	}
	if n := b.loader.LoadDeferred(); n > 0 {
		b.log.Infof("loaded the modules of %d devices deferred after the root was found", n)
	}
}

// shell runs the rescue shell with a diagnosis headed by reason, or with rd.shell=0 the
// emergency action. It returns on `continue` (or end of input); reboot and poweroff do not
// return.
func (b *boot) shell(reason string, isBreak bool) {
	if !b.cfg.Shell && isBreak {
		b.log.Warnf("%s, but rd.shell=0: going on", reason)
		return
	}
	b.stopped()
	if !b.cfg.Shell {
		b.emergency(fmt.Errorf("%s", reason))
		return
	}
	b.saveLog()
	reaper.mu.Lock() // the shell waits for its own children
	action := rescue.Run(rescue.Env{
		In:        os.Stdin,
		Out:       os.Stdout,
		Diagnosis: func(w io.Writer) { b.diagnose(w, reason) },
		Builtins:  b.builtins(),
	})
	reaper.mu.Unlock()
	switch action {
	case rescue.ActionReboot:
		powerOff(unix.LINUX_REBOOT_CMD_RESTART)
	case rescue.ActionPoweroff:
		powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF)
	case rescue.ActionEOF:
		// No console input to read: wait a little so that an unattended machine does not spin.
		time.Sleep(5 * time.Second)
	}
	b.log.Infof("rescue shell: continuing the boot")
}

// emergency is what rd.shell=0 does instead of a shell: print the diagnosis, then reboot,
// power off or halt as rd.emergency= says, after panic= seconds (default 30).
func (b *boot) emergency(err error) {
	b.diagnose(os.Stdout, err.Error())
	b.saveLog()
	delay := b.cfg.Panic
	if delay <= 0 {
		delay = 30 * time.Second
	}
	action := b.cfg.Emergency
	if action == "" {
		action = "reboot"
	}
	b.log.Errorf("rd.shell=0: no rescue shell; %s in %v", action, delay)
	time.Sleep(delay)
	switch action {
	case "poweroff":
		powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF)
	case "halt":
		powerOff(unix.LINUX_REBOOT_CMD_HALT)
	default:
		powerOff(unix.LINUX_REBOOT_CMD_RESTART)
	}
}

func powerOff(cmd int) {
	unix.Sync()
	if err := unix.Reboot(cmd); err != nil {
		fmt.Fprintf(os.Stderr, "earlyroot: reboot(2): %v\n", err)
	}
	select {} // PID 1 must not return
}

// diagnose writes why the boot failed and everything that was seen.
func (b *boot) diagnose(w io.Writer, reason string) {
	fmt.Fprintf(w, "\nearlyroot: the boot stopped: %s\n\n", reason)
	timeout, forever := b.cfg.RootTimeout()
	wait := timeout.String()
	if forever {
		wait = "forever"
	}
	fmt.Fprintf(w, "root=%q rootfstype=%q rootflags=%q %s init=%q (waited %s)\n\n",
		b.cfg.Root, strings.Join(b.cfg.RootFSTypes, ","), b.cfg.RootFlags, roRW(b.cfg.ReadWrite), b.cfg.Init, wait)
	b.listDevices(w)
	b.listModules(w)
	fmt.Fprintln(w, "\nType `help` for commands, `continue` to try again, `reboot` or `poweroff`.")
}

func roRW(rw bool) string {
	if rw {
		return "rw"
	}
	return "ro"
}

// listDevices prints the block devices as blkid would, with sizes.
func (b *boot) listDevices(w io.Writer) {
	devs := b.reg.Devices()
	if len(devs) == 0 {
		fmt.Fprintln(w, "block devices: none seen")
		return
	}
	fmt.Fprintln(w, "block devices:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DEVICE\tSIZE\tTYPE\tUUID\tLABEL\tPARTUUID\tPARTLABEL")
	for _, d := range devs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, humanSize(d.Size), orDash(describe(d)),
			orDash(d.Info.UUID), orDash(d.Info.Label), orDash(d.PartUUID), orDash(d.PartLabel))
	}
	tw.Flush()
}

// listModules prints the loaded and failed modules, and the modaliases nothing drives.
func (b *boot) listModules(w io.Writer) {
	var loaded, failed, unknown []string
	for _, r := range b.loader.Results() {
		switch r.Status {
		case modload.Loaded, modload.AlreadyLoaded, modload.Builtin:
			loaded = append(loaded, r.Module)
		case modload.Failed, modload.Blacklisted:
			line := fmt.Sprintf("  %s: %s", r.Module, r.Status)
			if r.Err != nil {
				line = fmt.Sprintf("  %s: %v", r.Module, r.Err)
			}
			failed = append(failed, line)
		case modload.NoModule:
			if storageBus(r.Alias) {
				unknown = append(unknown, "  "+r.Alias)
			}
		}
	}
	fmt.Fprintf(w, "\nmodules loaded (%d): %s\n", len(loaded), strings.Join(uniqSorted(loaded), " "))
	if len(failed) > 0 {
		fmt.Fprintf(w, "modules that failed (%d):\n%s\n", len(failed), strings.Join(uniqSorted(failed), "\n"))
	}
	if len(unknown) > 0 {
		fmt.Fprintf(w, "storage-bus devices with no module in this image (%d):\n%s\n", len(unknown), strings.Join(uniqSorted(unknown), "\n"))
	}
}

// storageBus reports whether a modalias is on a bus where storage controllers live; the
// others (cpu, dmi, acpi, input, …) have no module in an initramfs by design.
func storageBus(alias string) bool {
	bus, _, _ := strings.Cut(alias, ":")
	switch bus {
	case "pci", "virtio", "usb", "scsi", "mmc", "sdio", "vmbus", "xen", "of", "platform", "nvme":
		return true
	}
	return false
}

// builtins are the rescue shell commands that need the init's state.
func (b *boot) builtins() map[string]func([]string, io.Writer) error {
	return map[string]func([]string, io.Writer) error{
		"blkid": func(_ []string, w io.Writer) error {
			for _, d := range b.reg.Devices() {
				fmt.Fprintf(w, "%s:%s\n", d.Path, blkidFields(d))
			}
			return nil
		},
		"lsmod": func(_ []string, w io.Writer) error {
			data, err := os.ReadFile(procDir + "/modules")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if f := strings.Fields(line); len(f) >= 2 {
					fmt.Fprintf(w, "%-24s %s\n", f[0], f[1])
				}
			}
			return nil
		},
		"modprobe": func(args []string, w io.Writer) error {
			for _, name := range args[1:] {
				r := b.loader.Load(name)
				fmt.Fprintf(w, "%s: %s\n", name, r.Status)
				if r.Err != nil {
					fmt.Fprintf(w, "  %v\n", r.Err)
				}
			}
			return nil
		},
		"log": func(_ []string, w io.Writer) error {
			_, err := w.Write(b.log.History())
			return err
		},
		"wait": func(args []string, w io.Writer) error {
			if len(args) < 2 {
				return fmt.Errorf("usage: wait SPEC (UUID=…, LABEL=…, /dev/…)")
			}
			spec, err := mount.ParseSpec(args[1])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := b.reg.Wait(ctx, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: %s\n", d.Path, blkidFields(d))
			return nil
		},
	}
}

func blkidFields(d devices.Device) string {
	var f []string
	add := func(k, v string) {
		if v != "" {
			f = append(f, fmt.Sprintf(" %s=%q", k, v))
		}
	}
	add("UUID", d.Info.UUID)
	add("LABEL", d.Info.Label)
	add("TYPE", d.Info.Type)
	add("PARTLABEL", d.PartLabel)
	add("PARTUUID", d.PartUUID)
	return strings.Join(f, "")
}

// describe is a device's type as one word or two ("ext4", "swap (hibernated)").
func describe(d devices.Device) string {
	t := d.Info.Type
	if d.Info.Hibernated {
		t += " (hibernated)"
	}
	return t
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTPE"[exp])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func uniqSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
