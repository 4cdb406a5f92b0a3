// Package boot is what PID 1 does in the initramfs, as a library: mount the kernel's API
// filesystems, read the command line, load the modules of the devices the kernel announces,
// wait for the root device, mount it and hand over to the real init with switch_root; on any
// failure, or at an rd.break point, explain what went wrong and open the rescue shell, from
// which `continue` makes a new attempt.
//
// It is a library, not code in the init program, so that whole boots can be tested as data.
// Every system call with an effect beyond the process (mount, reboot, switch_root), every
// fixed path (/proc, /sys, /dev, /run, /newroot), the console, the clock and the source of
// device events go through one System value: Real gives PID 1's, and a test gives a fake
// one over a temporary tree, with devices that are image files and events it sends itself,
// and then checks what the boot mounted, switched to or rebooted.
//
// One boot, in order (each step logs its duration):
//
//  1. mount /proc, /sys, /dev (devtmpfs), /run, /dev/pts and open the kernel log;
//  2. parse /proc/cmdline (cmdline.Parse), and start loading the image's console keymap
//     and font in the background (console.go): a passphrase prompt or the rescue shell
//     waits for them;
//  3. open the module index (modload.OpenImage) with the options of modprobe.d and the command
//     line (modload.SystemOptions), and start device discovery: every MODALIAS a module
//     answers to goes to the module loader in its own goroutine, the root's likely drivers
//     first and the others once those are idle (order.go), every block device to the registry
//     (devices.Registry), which probes it, links it under /dev/disk and wakes whoever
//     waits for it; a device that is a member of a stacking layer (probe.Info.Layer: an
//     encrypted LUKS volume, …) goes to that layer (layers.go, luks.go), which makes a new
//     block device of it (dm-N) that arrives as a uevent and takes the same path;
//  4. wait for the root= device within the command line's timeout (which stops while a
//     layer asks for a passphrase; a layer's final failure ends the wait);
//  5. load the root filesystem's module, mount the root on /newroot (mount.MountRoot), then
//     what the root's /etc/fstab asks of an initramfs: /usr (or mount.usr=) and the entries
//     marked x-initrd.mount, their devices waited for as the root's (usr.go);
//  6. stop discovery, join every goroutine, save the log to /run/initramfs/earlyroot.log;
//  7. switch_root (switchroot.Switch) into the real init.
//
// Steps 4 to 7 are one attempt. Work runs in goroutines (module loads, probes); a panic in
// one is recovered and ends the attempt it happened in at once, with the panic as the
// reason, whatever step the attempt is at. A panic anywhere else is recovered too: PID 1
// must never die, as the kernel panics when it does.
package boot
