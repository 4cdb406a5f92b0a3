package main

import (
	"reflect"
	"testing"
)

// mountinfo captured from cmd/testinit after a busybox switch_root.
const sampleMountinfo = `23 1 254:2 / / ro,relatime shared:1 - ext4 /dev/vda2 ro
20 23 0:20 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
21 23 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
22 23 0:5 / /dev rw,relatime - devtmpfs devtmpfs rw,size=228900k,nr_inodes=57225,mode=755
30 23 0:25 / /mnt/with\040space rw - tmpfs none rw
bad line
31 23 0:26 / /x rw - 
`

func TestParseMountinfo(t *testing.T) {
	got := parseMountinfo(sampleMountinfo)
	want := []mount{
		{point: "/", fstype: "ext4", source: "/dev/vda2", opts: "ro,relatime", superOpts: "ro"},
		{point: "/proc", fstype: "proc", source: "proc", opts: "rw,nosuid,nodev,noexec,relatime", superOpts: "rw"},
		{point: "/sys", fstype: "sysfs", source: "sysfs", opts: "rw,nosuid,nodev,noexec,relatime", superOpts: "rw"},
		{point: "/dev", fstype: "devtmpfs", source: "devtmpfs", opts: "rw,relatime", superOpts: "rw,size=228900k,nr_inodes=57225,mode=755"},
		{point: "/mnt/with space", fstype: "tmpfs", source: "none", opts: "rw", superOpts: "rw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountinfo:\n got %+v\nwant %+v", got, want)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: "plain", `a\040b`: "a b", `tab\011`: "tab\t", `trail\04`: `trail\04`, `\999`: `\999`, `\`: `\`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(sampleMountinfo)
	f.Add("1 2 3 4 5 6 - \\")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range parseMountinfo(s) {
			if m.fstype == "" {
				t.Errorf("mount without fstype: %+v", m)
			}
		}
	})
}
