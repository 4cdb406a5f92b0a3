package initramfs_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
	"github.com/earlyroot/earlyroot/modload"
)

// matrixDrivers is the driver chain of each controller of the QEMU hardware
// matrix (internal/vm's buses, booted by tests/boot), as the README's table
// gives it.
var matrixDrivers = map[string][]string{
	vm.BusVirtioBlk:  {"virtio_pci", "virtio_blk"},
	vm.BusVirtioSCSI: {"virtio_pci", "virtio_scsi", "sd_mod"},
	vm.BusAHCI:       {"ahci", "libahci", "libata", "sd_mod"},
	vm.BusIDE:        {"ata_piix", "libata", "sd_mod"},
	vm.BusNVMe:       {"nvme", "nvme_core"},
	vm.BusUSBStorage: {"xhci_pci", "xhci_hcd", "usb_storage", "sd_mod"},
	vm.BusUSBUAS:     {"xhci_pci", "xhci_hcd", "uas", "sd_mod"},
	vm.BusLSI:        {"sym53c8xx", "sd_mod"},
	vm.BusMegasas:    {"megaraid_sas", "sd_mod"},
	vm.BusMPTSAS:     {"mptsas", "mptscsih", "mptbase", "sd_mod"},
	vm.BusAM53C974:   {"am53c974", "esp_scsi", "sd_mod"},
}

// TestGenericSetDebian checks, on the Debian test kernel, what the generic
// image keeps and what it drops, after the closure over dependencies and
// softdeps: a kept module here is a root the image can reach, a dropped one
// is space no root needs.
func TestGenericSetDebian(t *testing.T) {
	ix, names, in := genericSet(t, fixture.NeedKernel(t))

	for _, bus := range vm.Buses {
		chain, ok := matrixDrivers[bus]
		if !ok {
			t.Errorf("bus %q of the hardware matrix has no driver chain in this test", bus)
		}
		for _, m := range chain {
			if !in[m] {
				t.Errorf("matrix bus %s: generic set lacks %s", bus, m)
			}
		}
	}

	checkKept(t, ix, in, []keptCase{
		{"FC HBAs", true, []string{"lpfc", "qla2xxx", "bfa", "mptfc", "scsi_transport_fc"}},
		{"SAS and RAID HBAs", true, []string{"mpt3sas", "mpi3mr", "megaraid_sas", "pm80xx", "isci", "aic94xx",
			"mvsas", "hpsa", "smartpqi", "aacraid", "arcmsr", "mptspi", "3w_sas", "ipr"}},
		{"other disk controllers", true, []string{"sr_mod", "mmc_block", "sdhci_pci", "ehci_pci", "ohci_pci",
			"uhci_hcd", "vmw_pvscsi", "hv_storvsc", "xen_blkfront", "xen_scsifront", "firewire_sbp2", "sata_nv", "pata_via"}},
		{"SCSI device handlers the kernel asks for", true, []string{"scsi_dh_alua", "scsi_dh_rdac"}},
		{"device mapper of LUKS and LVM plans", true, []string{"dm_mod", "dm_crypt", "dm_raid", "dm_snapshot",
			"dm_thin_pool", "dm_zero"}},
		{"MD RAID", true, []string{"md_mod", "raid0", "raid1", "raid10", "raid456", "linear"}},
		{"LUKS keyslots and ciphers", true, []string{"af_alg", "algif_skcipher", "aesni_intel", "xts", "essiv",
			"serpent_generic", "twofish_generic", "sha256_ssse3", "sha512_generic"}},
		{"root filesystems", true, []string{"ext4", "xfs", "btrfs", "f2fs", "vfat", "isofs", "udf", "squashfs", "erofs"}},
		{"keyboards for the passphrase prompt", true, []string{"usbhid", "hid_generic", "hid", "i2c_hid_acpi",
			"hyperv_keyboard", "hid_logitech_dj", "hid_apple"}},
		{"filesystem checksums and NLS", true, []string{"crc32c_generic", "crc32c_intel", "libcrc32c", "xxhash_generic",
			"blake2b_generic", "nls_cp437", "nls_iso8859_1", "nls_utf8"}},

		{"not storage", false, []string{"snd_hda_intel", "e1000", "e1000e", "virtio_net", "i915", "amdgpu"}},
		{"HID devices that are not keyboards", false, []string{"hid_sony", "hid_wiimote", "hid_sensor_hub", "wacom", "hid_logitech"}},
		{"network, RAM, file and test block devices", false, []string{"nbd", "loop", "floppy", "brd", "zram", "null_blk"}},
		{"SCSI over the network", false, []string{"libiscsi", "scsi_transport_iscsi", "iscsi_tcp", "iscsi_boot_sysfs",
			"scsi_transport_srp", "libfcoe", "fcoe", "qla4xxx", "bnx2fc"}},
		{"not a disk: SCSI generic, enclosures, tape, debug", false, []string{"sg", "ses", "enclosure", "st", "ch", "scsi_debug"}},
		{"layers the init never assembles", false, []string{"bcache", "dm_cache", "dm_cache_smq", "dm_era",
			"dm_integrity", "dm_writecache", "dm_zoned", "dm_verity", "dm_multipath", "dm_round_robin", "dm_mirror",
			"dm_log", "dm_region_hash", "dm_switch", "dm_unstripe", "dm_flakey", "dm_delay", "md_cluster"}},
		{"no root on them", false, []string{"overlay", "efivarfs", "mspro_block", "memstick"}},
		{"target mode", false, []string{"tcm_qla2xxx", "nvmet_tcp", "nvmet_rdma"}},
		{"legacy host adapters (-legacyhba)", false, legacyHBAs},
		{"parallel-SCSI adapters that hypervisors emulate", true, []string{"sym53c8xx", "am53c974", "BusLogic",
			"mptspi", "scsi_transport_spi"}},
	})

	paths := map[string]string{}
	for _, n := range names {
		if m, ok := ix.Module(n); ok {
			paths[n] = strings.TrimPrefix(m.Path, "kernel/")
		}
	}
	for _, n := range names {
		for _, pre := range []string{"sound/", "net/", "drivers/net/", "drivers/gpu/", "drivers/media/",
			"drivers/infiniband/", "drivers/usb/gadget/", "drivers/memstick/"} {
			if strings.HasPrefix(paths[n], pre) {
				t.Errorf("generic set has %s (%s)", n, paths[n])
			}
		}
	}
	t.Logf("generic set: %d modules", len(names))
}

// legacyHBAs are the legacy host adapters a generic image leaves out unless
// asked (initramfs.LegacySelection).
var legacyHBAs = []string{"aic7xxx", "aic79xx", "advansys", "dc395x", "initio", "a100u2w", "atp870u",
	"dmx3191d", "wd719x", "qla1280", "qlogicfas408", "ips", "myrb", "myrs", "megaraid", "megaraid_mbox",
	"megaraid_mm", "3w_xxxx"}

// TestGenericSetLegacyHBAs checks that Config.LegacyHBAs adds exactly the
// legacy host adapters to the generic set.
func TestGenericSetLegacyHBAs(t *testing.T) {
	k := fixture.NeedKernel(t)
	ix, names, _ := genericSet(t, k)
	legacy := selectGeneric(t, k, ix, initramfs.Config{LegacyHBAs: true})
	var added []string
	for n := range legacy {
		if !slices.Contains(names, n) {
			added = append(added, n)
		}
	}
	slices.Sort(added)
	var want []string // the adapters and what they need that the generic set has not (eeprom_93cx6)
	for _, n := range ix.Closure(legacyHBAs) {
		if !slices.Contains(names, n) {
			want = append(want, n)
		}
	}
	for _, n := range legacyHBAs {
		if !slices.Contains(want, n) {
			t.Errorf("the tree has no %s, or the generic set has it", n)
		}
	}
	if !slices.Equal(added, want) {
		t.Errorf("LegacyHBAs added %q, want %q", added, want)
	}
	if len(legacy) != len(names)+len(want) {
		t.Errorf("LegacyHBAs: %d modules, want the %d of the generic set and %d more", len(legacy), len(names), len(want))
	}
}

// TestGenericSetSecondKernel checks the generic set on Debian 13's tree (merged /usr,
// every module .ko.xz): the matrix's controllers and the FC HBAs kept, and VDO
// (drivers/md/dm-vdo/, since 6.9), which no LVM plan of the init makes, left out.
func TestGenericSetSecondKernel(t *testing.T) {
	ix, _, in := genericSet(t, fixture.NeedSecondKernel(t))
	checkKept(t, ix, in, []keptCase{
		{"matrix controllers", true, []string{"virtio_blk", "virtio_scsi", "ahci", "ata_piix", "nvme", "uas",
			"sym53c8xx", "megaraid_sas", "mptsas", "am53c974"}},
		{"FC HBAs", true, []string{"lpfc", "qla2xxx", "bfa"}},
		{"device mapper of LUKS and LVM plans", true, []string{"dm_mod", "dm_crypt", "dm_thin_pool", "dm_raid"}},
		{"layers the init never assembles", false, []string{"dm_vdo", "dm_integrity", "bcache"}},
	})
}

// genericSet selects the generic image's modules from k's tree.
func genericSet(t *testing.T, k fixture.Kernel) (*modload.Index, []string, map[string]bool) {
	t.Helper()
	ix, err := modload.Build(k.ModDir)
	if err != nil {
		t.Fatal(err)
	}
	in := selectGeneric(t, k, ix, initramfs.Config{})
	names := slices.Sorted(maps.Keys(in))
	return ix, names, in
}

// selectGeneric selects the modules of an image made with cfg (for k's tree and ix) as a set.
func selectGeneric(t *testing.T, k fixture.Kernel, ix *modload.Index, cfg initramfs.Config) map[string]bool {
	t.Helper()
	cfg.Init = filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(cfg.Init, []byte("\x7fELF stand-in init\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.KernelVersion, cfg.ModDir, cfg.Index = k.Release, k.ModDir, ix
	names, warnings, err := initramfs.Select(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	return in
}

// keptCase is a row of modules the generic set must keep, or leave out.
type keptCase struct {
	why     string
	keep    bool
	modules []string
}

func checkKept(t *testing.T, ix *modload.Index, in map[string]bool, cases []keptCase) {
	t.Helper()
	for _, c := range cases {
		for _, m := range c.modules {
			if _, ok := ix.Module(m); !ok {
				t.Errorf("%s: %s is not a module of the tree; the row proves nothing", c.why, m)
			}
			if in[m] != c.keep {
				t.Errorf("%s: %s in the generic set = %v, want %v", c.why, m, in[m], c.keep)
			}
		}
	}
}
