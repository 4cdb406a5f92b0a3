package modload

import "slices"

// missingSoftdeps are soft dependencies that kernels' modules need but do not declare: a
// module whose init asks the kernel's crypto API for an algorithm that another module
// provides. Without the softdep, nothing loads the provider first, and the kernel runs
// the modprobe helper from inside the module's load (request_module) to find it; in the
// initramfs that is a process started on the boot's path, and an image made from the
// module's declared dependencies does not even carry the provider, so the helper finds
// nothing and the module falls back to its own code. Each entry applies only when the
// index has a module answering the soft dependency.
//
//   - crc64_rocksoft (kernels 5.19 to 6.13; t10-pi needs it, so every NVMe and SCSI disk
//     does) asks for the "crc64-rocksoft" algorithm of crc64_rocksoft_generic; its
//     softdep names crc64, which it also depends on.
var missingSoftdeps = []struct{ module, pre string }{
	{"crc64_rocksoft", "crypto-crc64-rocksoft"},
}

// addMissingSoftdeps adds missingSoftdeps to the modules of ix that lack them.
func (ix *Index) addMissingSoftdeps() {
	for _, q := range missingSoftdeps {
		i, ok := ix.find(q.module)
		if !ok || slices.Contains(ix.mods[i].pre, q.pre) {
			continue
		}
		if providers := ix.Resolve(q.pre); len(providers) == 0 || slices.Contains(providers, q.module) {
			continue
		}
		ix.mods[i].pre = append(slices.Clip(ix.mods[i].pre), q.pre)
	}
}
