package boot

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// The root is found by every kind of root= specification, on whole disks, GPT and MBR.
func TestRootSpecs(t *testing.T) {
	const (
		gptDisk  = "6d1f3c2a-8b4e-4f1a-9c3d-2e5f6a7b8c9d"
		partUUID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	)
	cases := []struct {
		name    string
		disks   func(t *testing.T) []vm.Drive
		append  string
		source  string
		fstype  string
		options []string
	}{
		{
			name: "uuid-ext4",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuidFor(51), "")), Bus: vm.BusVirtioBlk}}
			},
			append: "root=UUID=" + uuidFor(51), source: "/dev/vda", fstype: "ext4",
			options: []string{"ro"},
		},
		{
			name: "label-xfs",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{{Path: wholeDisk(t, rootFS(t, "xfs", "", "xfsroot")), Bus: vm.BusVirtioBlk}}
			},
			append: "root=LABEL=xfsroot", source: "/dev/vda", fstype: "xfs",
		},
		{
			name: "partuuid-gpt-btrfs",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{{Path: makeDisk(t, "gpt", vm.Disk{Table: "gpt", DiskID: gptDisk, Parts: []vm.Part{
					{SizeMB: 8, Name: "spare"},
					{FS: rootFS(t, "btrfs", "", "broot"), PartUUID: partUUID, Name: "root"},
				}}), Bus: vm.BusVirtioBlk}}
			},
			append: "root=PARTUUID=" + partUUID, source: "/dev/vda2", fstype: "btrfs",
		},
		{
			name: "partlabel-rw-noatime",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{{Path: makeDisk(t, "gpt", vm.Disk{Table: "gpt", Parts: []vm.Part{
					{FS: rootFS(t, "ext4", "", ""), Name: "my root"},
				}}), Bus: vm.BusVirtioBlk}}
			},
			append: `root="PARTLABEL=my root" rootflags=noatime rw`, source: "/dev/vda1", fstype: "ext4",
			options: []string{"rw", "noatime"},
		},
		{
			name: "mbr-partuuid",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{{Path: makeDisk(t, "mbr", vm.Disk{Table: "dos", DiskID: "0badc0de", Parts: []vm.Part{
					{SizeMB: 8}, {FS: rootFS(t, "ext4", "", "")},
				}}), Bus: vm.BusVirtioBlk}}
			},
			append: "root=PARTUUID=0badc0de-02", source: "/dev/vda2", fstype: "ext4",
		},
		{
			// A kernel name is only stable for a single disk per driver: sd probes its
			// disks asynchronously, so two SCSI disks may be named either way round. The
			// decoy disk is on virtio-blk.
			name: "dev-sda2",
			disks: func(t *testing.T) []vm.Drive {
				return []vm.Drive{
					{Path: wholeDisk(t, &vm.FS{Type: "ext4", Label: "first"}), Bus: vm.BusVirtioBlk},
					{Path: makeDisk(t, "second", vm.Disk{Table: "gpt", Parts: []vm.Part{
						{SizeMB: 8}, {FS: rootFS(t, "ext4", "", "")},
					}}), Bus: vm.BusVirtioSCSI},
				}
			},
			append: "root=/dev/sda2", source: "/dev/sda2", fstype: "ext4",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := bootVM(t, vm.Config{Append: c.append, Drives: c.disks(t)})
			f := facts(t, v)
			bootedOn(t, f, c.source, c.fstype)
			for _, o := range c.options {
				if !hasOption(f.RootOptions, o) {
					t.Errorf("root options %q lack %q", f.RootOptions, o)
				}
			}
		})
	}
}

// A root= that matches nothing ends in the rescue shell within the timeout, naming the spec
// and listing what was seen.
func TestRootNotFound(t *testing.T) {
	t.Parallel()
	disk := wholeDisk(t, rootFS(t, "ext4", uuidFor(52), "present"))
	v := bootVM(t, vm.Config{
		Append: "root=UUID=deadbeef-0000-4000-8000-000000000000 rd.timeout=5",
		Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `waiting up to 5s for root=`, promptWait)
	start := time.Now()
	expect(t, v, `the boot stopped: root device root=UUID=deadbeef-0000-4000-8000-000000000000 did not appear within 5s`, promptWait)
	expect(t, v, `/dev/vda .*ext4.*`+uuidFor(52)+`.*present`, 10*time.Second)
	expect(t, v, `earlyroot# `, 20*time.Second)
	// The timeout bounds the wait: the prompt follows it, not a later event (slack for TCG).
	if waited := time.Since(start); waited > 5*time.Second+15*time.Second {
		t.Errorf("rescue prompt %v after the wait began; rd.timeout=5", waited.Round(time.Second))
	}
}

// A host-only image booted where its root's controller is one it was not made for stops in
// the rescue shell naming the module that controller needs: the image lists the generic
// set's modules it was made without (modload.LeftOutFile).
func TestHostOnlyOtherController(t *testing.T) {
	t.Parallel()
	mounts := filepath.Join(t.TempDir(), "mounts")
	writeFile(t, mounts, "/dev/vda / ext4 rw,relatime 0 0\n")
	img := tb.image(t, "hostonly", "-hostonly", "-sysfs", fixture.QEMUSysfs(t), "-mounts", mounts)
	uuid := uuidFor(54)
	disk := wholeDisk(t, rootFS(t, "ext4", uuid, "moved"))
	v := bootVM(t, vm.Config{Initrd: img, Append: "root=UUID=" + uuid + " rd.timeout=5",
		Drives: []vm.Drive{{Path: disk, Bus: vm.BusLSI}}})
	expect(t, v, `the boot stopped: root device root=UUID=`+uuid+` did not appear within 5s`, promptWait)
	expect(t, v, `storage-bus devices with no module in this image`, 10*time.Second)
	expect(t, v, `pci:v00001000d00000012\S*: sym53c8xx, left out of this image`, 10*time.Second)
	expect(t, v, `earlyroot# `, 20*time.Second)
}

// root=/dev/disk/by-id/… works: the init makes the link before udev exists.
func TestRootByID(t *testing.T) {
	t.Parallel()
	disk := wholeDisk(t, rootFS(t, "ext4", uuidFor(53), ""))
	v := bootVM(t, vm.Config{
		Append: "root=/dev/disk/by-id/virtio-rootdisk",
		Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk, Serial: "rootdisk"}},
	})
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}
