// Package uevent delivers the kernel's device events (uevents) to the
// init: first a replay of every device that already exists in sysfs
// ("coldplug"), then the live stream, merged into one ordered,
// de-duplicated sequence of calls to a single handle function.
//
// # One uevent, from the socket to handle
//
// Say the storage driver loaded for a virtio disk registers vda1.
//
//  1. The kernel multicasts, on NETLINK_KOBJECT_UEVENT group 1 (as
//     recorded in the top-level testdata/qemu/qemu-boot.uevents):
//     "add@/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1\0
//     ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1\0
//     SUBSYSTEM=block\0MAJOR=254\0MINOR=1\0DEVNAME=vda1\0DEVTYPE=partition\0
//     DISKSEQ=1\0PARTN=1\0SEQNUM=660\0".
//  2. The socket was opened by Start (openNetlink, conn.go) before anything
//     else: go-udev's netlink.UEventConn creates and binds it; we then set
//     CLOEXEC (so it never leaks across switch_root's exec), force a
//     128 MiB receive buffer (SO_RCVBUFFORCE, falling back to SO_RCVBUF),
//     make it non-blocking and hand it to the Go runtime poller through an
//     os.File. go-udev's Monitor is not used: it stops for good on the first
//     error.
//  3. readLoop (source.go) blocks in recv, which calls recvfrom(2) on the
//     descriptor to get the sender's address. Datagrams whose netlink port
//     id is not 0 (not the kernel, e.g. a udevd rebroadcast or a spoofer)
//     are dropped, as are truncated ones. The bytes go through Parse
//     (event.go), our own parser: go-udev's ParseUEvent rejects values
//     containing '=' and devpaths containing '@'. The Event is appended to
//     an unbounded FIFO queue, so a slow handle never makes the socket
//     overflow.
//  4. If the kernel could not deliver because the buffer was full anyway,
//     recv fails with ENOBUFS: readLoop asks scanLoop for a rescan and keeps
//     reading. The rescan replays sysfs again (devices whose "add" was lost
//     are delivered; devices that vanished get a synthesised "remove").
//  5. Meanwhile scanLoop runs Coldplug (coldplug.go) once, on a thread of
//     its own at the lowest priority (background, source.go): it walks
//     sysfs/devices depth-first, the PCI hosts first and the virtual devices
//     last, parents before children, and for every
//     directory holding a uevent file and a subsystem link it reads the file
//     and queues a synthesised "add" with the same environment the kernel
//     would send (minus SEQNUM), e.g. for vda1 the block device's MAJOR,
//     MINOR, DEVNAME, DEVTYPE and PARTN.
//  6. mergeLoop, the only goroutine that calls handle, pops the queue in
//     order and applies the de-duplication (merger.step): a device's "add"
//     passes once, whichever of coldplug or the live stream brings it
//     first; a later "add" for the same devpath is dropped until a
//     "remove" for it passes; every other action passes through. Our vda1
//     reaches handle exactly once.
//  7. Stop closes the socket (waking the blocked recv), aborts a running
//     walk, waits for all three goroutines and returns; nothing is left
//     open.
//
// # Coldplug: read sysfs rather than trigger
//
// Two ways exist to replay existing devices: write "add" to each
// /sys/devices/**/uevent so that the kernel re-emits the event on the
// socket, or read each uevent file and synthesise the event. They cost the
// same, because the kernel runs the same uevent callback either way (the
// write merely adds a trip through the socket). Reading is used: it needs
// no round trip through the socket (so the replay cannot itself overflow
// the buffer), Coldplug knows when it is complete (ColdplugDone is exact),
// it has no side effect on other listeners, and it works on a read-only
// sysfs and on the fixture trees in testdata without root. The walk opens
// every directory and attribute relative to its parent's descriptor
// (openat), which saves resolving every path from the root, and skips the
// per-device "power" attribute directory; BenchmarkColdplugHostSys measures
// it on the host's /sys.
//
// # Limits
//
// Lost "change" events cannot be reconstructed by a rescan. handle must
// not call Stop (Stop waits for handle to return). Events still queued
// when Stop is called are dropped.
package uevent
