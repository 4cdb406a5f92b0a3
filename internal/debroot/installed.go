package debroot

// The installed system: what turns a copy of the debootstrap tree into the root of a booted
// Debian machine that reports its own boot. Both the distribution tests (tests/distro) and the
// bench's systemd comparison (cmd/bench -distro) boot this root, so the files, the report
// service and the parser of its lines live here once: a change to the root changes both.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// ReportPrefix starts each line the report service writes to the console: "KEY=VALUE".
const ReportPrefix = "EARLYROOT-DISTRO "

// ReportDone is the key of the report's last line, written once everything else is out and
// just before the power-off.
const ReportDone = "done"

// reportService starts the report once the boot is done. It is Type=simple, not oneshot: a
// oneshot's start job would be part of the boot's job queue, and `systemctl is-system-running
// --wait` in it would wait for itself.
const reportService = `[Unit]
Description=earlyroot test: report the boot on the serial console, then power off
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/earlyroot-report

[Install]
WantedBy=multi-user.target
`

// reportScript writes one "EARLYROOT-DISTRO key=value" line per observation to the serial
// console, then cmd/testinit's facts line (run as an ordinary process it reads mountinfo and
// /run/initramfs without touching anything), then powers off. With earlyroot's package
// installed and no host-only image made yet, it first makes one, as a user would on their own
// machine: the generator then reads this guest's /sys, not the build host's.
const reportScript = `#!/bin/sh
exec >/dev/ttyS0 2>&1
r() { echo "EARLYROOT-DISTRO $1=$2"; }
r state "$(timeout 300 systemctl is-system-running --wait)"
r failed "$(systemctl --failed --no-legend --plain | tr -s ' \n' ' ;')"
r jobs "$(systemctl list-jobs --no-legend --plain | tr -s ' \n' ' ;')"
r analyze "$(systemd-analyze | head -n1)"
r blame "$(systemd-analyze blame --no-pager | head -n8 | tr -s ' \n' ' ;')"
r pid1_messages "$(journalctl -b -q --no-pager -o cat SYSLOG_IDENTIFIER=systemd | wc -l)"
r pid1_warnings "$(journalctl -b -q --no-pager -o cat -p warning SYSLOG_IDENTIFIER=systemd | tr '\n' ';')"
r usr_mount "$(findmnt -n -o FSTYPE,OPTIONS /usr)"
if [ -x /usr/sbin/earlyroot-mkinitramfs ] && [ ! -e /boot/initrd.img-hostonly ]; then
	if out=$(/usr/sbin/earlyroot-mkinitramfs -hostonly -kver "$(uname -r)" -o /boot/initrd.img-hostonly 2>&1); then
		r hostonly "made $(stat -c %s /boot/initrd.img-hostonly)"
	else
		r hostonly "failed: $(echo "$out" | tail -n3 | tr '\n' ';')"
	fi
fi
/usr/local/sbin/earlyroot-facts
sync
r ` + ReportDone + ` 1
systemctl poweroff
`

// RootUUID is the root filesystem's UUID, which /etc/fstab and root= name.
const RootUUID = "d15740c0-1111-4222-8333-0000000000e1"

// Fstab mounts the root as a Debian installation does (errors=remount-ro), with noatime so
// that the options systemd-remount-fs applies are visible in mountinfo: the kernel command
// line says ro, the fstab rw.
const Fstab = "# earlyroot test root\nUUID=" + RootUUID + " / ext4 rw,noatime,errors=remount-ro 0 1\n"

// Cmdline is Debian's usual kernel command line (root by UUID, ro) on the serial console.
const Cmdline = "root=UUID=" + RootUUID + " ro console=ttyS0 panic=-1"

// masked lists units masked in the root, each for a reason that is QEMU's or the test's,
// not earlyroot's.
var masked = []string{
	// The login prompt on the serial console would interleave with the report; nobody logs in.
	"serial-getty@ttyS0.service",
	// e2fsprogs' cleanup of e2scrub's LVM snapshots left by a crash: there is no LVM here, and
	// under TCG the scan of block devices takes tens of seconds of the boot.
	"e2scrub_reap.service",
}

// Prepare turns a copy of the debootstrap tree into the root of an installed system: a
// machine-id, the fstab, the report service, and factsBin (cmd/testinit, static) as the
// facts reporter.
func Prepare(tree, factsBin string) error {
	files := map[string]string{
		"etc/machine-id": "5e1f0c0ab1e5a5e5e1f0c0ab1e5a5e5e\n",
		"etc/fstab":      Fstab,
		"etc/systemd/system/earlyroot-report.service": reportService,
	}
	for p, c := range files {
		if err := writeFile(filepath.Join(tree, p), []byte(c), 0o644); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(tree, "usr/local/sbin/earlyroot-report"), []byte(reportScript), 0o755); err != nil {
		return err
	}
	facts, err := os.ReadFile(factsBin)
	if err != nil {
		return fmt.Errorf("debroot: the facts reporter: %w", err)
	}
	if err := writeFile(filepath.Join(tree, "usr/local/sbin/earlyroot-facts"), facts, 0o755); err != nil {
		return err
	}
	units := filepath.Join(tree, "etc/systemd/system")
	if err := link("/etc/systemd/system/earlyroot-report.service", filepath.Join(units, "multi-user.target.wants/earlyroot-report.service")); err != nil {
		return err
	}
	for _, unit := range masked {
		if err := link("/dev/null", filepath.Join(units, unit)); err != nil {
			return err
		}
	}
	return nil
}

// AddModules copies the kernel's module tree into the root and indexes it with depmod, as
// the kernel package's postinst does: udev on the real root loads modules through it.
func AddModules(tree string, k fixture.Kernel) error {
	dst := filepath.Join(tree, "lib", "modules")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	if err := runCmd("cp", "-a", k.ModDir, dst); err != nil {
		return err
	}
	return runCmd("depmod", "-b", tree, k.Release)
}

// MakeDisk writes to path a GPT disk whose one partition is the root filesystem (RootUUID),
// made by mkfs.ext4 -d from tree.
func MakeDisk(tree, path string) error {
	fs := &vm.FS{Type: "ext4", UUID: RootUUID, Label: "debroot", SrcDir: tree, SizeMB: 2048}
	if err := vm.MakeDisk(path, vm.Disk{Table: "gpt", Parts: []vm.Part{{FS: fs, Name: "root"}}}); err != nil {
		return fmt.Errorf("debroot: root disk from %s: %w", tree, err)
	}
	return nil
}

// CopyTree copies the tree at src to dst (owners, modes, links and device nodes kept), for a
// caller that changes the root: the cached tree is never written.
func CopyTree(src, dst string) error {
	return runCmd("cp", "-a", "--reflink=auto", src, dst)
}

// ParseReport collects the report lines of a console transcript: the first value of each
// key wins (the console may repeat nothing, but a later boot's lines are not this boot's).
// Kernel and systemd messages may interleave on a serial console, so text before the prefix
// on a line is ignored, and carriage returns are dropped.
func ParseReport(out string) map[string]string {
	r := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, ReportPrefix)
		if i < 0 {
			continue
		}
		kv := strings.TrimSpace(strings.ReplaceAll(line[i+len(ReportPrefix):], "\r", ""))
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		if _, seen := r[k]; !seen {
			r[k] = v
		}
	}
	return r
}

func writeFile(path string, content []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	if err := os.WriteFile(path, content, mode); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	return nil
}

func link(target, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	if err := os.Symlink(target, path); err != nil {
		return fmt.Errorf("debroot: %w", err)
	}
	return nil
}

// runCmd runs a host command; its error carries the command and its output.
func runCmd(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("debroot: %s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
