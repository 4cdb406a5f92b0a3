// Package initramfs builds earlyroot initramfs images: it selects the kernel
// modules a root device could need (generic) or that this machine needs
// (host-only), lays out the image (the init binary, device nodes, the module
// tree with modload's compact index, extra files), writes it as a
// reproducible newc cpio archive and compresses it in a format the kernel's
// initramfs unpacker accepts.
//
// The package is a library: it never logs or exits. Roots (module dir, sysfs,
// /proc/mounts) are passed in so tests can run on fixtures.
package initramfs
