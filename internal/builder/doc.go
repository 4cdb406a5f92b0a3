// Package builder makes the test disks whose data sits inside LUKS, LVM2 or MD RAID layers.
//
// Those disks must be made by the real tools — cryptsetup, lvm, mdadm, mkfs — and never by
// earlyroot's own code, or a parser would only be tested against its own misreadings. The
// host that runs the tests has no device-mapper, no md and no loop devices, so the tools run
// in a throwaway QEMU guest: the test kernel, and an initramfs holding busybox, the host's
// binaries with their shared libraries, the device-mapper, md, crypto and filesystem
// modules, a small /init and the recipe, a shell script that turns the blank disks
// /dev/vda, /dev/vdb, … into the layered layout. The test root tree (cmd/testinit as
// /sbin/init) reaches the guest as a tar archive on one more disk and is unpacked into the
// innermost filesystem, so that earlyroot can boot every disk set to the EARLYROOT-FACTS line.
//
// A built set is cached under fixture.CacheDir()/disks/NAME-KEY, where KEY hashes everything
// that made it: the recipe, its facts with the passphrase and key file (/env.sh), the disk
// sizes, the guest scripts, [Version], the kernel release and the test root. A fresh clone (CI's) reuses what an earlier run built; a fresh machine
// builds from nothing. Builds are atomic (a temporary directory renamed into place) and
// serialised per set by a lock file, so concurrent tests asking for one set build it once.
//
// Besides the disk images a set keeps each disk's head and tail (where LUKS headers, LVM
// labels and metadata, and MD superblocks live) as small files for the parsers' unit tests,
// the console log of the build (the tools' own view: luksDump, mdadm --examine, lvs) and a
// manifest.
//
// A boot test takes a set with [Disk], boots writable copies of its disks and checks them
// afterwards:
//
//	s := builder.Disk(t, "lvm-on-luks")
//	drives := s.Drives(t) // copies, as /dev/vda, /dev/vdb, …
//	v := vm.Boot(t, vm.Config{Drives: drives, Append: "root=UUID=" + s.Recipe.RootUUID, …})
//	// type builder.Passphrase at the prompt, wait for the facts line …
//	err := s.Unchanged([]string{drives[0].Path}) // a read-only boot wrote nothing
//
// The recipes' facts (UUIDs, labels, VG and LV names, the passphrase, the key file) are
// fields and constants of this package; go run ./cmd/mkdisks -list prints them.
package builder
