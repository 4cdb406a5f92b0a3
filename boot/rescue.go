package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/internal/host"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/rescue"
)

const (
	// eofPause is how long an unattended machine (no console input) waits before the next
	// attempt, so that it does not spin.
	eofPause = 5 * time.Second
	// defaultPanic is the emergency action's delay when panic= is not given.
	defaultPanic = 30 * time.Second
	// waitLimit bounds the rescue shell's wait command.
	waitLimit = 10 * time.Second
)

// failed handles a failed boot attempt: the rescue shell, or with rd.shell=0 the emergency
// action. It reports whether the boot is over (a fake system's Reboot or Hang returned);
// otherwise the user asked to try again.
func (b *Boot) failed(err error) (over bool) {
	b.log.Errorf("boot failed: %v", err)
	return b.shell(err.Error(), false)
}

// stopped readies the initramfs for a stopped boot, diagnosis and shell alike: the
// modprobe helper link back (a failed switch_root removed it), and the drivers of the
// devices put off once the root was found loaded, so that every device is seen and usable.
func (b *Boot) stopped() {
	if err := b.enableModprobe(); err != nil {
		b.log.Warnf("%v", err)
	}
	b.openGate()
	if n := b.loader.LoadDeferred(); n > 0 {
		b.log.Infof("loaded the modules of %d devices deferred after the root was found", n)
	}
}

// shell runs the rescue shell with a diagnosis headed by reason, or with rd.shell=0 the
// emergency action. It returns on `continue` (or end of input) with over false; after
// reboot or poweroff, which the real system never returns from, with over true.
func (b *Boot) shell(reason string, isBreak bool) (over bool) {
	if !b.cfg.Shell && isBreak {
		b.log.Warnf("%s, but rd.shell=0: going on", reason)
		return false
	}
	b.stopped()
	if !b.cfg.Shell {
		b.emergency(reason)
		return true
	}
	b.saveLog()
	b.keymapName() // the keyboard speaks the image's keymap before the shell reads it
	b.reap.Lock()  // the shell waits for its own children
	action := rescue.Run(rescue.Env{
		In:        b.sys.In,
		Out:       b.sys.Out,
		Diagnosis: func(w io.Writer) { b.diagnose(w, reason) },
		Builtins:  b.builtins(),
		ProcDir:   b.sys.Proc,
		DevKmsg:   filepath.Join(b.sys.Dev, "kmsg"),
		Mount:     b.sys.Mount,
		Unmount:   b.sys.Unmount,
	})
	b.reap.Unlock()
	switch action {
	case rescue.ActionReboot:
		b.powerOff(unix.LINUX_REBOOT_CMD_RESTART)
		return true
	case rescue.ActionPoweroff:
		b.powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF)
		return true
	case rescue.ActionEOF:
		b.sys.Sleep(eofPause)
	}
	b.log.Infof("rescue shell: continuing the boot")
	return false
}

// emergency is what rd.shell=0 does instead of a shell: print the diagnosis, then reboot,
// power off or halt as rd.emergency= says, after panic= seconds as the kernel means them
// (0 waits forever, a negative value acts at once; unset, 30 s).
func (b *Boot) emergency(reason string) {
	b.diagnose(b.sys.Out, reason)
	b.saveLog()
	delay, forever := b.cfg.PanicDelay(defaultPanic)
	action := b.cfg.Emergency
	if action == "" {
		action = "reboot"
	}
	if forever {
		b.log.Errorf("rd.shell=0 and panic=0: no rescue shell; waiting forever")
		b.sys.Hang()
		return
	}
	b.log.Errorf("rd.shell=0: no rescue shell; %s in %v", action, delay)
	if delay > 0 {
		b.sys.Sleep(delay)
	}
	switch action {
	case "poweroff":
		b.powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF)
	case "halt":
		b.powerOff(unix.LINUX_REBOOT_CMD_HALT)
	default:
		b.powerOff(unix.LINUX_REBOOT_CMD_RESTART)
	}
}

func (b *Boot) powerOff(cmd int) {
	if err := b.sys.Reboot(cmd); err != nil {
		b.log.Errorf("reboot(2): %v", err)
	}
}

// diagnose writes why the boot failed and everything that was seen.
func (b *Boot) diagnose(w io.Writer, reason string) {
	fmt.Fprintf(w, "\nearlyroot: the boot stopped: %s\n\n", reason)
	timeout, forever := b.cfg.RootTimeout()
	wait := timeout.String()
	if forever {
		wait = "forever"
	}
	fmt.Fprintf(w, "root=%q rootfstype=%q rootflags=%q %s init=%q (root wait: %s)\n\n",
		b.cfg.Root, strings.Join(b.cfg.RootFSTypes, ","), b.cfg.RootFlags, roRW(b.cfg.ReadWrite), b.cfg.Init, wait)
	b.listDevices(w)
	b.listLayers(w)
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
func (b *Boot) listDevices(w io.Writer) {
	devs := b.reg.Devices()
	if len(devs) == 0 {
		fmt.Fprintln(w, "block devices: none seen")
		return
	}
	fmt.Fprintln(w, "block devices:")
	rows := [][]string{{"  DEVICE", "SIZE", "TYPE", "UUID", "LABEL", "PARTUUID", "PARTLABEL"}}
	for _, d := range devs {
		rows = append(rows, []string{"  " + d.Path, host.Size(d.Size), orDash(describe(d)),
			orDash(d.Info.UUID), orDash(d.Info.Label), orDash(d.PartUUID), orDash(d.PartLabel)})
	}
	writeColumns(w, rows)
}

// writeColumns writes rows as aligned columns: every cell but a row's last is padded to
// its column's widest cell (in characters) and two spaces.
func writeColumns(w io.Writer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var line strings.Builder
	for _, row := range rows {
		line.Reset()
		for i, cell := range row {
			line.WriteString(cell)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2))
			}
		}
		line.WriteByte('\n')
		io.WriteString(w, line.String())
	}
}

// listModules prints the loaded modules, those that failed or were not tried (blacklisted,
// for other CPUs), and the modaliases nothing drives.
func (b *Boot) listModules(w io.Writer) {
	var loaded, failed, unknown []string
	for _, r := range b.loader.Results() {
		switch r.Status {
		case modload.Loaded, modload.AlreadyLoaded, modload.Builtin:
			loaded = append(loaded, r.Module)
		case modload.Failed, modload.Blacklisted, modload.OtherCPU:
			line := fmt.Sprintf("  %s: %s", r.Module, r.Status)
			if r.Err != nil {
				line = fmt.Sprintf("  %s: %v", r.Module, r.Err)
			}
			failed = append(failed, line)
		case modload.NoModule:
			if modload.StorageBus(r.Alias) {
				unknown = append(unknown, r.Alias)
			}
		}
	}
	fmt.Fprintf(w, "\nmodules loaded (%d): %s\n", len(loaded), strings.Join(uniqSorted(loaded), " "))
	if len(failed) > 0 {
		fmt.Fprintf(w, "modules not loaded (%d):\n%s\n", len(failed), strings.Join(uniqSorted(failed), "\n"))
	}
	if len(unknown) > 0 {
		b.listUnknown(w, uniqSorted(unknown))
	}
}

// listUnknown prints the storage-bus modaliases no module of the image matched, each
// with the modules the image was made without (modload.LeftOutFile) that would drive it.
func (b *Boot) listUnknown(w io.Writer, aliases []string) {
	fmt.Fprintf(w, "storage-bus devices with no module in this image (%d):\n", len(aliases))
	left := b.leftOut(w)
	named := false
	for _, a := range aliases {
		var mods []string
		if left != nil {
			mods = left.Lookup(a)
		}
		if len(mods) == 0 {
			fmt.Fprintf(w, "  %s\n", a)
			continue
		}
		fmt.Fprintf(w, "  %s: %s, left out of this image\n", a, strings.Join(mods, " or "))
		named = true
	}
	if named {
		fmt.Fprintln(w, "An image with that module drives it: mkinitramfs -modules NAME, -legacyhba for the legacy host adapters, or -hostonly on this machine.")
	}
}

// leftOut reads the image's list of the modules it was made without (modload.LeftOutFile):
// nil when it is unreadable, which it says on w.
func (b *Boot) leftOut(w io.Writer) *modload.Index {
	left, err := modload.ReadLeftOut(b.moddir)
	if err != nil {
		fmt.Fprintf(w, "  (the list of the modules left out of this image: %v)\n", err)
	}
	return left
}

// builtins are the rescue shell commands that need the boot's state. Each takes the words
// after its name (rescue.Builtin).
func (b *Boot) builtins() map[string]rescue.Builtin {
	return map[string]rescue.Builtin{
		"blkid":    b.blkid,
		"lsmod":    b.lsmod,
		"modprobe": b.modprobe,
		"log": func(_ []string, w io.Writer) error {
			_, err := w.Write(b.log.History())
			return err
		},
		"wait":    b.wait,
		"unlock":  b.unlock,
		"dmtable": b.dmtable,
	}
}

func (b *Boot) blkid(_ []string, w io.Writer) error {
	for _, d := range b.reg.Devices() {
		fmt.Fprintln(w, d)
	}
	return nil
}

func (b *Boot) lsmod(_ []string, w io.Writer) error {
	data, err := os.ReadFile(filepath.Join(b.sys.Proc, "modules"))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			fmt.Fprintf(w, "%-24s %s\n", f[0], f[1])
		}
	}
	return nil
}

// modprobe NAME... loads modules by name or alias, with their dependencies.
func (b *Boot) modprobe(args []string, w io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: modprobe NAME…")
	}
	var failed []string
	var left *modload.Index // read at the first name the image has no module for
	for _, name := range args {
		r := b.loader.Load(name)
		fmt.Fprintf(w, "%s: %s\n", name, r.Status)
		if r.Err != nil {
			fmt.Fprintf(w, "  %v\n", r.Err)
		}
		if r.Status == modload.NoModule {
			if left == nil {
				left = b.leftOut(w)
			}
			if left != nil && left.Aliased(name) {
				fmt.Fprintf(w, "  %s was left out of this image: mkinitramfs -modules %s (or -legacyhba) adds it\n", name, name)
			}
		}
		if !r.Status.OK() {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("not loaded: %s", strings.Join(failed, " "))
	}
	return nil
}

// wait SPEC waits (a while) for a device as root= names it and prints it as blkid does.
func (b *Boot) wait(args []string, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: wait SPEC (UUID=…, LABEL=…, /dev/…)")
	}
	spec, err := mount.ParseSpec(args[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	d, err := b.reg.Wait(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, d)
	return nil
}

// describe is a device's type as one word or two ("ext4", "swap (hibernated)").
func describe(d devices.Device) string {
	t := d.Info.Type
	if d.Info.Hibernated {
		t += " (hibernated)"
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func uniqSorted(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
