package boot

import (
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// A root disk attached through the QEMU monitor 5 s after the init started waiting is found
// and booted, with rootwait and without it (within the default timeout).
func TestHotplugRoot(t *testing.T) {
	for _, c := range []struct {
		name, append string
		bus          string
	}{
		{"virtio-blk-rootwait", "rootwait", vm.BusVirtioBlk},
		{"virtio-blk-timeout", "", vm.BusVirtioBlk},
		{"scsi-hd-on-virtio-scsi", "rootwait", vm.BusVirtioSCSI},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(41)
			disk := wholeDisk(t, rootFS(t, "ext4", uuid, ""))
			cfg := vm.Config{Append: "root=UUID=" + uuid + " " + c.append, Monitor: true}
			if c.bus == vm.BusVirtioSCSI {
				// The controller is there from the start; the disk arrives on its bus.
				cfg.Drives = []vm.Drive{{Path: wholeDisk(t, &vm.FS{Type: "ext4", Label: "other"}), Bus: vm.BusVirtioSCSI}}
			}
			v := bootVM(t, cfg)
			expect(t, v, `waiting (up to \S+ )?for root=`, promptWait)
			time.Sleep(5 * time.Second)
			if err := v.Hotplug(vm.Drive{Path: disk, Bus: c.bus}); err != nil {
				t.Fatal(err)
			}
			f := facts(t, v)
			bootedOn(t, f, "", "ext4")
		})
	}
}
