package md

import (
	"strings"
	"testing"
)

func TestParseConf(t *testing.T) {
	text := `# mdadm.conf written out by mkconf
HOMEHOST <system>
MAILADDR root

# definitions of existing MD arrays
ARRAY /dev/md/0  metadata=1.2 UUID=3b0b5b13:8f3f3a1f:01020304:a0b0c0d0
   name=debian:0
ARRAY /dev/md1 name=other:data
`
	c, err := ParseConf(text)
	if err != nil {
		t.Fatal(err)
	}
	if c.HomeHost != "<system>" || len(c.Arrays) != 2 {
		t.Fatalf("%+v", c)
	}
	if a := c.Arrays[0]; a.Dev != "/dev/md/0" || !a.HasUUID || a.UUID != testUUID || a.Name != "debian:0" {
		t.Errorf("array 0 %+v", a)
	}
	if a := c.Arrays[1]; a.Dev != "/dev/md1" || a.HasUUID || a.Name != "other:data" {
		t.Errorf("array 1 %+v", a)
	}
	for _, tt := range []struct {
		sb   Superblock
		want bool
	}{
		{Superblock{UUID: testUUID}, true},
		{Superblock{Name: "other:data"}, true},
		{Superblock{Name: "debian:0"}, false}, // its line has a UUID, which differs
	} {
		if got := c.Wants(&tt.sb); got != tt.want {
			t.Errorf("Wants(%+v) = %v", tt.sb, got)
		}
	}
	if !(&Conf{}).Wants(&Superblock{}) {
		t.Error("an empty configuration must want every array")
	}
	if c, _ := ParseConf("homehost <ignore>"); c.HomeHost != HomeAny {
		t.Errorf("HOMEHOST <ignore>: %q", c.HomeHost)
	}
	for _, bad := range []string{"ARRAY /dev/md0 metadata=1.2", "ARRAY /dev/md0 uuid=12:34"} {
		if _, err := ParseConf(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Filter keeps the HOMEHOST line and the ARRAY lines asked for, continuation lines joined,
// and leaves out the other keywords and the comments.
func TestConfFilter(t *testing.T) {
	text := `# mdadm.conf
HOMEHOST <system>
MAILADDR root
DEVICE partitions
ARRAY /dev/md/0  metadata=1.2 UUID=3b0b5b13:8f3f3a1f:01020304:a0b0c0d0 # root
   name=debian:0
ARRAY /dev/md1 name=other:data
`
	c, err := ParseConf(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keep func(ConfArray) bool
		want string
	}{
		{func(a ConfArray) bool { return a.HasUUID }, "HOMEHOST <system>\nARRAY /dev/md/0 metadata=1.2 UUID=3b0b5b13:8f3f3a1f:01020304:a0b0c0d0 name=debian:0\n"},
		{func(a ConfArray) bool { return true }, "HOMEHOST <system>\nARRAY /dev/md/0 metadata=1.2 UUID=3b0b5b13:8f3f3a1f:01020304:a0b0c0d0 name=debian:0\nARRAY /dev/md1 name=other:data\n"},
		{func(a ConfArray) bool { return false }, "HOMEHOST <system>\n"},
	} {
		got := c.Filter(tc.keep)
		if got != tc.want {
			t.Errorf("Filter:\n%s\nwant:\n%s", got, tc.want)
		}
		// What Filter writes reads back as the same arrays.
		back, err := ParseConf(got)
		if err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		if back.HomeHost != c.HomeHost {
			t.Errorf("HOMEHOST %q after a round trip, want %q", back.HomeHost, c.HomeHost)
		}
	}
	if got := (&Conf{}).Filter(func(ConfArray) bool { return true }); got != "" {
		t.Errorf("empty configuration: %q", got)
	}
}
