package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/uevent"
)

func TestBlockDevice(t *testing.T) {
	ev, err := uevent.Parse([]byte("add@/devices/pci0000:00/0000:00:03.0/virtio0/block/vda/vda2\x00ACTION=add\x00" +
		"DEVPATH=/devices/pci0000:00/0000:00:03.0/virtio0/block/vda/vda2\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=2\x00" +
		"DEVNAME=vda2\x00DEVTYPE=partition\x00PARTN=2\x00SEQNUM=1\x00"))
	if err != nil {
		t.Fatal(err)
	}
	d := blockDevice(ev)
	want := devices.Device{Name: "vda2", Path: "/dev/vda2", Major: 254, Minor: 2, Type: "partition", PartN: 2, Parent: "vda"}
	if d.Name != want.Name || d.Path != want.Path || d.Major != want.Major || d.Minor != want.Minor ||
		d.Type != want.Type || d.PartN != want.PartN || d.Parent != want.Parent {
		t.Errorf("blockDevice = %+v, want %+v", d, want)
	}
}

func TestDiagnose(t *testing.T) {
	b := newBoot(timeZero)
	b.cfg = cmdline.Parse("root=LABEL=missing rd.timeout=7")
	b.reg = devices.NewRegistry(t.TempDir())
	b.loader = modload.NewLoader(nil, t.TempDir(), modload.Options{})
	b.loader.LoadAlias("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
	b.loader.LoadAlias("cpu:type:x86,ven0000fam0006mod003F:feature:,0000")
	var out bytes.Buffer
	b.diagnose(&out, "root device root=LABEL=missing did not appear within 7s")
	text := out.String()
	for _, want := range []string{
		"the boot stopped: root device root=LABEL=missing did not appear within 7s",
		`root="LABEL=missing"`,
		"(waited 7s)",
		"block devices: none seen",
		"pci:v00001AF4d00001001",
		"continue",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "cpu:type") {
		t.Errorf("diagnosis lists a cpu modalias as a device without a module:\n%s", text)
	}
}

var timeZero = time.Time{}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 32 << 20: "32.0M", 5 << 40: "5.0T"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// A setup cut short by a panic still leaves the rescue path what it needs.
func TestEnsureStateAfterFailedSetup(t *testing.T) {
	b := newBoot(timeZero)
	b.ensureState()
	if !b.cfg.Shell || b.cfg.Emergency != "reboot" {
		t.Errorf("defaults not applied: shell=%v emergency=%q", b.cfg.Shell, b.cfg.Emergency)
	}
	var out bytes.Buffer
	b.diagnose(&out, "internal error (recovered panic): boom")
	if !strings.Contains(out.String(), "boom") || !strings.Contains(out.String(), "block devices: none seen") {
		t.Errorf("diagnosis:\n%s", out.String())
	}
}
