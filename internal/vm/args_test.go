package vm

import (
	"reflect"
	"strings"
	"testing"
)

// devices returns the -drive and -device values of a QEMU command line.
func devices(a []string) []string {
	var out []string
	for i := 0; i+1 < len(a); i++ {
		if a[i] == "-device" || a[i] == "-drive" {
			out = append(out, a[i]+" "+a[i+1])
		}
	}
	return out
}

func flagValue(a []string, flag string) string {
	for i := 0; i+1 < len(a); i++ {
		if a[i] == flag {
			return a[i+1]
		}
	}
	return ""
}

func TestArgsBuses(t *testing.T) {
	drv := func(i int) string {
		return "-drive file=/i" + string(rune('0'+i)) + ",if=none,id=d" + string(rune('0'+i)) + ",format=raw,cache=unsafe"
	}
	tests := []struct {
		bus     string
		machine string
		want    []string // for two drives /i0 (serial s0) and /i1
	}{
		{"", "q35", []string{drv(0), "-device virtio-blk-pci,drive=d0,serial=s0", drv(1), "-device virtio-blk-pci,drive=d1"}},
		{BusVirtioBlk, "q35", []string{drv(0), "-device virtio-blk-pci,drive=d0,serial=s0", drv(1), "-device virtio-blk-pci,drive=d1"}},
		{BusVirtioSCSI, "q35", []string{drv(0), "-device virtio-scsi-pci,id=vscsi0",
			"-device scsi-hd,bus=vscsi0.0,scsi-id=0,lun=0,drive=d0,serial=s0", drv(1), "-device scsi-hd,bus=vscsi0.0,scsi-id=1,lun=0,drive=d1"}},
		{BusAHCI, "q35", []string{drv(0), "-device ich9-ahci,id=ahci0", "-device ide-hd,bus=ahci0.0,drive=d0,serial=s0",
			drv(1), "-device ide-hd,bus=ahci0.1,drive=d1"}},
		{BusIDE, "pc", []string{drv(0), "-device ide-hd,bus=ide.0,unit=0,drive=d0,serial=s0", drv(1), "-device ide-hd,bus=ide.0,unit=1,drive=d1"}},
		{BusNVMe, "q35", []string{drv(0), "-device nvme,id=nvme0,serial=s0", "-device nvme-ns,bus=nvme0,nsid=1,drive=d0",
			drv(1), "-device nvme-ns,bus=nvme0,nsid=2,drive=d1"}},
		{BusUSBStorage, "q35", []string{drv(0), "-device qemu-xhci,id=xhci0", "-device usb-storage,bus=xhci0.0,drive=d0,serial=s0",
			drv(1), "-device usb-storage,bus=xhci0.0,drive=d1"}},
		{BusUSBUAS, "q35", []string{drv(0), "-device qemu-xhci,id=xhci0", "-device usb-uas,id=uas0,bus=xhci0.0",
			"-device scsi-hd,bus=uas0.0,scsi-id=0,lun=0,drive=d0,serial=s0", drv(1), "-device scsi-hd,bus=uas0.0,scsi-id=0,lun=1,drive=d1"}},
		{BusLSI, "q35", []string{drv(0), "-device lsi53c895a,id=lsi0", "-device scsi-hd,bus=lsi0.0,scsi-id=0,lun=0,drive=d0,serial=s0",
			drv(1), "-device scsi-hd,bus=lsi0.0,scsi-id=1,lun=0,drive=d1"}},
		{BusMegasas, "q35", []string{drv(0), "-device megasas,id=megasas0", "-device scsi-hd,bus=megasas0.0,scsi-id=0,lun=0,drive=d0,serial=s0",
			drv(1), "-device scsi-hd,bus=megasas0.0,scsi-id=1,lun=0,drive=d1"}},
		{BusMPTSAS, "q35", []string{drv(0), "-device mptsas1068,id=mptsas0", "-device scsi-hd,bus=mptsas0.0,scsi-id=0,lun=0,drive=d0,serial=s0,wwn=0x5525400000000001",
			drv(1), "-device scsi-hd,bus=mptsas0.0,scsi-id=1,lun=0,drive=d1,wwn=0x5525400000000002"}},
		{BusAM53C974, "q35", []string{drv(0), "-device am53c974,id=am0", "-device scsi-hd,bus=am0.0,scsi-id=0,lun=0,drive=d0,serial=s0",
			drv(1), "-device scsi-hd,bus=am0.0,scsi-id=1,lun=0,drive=d1"}},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.bus] = true
		t.Run("bus="+tc.bus, func(t *testing.T) {
			cfg := Config{Kernel: "/k", Drives: []Drive{
				{Path: "/i0", Bus: tc.bus, Serial: "s0"},
				{Path: "/i1", Bus: tc.bus},
			}}
			a, err := args(cfg, "/d")
			if err != nil {
				t.Fatal(err)
			}
			if got := flagValue(a, "-machine"); got != tc.machine {
				t.Errorf("machine = %q, want %q", got, tc.machine)
			}
			if got := devices(a); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("devices:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, b := range Buses {
		if !seen[b] {
			t.Errorf("bus %q not covered", b)
		}
	}
}

func TestArgsCommon(t *testing.T) {
	a, err := args(Config{Kernel: "/k", Initrd: "/i", Append: "quiet panic=-1"}, "/d")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(a, " ")
	for _, want := range []string{"-machine q35", "-accel tcg", "-m 512", "-smp 1", "-no-reboot", "-display none",
		"-nodefaults", "-serial chardev:con0", "-kernel /k", "-initrd /i"} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q: %s", want, line)
		}
	}
	if got := flagValue(a, "-append"); got != "console=ttyS0 no_timer_check quiet panic=-1" {
		t.Errorf("append = %q", got)
	}
	if want := "-qmp unix:/d/events.sock,server=on,wait=off"; !strings.Contains(line, want) {
		t.Errorf("args lack the event monitor %q: %s", want, line)
	}
	if strings.Contains(line, "-gdb") {
		t.Errorf("a gdbstub without Config.GDB: %s", line)
	}
	g, err := args(Config{Kernel: "/k", GDB: true}, "/d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "-chardev socket,id=gdb0,path=/d/gdb.sock,server=on,wait=off -gdb chardev:gdb0"; !strings.Contains(strings.Join(g, " "), want) {
		t.Errorf("Config.GDB: args lack %q: %s", want, strings.Join(g, " "))
	}
	for _, absent := range []string{"-cpu", "qmp.sock", "pcie-root-port", "-enable-kvm"} {
		if strings.Contains(line, absent) {
			t.Errorf("args contain %q: %s", absent, line)
		}
	}

	a, err = args(Config{Kernel: "/k", Append: "console=ttyS1", MemMB: 1024, CPUs: 2, CPU: "max", Monitor: true,
		Drives: []Drive{{Path: "/ro", ReadOnly: true, Format: "qcow2"}}, ExtraArgs: []string{"-S"}}, "/d")
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(a, " ")
	for _, want := range []string{"-m 1024", "-smp 2", "-cpu max", "-qmp unix:/d/qmp.sock,server=on,wait=off",
		"pcie-root-port,id=hp0,chassis=1,slot=1", "pcie-root-port,id=hp3", "file=/ro,if=none,id=d0,format=qcow2,cache=unsafe,readonly=on"} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q: %s", want, line)
		}
	}
	if got := flagValue(a, "-append"); got != "no_timer_check console=ttyS1" {
		t.Errorf("append = %q, want the caller's console and no_timer_check only", got)
	}
	if a[len(a)-1] != "-S" {
		t.Errorf("extra args not last: %q", a)
	}
}

func TestArgsMixedBusesShareControllers(t *testing.T) {
	a, err := args(Config{Kernel: "/k", Drives: []Drive{
		{Path: "/a", Bus: BusUSBStorage}, {Path: "/b", Bus: BusUSBUAS}, {Path: "/c", Bus: BusIDE}, {Path: "/d", Bus: BusAHCI},
	}}, "")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(a, " ")
	if n := strings.Count(line, "qemu-xhci"); n != 1 {
		t.Errorf("%d xhci controllers, want 1: %s", n, line)
	}
	if flagValue(a, "-machine") != "pc" {
		t.Errorf("PIIX IDE drive but machine %q", flagValue(a, "-machine"))
	}
}

func TestArgsReadOnly(t *testing.T) {
	for bus, want := range map[string]string{
		BusVirtioBlk: ",readonly=on", BusIDE: ",snapshot=on", BusAHCI: ",snapshot=on",
		BusNVMe: ",readonly=on", BusUSBStorage: ",readonly=on", BusLSI: ",readonly=on",
	} {
		a, err := args(Config{Kernel: "/k", Drives: []Drive{{Path: "/ro", Bus: bus, ReadOnly: true}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if d := flagValue(a, "-drive"); !strings.HasSuffix(d, want) {
			t.Errorf("%s: -drive %s, want suffix %s", bus, d, want)
		}
	}
}

func TestArgsErrors(t *testing.T) {
	many := func(bus string, n int) []Drive {
		var d []Drive
		for i := 0; i < n; i++ {
			d = append(d, Drive{Path: "/x", Bus: bus})
		}
		return d
	}
	for name, cfg := range map[string]Config{
		"no kernel":   {},
		"bad bus":     {Kernel: "/k", Drives: []Drive{{Path: "/x", Bus: "floppy"}}},
		"no path":     {Kernel: "/k", Drives: []Drive{{}}},
		"comma path":  {Kernel: "/k", Drives: []Drive{{Path: "/a,b"}}},
		"bad serial":  {Kernel: "/k", Drives: []Drive{{Path: "/a", Serial: "a b"}}},
		"5 ide":       {Kernel: "/k", Drives: many(BusIDE, 5)},
		"7 ahci":      {Kernel: "/k", Drives: many(BusAHCI, 7)},
		"8 lsi":       {Kernel: "/k", Drives: many(BusLSI, 8)},
		"8 am53c974":  {Kernel: "/k", Drives: many(BusAM53C974, 8)},
		"8 megasas":   {Kernel: "/k", Drives: many(BusMegasas, 8)},
		"8 mptsas":    {Kernel: "/k", Drives: many(BusMPTSAS, 8)},
		"bad bus mix": {Kernel: "/k", Drives: []Drive{{Path: "/x"}, {Path: "/y", Bus: "sd"}}},
	} {
		if _, err := args(cfg, ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKernelCmdline(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "console=ttyS0 no_timer_check",
		"root=/dev/vda":          "console=ttyS0 no_timer_check root=/dev/vda",
		"console=tty0 quiet":     "no_timer_check console=tty0 quiet",
		"xconsole=1":             "console=ttyS0 no_timer_check xconsole=1",
		"  spaced   out ":        "console=ttyS0 no_timer_check spaced   out",
		"quiet console=ttyS0,9k": "no_timer_check quiet console=ttyS0,9k",
		"no_timer_check -- a":    "console=ttyS0 no_timer_check -- a",
	} {
		if got := kernelCmdline(in); got != want {
			t.Errorf("kernelCmdline(%q) = %q, want %q", in, got, want)
		}
	}
}
