// Package modload finds and loads Linux kernel modules from the initramfs.
//
// # From a modalias to finit_module
//
// When the kernel announces a device it sends a uevent whose MODALIAS
// (for example "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
// describes the hardware. Each module declares the aliases it serves as
// fnmatch(3) patterns ("pci:v00001AF4d00001001sv*sd*bc*sc*i*"). The path
// from a modalias to the kernel is:
//
//  1. Index: an [Index] over /lib/modules/<kver> holds, for every module,
//     its alias patterns, its dependencies (already expanded to the full
//     closure and sorted into load order, deepest first), its soft
//     dependencies (softdep pre:/post:, with those some kernels' modules
//     need but do not declare: quirks.go) and the list of built-in modules.
//     [Open] reads the compact file modules.earlyroot written at image build
//     time by [Index.WriteFile]; when that file is missing or corrupt it
//     falls back to [Build], which reads depmod's text files (modules.alias,
//     modules.dep, modules.softdep, modules.builtin) or, when they are
//     absent, the .modinfo ELF section of every module, in parallel. The
//     init uses [OpenImage], whose fallback reads the text files only: the
//     image always has the index. The readers of module files themselves
//     (.modinfo, and xz and gzip besides zstd) are for the host tools: the
//     init is built with the tag earlyroot_init, which leaves them out
//     (tree.go), and with them the packages only they import.
//  2. Lookup: [Index.Lookup] matches the modalias against the patterns with
//     fnmatch semantics ('*', '?', '[...]', '[!...]', '\' escapes; '/' is
//     not special) and '-' and '_' treated alike. Patterns are grouped by
//     their literal prefix (the text before the first wildcard) in a sorted
//     table, so a lookup only tries the groups whose prefix is a prefix of
//     the modalias instead of every pattern; within a big group
//     ("acpi*:...", "of:N*...") patterns are further keyed by a rare 4-byte
//     piece of literal text that any match must contain. Every matching
//     module is returned.
//  3. Load: a [Loader] takes each matching module (minus blacklisted ones,
//     for alias-driven loads), skips built-ins and modules already present
//     under /sys/module, loads its dependencies in order (independent ones
//     concurrently), then its softdep pre: modules (an alias with several
//     providers loads them all and succeeds if any works), then the module
//     itself, then its softdep post: modules; each dependency likewise sits
//     between its own softdep pre: and post: modules. A plain .ko is loaded
//     with finit_module(fd, params, 0); a .ko.zst, .ko.xz or .ko.gz is
//     handed to finit_module with MODULE_INIT_COMPRESSED_FILE when
//     /sys/module/compression names that algorithm; else a .ko.zst is
//     decompressed in Go and loaded with init_module, and the others fail
//     (the image generator writes them only for a kernel that takes them).
//     In a tree with a zstd dictionary (DictFile, see [ZstdDecoder]), a
//     .ko.zst whose frame names it is always decompressed in Go with it. A module reached through an
//     alias whose cpu: aliases this CPU does not match is not tried
//     ([Options.CPU]). Parameters come from [Options.Params]
//     ([SystemOptions] gathers them with the blacklist: modprobe.d
//     "options" and "blacklist" lines, then the kernel command line as
//     package cmdline parses it); [Loader.LoadAhead] adds async_probe=1, so
//     that a load made ahead of its need does not wait for the asynchronous
//     probes of other drivers. EEXIST counts as already loaded. Each module
//     is loaded at most once even under concurrent calls: a second caller
//     waits for the first caller's result. Every outcome is kept as a
//     [Result] (see [Loader.Results]); a failure never stops other loads.
//
// [ModprobeMain] lets the init binary answer the kernel's request_module
// calls ("/sbin/modprobe -q -- fs-ext4") with the same machinery. Each such
// call is a process the kernel starts and waits for; where the kernel asks
// for modules whether or not they are loaded (md running an array, the
// crypto API building a composed algorithm), the init loads them first and
// runs the step with the requests off ([Loader.WithoutRequests]).
package modload
