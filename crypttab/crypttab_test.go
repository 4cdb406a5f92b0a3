package crypttab

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/mount"
)

const (
	u1 = "3b1e2c1a-8c4d-4f3e-9a57-2d1c0e6f7a11"
	u2 = "0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line    string
		want    Entry
		wantErr string
	}{
		{"root UUID=" + strings.ToUpper(u1), Entry{Name: "root", Device: "UUID=" + strings.ToUpper(u1),
			Spec: mount.Spec{Kind: mount.KindUUID, Value: u1}}, ""},
		{"root\t/dev/vda3\tnone\tluks,discard", Entry{Name: "root", Device: "/dev/vda3",
			Spec:    mount.Spec{Kind: mount.KindPath, Value: "/dev/vda3"},
			Options: cryptopt.Options{LUKS: true, Discard: true}}, ""},
		{"r /dev//vda3/ -", Entry{Name: "r", Device: "/dev//vda3/", Spec: mount.Spec{Kind: mount.KindPath, Value: "/dev/vda3"}}, ""},
		{"home PARTUUID=0A1B2C3D-01 /etc/keys/home.key keyfile-offset=16,keyfile-size=64,x-initrd.attach",
			Entry{Name: "home", Device: "PARTUUID=0A1B2C3D-01", Spec: mount.Spec{Kind: mount.KindPartUUID, Value: "0a1b2c3d-01"},
				Key:     cryptopt.Key{File: "/etc/keys/home.key", Offset: 16, Size: 64},
				Options: cryptopt.Options{KeyfileOffset: 16, KeyfileSize: 64, InitrdAttach: true}}, ""},
		{"data LABEL=vault /k.bin:UUID=1234-ABCD initramfs,tries=0",
			Entry{Name: "data", Device: "LABEL=vault", Spec: mount.Spec{Kind: mount.KindLabel, Value: "vault"},
				Key:     cryptopt.Key{File: "/k.bin", Device: "UUID=1234-ABCD"},
				Options: cryptopt.Options{Initramfs: true, TriesSet: true}}, ""},
		{"p PARTLABEL=secret /dev/sdb keyfile-size=32",
			Entry{Name: "p", Device: "PARTLABEL=secret", Spec: mount.Spec{Kind: mount.KindPartLabel, Value: "secret"},
				Key: cryptopt.Key{Device: "/dev/sdb", Size: 32}, Options: cryptopt.Options{KeyfileSize: 32}}, ""},
		{"d /dev/disk/by-uuid/" + u1 + " - tpm2-device=auto,keyscript=decrypt_keyctl",
			Entry{Name: "d", Device: "/dev/disk/by-uuid/" + u1, Spec: mount.Spec{Kind: mount.KindUUID, Value: u1},
				Options: cryptopt.Options{TPM2Device: "auto", Unsupported: []string{"keyscript=decrypt_keyctl"}},
				Problems: []string{"tpm2-device=auto: TPM2 unlocking is not supported yet, asking for the passphrase",
					"keyscript=decrypt_keyctl: key scripts are not supported"}}, ""},
		{"onlyname", Entry{}, "1 fields, want NAME DEVICE [KEYFILE [OPTIONS]]"},
		{"a b c d e", Entry{}, "5 fields, want NAME DEVICE [KEYFILE [OPTIONS]]"},
		{"a/b /dev/sda", Entry{}, `name "a/b": not a valid device-mapper name`},
		{".. /dev/sda", Entry{}, `name "..": not a valid device-mapper name`},
		{"a sda2", Entry{}, `device "sda2": not UUID=, PARTUUID=, LABEL=, PARTLABEL= or a path`},
		{"a 8:2", Entry{}, `device "8:2": not UUID=, PARTUUID=, LABEL=, PARTLABEL= or a path`},
		{"a UUID=", Entry{}, `device specification "UUID=": empty value`},
		{"a PARTUUID=1/PARTNROFF=x", Entry{}, `device specification "PARTUUID=1/PARTNROFF=x": bad PARTNROFF`},
		{"a /dev/sda keys/a.key", Entry{}, `key "keys/a.key": "keys/a.key" is not an absolute path`},
	}
	for _, tt := range tests {
		got, err := parseLine(tt.line)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
			tt.want = Entry{}
		}
		if gotErr != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseLine(%q) =\n%+v, %q\nwant\n%+v, %q", tt.line, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

const table = `# <name> <device> <keyfile> <options>

root   UUID=` + u1 + `  none  luks,discard
  # indented comment
swap   /dev/vda4  /dev/urandom  swap,cipher=aes-xts-plain64
bad    sda9
home   UUID=` + u2 + `  /etc/keys/home.key  luks
usbkey PARTLABEL=keys  none  x-initrd.attach
root   /dev/vdb1  none
extra  LABEL=extra  /k:LABEL=stick  initramfs
`

func TestParse(t *testing.T) {
	entries, err := Parse(strings.NewReader(table))
	var lines []int
	var names []string
	for _, e := range entries {
		lines = append(lines, e.Line)
		names = append(names, e.Name)
	}
	if want := []int{3, 5, 7, 8, 10}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %v, want %v", lines, want)
	}
	if want := []string{"root", "swap", "home", "usbkey", "extra"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	wantErr := "crypttab:6: device \"sda9\": not UUID=, PARTUUID=, LABEL=, PARTLABEL= or a path\n" +
		"crypttab:9: name \"root\" is already used on line 3"
	if err == nil || err.Error() != wantErr {
		t.Fatalf("err = %v, want %q", err, wantErr)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 6 {
		t.Errorf("errors.As LineError = %+v", le)
	}
	if want := []string{"swap: formatting a swap device is not supported", "cipher=aes-xts-plain64: plain dm-crypt is not supported"}; !reflect.DeepEqual(entries[1].Problems, want) {
		t.Errorf("swap problems = %q, want %q", entries[1].Problems, want)
	}
}

func TestParseLongLine(t *testing.T) {
	_, err := Parse(strings.NewReader("a /dev/a\n" + strings.Repeat("x", maxLine+1) + "\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "crypttab:2: ") {
		t.Errorf("err = %v, want a line 2 error", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crypttab")
	if err := os.WriteFile(path, []byte("root /dev/vda2\nx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadFile(path)
	if len(entries) != 1 || err == nil || err.Error() != path+":2: 1 fields, want NAME DEVICE [KEYFILE [OPTIONS]]" {
		t.Errorf("ReadFile = %+v, %v", entries, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestMatches(t *testing.T) {
	entry := func(dev string) Entry {
		e, err := parseLine("n " + dev)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		dev   string
		names []string
		want  bool
	}{
		{"UUID=" + u1, []string{u1}, true},
		{"UUID=" + u1, []string{strings.ToUpper(u1)}, true},
		{"UUID=" + u1, []string{"UUID=" + u1}, true},
		{"UUID=" + u1, []string{"/dev/disk/by-uuid/" + u1}, true},
		{"/dev/disk/by-uuid/" + u1, []string{u1}, true},
		{"UUID=" + u1, []string{u2, "/dev/vda3"}, false},
		{"/dev/vda3", []string{u1, "/dev/vda3"}, true},
		{"/dev/vda3", []string{"/dev/vda33"}, false},
		{"PARTUUID=0a1b2c3d-01", []string{"PARTUUID=0A1B2C3D-01"}, true},
		{"LABEL=Vault", []string{"LABEL=vault"}, false},
		{"LABEL=Vault", []string{"LABEL=Vault"}, true},
		{"UUID=" + u1, []string{"LABEL=" + u1}, false},
		{"UUID=" + u1, []string{"", "junk", "8:3"}, false},
		{"UUID=" + u1, nil, false},
	}
	for _, tt := range tests {
		if got := entry(tt.dev).Matches(tt.names...); got != tt.want {
			t.Errorf("%q.Matches(%q) = %v, want %v", tt.dev, tt.names, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(table)
	f.Add("a UUID=x /k:LABEL=y tries=0,discard\nb /dev/b - keyfile-offset=-1\n#c\n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := Parse(strings.NewReader(text))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Errorf("error without a line: %v", err)
			}
		}
		names := map[string]bool{}
		for _, e := range entries {
			if !cryptopt.ValidName(e.Name) || names[e.Name] {
				t.Errorf("bad or repeated name %q", e.Name)
			}
			names[e.Name] = true
			if e.Spec.Kind == "" || e.Spec.Kind == mount.KindDevNum {
				t.Errorf("bad spec %+v for %q", e.Spec, e.Device)
			}
			if !e.Matches(e.Device) {
				t.Errorf("entry %q does not match its own device %q", e.Name, e.Device)
			}
		}
	})
}
