package boot

import (
	"testing"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// matrix is every storage controller QEMU emulates that a generic image must boot from, with
// the device node the kernel gives the root disk behind it. README.md's "Tested hardware"
// table lists the same rows (checked by internal/vm's TestReadmeListsBuses).
var matrix = []struct {
	bus, device string
}{
	{vm.BusVirtioBlk, "/dev/vda"},
	{vm.BusVirtioSCSI, "/dev/sda"},
	{vm.BusAHCI, "/dev/sda"},
	{vm.BusIDE, "/dev/sda"},
	{vm.BusNVMe, "/dev/nvme0n1"},
	{vm.BusUSBStorage, "/dev/sda"},
	{vm.BusUSBUAS, "/dev/sda"},
	{vm.BusLSI, "/dev/sda"},
	{vm.BusMegasas, "/dev/sda"},
	{vm.BusMPTSAS, "/dev/sda"},
	{vm.BusAM53C974, "/dev/sda"},
}

// Every controller boots the generic image with no module named on the command line.
func TestHardwareMatrix(t *testing.T) {
	tested := map[string]bool{}
	for _, row := range matrix {
		tested[row.bus] = true
	}
	for _, bus := range vm.Buses {
		if !tested[bus] {
			t.Errorf("bus %s has no row in the hardware matrix", bus)
		}
	}
	for i, row := range matrix {
		t.Run(row.bus, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(900 + i)
			v := bootVM(t, vm.Config{
				Append: "root=UUID=" + uuid,
				Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "")), Bus: row.bus, Serial: "root"}},
			})
			bootedOn(t, facts(t, v), row.device, "ext4")
			noModprobeStarts(t, v)
		})
	}
}

// Two disks, the root on the second: the first is probed and passed over.
func TestRootOnSecondDisk(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(950)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid,
		Drives: []vm.Drive{
			{Path: wholeDisk(t, rootFS(t, "ext4", uuidFor(951), "decoy")), Bus: vm.BusVirtioBlk},
			{Path: makeDisk(t, "second", vm.Disk{Table: "gpt", Parts: []vm.Part{{FS: rootFS(t, "xfs", uuid, "")}}}), Bus: vm.BusVirtioBlk},
		},
	})
	bootedOn(t, facts(t, v), "", "xfs") // the partition of whichever disk the kernel named second
}
