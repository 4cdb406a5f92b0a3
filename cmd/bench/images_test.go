package main

import (
	"reflect"
	"testing"
)

func TestParseRecordAndChain(t *testing.T) {
	out := "[    3.1] random kernel line\r\n" +
		"BENCH-MODALIAS /sys/devices/pci0000:00/0000:00:02.0/modalias pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\r\n" +
		"BENCH-MODALIAS /sys/devices/pci0000:00/0000:00:02.0/virtio0/modalias virtio:d00000002v00001AF4\n" +
		"BENCH-MODALIAS /sys/devices/pci0000:00/0000:00:1f.2/modalias pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01\n" +
		"BENCH-MODALIAS /sys/devices/../../etc/modalias evil\n" +
		"BENCH-MODALIAS /sys/devices/platform/x/modalias\n" + // no alias: ignored
		"[    3.2] kernel says BENCH-ROOTDEV /sys/devices/pci0000:00/0000:00:02.0/virtio0\n" +
		"BENCH-ROOTDEV /sys/devices/other\n"
	aliases, root := ParseRecord(out)
	if root != "devices/pci0000:00/0000:00:02.0/virtio0" {
		t.Errorf("root = %q", root)
	}
	if len(aliases) != 3 {
		t.Errorf("aliases = %v", aliases)
	}
	got := ChainModaliases(aliases, root)
	want := map[string]string{
		"devices/pci0000:00/0000:00:02.0":         "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
		"devices/pci0000:00/0000:00:02.0/virtio0": "virtio:d00000002v00001AF4",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chain = %v", got)
	}
	// A sibling whose name extends an ancestor's is not an ancestor.
	if c := ChainModaliases(map[string]string{"devices/a/b1": "x"}, "devices/a/b10/c"); len(c) != 0 {
		t.Errorf("prefix sibling kept: %v", c)
	}
}

func TestSysRel(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/sys/devices/pci0000:00", "devices/pci0000:00", true},
		{"/sys/devices/../block", "", false},
		{"/sys/block/vda", "", false},
		{"devices/x", "", false},
		{"/sys/devices/x/", "", false},
	} {
		got, ok := sysRel(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("sysRel(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("BENCH-MODALIAS /sys/devices/pci0000:00/0000:00:02.0/modalias pci:v1\nBENCH-ROOTDEV /sys/devices/pci0000:00/0000:00:02.0/virtio0\n")
	f.Add("BENCH-MODALIAS\nBENCH-ROOTDEV")
	f.Fuzz(func(t *testing.T, s string) {
		aliases, root := ParseRecord(s)
		for dev := range aliases {
			if _, ok := sysRel("/sys/" + dev); !ok {
				t.Fatalf("unsafe device path %q", dev)
			}
		}
		_ = ChainModaliases(aliases, root)
	})
}

func TestSummaryTail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kernel x: 290 modules\n/tmp/a.img: 387 entries, image 16.1 MiB (none)\n", "387 entries, image 16.1 MiB (none)\n"},
		{"no colon\n", "no colon\n"},
	} {
		if got := summaryTail(tc.in); got != tc.want {
			t.Errorf("summaryTail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVariantsSet(t *testing.T) {
	tests := []struct {
		flags []string
		want  string // String() after the good ones; "" when the last one fails
		bad   bool
	}{
		{[]string{"unpack-ahci=-unpack virtio_pci,ahci"}, "unpack-ahci=-unpack virtio_pci,ahci", false},
		{[]string{"a=-roothint  xfs   -unpack none", "b=-hostonly"}, "a=-roothint xfs -unpack none; b=-hostonly", false},
		{[]string{"noflags="}, "", true},
		{[]string{"-unpack none"}, "", true},
		{[]string{"=-unpack none"}, "", true},
		{[]string{"a/b=-unpack none"}, "", true},
		{[]string{"a,b=-unpack none"}, "", true},
		{[]string{"generic=-unpack none"}, "", true},
		{[]string{"baseline=-unpack none"}, "", true},
		{[]string{"a=-hostonly", "a=-unpack none"}, "", true},
	}
	for _, tt := range tests {
		var v variants
		var err error
		for _, f := range tt.flags {
			if err = v.Set(f); err != nil {
				break
			}
		}
		if (err != nil) != tt.bad {
			t.Errorf("%q: error %v, want error %v", tt.flags, err, tt.bad)
			continue
		}
		if !tt.bad && v.String() != tt.want {
			t.Errorf("%q: %q, want %q", tt.flags, v.String(), tt.want)
		}
	}
}
