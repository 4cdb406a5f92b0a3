// Package mount turns the kernel command line's words about the root into a mount: root=
// and resume= device specifications (ParseSpec: /dev/NAME, UUID=, LABEL=, PARTUUID=,
// PARTLABEL=, MAJ:MIN, /dev/disk/by-*/...), rootflags= and ro/rw into mount(2) flags
// (ParseFlags, the one table of mount option words, also used by the rescue shell's mount),
// and the mount itself, trying each candidate filesystem type in turn (MountRoot).
//
// Finding the device a Spec names is the device registry's job (package devices); knowing
// what a device holds is package probe's. What is left here is small and pure apart from
// the mount(2) call, so that the rules for these words have one place and one set of
// tests.
package mount
