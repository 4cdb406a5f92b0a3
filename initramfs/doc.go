// Package initramfs builds earlyroot initramfs images: it selects the kernel
// modules a root device could need (generic) or that this machine needs
// (host-only), lays out the image, writes it as a reproducible newc cpio
// archive and compresses it in a format the kernel's initramfs unpacker
// accepts.
//
// # Image layout
//
// With Config.Microcode, and when update files are found, the image starts
// with an early archive that is never compressed (the kernel's x86
// microcode loader looks for it before anything is unpacked):
//
//	kernel/x86/microcode/GenuineIntel.bin   intel-ucode/FF-MM-SS concatenated
//	kernel/x86/microcode/AuthenticAMD.bin   amd-ucode/microcode_amd*.bin concatenated
//
// padded with NUL bytes to a multiple of 4, then the main archive follows,
// compressed with Config.Compression. The kernel unpacks both into the same
// rootfs. The main archive holds:
//
//	/init                               the init binary (Config.Init)
//	/sbin/modprobe -> /run/earlyroot/modprobe
//	                                    the kernel's request_module helper: the
//	                                    init links that to /init when it starts
//	                                    (see modload.ModprobeTarget)
//	/dev/console (c 5,1), /dev/null (c 1,3)
//	/proc /sys /dev /run /newroot /tmp /etc /lib /sbin
//	/etc/initrd-release                 os-release format, NAME=earlyroot
//	/etc/os-release -> initrd-release
//	/lib/modules/<kver>/kernel/...      the selected modules at their tree
//	                                    paths (.ko, or .ko.xz/.ko.zst/.ko.gz
//	                                    with Config.ModCompression)
//	/lib/modules/<kver>/modules.builtin
//	/lib/modules/<kver>/modules.zstd-dict
//	                                    with Config.ModuleDict: the zstd
//	                                    dictionary the .ko.zst modules
//	                                    are compressed with
//	/lib/modules/<kver>/modules.earlyroot
//	                                    modload's compact index of exactly
//	                                    the selected modules, built-in
//	                                    modules and their aliases included
//	/lib/modules/<kver>/modules.left-out.zst
//	                                    the storage-bus aliases of the
//	                                    generic and legacy sets' modules
//	                                    the image leaves out, for the
//	                                    rescue shell (modload.LeftOutFile),
//	                                    zstd-compressed: in the plain archive
//	/lib/firmware/...                   with Config.Firmware: the files the
//	                                    modules name in their .modinfo, kept
//	                                    .xz/.zst when the kernel's .config
//	                                    says it loads them so, else
//	                                    decompressed
//	/etc/earlyroot/keymap.bmap          with Config.Console: the keymap,
//	/etc/earlyroot/keymap.name          compiled by loadkeys -b (package
//	                                    keymap), and its name
//	/etc/earlyroot/font.psf             the console font, decompressed
//	extra files (Config.Files)
//
// # Selection
//
// The generic set is data ([GenericSelection]): module path prefixes,
// exclusions and extra names, closed over dependencies and softdeps with
// modload. The legacy host adapters ([LegacySelection]) come in only when
// asked (Config.LegacyHBAs). Host-only images ([HostModules]) take the modules matching every
// modalias in sysfs (minus [HostExclude]), and the filesystem modules and
// the device-mapper/MD modules under the devices of the mounts the init
// makes ([HostMounts]: the root, /usr, and the host's fstab entries marked
// x-initrd.mount), as the mount table has them; their MD arrays' ARRAY
// lines of the host's mdadm.conf go in too ([HostMDConf]).
// [FindHostCrypt] adds what the machine's encrypted devices need:
// the crypto modules their LUKS headers name, and the host's crypttab
// lines for them (and those marked x-initrd.attach or initramfs) with
// their key files, which go into the image at the same paths.
//
// # Module facts
//
// modload's index of the tree drives the selection. It comes from depmod's
// modules.dep and modules.alias when the tree has them (an installed
// kernel, once its package ran depmod). A tree of .ko.xz modules without
// them (a distribution's kernel package as shipped) would have every
// module decompressed by a Go xz decoder to read its .modinfo; when kmod's
// depmod is installed it is run instead on a shadow of the tree (links to
// its entries, so the tree is never written), which is many times faster.
// The image's own index is the tree's narrowed to the kept modules
// (modload.Index.Subset) when they keep their paths, else modload's index
// of the staged modules. The firmware names are read from each kept
// module's .modinfo by modload.
//
// A module already compressed in the tree (.ko.xz) goes in as it is when
// the kernel's .config says finit_module decompresses that format
// (CONFIG_MODULE_DECOMPRESS); else it is recompressed with
// Config.ModCompression. The init decodes zstd modules only (it links no
// xz or gzip decoder), so an xz or gzip Config.ModCompression is refused
// unless the kernel is known to decompress that format. A split image's
// modules that load at every boot go in uncompressed (unpackedModules).
// The .ko.zst modules and the init's zstd archive are made by the zstd
// program when Config.ZstdProgram names it (its level 19, smaller
// than the built-in encoder's best), each output checked by decoding it;
// its module files are kept in Config.ModuleCache for the next image
// (zstdEncoder). With Config.ModuleDict the program first trains a
// dictionary on the modules it compresses, which their frames then share
// (trainDict), unless the kernel decompresses zstd modules itself: its
// decoder has no dictionary.
//
// # Reproducibility
//
// Entries are sorted by name, owned by 0:0, share one mtime
// (Config.MTime), and get inode numbers 1, 2, ... in archive order; the
// compressors are deterministic. The same inputs give the same bytes.
//
// The package is a library: it never logs or exits. Roots (module dir,
// sysfs, the mount table) are passed in so tests can run on fixtures.
package initramfs
