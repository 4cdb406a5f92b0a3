package cryptopt

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		list     string
		want     Options
		problems []string
	}{
		{"", Options{}, nil},
		{" , ,", Options{}, nil},
		{"discard", Options{Discard: true}, nil},
		{"allow-discards", Options{Discard: true}, nil},
		{"allow_discards", Options{Discard: true}, nil},
		{"same-cpu-crypt", Options{SameCPUCrypt: true}, nil},
		{"submit-from-crypt-cpus", Options{SubmitFromCryptCPUs: true}, nil},
		{"submit_from_crypt_cpus", Options{SubmitFromCryptCPUs: true}, nil},
		{"no-read-workqueue", Options{NoReadWorkqueue: true}, nil},
		{"no-write-workqueue", Options{NoWriteWorkqueue: true}, nil},
		{"sector-size=4096", Options{SectorSize: 4096}, nil},
		{"sector-size=512", Options{SectorSize: 512}, nil},
		{"sector_size=1024", Options{SectorSize: 1024}, nil},
		{"sector-size=1000", Options{}, []string{"sector-size=1000: not a power of two from 512 to 4096, using the header's"}},
		{"sector-size=8192", Options{}, []string{"sector-size=8192: not a power of two from 512 to 4096, using the header's"}},
		{"sector-size=256", Options{}, []string{"sector-size=256: not a power of two from 512 to 4096, using the header's"}},
		{"sector-size=4096,sector-size=x", Options{SectorSize: 4096}, []string{"sector-size=x: not a power of two from 512 to 4096, using 4096"}},
		{"tries=5", Options{Tries: 5, TriesSet: true}, nil},
		{"tries=0", Options{Tries: 0, TriesSet: true}, nil},
		{"tries=x", Options{}, []string{"tries=x: not a number 0-1000, using 3"}},
		{"tries=-1", Options{}, []string{"tries=-1: not a number 0-1000, using 3"}},
		{"tries=+2", Options{}, []string{"tries=+2: not a number 0-1000, using 3"}},
		{"tries=1001", Options{}, []string{"tries=1001: not a number 0-1000, using 3"}},
		{"tries=2,tries=", Options{Tries: 2, TriesSet: true}, []string{"tries=: not a number 0-1000, using 2"}},
		{"tries=2,tries=7", Options{Tries: 7, TriesSet: true}, nil},
		{"keyfile-offset=1024", Options{KeyfileOffset: 1024}, nil},
		{"keyfile-size=64", Options{KeyfileSize: 64}, nil},
		{"keyfile-size=0", Options{}, nil},
		{"keyfile-size=-4", Options{}, []string{"keyfile-size=-4: not a number of bytes, using 0"}},
		{"keyfile-offset=99999999999999999999", Options{}, []string{"keyfile-offset=99999999999999999999: not a number of bytes, using 0"}},
		{"readonly", Options{ReadOnly: true}, nil},
		{"timeout=30", Options{Timeout: 30 * time.Second}, nil},
		{"timeout=0", Options{}, nil},
		{"keyfile-timeout=10s", Options{KeyfileTimeout: 10 * time.Second}, nil},
		{"keyfile-timeout=1min 30s", Options{KeyfileTimeout: 90 * time.Second}, nil},
		{"timeout=10s,timeout=1.5s", Options{Timeout: 10 * time.Second},
			[]string{"timeout=1.5s: not a time span (such as 30, 10s or 1min 30s), using 10s"}},
		{"verify", Options{Unsupported: []string{"verify"}}, []string{"verify: asking for the passphrase twice is not supported, asking once"}},
		{"read-only", Options{ReadOnly: true}, nil},
		{"header=/boot/hdr.img", Options{Header: "/boot/hdr.img"},
			[]string{"header=/boot/hdr.img: detached headers are not supported, reading the header from the device"}},
		{"tpm2-device=auto", Options{TPM2Device: "auto"},
			[]string{"tpm2-device=auto: TPM2 unlocking is not supported yet, asking for the passphrase"}},
		{"fido2-device=/dev/hidraw1", Options{FIDO2Device: "/dev/hidraw1"},
			[]string{"fido2-device=/dev/hidraw1: FIDO2 unlocking is not supported yet, asking for the passphrase"}},
		{"x-initrd.attach", Options{InitrdAttach: true}, nil},
		{"initramfs", Options{Initramfs: true}, nil},
		{"luks", Options{LUKS: true}, nil},
		{"nofail", Options{NoFail: true}, nil},
		{"noauto", Options{NoAuto: true}, nil},
		{"noauto,auto,nofail,fail", Options{}, nil},
		{"DISCARD", Options{Discard: true}, nil},
		{"discard=1", Options{}, []string{"discard=1: takes no value, ignored"}},
		{"plain", Options{Unsupported: []string{"plain"}}, []string{"plain: only LUKS devices are supported"}},
		{"keyscript=decrypt_keyctl", Options{Unsupported: []string{"keyscript=decrypt_keyctl"}},
			[]string{"keyscript=decrypt_keyctl: key scripts are not supported"}},
		{"cipher=aes-xts-plain64,size=512", Options{Unsupported: []string{"cipher=aes-xts-plain64", "size=512"}},
			[]string{"cipher=aes-xts-plain64: plain dm-crypt is not supported", "size=512: plain dm-crypt is not supported"}},
		{"bogus,x-foo=bar", Options{Unknown: []string{"bogus", "x-foo=bar"}},
			[]string{"bogus: unknown option, ignored", "x-foo=bar: unknown option, ignored"}},
		{"luks, discard ,tries=1,initramfs,keyfile-size=32,keyfile-offset=8", Options{
			LUKS: true, Discard: true, Tries: 1, TriesSet: true, Initramfs: true, KeyfileSize: 32, KeyfileOffset: 8,
		}, nil},
	}
	for _, tt := range tests {
		got, problems := Parse(tt.list)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.list, got, tt.want)
		}
		if !reflect.DeepEqual(problems, tt.problems) {
			t.Errorf("Parse(%q) problems = %q, want %q", tt.list, problems, tt.problems)
		}
	}
}

func TestParseTimespan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90", 90 * time.Second, true},
		{"10s", 10 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2min", 2 * time.Minute, true},
		{"1h", time.Hour, true},
		{"1min 30s", 90 * time.Second, true},
		{"1min30s", 90 * time.Second, true},
		{" 5 s ", 5 * time.Second, true},
		{"2 minutes", 2 * time.Minute, true},
		{"1000h", 1000 * time.Hour, true},
		{"1001h", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"s", 0, false},
		{"1.5s", 0, false},
		{"-1s", 0, false},
		{"10x", 0, false},
		{"10S", 0, false},
		{"1d", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseTimespan(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseTimespan(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMaxTries(t *testing.T) {
	tests := []struct {
		o    Options
		want int
	}{
		{Options{}, 3},
		{Options{Tries: 5}, 3},
		{Options{Tries: 5, TriesSet: true}, 5},
		{Options{TriesSet: true}, 0},
	}
	for _, tt := range tests {
		if got := tt.o.MaxTries(); got != tt.want {
			t.Errorf("%+v.MaxTries() = %d, want %d", tt.o, got, tt.want)
		}
	}
}

func TestTableFlags(t *testing.T) {
	tests := []struct {
		list string
		want []string
	}{
		{"", nil},
		{"sector-size=4096,readonly,tries=1", nil},
		{"no-write-workqueue,discard", []string{"allow_discards", "no_write_workqueue"}},
		{"same-cpu-crypt,submit-from-crypt-cpus,no-read-workqueue,no-write-workqueue,allow-discards",
			[]string{"allow_discards", "same_cpu_crypt", "submit_from_crypt_cpus", "no_read_workqueue", "no_write_workqueue"}},
	}
	for _, tt := range tests {
		o, _ := Parse(tt.list)
		if got := o.TableFlags(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q).TableFlags() = %q, want %q", tt.list, got, tt.want)
		}
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		want    Key
		wantErr string
	}{
		{"", Key{}, ""},
		{"none", Key{}, ""},
		{"-", Key{}, ""},
		{"/etc/keys/root.key", Key{File: "/etc/keys/root.key"}, ""},
		{"/keys/root.key:UUID=1234-ABCD", Key{File: "/keys/root.key", Device: "UUID=1234-ABCD"}, ""},
		{"/k:LABEL=usb:key", Key{File: "/k", Device: "LABEL=usb:key"}, ""},
		{"/k:label=usb", Key{File: "/k", Device: "label=usb"}, ""},
		{"/k:PARTUUID=0a1b2c3d-01", Key{File: "/k", Device: "PARTUUID=0a1b2c3d-01"}, ""},
		{"/k:PARTLABEL=keys", Key{File: "/k", Device: "PARTLABEL=keys"}, ""},
		{"/k:/dev/sdb1", Key{File: "/k", Device: "/dev/sdb1"}, ""},
		{"/dev/sdb", Key{Device: "/dev/sdb"}, ""},
		{"/dev/disk/by-path/pci-0000:00:1f.2-ata-1", Key{Device: "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"}, ""},
		{"/a:b", Key{File: "/a:b"}, ""},
		{"/k:UUID=", Key{File: "/k:UUID="}, ""},
		{"keys/root.key", Key{}, `key "keys/root.key": "keys/root.key" is not an absolute path`},
		{":UUID=abc", Key{}, `key ":UUID=abc": empty key file path`},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ParseKey(%q) = %+v, %q; want %+v, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestKeyWithOptions(t *testing.T) {
	o := Options{KeyfileOffset: 8, KeyfileSize: 32}
	tests := []struct {
		k, want Key
	}{
		{Key{}, Key{}},
		{Key{File: "/k"}, Key{File: "/k", Offset: 8, Size: 32}},
		{Key{Device: "/dev/sdb", Offset: 512, Size: 64}, Key{Device: "/dev/sdb", Offset: 512, Size: 64}},
	}
	for _, tt := range tests {
		if got := tt.k.WithOptions(o); got != tt.want {
			t.Errorf("%+v.WithOptions = %+v, want %+v", tt.k, got, tt.want)
		}
	}
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		k    Key
		want string
	}{
		{Key{}, "none"},
		{Key{File: "/k"}, "/k"},
		{Key{File: "/k", Device: "UUID=1", FSType: "vfat"}, "/k on UUID=1 (vfat)"},
		{Key{Device: "/dev/sdb", Offset: 512, Size: 64}, "device /dev/sdb [offset 512, size 64]"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.k, got, tt.want)
		}
	}
}

func TestIsDeviceSpec(t *testing.T) {
	for s, want := range map[string]bool{
		"UUID=x": true, "uuid=x": true, "LABEL=a b": true, "PARTUUID=1": true, "PARTLABEL=p": true,
		"/dev/sda2": true, "/": false, "": false, "UUID=": false, "sda2": false, "rootfs": false,
		"/dev/\x00": false, "8:2": false, "b302": false, "/dev/disk/by-uuid/x": true, "PARTUUID=1/PARTNROFF=x": false,
	} {
		if got := IsDeviceSpec(s); got != want {
			t.Errorf("IsDeviceSpec(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"discard,tries=0", "sector-size=4096,keyfile-size=1", "tpm2-device=auto,x-initrd.attach",
		"header=/h,bogus,,plain", "keyfile-offset=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		o, problems := Parse(list)
		if o.TriesSet && (o.Tries < 0 || o.Tries > maxTries) {
			t.Errorf("tries out of range: %d", o.Tries)
		}
		if o.SectorSize != 0 && (o.SectorSize < 512 || o.SectorSize > 4096 || o.SectorSize&(o.SectorSize-1) != 0) {
			t.Errorf("bad sector size %d", o.SectorSize)
		}
		if o.Timeout < 0 || o.Timeout > maxTimespan || o.KeyfileTimeout < 0 || o.KeyfileTimeout > maxTimespan {
			t.Errorf("time out of range: %v, %v", o.Timeout, o.KeyfileTimeout)
		}
		if o.KeyfileOffset < 0 || o.KeyfileSize < 0 {
			t.Errorf("negative key file range %d/%d", o.KeyfileOffset, o.KeyfileSize)
		}
		for _, p := range problems {
			if !strings.Contains(p, ": ") {
				t.Errorf("problem without reason: %q", p)
			}
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"/k:UUID=1", "/dev/sdb", "none", ":LABEL=x", "/a:b:/dev/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if k.File != "" && !strings.HasPrefix(k.File, "/") {
			t.Errorf("ParseKey(%q): relative file %q", s, k.File)
		}
		if k.Device != "" && !IsDeviceSpec(k.Device) {
			t.Errorf("ParseKey(%q): device %q is not a spec", s, k.Device)
		}
	})
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"cryptroot": true, "luks-3b1e2c1a-8c4d": true, "a.b_c-d": true, "": false, ".": false, "..": false,
		"a/b": false, "a b": false, "a\tb": false, "a\x7f": false, strings.Repeat("x", 127): true, strings.Repeat("x", 128): false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzParseTimespan(f *testing.F) {
	for _, s := range []string{"10s", "1min 30s", "1.5s", "99999999999999999999ms", "1000h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseTimespan(s)
		if ok && (d < 0 || d > maxTimespan) {
			t.Errorf("ParseTimespan(%q) = %v out of range", s, d)
		}
		if !ok && d != 0 {
			t.Errorf("ParseTimespan(%q) failed but returned %v", s, d)
		}
	})
}
