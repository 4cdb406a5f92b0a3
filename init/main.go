// Command init is earlyroot's PID 1: the program the kernel runs from the initramfs.
//
// One boot, in order (each step logs its duration):
//
//  1. mount /proc, /sys, /dev (devtmpfs), /run, /dev/pts and open /dev/kmsg;
//  2. parse /proc/cmdline (cmdline.Parse);
//  3. open the module index (modload.Open) and start device discovery (uevent.Start): every
//     MODALIAS goes to the module loader in its own goroutine, every block device to the
//     mount registry, which probes it and wakes whoever waits for it;
//  4. wait for the root= device (devices.Registry.Wait) within the command line's timeout;
//  5. load the root filesystem's module, mount the root on /newroot;
//  6. stop discovery, join every goroutine, save the log to /run/initramfs/earlyroot.log;
//  7. switch_root (switchroot.Switch) into the real init.
//
// Any failure, a recovered panic, or rd.break leads to the rescue shell, which first explains
// what went wrong. PID 1 never returns from main.
//
// When started as "modprobe" (the kernel's request_module helper, /sbin/modprobe → /init) the
// same binary loads modules from the same index and exits. Started as deleterName by
// switch_root, it deletes the old initramfs in the background while the real init starts.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/earlyroot/earlyroot/modload"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "modprobe":
		os.Exit(modload.ModprobeMain(os.Args, moduleDir(), os.Stderr))
	case deleterName:
		os.Exit(deleteInitramfs())
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "earlyroot: init must run as PID 1 (or be called as modprobe)")
		os.Exit(2)
	}
	// The runtime's GC target matters little for a process that lives for one second and
	// allocates a few MB; a higher value saves collections on the boot path.
	debug.SetGCPercent(400)
	b := newBoot(time.Now())
	b.run() // never returns
}
