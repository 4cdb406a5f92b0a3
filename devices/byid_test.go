package devices

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tarfixture "github.com/earlyroot/earlyroot/internal/fixture"
)

// Fixture devpaths (testdata/qemu/qemu-sysfs.tar.gz, see its README).
const (
	fxVirtio = "/devices/pci0000:00/0000:00:04.0/virtio0/block/vda"
	fxSCSI   = "/devices/pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:0"
	fxATA    = "/devices/pci0000:00/0000:00:06.0/ata1/host1/target1:0:0/1:0:0:0"
	fxUSB    = "/devices/pci0000:00/0000:00:08.0/usb2/2-1/2-1:1.0/host7/target7:0:0/7:0:0:0"
	fxNVMe   = "/devices/pci0000:00/0000:00:07.0/nvme/nvme0/nvme0n1"
)

// unpackSysfs unpacks the recorded QEMU sysfs (a subset of /sys/devices) into a temporary
// sysfs root.
func unpackSysfs(tb testing.TB) string { return tarfixture.QEMUSysfs(tb) }

// writeAttrs writes sysfs attribute files (devpath-relative paths).
func writeAttrs(t *testing.T, root string, attrs map[string]string) {
	t.Helper()
	for p, v := range attrs {
		name := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type linkCase struct {
	devpath string
	dev     Device
	want    []string
}

func checkLinks(t *testing.T, sysfs string, tests []linkCase) {
	t.Helper()
	for _, tt := range tests {
		got := DeviceLinks(sysfs, tt.devpath, tt.dev)
		if !slices.Equal(got, tt.want) {
			t.Errorf("DeviceLinks(%s)\n got %q\nwant %q", tt.devpath, got, tt.want)
		}
	}
}

func TestDeviceLinksFixture(t *testing.T) {
	sysfs := unpackSysfs(t)
	part := Device{Type: "partition"}
	checkLinks(t, sysfs, []linkCase{
		{fxVirtio, Device{}, []string{"by-path/pci-0000:00:04.0", "by-path/virtio-pci-0000:00:04.0"}},
		{fxVirtio + "/vda1", Device{}, []string{"by-path/pci-0000:00:04.0-part1", "by-path/virtio-pci-0000:00:04.0-part1"}},
		{fxVirtio + "/vda2", part, []string{"by-path/pci-0000:00:04.0-part2", "by-path/virtio-pci-0000:00:04.0-part2"}},
		{fxSCSI + "/block/sda", Device{}, []string{"by-path/pci-0000:00:05.0-scsi-0:0:0:0"}},
		{fxSCSI + "/block/sda/sda1", Device{}, []string{"by-path/pci-0000:00:05.0-scsi-0:0:0:0-part1"}},
		{fxATA + "/block/sdb", Device{}, []string{"by-path/pci-0000:00:06.0-ata-1.0"}},
		{fxATA + "/block/sdb/sdb1", Device{Type: "partition", PartN: 1}, []string{"by-path/pci-0000:00:06.0-ata-1.0-part1"}},
		{fxUSB + "/block/sdc", Device{}, []string{"by-path/pci-0000:00:08.0-usb-0:1:1.0-scsi-0:0:0:0"}},
		{fxUSB + "/block/sdc/sdc1", Device{}, []string{"by-path/pci-0000:00:08.0-usb-0:1:1.0-scsi-0:0:0:0-part1"}},
		// No nsid attribute in the fixture: no by-path rather than a guess.
		{fxNVMe, Device{}, nil},
		{fxNVMe + "/nvme0n1p1", Device{}, nil},
		// Not block devices of the persistent-storage rules, or bad paths.
		{"/devices/pci0000:00/0000:00:07.0/nvme/nvme0/ng0n1", Device{}, nil},
		{"/devices/../etc", Device{}, nil},
		{"/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/nonexistent1", part, nil},
	})
}

func TestDeviceLinksAttributes(t *testing.T) {
	sysfs := unpackSysfs(t)
	writeAttrs(t, sysfs, map[string]string{
		fxVirtio + "/serial":           "my serial/1\n",
		fxNVMe + "/nsid":               "1\n",
		fxNVMe + "/wwid":               "nvme.1b36-6465616462656566-51454d55204e564d65204374726c-00000001\n",
		fxNVMe + "/../model":           "QEMU NVMe Ctrl                          \n",
		fxNVMe + "/../serial":          "deadbeef            \n",
		"/class/ata_port/ata1/port_no": "3\n",
		fxATA + "/vendor":              "ATA     \n",
		fxATA + "/model":               "QEMU HARDDISK   \n",
		fxATA + "/vpd_pg80":            string(vpd80("QM00001             ")),
		fxATA + "/vpd_pg89":            string(vpd89("QEMU HARDDISK", "QM00001")),
		fxSCSI + "/vendor":             "QEMU    \n",
		fxSCSI + "/model":              "QEMU HARDDISK   \n",
		fxSCSI + "/vpd_pg83":           string(vpd83(desig(0, 2, []byte("drive-scsi0-0-0-0")))),
		fxUSB + "/vendor":              "QEMU    \n",
		fxUSB + "/model":               "QEMU HARDDISK   \n",
		fxUSB + "/vpd_pg80":            string(vpd80("1-0000:00:08.0-1")),
	})
	checkLinks(t, sysfs, []linkCase{
		{fxVirtio + "/vda2", Device{}, []string{
			"by-path/pci-0000:00:04.0-part2", "by-path/virtio-pci-0000:00:04.0-part2", "by-id/virtio-my_serial_1-part2"}},
		{fxNVMe, Device{}, []string{
			"by-path/pci-0000:00:07.0-nvme-1",
			"by-id/nvme-nvme.1b36-6465616462656566-51454d55204e564d65204374726c-00000001",
			"by-id/nvme-QEMU_NVMe_Ctrl_deadbeef"}},
		{fxNVMe + "/nvme0n1p1", Device{}, []string{
			"by-path/pci-0000:00:07.0-nvme-1-part1",
			"by-id/nvme-nvme.1b36-6465616462656566-51454d55204e564d65204374726c-00000001-part1",
			"by-id/nvme-QEMU_NVMe_Ctrl_deadbeef-part1"}},
		{fxATA + "/block/sdb/sdb1", Device{}, []string{
			"by-path/pci-0000:00:06.0-ata-3.0-part1",
			"by-id/ata-QEMU_HARDDISK_QM00001-part1",
			"by-id/scsi-SATA_QEMU_HARDDISK_QM00001-part1"}},
		{fxSCSI + "/block/sda", Device{}, []string{
			"by-path/pci-0000:00:05.0-scsi-0:0:0:0",
			"by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"}},
		// USB: udev's usb_id (or ata_id through a SAT bridge) is not reproduced.
		{fxUSB + "/block/sdc", Device{}, []string{"by-path/pci-0000:00:08.0-usb-0:1:1.0-scsi-0:0:0:0"}},
	})
}

// vpd80 builds a VPD page 0x80 (unit serial number).
func vpd80(serial string) []byte {
	return append([]byte{0, 0x80, 0, byte(len(serial))}, serial...)
}

// vpd83 builds a VPD page 0x83 from designators.
func vpd83(desigs ...[]byte) []byte {
	var body []byte
	for _, d := range desigs {
		body = append(body, d...)
	}
	return append([]byte{0, 0x83, 0, byte(len(body))}, body...)
}

// desig builds one designator: association 0, type typ, code set code.
func desig(typ, code byte, v []byte) []byte {
	return append([]byte{code, typ, 0, byte(len(v))}, v...)
}

// vpd89 builds a VPD page 0x89 (ATA information) whose IDENTIFY data
// carries model and serial.
func vpd89(model, serial string) []byte {
	pg := make([]byte, 60+512)
	pg[1], pg[2], pg[3] = 0x89, 0x02, 0x38
	id := pg[60:]
	putATAString(id, 10, 20, serial)
	putATAString(id, 27, 40, model)
	return pg
}

// putATAString stores s space-padded to n bytes at word w, high byte first.
func putATAString(id []byte, w, n int, s string) {
	b := []byte(s + strings.Repeat(" ", n-len(s)))
	for i := 0; i < n; i += 2 {
		id[2*w+i], id[2*w+i+1] = b[i+1], b[i]
	}
}

func TestDeviceLinksSynthetic(t *testing.T) {
	const (
		pci  = "/devices/pci0000:00/0000:00:10.0"
		host = pci + "/host4"
		dev  = host + "/target4:0:1/4:0:1:2"
	)
	tests := []struct {
		name  string
		attrs map[string]string
		want  []string
	}{
		{"naa wins over vendor specific", map[string]string{
			dev + "/vpd_pg83": string(vpd83(desig(0, 2, []byte("x")), desig(3, 1, []byte{0x60, 0x0c, 0x29, 0xab}))),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/scsi-3600c29ab"}},
		{"extended naa first", map[string]string{
			dev + "/vpd_pg83": string(vpd83(desig(3, 1, []byte{0x50, 1}), desig(3, 1, []byte{0x60, 2}))),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/scsi-36002"}},
		{"t10 ascii", map[string]string{
			dev + "/vpd_pg83": string(vpd83(desig(1, 2, []byte("ACME    Disk  42")))),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/scsi-1ACME_Disk_42"}},
		{"target port designators ignored, page 0x80 used", map[string]string{
			dev + "/vpd_pg83": string(vpd83(append([]byte{1, 0x13, 0, 2}, 9, 9))),
			dev + "/vpd_pg80": string(vpd80("  SN 7 ")),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/scsi-SACME_Disk_SN_7"}},
		{"no vpd pages", nil, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2"}},
		{"ata with a cut model and no page 0x89", map[string]string{
			dev + "/vendor":   "ATA     \n",
			dev + "/model":    "Samsung SSD 860 \n",
			dev + "/vpd_pg80": string(vpd80("S3Z9NB0K123456A     ")),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/scsi-SATA_Samsung_SSD_860_S3Z9NB0K123456A"}},
		{"ata short model, page 0x80 only", map[string]string{
			dev + "/vendor":   "ATA     \n",
			dev + "/model":    "ST500 X         \n",
			dev + "/vpd_pg80": string(vpd80("Z1  ")),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/ata-ST500_X_Z1", "by-id/scsi-SATA_ST500_X_Z1"}},
		{"ata long model from page 0x89", map[string]string{
			dev + "/vendor":   "ATA     \n",
			dev + "/model":    "Samsung SSD 860 \n",
			dev + "/vpd_pg89": string(vpd89("Samsung SSD 860 EVO 500GB", "S3Z9NB0K123456A")),
		}, []string{"by-path/pci-0000:00:10.0-scsi-0:0:1:2", "by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456A"}},
		{"fibre channel path not derived", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			d := dev
			if strings.HasPrefix(tt.name, "fibre") {
				d = host + "/rport-4:0-0/target4:0:1/4:0:1:2"
				mkSysDev(t, root, host+"/rport-4:0-0", "fc_remote_ports", "")
			}
			mkSysDev(t, root, pci, "pci", "")
			mkSysDev(t, root, host, "scsi", "scsi_host")
			mkSysDev(t, root, d[:strings.LastIndexByte(d, '/')], "scsi", "scsi_target")
			mkSysDev(t, root, d, "scsi", "scsi_device")
			mkSysDev(t, root, d+"/block/sdd", "block", "disk")
			writeAttrs(t, root, map[string]string{d + "/vendor": "ACME    \n", d + "/model": "Disk            \n"})
			attrs := map[string]string{}
			for k, v := range tt.attrs {
				attrs[strings.Replace(k, dev, d, 1)] = v
			}
			writeAttrs(t, root, attrs)
			checkLinks(t, root, []linkCase{{d + "/block/sdd", Device{}, tt.want}})
		})
	}
}

// mkSysDev creates a device directory with a subsystem link and uevent.
func mkSysDev(t *testing.T, root, devpath, subsystem, devtype string) {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(devpath))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../bus/"+subsystem, filepath.Join(dir, "subsystem")); err != nil {
		t.Fatal(err)
	}
	ue := ""
	if devtype != "" {
		ue = "DEVTYPE=" + devtype + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "uevent"), []byte(ue), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLinkIDs(t *testing.T) {
	sysfs := unpackSysfs(t)
	writeAttrs(t, sysfs, map[string]string{fxVirtio + "/serial": "disk-1\n"})
	dev := t.TempDir()
	r := NewRegistry(dev)
	d := Device{Name: "vda2", Type: "partition", PartN: 2}
	for range 2 { // the second run replaces existing links
		if err := r.LinkIDs(sysfs, fxVirtio+"/vda2", d); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{
		"by-path/pci-0000:00:04.0-part2", "by-path/virtio-pci-0000:00:04.0-part2", "by-id/virtio-disk-1-part2",
	} {
		got, err := os.Readlink(filepath.Join(dev, "disk", filepath.FromSlash(l)))
		if err != nil || got != "../../vda2" {
			t.Errorf("%s -> %q, %v; want ../../vda2", l, got, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dev, "disk", "by-id"))
	if len(ents) != 1 {
		t.Errorf("by-id holds %d entries, want 1 (no temporary leftovers)", len(ents))
	}
	if err := r.LinkIDs(sysfs, fxVirtio, Device{Name: "../vda"}); err == nil {
		t.Error("LinkIDs accepted a name outside the device directory")
	}
}

func TestSanitizeID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"QEMU NVMe Ctrl  ", "QEMU_NVMe_Ctrl"},
		{"  lead", "__lead"},
		{"a/b\\c\"d$e", "a_b_c_d_e"},
		{"ümlaut\xff", "ümlaut_"},
		{"#+-.:=@_", "#+-.:=@_"},
		{"..", ""},
	} {
		if got := sanitizeID(tt.in); got != tt.want {
			t.Errorf("sanitizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := compactID(" a  b\tc \x00 d"); got != "a_b_c" {
		t.Errorf("compactID = %q", got)
	}
}

// FuzzVPD feeds arbitrary VPD pages to the page parsers.
func FuzzVPD(f *testing.F) {
	f.Add(vpd80("QM00001"))
	f.Add(vpd83(desig(0, 2, []byte("drive-scsi0-0-0-0")), desig(3, 1, []byte{0x60, 1, 2})))
	f.Add(vpd89("QEMU HARDDISK", "QM00001"))
	f.Add([]byte{0, 0x83, 0, 0xff, 1, 3, 0, 0xff})
	f.Fuzz(func(t *testing.T, pg []byte) {
		vpdSerial(pg)
		if id, ok := page83ID(pg, "V", "M"); ok && id == "" {
			t.Error("page83ID reported an empty id")
		}
		if len(pg) >= 512 {
			ataString(pg[:512], 10, 19)
			ataString(pg[:512], 27, 46)
		}
		if s := sanitizeID(compactID(string(pg))); strings.ContainsAny(s, "/ \x00") {
			t.Errorf("unsafe link name %q", s)
		}
	})
}

func TestDeviceLinksMMC(t *testing.T) {
	root := t.TempDir()
	const host = "/devices/platform/fe340000.mmc"
	mkSysDev(t, root, host, "platform", "")
	mkSysDev(t, root, host+"/mmc_host/mmc0", "mmc_host", "")
	mkSysDev(t, root, host+"/mmc_host/mmc0/mmc0:0001", "mmc", "")
	blk := host + "/mmc_host/mmc0/mmc0:0001/block/mmcblk0"
	mkSysDev(t, root, blk, "block", "disk")
	mkSysDev(t, root, blk+"/mmcblk0p3", "block", "partition")
	checkLinks(t, root, []linkCase{
		{blk, Device{}, []string{"by-path/platform-fe340000.mmc"}},
		{blk + "/mmcblk0p3", Device{PartN: 3}, []string{"by-path/platform-fe340000.mmc-part3"}},
		{host + "/mmc_host/mmc0/mmc0:0001/block/mmcblk0boot1", Device{}, []string{"by-path/platform-fe340000.mmc-boot1"}},
	})
}
