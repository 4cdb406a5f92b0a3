package vm

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Buses a Drive can be attached to.
const (
	BusVirtioBlk  = "virtio-blk"  // one virtio-blk-pci per drive
	BusVirtioSCSI = "virtio-scsi" // virtio-scsi-pci + scsi-hd
	BusAHCI       = "ahci"        // ich9-ahci + ide-hd (6 ports)
	BusIDE        = "ide"         // PIIX IDE (machine "pc") + ide-hd (4 units)
	BusNVMe       = "nvme"        // one nvme controller, one nvme-ns per drive
	BusUSBStorage = "usb-storage" // qemu-xhci + usb-storage (BOT)
	BusUSBUAS     = "usb-uas"     // qemu-xhci + usb-uas + scsi-hd (one LUN per drive)
	BusLSI        = "lsi"         // lsi53c895a + scsi-hd (sym53c8xx)
	BusMegasas    = "megasas"     // megasas + scsi-hd (megaraid_sas)
	BusMPTSAS     = "mptsas"      // mptsas1068 + scsi-hd (mptsas)
	BusAM53C974   = "am53c974"    // am53c974 + scsi-hd (am53c974)
)

// Buses lists every supported Drive.Bus value (treat as read-only).
var Buses = []string{BusVirtioBlk, BusVirtioSCSI, BusAHCI, BusIDE, BusNVMe,
	BusUSBStorage, BusUSBUAS, BusLSI, BusMegasas, BusMPTSAS, BusAM53C974}

// Drive is a disk image attached to the VM.
type Drive struct {
	Path   string
	Bus    string // one of Buses; "" means virtio-blk
	Serial string // device serial (ID_SERIAL); for nvme, the controller's
	// ReadOnly protects the image. QEMU's ide-hd (buses ide and ahci)
	// refuses read-only nodes, so there the drive gets snapshot=on
	// instead: the guest sees a writable disk whose writes are discarded.
	ReadOnly bool
	Format   string // QEMU image format, default "raw"
}

// Config describes one VM.
type Config struct {
	Kernel string
	Initrd string // "" for none
	// Append is the kernel command line. "console=ttyS0" is prepended
	// unless Append already names a console=. Nothing else is added: pass
	// "panic=-1" yourself to make a kernel panic end QEMU (-no-reboot turns
	// the reboot into an exit) instead of hanging until Timeout.
	Append string
	Drives []Drive
	MemMB  int    // default 512
	CPUs   int    // default 1
	CPU    string // -cpu model; "" keeps QEMU's default (qemu64: no SSE4.2, so crc32c-intel fails to load as on old hardware)
	// Monitor opens a QMP socket (needed by Hotplug and QMP) and, on q35,
	// adds PCIe root ports for hot-plugged devices.
	Monitor bool
	// Timeout kills QEMU after this long (0 = only the context bounds it).
	Timeout time.Duration
	// Console receives a copy of the serial console output as it arrives.
	Console io.Writer
	// GDB opens QEMU's gdbstub on a socket in the VM's directory (VM.DialGDB), for a
	// profiler that stops the guest from outside (internal/guestprof).
	GDB bool
	// ExtraArgs are appended verbatim to the QEMU command line.
	ExtraArgs []string
}

// hotplugPorts is the number of PCIe root ports added for hot-plug on q35.
const hotplugPorts = 4

// machine picks the machine type: PIIX IDE exists only on "pc".
func machine(cfg Config) string {
	for _, d := range cfg.Drives {
		if d.Bus == BusIDE {
			return "pc"
		}
	}
	return "q35"
}

// kernelCmdline prepends what every boot under TCG needs: console=ttyS0 unless a console=
// is given, and no_timer_check, because on a loaded host the kernel's IO-APIC timer check
// can fail and panic ("IO-APIC + timer doesn't work") 0.05 s into the boot. Prepended, so
// that words after a "--" in app stay last.
func kernelCmdline(app string) string {
	console, timer := false, false
	for _, w := range strings.Fields(app) {
		console = console || strings.HasPrefix(w, "console=")
		timer = timer || w == "no_timer_check"
	}
	var pre []string
	if !console {
		pre = append(pre, "console=ttyS0")
	}
	if !timer {
		pre = append(pre, "no_timer_check")
	}
	return strings.TrimSpace(strings.Join(pre, " ") + " " + strings.TrimSpace(app))
}

// The QMP sockets in a VM's directory: one for commands (Config.Monitor) and
// one, always there, that the VM only reads events from (see
// VM.ShutdownReason).
const (
	qmpSocket   = "qmp.sock"
	eventSocket = "events.sock"
	gdbSocket   = "gdb.sock" // Config.GDB
)

// args builds the qemu-system-x86_64 arguments (without the program name)
// for cfg; dir holds the QMP sockets. It is a pure function, table-tested
// for every bus.
func args(cfg Config, dir string) ([]string, error) {
	mem, cpus := cfg.MemMB, cfg.CPUs
	if mem <= 0 {
		mem = 512
	}
	if cpus <= 0 {
		cpus = 1
	}
	m := machine(cfg)
	a := []string{
		"-machine", m, "-accel", "tcg",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
	}
	if cfg.CPU != "" {
		a = append(a, "-cpu", cfg.CPU)
	}
	a = append(a, "-qmp", "unix:"+filepath.Join(dir, eventSocket)+",server=on,wait=off")
	if cfg.Monitor {
		a = append(a, "-qmp", "unix:"+filepath.Join(dir, qmpSocket)+",server=on,wait=off")
		if m == "q35" {
			for i := 0; i < hotplugPorts; i++ {
				a = append(a, "-device", fmt.Sprintf("pcie-root-port,id=hp%d,chassis=%d,slot=%d", i, i+1, i+1))
			}
		}
	}
	if cfg.GDB {
		a = append(a, "-chardev", "socket,id=gdb0,path="+filepath.Join(dir, gdbSocket)+",server=on,wait=off",
			"-gdb", "chardev:gdb0")
	}
	if cfg.Kernel == "" {
		return nil, fmt.Errorf("qemu args: no kernel")
	}
	a = append(a, "-kernel", cfg.Kernel)
	if cfg.Initrd != "" {
		a = append(a, "-initrd", cfg.Initrd)
	}
	a = append(a, "-append", kernelCmdline(cfg.Append))
	da, err := driveArgs(cfg.Drives)
	if err != nil {
		return nil, err
	}
	a = append(a, da...)
	return append(a, cfg.ExtraArgs...), nil
}

// driveArgs emits -drive/-device pairs; each controller appears once.
func driveArgs(drives []Drive) ([]string, error) {
	var a []string
	made := map[string]bool{}
	count := map[string]int{} // drives per controller so far
	ctrl := func(bus, dev string) {
		if !made[bus] {
			made[bus] = true
			a = append(a, "-device", dev)
		}
	}
	for i, d := range drives {
		bus := d.Bus
		if bus == "" {
			bus = BusVirtioBlk
		}
		if d.Path == "" {
			return nil, fmt.Errorf("qemu args: drive %d has no path", i)
		}
		if strings.Contains(d.Path, ",") {
			return nil, fmt.Errorf("qemu args: drive path %q contains a comma", d.Path)
		}
		id := fmt.Sprintf("d%d", i)
		a = append(a, "-drive", driveOpt(d, bus, id))
		n := count[bus]
		count[bus]++
		ser := ""
		if d.Serial != "" {
			if strings.ContainsAny(d.Serial, ", ") {
				return nil, fmt.Errorf("qemu args: drive serial %q contains a comma or space", d.Serial)
			}
			ser = ",serial=" + d.Serial
		}
		scsi := func(ctrlID, ctrlDev string, maxID int) error {
			if n > maxID {
				return fmt.Errorf("qemu args: too many %s drives (max %d)", bus, maxID+1)
			}
			ctrl(bus, ctrlDev+",id="+ctrlID)
			a = append(a, "-device", fmt.Sprintf("scsi-hd,bus=%s.0,scsi-id=%d,lun=0,drive=%s%s", ctrlID, n, id, ser))
			return nil
		}
		var err error
		switch bus {
		case BusVirtioBlk:
			a = append(a, "-device", "virtio-blk-pci,drive="+id+ser)
		case BusVirtioSCSI:
			err = scsi("vscsi0", "virtio-scsi-pci", 255)
		case BusLSI:
			err = scsi("lsi0", "lsi53c895a", 6)
		case BusMegasas:
			err = scsi("megasas0", "megasas", 6)
		case BusMPTSAS:
			err = scsi("mptsas0", "mptsas1068", 6)
			if err == nil {
				// The guest's mptsas driver takes each disk's SAS address
				// from scsi-hd's wwn, which defaults to 0; Linux skips
				// phys whose attached SAS address is 0 (no sas_port, so no
				// end device is ever added). Give every disk a unique one.
				a[len(a)-1] += fmt.Sprintf(",wwn=0x%x", 0x5525400000000001+uint64(n))
			}
		case BusAM53C974:
			err = scsi("am0", "am53c974", 6)
		case BusAHCI:
			if n > 5 {
				return nil, fmt.Errorf("qemu args: too many ahci drives (max 6)")
			}
			ctrl(bus, "ich9-ahci,id=ahci0")
			a = append(a, "-device", fmt.Sprintf("ide-hd,bus=ahci0.%d,drive=%s%s", n, id, ser))
		case BusIDE:
			if n > 3 {
				return nil, fmt.Errorf("qemu args: too many ide drives (max 4)")
			}
			a = append(a, "-device", fmt.Sprintf("ide-hd,bus=ide.%d,unit=%d,drive=%s%s", n/2, n%2, id, ser))
		case BusNVMe:
			s := d.Serial
			if s == "" {
				s = "earlyroot-nvme"
			}
			ctrl(bus, "nvme,id=nvme0,serial="+s)
			a = append(a, "-device", fmt.Sprintf("nvme-ns,bus=nvme0,nsid=%d,drive=%s", n+1, id))
		case BusUSBStorage:
			ctrl("xhci", "qemu-xhci,id=xhci0")
			a = append(a, "-device", "usb-storage,bus=xhci0.0,drive="+id+ser)
		case BusUSBUAS:
			ctrl("xhci", "qemu-xhci,id=xhci0")
			ctrl(bus, "usb-uas,id=uas0,bus=xhci0.0")
			a = append(a, "-device", fmt.Sprintf("scsi-hd,bus=uas0.0,scsi-id=0,lun=%d,drive=%s%s", n, id, ser))
		default:
			return nil, fmt.Errorf("qemu args: unknown bus %q", d.Bus)
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func driveOpt(d Drive, bus, id string) string {
	f := d.Format
	if f == "" {
		f = "raw"
	}
	s := fmt.Sprintf("file=%s,if=none,id=%s,format=%s,cache=unsafe", d.Path, id, f)
	switch {
	case d.ReadOnly && (bus == BusIDE || bus == BusAHCI):
		s += ",snapshot=on"
	case d.ReadOnly:
		s += ",readonly=on"
	}
	return s
}
