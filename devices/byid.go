package devices

// /dev/disk/by-path and /dev/disk/by-id names, derived from sysfs the way
// udev's 60-persistent-storage.rules, path_id, ata_id and scsi_id derive
// them, for the common cases and only where every ingredient is readable
// from sysfs.
//
// by-path follows path_id: walking from the disk up its devpath, a
// scsi_device adds "scsi-H:C:T:L" (H rebased to the lowest hostN under the
// same parent) or, below an "ataN" port, "ata-P.T" ("ata-P.B.0" behind a
// port multiplier; P is the ata_port's port_no, falling back to N); a
// firewire SCSI device "ieee1394-0xID"; a USB interface or device
// "usb-0:PORTS:CONFIG.IFACE"; an NVMe controller "nvme-NSID" (the disk's
// nsid attribute); the nearest PCI device "pci-ADDR"; platform, acpi and
// xen devices "SUBSYS-NAME". A run of devices of one subsystem contributes
// once. Like path_id, nothing is returned without a known parent (pci,
// platform, acpi, xen, firewire) and a known transport (scsi, usb, virtio,
// nvme, platform), nor for devices under /devices/virtual. Virtio disks
// also get the legacy "virtio-pci-ADDR" link. Not done: Fibre Channel,
// SAS, iSCSI and Hyper-V SCSI paths (no link rather than a wrong one), the
// older "ata-P" compat form, "usbvN-" revision links, cciss, bcma, serio,
// s390 buses, nvme multipath heads (under /devices/virtual).
//
// by-id follows the rules for vd* ("virtio-SERIAL"), nvme* ("nvme-WWID",
// "nvme-MODEL_SERIAL"), ATA disks ("ata-MODEL_SERIAL" as ata_id makes it,
// from the IDENTIFY data in VPD page 0x89, or else the INQUIRY model when
// it cannot have been cut at 16 bytes plus the serial in VPD page 0x80, and the
// "scsi-SATA_MODEL_SERIAL" compat link from page 0x80) and other SCSI disks
// ("scsi-ID" as scsi_id makes it from VPD page 0x83, else "scsi-S..." from
// page 0x80). Not done: USB (usb_id, or ata_id through SAT bridges), CD-ROMs,
// "wwn-" links, "nvme-..._NSID" links, mmc/memstick/dasd/xen ids, and
// pre-SPC-3 page 0x83 layouts. Unsafe characters become '_' as udev's
// character replacement does ('/' included, where udev would sometimes
// make a subdirectory).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/earlyroot/earlyroot/mount"
)

// maxAttr bounds every sysfs read (VPD pages are at most 64 KiB + header).
const maxAttr = 1 << 17

// DeviceLinks returns the by-id and by-path link names (relative to
// /dev/disk, e.g. "by-path/pci-0000:00:04.0-scsi-0:0:0:0-part2",
// "by-id/virtio-myserial-part2") for the block device at sysfs devpath
// (e.g. "/devices/pci0000:00/0000:00:04.0/virtio1/host0/target0:0:0/0:0:0:0/block/sda/sda2"),
// reading the attributes it needs under sysfs (a root dir, "/sys" at boot,
// a fixture in tests). Links whose ingredients are missing are left out.
func DeviceLinks(sysfs, devpath string, d Device) []string {
	devpath, ok := cleanDevpath(devpath)
	if !ok {
		return nil
	}
	s := sysDir{root: sysfs}
	disk, part := devpath, 0
	if d.Type == "partition" || s.uevent(devpath, "DEVTYPE") == "partition" {
		disk, part = path.Dir(devpath), partNumber(s, devpath, d)
		if part <= 0 {
			return nil
		}
	}
	name := path.Base(disk)
	if !persistentName(name) {
		return nil
	}
	var out []string
	add := func(dir, id string) {
		if id == "" {
			return
		}
		if part > 0 {
			id += "-part" + strconv.Itoa(part)
		}
		l := dir + "/" + id
		for _, o := range out {
			if o == l {
				return
			}
		}
		out = append(out, l)
	}
	if p := pathID(s, disk); p != "" {
		if n, ok := mmcBoot(name); ok {
			p += "-boot" + n // 60-persistent-storage.rules: ID_PATH-boot%n
		}
		add("by-path", p)
		if strings.HasPrefix(name, "vd") && strings.HasPrefix(p, "pci-") {
			add("by-path", "virtio-"+p)
		}
	}
	for _, id := range diskIDs(s, disk, name) {
		add("by-id", id)
	}
	return out
}

// LinkIDs creates the DeviceLinks links under devDir/disk, pointing at
// ../../NAME; existing links are replaced atomically.
func (r *Registry) LinkIDs(sysfs, devpath string, d Device) error {
	if !filepath.IsLocal(d.Name) {
		return fmt.Errorf("id links for %q: bad device name", d.Name)
	}
	target := "../../" + d.Name
	links := DeviceLinks(sysfs, devpath, d)
	defer r.notify() // a root=/dev/disk/by-id/… wait may resolve now
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	var errs []error
	for _, l := range links {
		dir, name := path.Split(l)
		if err := replaceSymlink(filepath.Join(r.devDir, "disk", dir), name, target); err != nil {
			errs = append(errs, fmt.Errorf("id links for %s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// cleanDevpath accepts only absolute paths below /devices/.
func cleanDevpath(p string) (string, bool) {
	p = path.Clean("/" + p)
	return p, strings.HasPrefix(p, "/devices/") && !strings.Contains(p, "\x00")
}

// persistentName reports whether 60-persistent-storage.rules handles the
// kernel name at all.
func persistentName(name string) bool {
	for _, p := range []string{"sd", "sr", "vd", "xvd", "nvme", "mmcblk", "cciss", "dasd", "pmem", "nbd", "zd", "scm", "ubd", "bcache", "msblk", "mspblk"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// mmcBoot recognises an eMMC boot partition (mmcblk0boot1) and returns its
// number.
func mmcBoot(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "mmcblk")
	if !ok {
		return "", false
	}
	_, n, ok := strings.Cut(rest, "boot")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return n, true
}

// partNumber is d.PartN, else PARTN from the uevent file, else the
// "partition" attribute.
func partNumber(s sysDir, devpath string, d Device) int {
	if d.PartN > 0 {
		return d.PartN
	}
	v := s.uevent(devpath, "PARTN")
	if v == "" {
		v, _ = s.attr(devpath, "partition")
		v = strings.TrimSpace(v)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

// sysDir reads a sysfs tree rooted at root.
type sysDir struct{ root string }

func (s sysDir) file(devpath, name string) string {
	return filepath.Join(s.root, filepath.FromSlash(devpath), name)
}

// attr reads an attribute (bounded), without its final newline.
func (s sysDir) attr(devpath, name string) (string, bool) {
	b, ok := s.raw(devpath, name)
	return strings.TrimSuffix(string(b), "\n"), ok
}

// raw reads an attribute's bytes (bounded).
func (s sysDir) raw(devpath, name string) ([]byte, bool) {
	f, err := os.Open(s.file(devpath, name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttr))
	return b, err == nil
}

// attrUp returns the first non-blank value of attribute name on devpath or
// one of its parents (udev's ATTRS{name}=="?*"), trailing whitespace
// removed.
func (s sysDir) attrUp(devpath, name string) string {
	for p := devpath; strings.HasPrefix(p, "/devices/"); p = path.Dir(p) {
		if v, ok := s.attr(p, name); ok {
			if v = strings.TrimRight(v, " \t\n\r\v\f"); v != "" {
				return v
			}
		}
	}
	return ""
}

// subsystem is the base name of the device's subsystem link, or "".
func (s sysDir) subsystem(devpath string) string {
	t, err := os.Readlink(s.file(devpath, "subsystem"))
	if err != nil {
		return ""
	}
	return path.Base(filepath.ToSlash(t))
}

// uevent returns KEY's value in the device's uevent file.
func (s sysDir) uevent(devpath, key string) string {
	v, _ := s.attr(devpath, "uevent")
	for _, line := range strings.Split(v, "\n") {
		if k, val, ok := strings.Cut(line, "="); ok && k == key {
			return val
		}
	}
	return ""
}

// ancestor returns the nearest parent of devpath in subsystem sub with
// DEVTYPE devtype.
func (s sysDir) ancestor(devpath, sub, devtype string) (string, bool) {
	for p := path.Dir(devpath); strings.HasPrefix(p, "/devices/"); p = path.Dir(p) {
		if s.subsystem(p) == sub && s.uevent(p, "DEVTYPE") == devtype {
			return p, true
		}
	}
	return "", false
}

// skip returns the topmost device of the run of sub devices starting at p.
func (s sysDir) skip(p, sub string) string {
	for {
		up := path.Dir(p)
		if !strings.HasPrefix(up, "/devices/") || s.subsystem(up) != sub {
			return p
		}
		p = up
	}
}

// pathWalk accumulates path_id's state.
type pathWalk struct {
	parts             []string // innermost last
	transport, parent bool
}

func (w *pathWalk) prepend(seg string) { w.parts = append(w.parts, seg) }

// pathID composes udev's ID_PATH for the disk at devpath, or "".
func pathID(s sysDir, disk string) string {
	if strings.Contains(disk, "/virtual/") {
		return ""
	}
	var w pathWalk
	for p := disk; strings.HasPrefix(p, "/devices/"); p = path.Dir(p) {
		next, ok := w.step(s, disk, p)
		if !ok {
			return ""
		}
		p = next
	}
	if len(w.parts) == 0 || !w.parent || !w.transport {
		return ""
	}
	out := make([]string, 0, len(w.parts))
	for i := len(w.parts) - 1; i >= 0; i-- {
		out = append(out, w.parts[i])
	}
	return sanitizeID(strings.Join(out, "-"))
}

// step handles one device of the walk and returns the device the walk
// continues above; false means path_id gives up.
func (w *pathWalk) step(s sysDir, disk, p string) (string, bool) {
	sub, name := s.subsystem(p), path.Base(p)
	switch sub {
	case "scsi":
		w.transport = true
		return w.scsi(s, p)
	case "usb":
		w.transport = true
		if dt := s.uevent(p, "DEVTYPE"); dt != "usb_interface" && dt != "usb_device" {
			return p, true
		}
		_, port, ok := strings.Cut(name, "-")
		if !ok {
			return p, true
		}
		w.prepend("usb-0:" + port)
		return s.skip(p, "usb"), true
	case "virtio":
		w.transport = true
		return s.skip(p, "virtio"), true
	case "nvme":
		nsid, ok := s.attr(disk, "nsid")
		if nsid = strings.TrimSpace(nsid); !ok || nsid == "" {
			return p, true
		}
		w.prepend("nvme-" + nsid)
		w.parent, w.transport = true, true
		return s.skip(p, "nvme"), true
	case "pci", "acpi", "xen", "platform":
		w.prepend(sub + "-" + name)
		w.parent = true
		w.transport = w.transport || sub == "platform"
		return s.skip(p, sub), true
	}
	return p, true
}

// scsi handles a device of the scsi bus (only scsi_device adds a part).
func (w *pathWalk) scsi(s sysDir, p string) (string, bool) {
	if s.uevent(p, "DEVTYPE") != "scsi_device" {
		return p, true
	}
	if id, ok := s.attr(p, "ieee1394_id"); ok {
		w.prepend("ieee1394-0x" + strings.TrimSpace(id))
		w.parent = true
		return s.skip(p, "scsi"), true
	}
	for _, t := range []string{"/rport-", "/end_device-", "/session", "/vmbus_", "/VMBUS"} {
		if strings.Contains(p, t) {
			return "", false // transports whose names need more than sysfs paths
		}
	}
	h, c, t, l, ok := parseHCTL(path.Base(p))
	if !ok {
		return "", false
	}
	host, ok := s.ancestor(p, "scsi", "scsi_host")
	if !ok {
		return "", false
	}
	if strings.Contains(p, "/ata") {
		seg, ok := ataSegment(s, host, c, t)
		if !ok {
			return "", false
		}
		w.prepend(seg)
		return p, true
	}
	base, ok := lowestHost(s, path.Dir(host))
	if !ok {
		return host, true
	}
	if h < base {
		return "", false
	}
	w.prepend(fmt.Sprintf("scsi-%d:%d:%d:%d", h-base, c, t, l))
	return host, true
}

// parseHCTL parses "H:C:T:L".
func parseHCTL(name string) (h, c, t, l int, ok bool) {
	f := strings.Split(name, ":")
	if len(f) != 4 {
		return 0, 0, 0, 0, false
	}
	var n [4]int
	for i, s := range f {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, 0, 0, 0, false
		}
		n[i] = v
	}
	return n[0], n[1], n[2], n[3], true
}

// lowestHost finds the smallest N of the hostN entries in dir (listed unsorted: the init
// links no sorted directory listing, os.ReadDir, for the one place that needs an order).
func lowestHost(s sysDir, dir string) (int, bool) {
	f, err := os.Open(s.file(dir, ""))
	if err != nil {
		return 0, false
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return 0, false
	}
	best := -1
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), "host")
		if !ok || !(e.IsDir() || e.Type()&os.ModeSymlink != 0) {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && (best < 0 || n < best) {
			best = n
		}
	}
	return best, best >= 0
}

// ataSegment is path_id's "ata-PORT.TARGET" ("ata-PORT.BUS.0" behind a port
// multiplier). PORT is the ata_port's port_no attribute; without it, the N
// of the "ataN" parent (equal to port_no on the first controller).
func ataSegment(s sysDir, host string, bus, target int) (string, bool) {
	ata := path.Dir(host)
	name := path.Base(ata)
	num, ok := strings.CutPrefix(name, "ata")
	if !ok {
		return "", false
	}
	port := ""
	for _, f := range []string{s.file("/class/ata_port/"+name, "port_no"), s.file(ata+"/ata_port/"+name, "port_no")} {
		if b, err := os.ReadFile(f); err == nil {
			if port = strings.TrimSpace(string(b)); port != "" {
				break
			}
		}
	}
	if port == "" {
		port = num
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 {
		return "", false
	}
	if bus != 0 {
		return fmt.Sprintf("ata-%s.%d.0", port, bus), true
	}
	return fmt.Sprintf("ata-%s.%d", port, target), true
}

// diskIDs returns the by-id names (without "-partN") of the disk.
func diskIDs(s sysDir, disk, name string) []string {
	var ids []string
	add := func(prefix, id string) {
		if id = sanitizeID(id); id != "" {
			ids = append(ids, prefix+id)
		}
	}
	switch {
	case strings.HasPrefix(name, "vd"):
		add("virtio-", s.attrUp(disk, "serial"))
	case strings.HasPrefix(name, "nvme"):
		if w, _ := s.attr(disk, "wwid"); strings.TrimSpace(w) != "" {
			add("nvme-", strings.TrimRight(w, " \t\r\n"))
		}
		model, serial := s.attrUp(disk, "model"), s.attrUp(disk, "serial")
		if model != "" && serial != "" {
			add("nvme-", model+"_"+serial)
		}
	case strings.HasPrefix(name, "sd"):
		scsiIDs(s, path.Dir(path.Dir(disk)), add)
	}
	return ids
}

// scsiIDs adds the ids of a SCSI disk whose scsi_device is dev.
func scsiIDs(s sysDir, dev string, add func(prefix, id string)) {
	if s.subsystem(dev) != "scsi" || s.uevent(dev, "DEVTYPE") != "scsi_device" {
		return
	}
	if _, under := s.ancestor(dev, "usb", "usb_interface"); under {
		return // usb_id / ata_id through a bridge: not derivable from sysfs
	}
	vendor, vok := s.attr(dev, "vendor")
	model, mok := s.attr(dev, "model")
	if !vok || !mok {
		return
	}
	pg80, _ := s.raw(dev, "vpd_pg80")
	if strings.TrimSpace(vendor) == "ATA" {
		add("ata-", ataID(s, dev, model, pg80))
		if serial, ok := vpdSerial(pg80); ok {
			add("scsi-", compactID("S"+vendor+model+serial))
		}
		return
	}
	pg83, _ := s.raw(dev, "vpd_pg83")
	id, ok := page83ID(pg83, vendor, model)
	if !ok {
		if len(pg83) > 6 && pg83[6] != 0 {
			return // pre-SPC-3 layout: scsi_id's result is not reproduced
		}
		serial, ok := vpdSerial(pg80)
		if !ok {
			return
		}
		id = "S" + vendor + model + serial
	}
	add("scsi-", compactID(id))
}

// ataID returns ata_id's ID_SERIAL ("MODEL_SERIAL"): from the IDENTIFY data
// in VPD page 0x89, else from the INQUIRY model (when shorter than its 16
// bytes: it ends in at least two spaces, so the ATA model had at most 14
// characters and was not cut) and the serial in VPD page 0x80.
func ataID(s sysDir, dev, inqModel string, pg80 []byte) string {
	var model, serial string
	if pg89, _ := s.raw(dev, "vpd_pg89"); len(pg89) >= 60+512 && pg89[1] == 0x89 {
		id := pg89[60 : 60+512]
		model, serial = ataString(id, 27, 46), ataString(id, 10, 19)
	} else {
		sn, ok := vpdSerial(pg80)
		if !ok || !strings.HasSuffix(inqModel, "  ") {
			return "" // the model may be cut at 16 bytes
		}
		model, serial = inqModel, sn
	}
	model, serial = compactID(model), compactID(serial)
	if model == "" {
		return ""
	}
	if serial == "" {
		return model
	}
	return model + "_" + serial
}

// ataString decodes IDENTIFY words first..last (two bytes each, high byte
// first) up to the first NUL.
func ataString(id []byte, first, last int) string {
	b := make([]byte, 0, 2*(last-first+1))
	for w := first; w <= last; w++ {
		b = append(b, id[2*w+1], id[2*w])
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// vpdSerial returns the unit serial number of a VPD page 0x80.
func vpdSerial(pg []byte) (string, bool) {
	if len(pg) < 4 || pg[1] != 0x80 {
		return "", false
	}
	n := int(pg[3])
	if 4+n > len(pg) || n == 0 {
		return "", false
	}
	return string(pg[4 : 4+n]), true
}

// scsi_id's search order for page 0x83 designators: type, NAA subtype (-1:
// any), code set (1 binary, 2 ASCII). Target port groups are not ids.
var page83Order = []struct{ typ, naa, code int }{
	{3, 6, 1}, {3, 6, 2}, {3, 5, 1}, {3, 5, 2}, {3, -1, 1}, {3, -1, 2},
	{2, -1, 1}, {2, -1, 2}, {1, -1, 1}, {1, -1, 2}, {0, -1, 1}, {0, -1, 2},
}

// page83ID returns scsi_id's identifier from VPD page 0x83: the hex digit of
// the designator type, then (vendor-specific only) vendor and model, then
// the designator as text or lower-case hex.
func page83ID(pg []byte, vendor, model string) (string, bool) {
	if len(pg) < 4 || pg[1] != 0x83 || (len(pg) > 6 && pg[6] != 0) {
		return "", false
	}
	end := min(len(pg), int(pg[3])+4)
	for _, want := range page83Order {
		for j := 4; j+4 <= end; j += int(pg[j+3]) + 4 {
			d := pg[j:]
			n := int(d[3])
			if j+4+n > end || d[1]&0x30 != 0 || int(d[1]&0x0f) != want.typ || int(d[0]&0x0f) != want.code {
				continue
			}
			if want.naa >= 0 && (n == 0 || int(d[4]>>4) != want.naa) {
				continue
			}
			return designator(d[4:4+n], want.typ, want.code, vendor, model), true
		}
	}
	return "", false
}

func designator(v []byte, typ, code int, vendor, model string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte(hex[typ])
	if typ == 0 {
		b.WriteString(vendor + model)
	}
	if code == 2 {
		b.Write(v)
		return b.String()
	}
	for _, c := range v {
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// compactID is udev's whitespace replacement: leading and trailing
// whitespace removed, inner runs replaced by one '_'; text after a NUL is
// dropped.
func compactID(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), "_")
}

// sanitizeID is udev's character replacement for link names: trailing
// whitespace removed, every byte other than ASCII letters, digits,
// "#+-.:=@_" and valid multi-byte UTF-8 becomes '_'.
func sanitizeID(s string) string {
	s = strings.TrimRight(s, " \t\n\r\v\f")
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
		}
		if mount.UdevSafe(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
		i++
	}
	out := b.String()
	if out == "." || out == ".." {
		return ""
	}
	return out
}
