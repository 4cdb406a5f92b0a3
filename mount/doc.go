// Package mount finds and mounts the root filesystem for earlyroot.
//
// It contains a block-device prober that recognises filesystems and other
// on-disk signatures by reading a device's first blocks (no blkid binary is
// needed), a GPT and MBR partition-table reader, a parser for the kernel's
// root= specifications, a Registry that collects block devices as they
// appear and lets the caller wait for the root device, and helpers that turn
// rootflags= into mount(2) flags and mount the root filesystem.
//
// Identifiers (UUID, LABEL, PARTUUID, ...) are formatted the way blkid(8)
// prints them, so that root=UUID=... copied from blkid output matches.
//
// All parsers bound their reads and check every offset: a truncated or
// hostile image yields an error, never a panic or a large allocation.
package mount
