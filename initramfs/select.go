package initramfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ModuleFile is one module file found in a module tree.
type ModuleFile struct {
	Name string // normalised with '_' ("virtio_blk")
	Path string // relative to the module dir ("kernel/drivers/block/virtio_blk.ko")
	Size int64
}

// moduleExts are the module file suffixes, longest first.
var moduleExts = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// ModuleName returns the normalised module name of a module file path
// ("kernel/fs/nls/nls_iso8859-1.ko.xz" → "nls_iso8859_1") and whether the
// path names a module file at all.
func ModuleName(p string) (string, bool) {
	base := baseName(p)
	for _, ext := range moduleExts {
		if strings.HasSuffix(base, ext) && len(base) > len(ext) {
			return NormName(strings.TrimSuffix(base, ext)), true
		}
	}
	return "", false
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// NormName normalises a module name: '-' becomes '_'.
func NormName(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ScanModules lists every module file under moddir, sorted by path. When
// a module name occurs twice (e.g. under updates/ and kernel/), the first
// path in sort order wins, as kmod's search order would mostly pick.
func ScanModules(moddir string) ([]ModuleFile, error) {
	fi, err := os.Stat(moddir)
	if err != nil {
		return nil, fmt.Errorf("module tree: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("module tree %s: not a directory", moddir)
	}
	var mods []ModuleFile
	seen := map[string]bool{}
	err = filepath.WalkDir(moddir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan module tree: %w", err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		name, ok := ModuleName(d.Name())
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(moddir, p)
		if err != nil {
			return fmt.Errorf("scan module tree: %w", err)
		}
		if seen[name] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("scan module tree: %w", err)
		}
		seen[name] = true
		mods = append(mods, ModuleFile{Name: name, Path: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("module tree %s: no modules found", moddir)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

// Selection describes a set of modules as data: every module whose path
// (relative to the module dir, without the leading "kernel/") starts with
// one of Prefixes and with none of Exclude, plus the modules named in Names.
// Names missing from the tree are ignored (they may be built in).
type Selection struct {
	Prefixes []string
	Exclude  []string
	Names    []string
}

// GenericSelection is the default, host-independent selection, and the one
// place that says what a generic image holds: every block, SCSI, SATA/PATA,
// NVMe, virtio, MMC, USB storage and FireWire disk controller with its bus's
// host controllers (FC and SAS HBAs included), device mapper and MD RAID,
// the root filesystems with the NLS tables vfat needs, the crypto and
// checksum modules the filesystems and dm-crypt load by softdep or by name,
// and the keyboards a LUKS passphrase is typed on that the kernel does not
// drive itself (its own PS/2 keyboard): USB and I2C HID with the generic
// HID driver and the vendor drivers of common keyboards and receivers, and
// Hyper-V's virtual keyboard (other HID devices are the real system's).
//
// Exclude leaves out what no root the init can reach needs, even under a
// storage directory: network and test block devices, SCSI over the network
// (iSCSI, FCoE, SRP), SCSI generic and enclosure services, tape and
// changers, target mode, debug modules, and the layers the init never
// assembles (bcache, which needs userspace registration; dm targets that no
// LUKS or LVM plan of the init makes: cache, era, integrity (a LUKS2
// integrity segment is refused), writecache, zoned, verity, VDO, multipath with
// its path selectors, mirror and its log; loop and overlay roots). Nothing
// outside storage comes in, unless a selected module depends on it.
// It leaves out the legacy host adapters too ([LegacySelection]), which an
// image gets only when asked.
// (A Closure over dependencies and softdeps is added by the caller.)
func GenericSelection() Selection {
	return Selection{
		Prefixes: []string{
			"drivers/block/",
			"drivers/scsi/",
			"drivers/ata/",
			"drivers/nvme/host/",
			"drivers/virtio/",
			"drivers/mmc/",
			"drivers/usb/storage/",
			"drivers/usb/host/",
			"drivers/usb/core/",
			"drivers/usb/common/",
			"drivers/md/",
			"drivers/message/fusion/",
			"drivers/cdrom/",
			"drivers/hv/",
			"drivers/firewire/firewire-ohci",
			"drivers/firewire/firewire-sbp2",
			"fs/ext4/", "fs/jbd2/", "fs/mbcache",
			"fs/xfs/", "fs/btrfs/", "fs/f2fs/", "fs/fat/",
			"fs/isofs/", "fs/udf/", "fs/squashfs/", "fs/erofs/",
			"arch/x86/crypto/crc32",
			"arch/x86/crypto/crct10dif",
			"arch/x86/crypto/aesni",
			"arch/x86/crypto/sha256",
			"arch/x86/crypto/sha512",
			"arch/x86/crypto/blake2",
			"arch/x86/crypto/serpent", "arch/x86/crypto/twofish", "arch/x86/crypto/sha1",
			"lib/raid6/",
		},
		Exclude: append([]string{
			// network block devices, test, RAM- and file-backed devices
			"drivers/block/aoe/", "drivers/block/drbd/", "drivers/block/rbd", "drivers/block/nbd",
			"drivers/block/null_blk/", "drivers/block/zram/", "drivers/block/brd",
			"drivers/block/xen-blkback/", "drivers/block/floppy", "drivers/block/loop",
			// SCSI over network and converged NICs (pull in network drivers)
			"drivers/scsi/fcoe/", "drivers/scsi/bnx2fc/", "drivers/scsi/bnx2i/",
			"drivers/scsi/qedf/", "drivers/scsi/qedi/", "drivers/scsi/be2iscsi/",
			"drivers/scsi/cxgbi/", "drivers/scsi/csiostor/", "drivers/scsi/fnic/",
			"drivers/scsi/libfc/", "drivers/scsi/iscsi_tcp", "drivers/scsi/libiscsi_tcp",
			"drivers/scsi/qla4xxx/", "drivers/scsi/libiscsi", "drivers/scsi/scsi_transport_iscsi",
			"drivers/scsi/iscsi_boot_sysfs", "drivers/scsi/scsi_transport_srp",
			// tape, changer, SCSI generic, enclosure services, debug, pcmcia
			"drivers/scsi/st.ko", "drivers/scsi/ch.ko", "drivers/scsi/sg.ko", "drivers/scsi/ses.ko",
			"drivers/scsi/scsi_debug",
			"drivers/scsi/pcmcia/",
			"drivers/nvme/host/nvme-rdma", "drivers/nvme/host/nvme-tcp",
			"drivers/virtio/virtio_input", "drivers/virtio/virtio_balloon", "drivers/virtio/virtio_mem",
			"drivers/mmc/core/sdio_uart",
			"drivers/md/md-cluster", "drivers/md/faulty",
			"drivers/md/dm-flakey", "drivers/md/dm-delay", "drivers/md/dm-dust", "drivers/md/dm-log-writes",
			// layers and dm targets the init never sets up (see above)
			"drivers/md/bcache/", "drivers/md/dm-cache", "drivers/md/dm-era", "drivers/md/dm-integrity",
			"drivers/md/dm-writecache", "drivers/md/dm-zoned", "drivers/md/dm-verity", "drivers/md/dm-vdo/",
			"drivers/md/dm-switch", "drivers/md/dm-unstripe", "drivers/md/dm-ebs", "drivers/md/dm-clone",
			"drivers/md/dm-multipath", "drivers/md/dm-queue-length", "drivers/md/dm-round-robin",
			"drivers/md/dm-service-time", "drivers/md/dm-historical-service-time",
			"drivers/md/dm-io-affinity", "drivers/md/dm-mirror", "drivers/md/dm-log",
			"drivers/md/dm-region-hash",
			"drivers/usb/host/sl811", "drivers/usb/host/u132", "drivers/usb/core/ledtrig",
			// PCMCIA cards, SCSI target mode
			"drivers/ata/pata_pcmcia", "drivers/mmc/host/sdricoh_cs",
			"drivers/scsi/qla2xxx/tcm_qla2xxx",
			"drivers/hv/hv_balloon", "drivers/hv/hv_utils",
			"drivers/message/fusion/mptlan", "drivers/message/fusion/mptctl",
		}, legacyControllers...),
		Names: []string{
			"nls_cp437", "nls_iso8859_1", "nls_utf8", "nls_ascii",
			"crc32c_generic", "crc32c_intel", "libcrc32c", "crc32_generic", "crc32_pclmul",
			"crct10dif_generic", "crct10dif_pclmul", "crc_t10dif", "crc64_rocksoft",
			"xxhash_generic", "blake2b_generic", "sha256_generic", "sha512_generic",
			"aes_generic", "aesni_intel", "xts", "essiv", "cbc", "ecb", "ctr", "gcm",
			"hmac", "authenc", "dm_crypt", "dm_mod", "dm_raid", "md_mod",
			// LUKS: keyslots are decrypted through AF_ALG, and the volume ciphers the
			// kernel requests as crypto-* when a table or keyslot names them.
			"af_alg", "algif_skcipher", "sha1_generic", "serpent_generic",
			"twofish_generic", "twofish_common",
			"raid0", "raid1", "raid10", "raid456", "linear",
			"zstd_decompress", "lz4_decompress", "lzo_decompress", "zlib_inflate",
			"vfat",
			// keyboards for the passphrase prompt
			"hid", "hid_generic", "usbhid", "i2c_hid", "i2c_hid_acpi", "hyperv_keyboard",
			"hid_apple", "hid_cherry", "hid_chicony", "hid_lenovo", "hid_logitech_dj",
			"hid_logitech_hidpp", "hid_microsoft", "hid_multitouch",
		},
	}
}

// legacyControllers are the storage directories' host adapters of the 1990s
// and early 2000s: parallel-SCSI adapters and the SCSI and PATA RAID cards
// of their time. No hypervisor emulates them (the parallel-SCSI adapters VMs
// have, QEMU's LSI and AM53C974 and VMware's BusLogic and LSI Logic, stay in
// the generic set) and their machines are long out of service, so the
// generic image, which every boot unpacks, is smaller without them; a
// machine that has one gets a host-only image, or -legacyhba.
var legacyControllers = []string{
	// parallel-SCSI host adapters
	"drivers/scsi/aic7xxx/", "drivers/scsi/advansys.ko", "drivers/scsi/dc395x.ko",
	"drivers/scsi/initio.ko", "drivers/scsi/a100u2w.ko", "drivers/scsi/atp870u.ko",
	"drivers/scsi/dmx3191d.ko", "drivers/scsi/wd719x.ko", "drivers/scsi/qla1280.ko",
	"drivers/scsi/qlogicfas408.ko",
	// SCSI and PATA RAID cards of the same era
	"drivers/scsi/ips.ko", "drivers/scsi/myrb.ko", "drivers/scsi/myrs.ko",
	"drivers/scsi/megaraid.ko", "drivers/scsi/megaraid/megaraid_mbox.ko",
	"drivers/scsi/megaraid/megaraid_mm.ko", "drivers/scsi/3w-xxxx.ko",
}

// LegacySelection selects the legacy host adapters that [GenericSelection]
// leaves out (Config.LegacyHBAs adds them to a generic image).
func LegacySelection() Selection {
	return Selection{Prefixes: slices.Clone(legacyControllers)}
}

// Match returns the names of the modules in mods that sel selects, sorted.
func (sel Selection) Match(mods []ModuleFile) []string {
	names := map[string]bool{}
	have := map[string]bool{}
	for _, m := range mods {
		have[m.Name] = true
		if sel.matchPath(strings.TrimPrefix(m.Path, "kernel/")) {
			names[m.Name] = true
		}
	}
	for _, n := range sel.Names {
		if n = NormName(n); have[n] {
			names[n] = true
		}
	}
	return sortedKeys(names)
}

func (sel Selection) matchPath(p string) bool {
	for _, x := range sel.Exclude {
		if strings.HasPrefix(p, x) {
			return false
		}
	}
	for _, pre := range sel.Prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
