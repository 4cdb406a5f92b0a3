// Command init is earlyroot's PID 1: the program the kernel runs from the initramfs. The
// boot itself is package boot; this program only chooses, by the name it was started as,
// which of the binary's three jobs to do:
//
//   - as /init, PID 1: boot.Run on the real system, which mounts the root and hands over
//     with switch_root, or stops in the rescue shell; it never returns;
//   - as modprobe (the kernel's request_module helper, /sbin/modprobe → /init while the
//     boot runs): log the request to the kernel log, load modules from the image's index,
//     as modload.ModprobeMain does, and exit;
//   - as boot.DeleterName, the child switch_root starts: delete the old initramfs in the
//     background while the real init starts.
//
// One binary keeps the image small and the three in step: the modprobe personality reads
// the same module index and options as PID 1.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/boot"
	"github.com/earlyroot/earlyroot/bootlog"
	"github.com/earlyroot/earlyroot/internal/host"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/switchroot"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "modprobe":
		logModprobe(os.Args[1:])
		release, _ := host.KernelRelease()
		os.Exit(modload.ModprobeMain(os.Args, filepath.Join("/lib/modules", release), os.Stderr))
	case boot.DeleterName:
		os.Exit(deleteInitramfs())
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "earlyroot: init must run as PID 1 (or be called as modprobe)")
		os.Exit(2)
	}
	boot.TuneRuntime()
	boot.New(boot.Real()).Run() // never returns on the real system
	select {}
}

// deleteInitramfs is the main of the deletion child: it runs in the real root, after the
// chroot, with the old root as fd 3, and logs to the kernel log.
func deleteInitramfs() int {
	log, closeLog := kernelLog()
	defer closeLog()
	return switchroot.DeleterMain(log.Infof)
}

// logModprobe puts one line in the kernel log for each start of the modprobe personality:
// in the initramfs the kernel starts it (request_module) for a module nothing had loaded
// yet, and each start is a process on the boot's path, so the log shows what asked for it.
func logModprobe(args []string) {
	log, closeLog := kernelLog()
	defer closeLog()
	log.Infof("modprobe %s", strings.Join(args, " "))
}

// kernelLog returns a logger writing to the kernel log only, for the init's helper
// personalities (they have no console of their own), and the function that closes it.
// Without /dev/kmsg the logger writes nowhere.
func kernelLog() (*bootlog.Logger, func()) {
	kmsg, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return bootlog.New(nil, nil), func() {}
	}
	log := bootlog.New(kmsg, nil)
	log.SetTargets(true, false)
	return log, func() { kmsg.Close() }
}
