package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/vm"
)

func TestParseDrive(t *testing.T) {
	tests := []struct {
		in   string
		want vm.Drive
		bad  bool
	}{
		{in: "a.img", want: vm.Drive{Path: "a.img"}},
		{in: "a.img,bus=nvme,serial=s1", want: vm.Drive{Path: "a.img", Bus: "nvme", Serial: "s1"}},
		{in: "a.img,ro", want: vm.Drive{Path: "a.img", ReadOnly: true}},
		{in: "a.img,readonly=on,format=qcow2", want: vm.Drive{Path: "a.img", ReadOnly: true, Format: "qcow2"}},
		{in: "a.img,ro=off", want: vm.Drive{Path: "a.img"}},
		{in: ",bus=ide", bad: true},
		{in: "a.img,speed=9", bad: true},
	}
	for _, tc := range tests {
		got, err := parseDrive(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseDrive(%q): no error", tc.in)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseDrive(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, argv := range [][]string{
		{},
		{"-kernel", "k", "extra"},
		{"-kernel", "k", "-expect", "("},
		{"-kernel", "k", "-drive", "x,bus"},
		{"-kernel", "k", "-drive", "x,bus=floppy", "-print-args"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if rc := run(argv, &out, &errb); rc != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %s)", argv, rc, errb.String())
		}
	}
}

func TestRunPrintArgs(t *testing.T) {
	var out, errb bytes.Buffer
	rc := run([]string{"-kernel", "/k", "-initrd", "/i", "-append", "quiet", "-mem", "768",
		"-drive", "/a.img,bus=ahci,serial=x", "-drive", "/b.img", "-print-args"}, &out, &errb)
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	line := out.String()
	for _, want := range []string{"qemu-system-x86_64 ", "-kernel /k", "-initrd /i", "-m 768", "ich9-ahci",
		"ide-hd,bus=ahci0.0,drive=d0,serial=x", "virtio-blk-pci,drive=d1", "console=ttyS0 no_timer_check quiet"} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q: %s", want, line)
		}
	}
}
