package uevent

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pilebones/go-udev/netlink"
)

func TestParseRecordedBoot(t *testing.T) {
	msgs := loadRecorded(t)
	actions := map[string]int{}
	for i, r := range msgs {
		ev, err := Parse(r.msg)
		if err != nil {
			t.Errorf("message %d (%s): %v\n%q", i, r.phase, err, r.msg)
			continue
		}
		actions[ev.Action]++
		if got := ev.Env["ACTION"]; got != ev.Action {
			t.Errorf("message %d: header action %q, ACTION=%q", i, ev.Action, got)
		}
		if got := ev.Env["DEVPATH"]; got != ev.DevPath {
			t.Errorf("message %d: header devpath %q, DEVPATH=%q", i, ev.DevPath, got)
		}
		if ev.Env["SEQNUM"] == "" || ev.Subsystem() == "" {
			t.Errorf("message %d: no SEQNUM or SUBSYSTEM: %v", i, ev.Env)
		}
		if ev.IsBlock() && (ev.Major() < 0 || ev.Minor() < 0 || ev.DevName() == "") {
			t.Errorf("message %d: block event without MAJOR/MINOR/DEVNAME: %v", i, ev.Env)
		}
	}
	t.Logf("%d recorded messages parsed: %v", len(msgs), actions)
	for _, a := range []string{"add", "bind", "change"} {
		if actions[a] == 0 {
			t.Errorf("recording has no %q event", a)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    Event
		wantErr error
	}{
		{
			name: "block partition",
			msg:  "add@/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=1\x00DEVNAME=vda1\x00DEVTYPE=partition\x00PARTN=1\x00SEQNUM=700\x00",
			want: Event{Action: "add", DevPath: "/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1", Env: map[string]string{
				"ACTION": "add", "DEVPATH": "/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1", "SUBSYSTEM": "block",
				"MAJOR": "254", "MINOR": "1", "DEVNAME": "vda1", "DEVTYPE": "partition", "PARTN": "1", "SEQNUM": "700"}},
		},
		{
			name: "value containing '='",
			msg:  "change@/devices/virtual/block/dm-0\x00ACTION=change\x00DM_NAME=a=b\x00PARAM=x=1,y=2\x00",
			want: Event{Action: "change", DevPath: "/devices/virtual/block/dm-0", Env: map[string]string{
				"ACTION": "change", "DM_NAME": "a=b", "PARAM": "x=1,y=2"}},
		},
		{
			name: "devpath containing '@'",
			msg:  "add@/devices/platform/soc@0/3f980000.usb\x00ACTION=add\x00DEVPATH=/devices/platform/soc@0/3f980000.usb\x00OF_FULLNAME=/soc@0/usb@7e980000\x00",
			want: Event{Action: "add", DevPath: "/devices/platform/soc@0/3f980000.usb", Env: map[string]string{
				"ACTION": "add", "DEVPATH": "/devices/platform/soc@0/3f980000.usb", "OF_FULLNAME": "/soc@0/usb@7e980000"}},
		},
		{
			name: "no trailing NUL, empty fields and empty value",
			msg:  "remove@/devices/x\x00\x00A=\x00\x00B=2",
			want: Event{Action: "remove", DevPath: "/devices/x", Env: map[string]string{"A": "", "B": "2"}},
		},
		{name: "header only", msg: "bind@/devices/x", want: Event{Action: "bind", DevPath: "/devices/x", Env: map[string]string{}}},
		{name: "libudev group", msg: "libudev\x00\xfe\xed\xca\xfe" + strings.Repeat("\x00", 40), wantErr: ErrLibudev},
		{name: "empty", msg: "", wantErr: ErrMalformed},
		{name: "no @", msg: "add/devices/x\x00A=1\x00", wantErr: ErrMalformed},
		{name: "empty action", msg: "@/devices/x\x00", wantErr: ErrMalformed},
		{name: "uppercase action", msg: "ADD@/devices/x\x00", wantErr: ErrMalformed},
		{name: "relative devpath", msg: "add@devices/x\x00", wantErr: ErrMalformed},
		{name: "bare slash devpath", msg: "add@/\x00", wantErr: ErrMalformed},
		{name: "field without =", msg: "add@/devices/x\x00JUNK\x00", wantErr: ErrMalformed},
		{name: "empty key", msg: "add@/devices/x\x00=v\x00", wantErr: ErrMalformed},
		{name: "oversized", msg: "add@/devices/x\x00A=" + strings.Repeat("v", maxMsg), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.msg))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Action != tt.want.Action || got.DevPath != tt.want.DevPath || !maps.Equal(got.Env, tt.want.Env) {
				t.Fatalf("Parse = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

// TestGoUdevParseUEventDefects documents why the package has its own
// parser: go-udev's ParseUEvent rejects a value containing '=' and a
// devpath containing '@', both of which the kernel can send.
func TestGoUdevParseUEventDefects(t *testing.T) {
	tests := []struct {
		name, msg, key, value string
	}{
		{"value with =", "change@/devices/virtual/block/dm-0\x00ACTION=change\x00PARAM=x=1\x00", "PARAM", "x=1"},
		{"devpath with @", "add@/devices/platform/soc@0/usb\x00ACTION=add\x00DEVPATH=/devices/platform/soc@0/usb\x00", "DEVPATH", "/devices/platform/soc@0/usb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ue, err := netlink.ParseUEvent([]byte(tt.msg)); err == nil {
				t.Errorf("go-udev ParseUEvent accepted %q (%+v); the workaround may be obsolete", tt.msg, ue)
			}
			ev, err := Parse([]byte(tt.msg))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.Env[tt.key] != tt.value {
				t.Errorf("Parse %s = %q, want %q", tt.key, ev.Env[tt.key], tt.value)
			}
		})
	}
}

func TestEventHelpers(t *testing.T) {
	tests := []struct {
		name                string
		env                 map[string]string
		major, minor, partn int
		devtype             string
		block               bool
	}{
		{"partition", map[string]string{"SUBSYSTEM": "block", "MAJOR": "259", "MINOR": "1", "PARTN": "1", "DEVTYPE": "partition"}, 259, 1, 1, "partition", true},
		{"disk", map[string]string{"SUBSYSTEM": "block", "MAJOR": "8", "MINOR": "0", "DEVTYPE": "disk"}, 8, 0, 0, "disk", true},
		{"no numbers", map[string]string{"SUBSYSTEM": "pci"}, -1, -1, 0, "", false},
		{"garbage", map[string]string{"MAJOR": "x", "MINOR": "-3", "PARTN": "9999999999999999999999"}, -1, -1, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{Env: tt.env}
			if e.Major() != tt.major || e.Minor() != tt.minor || e.PartN() != tt.partn || e.DevType() != tt.devtype || e.IsBlock() != tt.block {
				t.Errorf("got major %d minor %d partn %d devtype %q block %v", e.Major(), e.Minor(), e.PartN(), e.DevType(), e.IsBlock())
			}
		})
	}
}

func TestParentDevPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/devices/pci0000:00/0000:00:04.0/virtio0/block/vda/vda1", "/devices/pci0000:00/0000:00:04.0/virtio0/block/vda"},
		{"/devices/pci0000:00/0000:00:07.0/nvme/nvme0/nvme0n1/nvme0n1p1", "/devices/pci0000:00/0000:00:07.0/nvme/nvme0/nvme0n1"},
		{"/devices/pci0000:00/", "/devices"[:0]},
		{"/devices/pci0000:00/0000:00:04.0", "/devices/pci0000:00"},
		{"/devices", ""},
		{"/", ""},
		{"", ""},
		{"/devices/a/../b/c", "/devices/b"},
	}
	for _, tt := range tests {
		if got := ParentDevPath(tt.in); got != tt.want {
			t.Errorf("ParentDevPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// encode is the inverse of Parse for events whose keys hold no '=' or NUL.
func encode(e Event) []byte {
	var b bytes.Buffer
	b.WriteString(e.Action + "@" + e.DevPath + "\x00")
	for _, k := range slices.Sorted(maps.Keys(e.Env)) {
		b.WriteString(k + "=" + e.Env[k] + "\x00")
	}
	return b.Bytes()
}

func FuzzParse(f *testing.F) {
	for _, r := range loadRecorded(f) {
		f.Add(r.msg)
	}
	f.Add([]byte("add@/devices/platform/soc@0\x00P=a=b\x00"))
	f.Add([]byte("libudev\x00\xfe\xed\xca\xfe"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := Parse(msg)
		if err != nil {
			return
		}
		if !validAction([]byte(ev.Action)) || len(ev.DevPath) < 2 || ev.DevPath[0] != '/' {
			t.Fatalf("accepted bad header: %+v", ev)
		}
		for k, v := range ev.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
				t.Fatalf("bad env pair %q=%q", k, v)
			}
		}
		again, err := Parse(encode(ev))
		if err != nil {
			t.Fatalf("re-encoded event does not parse: %v", err)
		}
		if again.Action != ev.Action || again.DevPath != ev.DevPath || !maps.Equal(again.Env, ev.Env) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
		_ = ParentDevPath(ev.DevPath)
		_, _, _ = ev.Major(), ev.Minor(), ev.PartN()
	})
}
