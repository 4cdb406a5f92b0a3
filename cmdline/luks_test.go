package cmdline

import (
	"reflect"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/cryptopt"
)

const (
	u1 = "3b1e2c1a-8c4d-4f3e-9a57-2d1c0e6f7a11"
	u2 = "0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"
)

func TestParseLUKS(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		want     LUKS
		problems []string
		initArgs []string
	}{
		{"none", "root=/dev/vda1", LUKS{}, nil, nil},
		{"rd.luks=0", "rd.luks=0", LUKS{Disabled: true}, nil, nil},
		{"rd.luks=no then bare", "rd.luks=no rd.luks", LUKS{}, nil, nil},
		{"luks=0", "luks=0", LUKS{Disabled: true}, nil, nil},
		{"rd.luks bad", "rd.luks=0 rd.luks=maybe", LUKS{Disabled: true},
			[]string{"rd.luks=maybe: not a boolean, using 0"}, nil},
		{"bare luks is for init", "luks", LUKS{}, nil, []string{"luks"}},
		{"crypttab off", "rd.luks.crypttab=0", LUKS{NoCrypttab: true}, nil, nil},
		{"luks.crypttab", "luks.crypttab=no luks.crypttab=yes", LUKS{}, nil, nil},
		{"uuid", "rd.luks.uuid=" + u1, LUKS{Devices: []LUKSDevice{{UUID: u1, Listed: true}}}, nil, nil},
		{"uuid luks- prefix upper case", "rd.luks.uuid=luks-" + strings.ToUpper(u1),
			LUKS{Devices: []LUKSDevice{{UUID: u1, Listed: true}}}, nil, nil},
		{"uuid repeated and deduplicated", "rd.luks.uuid=" + u1 + " luks.uuid=" + u2 + " rd.luks.uuid=luks-" + u1,
			LUKS{Devices: []LUKSDevice{{UUID: u1, Listed: true}, {UUID: u2, Listed: true}}}, nil, nil},
		{"uuid prefix", "rd.luks.uuid=3b1e", LUKS{Devices: []LUKSDevice{{UUID: "3b1e", Listed: true}}}, nil, nil},
		{"uuid bad", "rd.luks.uuid=xyz rd.luks.uuid=luks- rd.luks.uuid=", LUKS{},
			[]string{"rd.luks.uuid=xyz: not a LUKS UUID, ignored", "rd.luks.uuid=luks-: not a LUKS UUID, ignored",
				"rd.luks.uuid=: not a LUKS UUID, ignored"}, nil},
		{"uuid bare", "rd.luks.uuid", LUKS{}, []string{"rd.luks.uuid: missing value, ignored"}, nil},
		{"name", "rd.luks.name=" + u1 + "=cryptroot",
			LUKS{Devices: []LUKSDevice{{UUID: u1, Name: "cryptroot", Listed: true}}}, nil, nil},
		{"name after uuid, last wins", "rd.luks.uuid=" + u1 + " luks.name=" + u1 + "=a rd.luks.name=luks-" + u1 + "=b",
			LUKS{Devices: []LUKSDevice{{UUID: u1, Name: "b", Listed: true}}}, nil, nil},
		{"name bad", "rd.luks.name=" + u1 + " rd.luks.name=" + u1 + "=a/b rd.luks.name=zz=x rd.luks.name=" + u1 + "=..",
			LUKS{}, []string{
				"rd.luks.name=" + u1 + ": not UUID=NAME, ignored",
				"rd.luks.name=" + u1 + "=a/b: not UUID=NAME, ignored",
				"rd.luks.name=zz=x: not UUID=NAME, ignored",
				"rd.luks.name=" + u1 + "=..: not UUID=NAME, ignored",
			}, nil},
		{"global options", "rd.luks.options=discard,tries=0",
			LUKS{Options: cryptopt.Options{Discard: true, TriesSet: true}, OptionsSet: true}, nil, nil},
		{"global options last wins", "rd.luks.options=discard luks.options=readonly",
			LUKS{Options: cryptopt.Options{ReadOnly: true}, OptionsSet: true}, nil, nil},
		{"global empty options", "rd.luks.options=",
			LUKS{OptionsSet: true}, nil, nil},
		{"per-device options", "rd.luks.options=" + u1 + "=no-read-workqueue,sector-size=4096",
			LUKS{Devices: []LUKSDevice{{UUID: u1, OptionsSet: true,
				Options: cryptopt.Options{NoReadWorkqueue: true, SectorSize: 4096}}}}, nil, nil},
		{"per-device empty options", "rd.luks.options=luks-" + u1 + "=",
			LUKS{Devices: []LUKSDevice{{UUID: u1, OptionsSet: true}}}, nil, nil},
		{"option problems", "rd.luks.options=tries=x,tpm2-device=auto,bogus",
			LUKS{Options: cryptopt.Options{TPM2Device: "auto", Unknown: []string{"bogus"}}, OptionsSet: true}, []string{
				"rd.luks.options=tries=x,tpm2-device=auto,bogus: tries=x: not a number 0-1000, using 3",
				"rd.luks.options=tries=x,tpm2-device=auto,bogus: tpm2-device=auto: TPM2 unlocking is not supported yet, asking for the passphrase",
				"rd.luks.options=tries=x,tpm2-device=auto,bogus: bogus: unknown option, ignored",
			}, nil},
		{"global key", "rd.luks.key=/etc/root.key",
			LUKS{Key: cryptopt.Key{File: "/etc/root.key"}}, nil, nil},
		{"global key on device", "rd.luks.key=/keys/root.key:LABEL=usbkey",
			LUKS{Key: cryptopt.Key{File: "/keys/root.key", Device: "LABEL=usbkey"}}, nil, nil},
		{"per-device key", "luks.key=" + u1 + "=/keys/a.key:UUID=1234-5678",
			LUKS{Devices: []LUKSDevice{{UUID: u1, Key: cryptopt.Key{File: "/keys/a.key", Device: "UUID=1234-5678"}}}}, nil, nil},
		{"dracut per-device key by UUID", "rd.luks.key=/k:UUID=1234-5678:UUID=luks-" + u1,
			LUKS{Devices: []LUKSDevice{{UUID: u1, Key: cryptopt.Key{File: "/k", Device: "UUID=1234-5678"}}}}, nil, nil},
		{"dracut per-device key by path", "rd.luks.key=/k:/dev/sdb1:/dev/sda2",
			LUKS{Devices: []LUKSDevice{{Device: "/dev/sda2", Key: cryptopt.Key{File: "/k", Device: "/dev/sdb1"}}}}, nil, nil},
		{"dracut per-device key in the image", "rd.luks.key=/k::UUID=" + u1,
			LUKS{Devices: []LUKSDevice{{UUID: u1, Key: cryptopt.Key{File: "/k"}}}}, nil, nil},
		{"dracut key with empty parts", "rd.luks.key=/k::", LUKS{Key: cryptopt.Key{File: "/k"}}, nil, nil},
		{"key on raw device", "rd.luks.key=/dev/sdb",
			LUKS{Key: cryptopt.Key{Device: "/dev/sdb"}}, nil, nil},
		{"key bad", "rd.luks.key=root.key rd.luks.key=none rd.luks.key=" + u1 + "=", LUKS{}, []string{
			"rd.luks.key=root.key: not PATH[:DEVICE], ignored",
			"rd.luks.key=none: not PATH[:DEVICE], ignored",
			"rd.luks.key=" + u1 + "=: not PATH[:DEVICE], ignored",
		}, nil},
		{"allow-discards bare", "rd.luks.allow-discards", LUKS{AllowDiscards: true}, nil, nil},
		{"allow_discards=1 then 0", "rd.luks.allow_discards=1 rd.luks.allow-discards=0", LUKS{}, nil, nil},
		{"allow-discards per device", "rd.luks.allow-discards=luks-" + u1,
			LUKS{Devices: []LUKSDevice{{UUID: u1, AllowDiscards: true}}}, nil, nil},
		{"allow-discards bad", "rd.luks.allow-discards=sda", LUKS{},
			[]string{"rd.luks.allow-discards=sda: not a LUKS UUID, ignored"}, nil},
		{"cryptdevice path", "cryptdevice=/dev/sda2:cryptroot",
			LUKS{Devices: []LUKSDevice{{Device: "/dev/sda2", Name: "cryptroot", Listed: true, CryptDevice: true}}}, nil, nil},
		{"cryptdevice UUID with options", "cryptdevice=UUID=" + strings.ToUpper(u1) + ":root:allow-discards,no-write-workqueue",
			LUKS{Devices: []LUKSDevice{{UUID: u1, Name: "root", Listed: true, CryptDevice: true, OptionsSet: true,
				Options: cryptopt.Options{Discard: true, NoWriteWorkqueue: true}}}}, nil, nil},
		{"cryptdevice LABEL", "cryptdevice=LABEL=crypt:root",
			LUKS{Devices: []LUKSDevice{{Device: "LABEL=crypt", Name: "root", Listed: true, CryptDevice: true}}}, nil, nil},
		{"cryptdevice last wins", "cryptdevice=/dev/sda2:a rd.luks.uuid=" + u2 + " cryptdevice=/dev/sda3:b",
			LUKS{Devices: []LUKSDevice{{UUID: u2, Listed: true},
				{Device: "/dev/sda3", Name: "b", Listed: true, CryptDevice: true}}}, nil, nil},
		{"cryptdevice bad", "cryptdevice=/dev/sda2 cryptdevice=sda2:root cryptdevice=UUID=zz:root cryptdevice", LUKS{}, []string{
			"cryptdevice=/dev/sda2: not DEVICE:NAME[:OPTIONS], ignored",
			"cryptdevice=sda2:root: not DEVICE:NAME[:OPTIONS], ignored",
			"cryptdevice=UUID=zz:root: not a LUKS UUID, ignored",
			"cryptdevice: missing value, ignored",
		}, nil},
		{"cryptkey rootfs", "cryptkey=rootfs:/crypto_keyfile.bin",
			LUKS{CryptKey: cryptopt.Key{File: "/crypto_keyfile.bin"}}, nil, nil},
		{"cryptkey file on device", "cryptkey=LABEL=usb:vfat:/keys/root.key",
			LUKS{CryptKey: cryptopt.Key{Device: "LABEL=usb", FSType: "vfat", File: "/keys/root.key"}}, nil, nil},
		{"cryptkey raw", "cryptkey=/dev/sdb:2048:512",
			LUKS{CryptKey: cryptopt.Key{Device: "/dev/sdb", Offset: 2048, Size: 512}}, nil, nil},
		{"cryptkey bad", "cryptkey=rootfs:key cryptkey=/dev/sdb:2048:0 cryptkey=/dev/sdb:ext4:key cryptkey=/dev/sdb cryptkey=sdb:ext4:/k", LUKS{}, []string{
			"cryptkey=rootfs:key: rootfs:PATH needs an absolute path, ignored",
			"cryptkey=/dev/sdb:2048:0: DEVICE:OFFSET:SIZE needs a size in bytes, ignored",
			"cryptkey=/dev/sdb:ext4:key: DEVICE:FSTYPE:PATH needs an absolute path, ignored",
			"cryptkey=/dev/sdb: not rootfs:PATH, DEVICE:FSTYPE:PATH or DEVICE:OFFSET:SIZE, ignored",
			"cryptkey=sdb:ext4:/k: not rootfs:PATH, DEVICE:FSTYPE:PATH or DEVICE:OFFSET:SIZE, ignored",
		}, nil},
		{"quoted", `"rd.luks.name=` + u1 + `=root"`,
			LUKS{Devices: []LUKSDevice{{UUID: u1, Name: "root", Listed: true}}}, nil, nil},
		{"after -- is for init", "-- rd.luks=0", LUKS{}, nil, []string{"rd.luks=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Parse(tt.line)
			if !reflect.DeepEqual(c.LUKS, tt.want) {
				t.Errorf("Parse(%q).LUKS =\n%+v\nwant\n%+v", tt.line, c.LUKS, tt.want)
			}
			if !reflect.DeepEqual(c.Problems, tt.problems) {
				t.Errorf("Parse(%q).Problems =\n%q\nwant\n%q", tt.line, c.Problems, tt.problems)
			}
			if !reflect.DeepEqual(c.InitArgs, tt.initArgs) {
				t.Errorf("Parse(%q).InitArgs = %q, want %q", tt.line, c.InitArgs, tt.initArgs)
			}
			if c.ModParams != nil {
				t.Errorf("Parse(%q).ModParams = %v, want none", tt.line, c.ModParams)
			}
		})
	}
}

func TestLUKSLookup(t *testing.T) {
	isSda2 := func(spec string) bool { return spec == "/dev/sda2" }
	tests := []struct {
		name    string
		line    string
		uuid    string
		match   func(string) bool
		want    LUKSDevice
		allowed bool
	}{
		{"defaults", "", u1, nil, LUKSDevice{UUID: u1, Name: "luks-" + u1}, true},
		{"upper case UUID in", "", strings.ToUpper(u1), nil, LUKSDevice{UUID: u1, Name: "luks-" + u1}, true},
		{"disabled", "rd.luks=0", u1, nil, LUKSDevice{UUID: u1, Name: "luks-" + u1}, false},
		{"listed", "rd.luks.uuid=" + u1, u1, nil, LUKSDevice{UUID: u1, Name: "luks-" + u1, Listed: true}, true},
		{"not listed", "rd.luks.uuid=" + u1, u2, nil, LUKSDevice{UUID: u2, Name: "luks-" + u2}, false},
		{"per-device options without listing", "rd.luks.options=" + u2 + "=discard", u2, nil,
			LUKSDevice{UUID: u2, Name: "luks-" + u2, OptionsSet: true, Options: cryptopt.Options{Discard: true}}, true},
		{"global options", "rd.luks.options=readonly rd.luks.name=" + u1 + "=root", u1, nil,
			LUKSDevice{UUID: u1, Name: "root", Listed: true, Options: cryptopt.Options{ReadOnly: true}}, true},
		{"own options beat global", "rd.luks.options=readonly rd.luks.options=" + u1 + "=tries=1", u1, nil,
			LUKSDevice{UUID: u1, Name: "luks-" + u1, OptionsSet: true, Options: cryptopt.Options{Tries: 1, TriesSet: true}}, true},
		{"global discards", "rd.luks.allow-discards rd.luks.options=" + u1 + "=readonly", u1, nil,
			LUKSDevice{UUID: u1, Name: "luks-" + u1, OptionsSet: true, Options: cryptopt.Options{ReadOnly: true, Discard: true}}, true},
		{"per-device discards", "rd.luks.allow-discards=" + u2, u2, nil,
			LUKSDevice{UUID: u2, Name: "luks-" + u2, AllowDiscards: true, Options: cryptopt.Options{Discard: true}}, true},
		{"per-device discards not others", "rd.luks.allow-discards=" + u2, u1, nil,
			LUKSDevice{UUID: u1, Name: "luks-" + u1}, true},
		{"uuid prefix, longest wins", "rd.luks.name=3b=short rd.luks.name=3b1e2c=long", u1, nil,
			LUKSDevice{UUID: u1, Name: "long", Listed: true}, true},
		{"global key with offsets", "rd.luks.key=/k rd.luks.options=keyfile-offset=4,keyfile-size=32", u1, nil,
			LUKSDevice{UUID: u1, Name: "luks-" + u1, Options: cryptopt.Options{KeyfileOffset: 4, KeyfileSize: 32},
				Key: cryptopt.Key{File: "/k", Offset: 4, Size: 32}}, true},
		{"own key beats global", "rd.luks.key=/k rd.luks.key=" + u1 + "=/mine", u1, nil,
			LUKSDevice{UUID: u1, Name: "luks-" + u1, Key: cryptopt.Key{File: "/mine"}}, true},
		{"cryptdevice by path", "cryptdevice=/dev/sda2:root:discard cryptkey=/dev/sdb:512:64", u1, isSda2,
			LUKSDevice{UUID: u1, Device: "/dev/sda2", Name: "root", Listed: true, CryptDevice: true, OptionsSet: true,
				Options: cryptopt.Options{Discard: true}, Key: cryptopt.Key{Device: "/dev/sdb", Offset: 512, Size: 64}}, true},
		{"cryptdevice by path, other device", "cryptdevice=/dev/sda2:root", u2, func(string) bool { return false },
			LUKSDevice{UUID: u2, Name: "luks-" + u2}, false},
		{"cryptdevice without match func", "cryptdevice=/dev/sda2:root", u2, nil,
			LUKSDevice{UUID: u2, Name: "luks-" + u2}, false},
		{"cryptkey before cryptdevice", "cryptkey=rootfs:/k cryptdevice=UUID=" + u1 + ":root", u1, nil,
			LUKSDevice{UUID: u1, Name: "root", Listed: true, CryptDevice: true, Key: cryptopt.Key{File: "/k"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Parse(tt.line)
			got, allowed := c.LUKS.Lookup(tt.uuid, tt.match)
			if !reflect.DeepEqual(got, tt.want) || allowed != tt.allowed {
				t.Errorf("Lookup(%q) after %q =\n%+v, %v\nwant\n%+v, %v", tt.uuid, tt.line, got, allowed, tt.want, tt.allowed)
			}
			if len(c.Problems) != 0 {
				t.Errorf("problems: %q", c.Problems)
			}
		})
	}
}

func TestLUKSRestricted(t *testing.T) {
	for line, want := range map[string]bool{
		"":                                   false,
		"rd.luks.options=" + u1 + "=discard": false,
		"rd.luks.key=" + u1 + "=/k":          false,
		"rd.luks.uuid=" + u1:                 true,
		"rd.luks.name=" + u1 + "=r":          true,
		"cryptdevice=/dev/sda2:r":            true,
	} {
		if got := Parse(line).LUKS.Restricted(); got != want {
			t.Errorf("Parse(%q).LUKS.Restricted() = %v, want %v", line, got, want)
		}
	}
}

func FuzzParseLUKS(f *testing.F) {
	for _, s := range []string{
		"rd.luks.uuid=luks-" + u1 + " rd.luks.name=" + u1 + "=root rd.luks.options=discard",
		"rd.luks.key=/k:UUID=1:UUID=" + u2 + " rd.luks.allow-discards=" + u2,
		"cryptdevice=UUID=" + u1 + ":root:allow-discards cryptkey=/dev/sdb:1:2",
		"cryptkey=LABEL=k:vfat:/a luks=0 rd.luks.crypttab=0",
	} {
		f.Add(s, u1)
	}
	f.Fuzz(func(t *testing.T, line, uuid string) {
		l := Parse(line).LUKS
		for _, d := range l.Devices {
			if d.UUID == "" && d.Device == "" {
				t.Errorf("device without UUID or spec: %+v", d)
			}
			if d.UUID != "" {
				if u, ok := luksUUID(d.UUID); !ok || u != d.UUID {
					t.Errorf("UUID not normalised: %q", d.UUID)
				}
			}
			if d.Name != "" && !cryptopt.ValidName(d.Name) {
				t.Errorf("bad mapping name %q", d.Name)
			}
		}
		d, _ := l.Lookup(uuid, func(string) bool { return true })
		if d.Name == "" {
			t.Errorf("Lookup(%q): no name", uuid)
		}
	})
}
