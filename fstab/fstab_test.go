package fstab

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := strings.Join([]string{
		"# /etc/fstab: static file system information.",
		"",
		"UUID=1111-2222 /               ext4    errors=remount-ro 0       1",
		"  # an indented comment",
		"LABEL=my\\040usr /usr\tbtrfs subvol=@usr,compress=zstd 0 2",
		"/dev/sda3 none swap sw",
		"tmpfs /tmp tmpfs",
		"/dev/vdb",
		"/dev/vdc /srv ext4 defaults x 0",
		"/dev/vdd /var xfs defaults,x-initrd.mount 0 -1",
		"/dev/vde /home",
		"",
	}, "\n")
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Table{
		Entries: []Entry{
			{Line: 3, Spec: "UUID=1111-2222", File: "/", Type: "ext4", Options: "errors=remount-ro", Pass: 1},
			{Line: 5, Spec: "LABEL=my usr", File: "/usr", Type: "btrfs", Options: "subvol=@usr,compress=zstd", Pass: 2},
			{Line: 6, Spec: "/dev/sda3", File: "none", Type: "swap", Options: "sw"},
			{Line: 7, Spec: "tmpfs", File: "/tmp", Type: "tmpfs", Options: "defaults"},
			{Line: 11, Spec: "/dev/vde", File: "/home", Type: "auto", Options: "defaults"},
		},
		Problems: []string{
			`line 8: "/dev/vdb": no mount point`,
			`line 9: "/dev/vdc /srv ext4 defaults x 0": field 5 is not a number`,
			`line 10: "/dev/vdd /var xfs defaults,x-initrd.mount 0 -1": field 6 is not a number`,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestFind(t *testing.T) {
	tab, err := Parse(strings.NewReader("rootfs / rootfs rw 0 0\n/dev/vda1 / ext4 ro 0 0\n/dev/vdb /mnt ext4 rw 0 0\n/dev/vdc /mnt xfs rw 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file, skip string
		spec       string
		ok         bool
	}{
		{"/", "rootfs", "/dev/vda1", true},
		{"/", "ext4", "rootfs", true},
		{"/mnt", "", "/dev/vdc", true},
		{"/usr", "", "", false},
	} {
		e, ok := tab.Find(c.file, c.skip)
		if e.Spec != c.spec || ok != c.ok {
			t.Errorf("Find(%q, skip %q) = %q, %v; want %q, %v", c.file, c.skip, e.Spec, ok, c.spec, c.ok)
		}
	}
}

func TestOption(t *testing.T) {
	e := Entry{Options: "defaults,nofail,x-systemd.device-timeout=5s,x-initrd.mount,x-systemd.device-timeout=10"}
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"nofail", "", true},
		{"x-initrd.mount", "", true},
		{"x-systemd.device-timeout", "10", true},
		{"noauto", "", false},
		{"x-initrd", "", false},
		{"default", "", false},
	} {
		v, ok := e.Option(c.name)
		if v != c.value || ok != c.ok || e.HasOption(c.name) != c.ok {
			t.Errorf("Option(%q) = %q, %v; want %q, %v", c.name, v, ok, c.value, c.ok)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/a\040b`: "/mnt/a b",
		`a\011b\134c`: "a\tb\\c",
		`\04`:         `\04`,
		`\089`:        `\089`,
		`no\escape`:   `no\escape`,
		`end\`:        `end\`,
		`\040\040`:    "  ",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("UUID=1 / ext4 defaults 0 1\n/dev/a\\040b /usr auto ro,x-initrd.mount\n#c\n")
	f.Add("a\n\n b c d e f g h\n")
	f.Fuzz(func(t *testing.T, in string) {
		tab, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(in, "\n") + 1
		if len(tab.Entries)+len(tab.Problems) > lines {
			t.Fatalf("%d entries and %d problems from %d lines", len(tab.Entries), len(tab.Problems), lines)
		}
		for _, e := range tab.Entries {
			if e.Spec == "" || e.File == "" || e.Type == "" || e.Options == "" || e.Freq < 0 || e.Pass < 0 || e.Line < 1 || e.Line > lines {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	p := filepath.Join(dir, "fstab")
	if err := os.WriteFile(p, []byte("/dev/vda1 / ext4 ro 0 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadFile(p)
	if err != nil || len(tab.Entries) != 1 || tab.Entries[0].Spec != "/dev/vda1" {
		t.Errorf("ReadFile = %+v, %v", tab, err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory: %v, want an error naming it", err)
	}
}
