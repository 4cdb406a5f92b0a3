// Package vm is earlyroot's test bench: it builds disk images without loop
// devices (filesystems populated from a directory, GPT/MBR partition tables),
// packs small initramfs archives, and boots a kernel under QEMU (TCG, no KVM)
// with the disks attached to a chosen storage controller, so tests can watch
// the serial console, talk to the rescue shell and hot-plug disks.
//
// It is the only place in the repository that knows QEMU's command-line
// flags. The guest's "real init" on test root disks is cmd/testinit, which
// prints one EARLYROOT-FACTS line (see [ParseFacts]) and powers off.
//
// A test of a program against the kernel's real drivers (device-mapper, md,
// AF_ALG) runs it in a [BusyboxGuest] with [RunBusybox]: busybox, the
// modules and the program, and a verdict line on the console.
//
// Nothing in this package leaves QEMU running: a VM is killed when its
// context is cancelled, when its timeout expires, on [VM.Close], and by the
// cleanup registered by [Boot].
package vm
