package dm

import (
	"strings"
	"testing"
)

var testKey = KeyRef{Size: 64, Type: "logon", Description: "cryptsetup:0b2c3a9e-1111-4e3c-9d7a-5f0e9c1a2b3c-d0"}

func TestCryptParams(t *testing.T) {
	const key = ":64:logon:cryptsetup:0b2c3a9e-1111-4e3c-9d7a-5f0e9c1a2b3c-d0"
	for _, tc := range []struct {
		name string
		c    Crypt
		want string
	}{
		{"luks2 defaults", Crypt{Cipher: "aes-xts-plain64", Key: testKey, Device: "8:2", Offset: 32768},
			"aes-xts-plain64 " + key + " 0 8:2 32768"},
		{"512-byte sectors stay implicit", Crypt{Cipher: "aes-xts-plain64", Key: testKey, Device: "8:2", SectorSize: 512},
			"aes-xts-plain64 " + key + " 0 8:2 0"},
		{"iv tweak and 4k", Crypt{Cipher: "aes-xts-plain64", Key: testKey, IVOffset: 77, Device: "253:1", Offset: 4096, SectorSize: 4096},
			"aes-xts-plain64 " + key + " 77 253:1 4096 1 sector_size:4096"},
		{"every option, kernel order", Crypt{Cipher: "capi:xts(aes)-plain64", Key: testKey, Device: "259:3", Offset: 1,
			AllowDiscards: true, SameCPUCrypt: true, SubmitFromCryptCPUs: true, NoReadWorkqueue: true, NoWriteWorkqueue: true,
			SectorSize: 2048},
			"capi:xts(aes)-plain64 " + key + " 0 259:3 1 6 allow_discards same_cpu_crypt submit_from_crypt_cpus no_read_workqueue no_write_workqueue sector_size:2048"},
		{"discards only", Crypt{Cipher: "serpent-cbc-essiv:sha256", Key: KeyRef{32, "logon", "cryptsetup:u-d1"}, Device: "8:17", Offset: 4096, AllowDiscards: true},
			"serpent-cbc-essiv:sha256 :32:logon:cryptsetup:u-d1 0 8:17 4096 1 allow_discards"},
	} {
		got, err := tc.c.Params()
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCryptRejects(t *testing.T) {
	ok := Crypt{Cipher: "aes-xts-plain64", Key: testKey, Device: "8:2"}
	for _, tc := range []struct {
		name string
		edit func(*Crypt)
		want string
	}{
		{"no cipher", func(c *Crypt) { c.Cipher = "" }, "cipher"},
		{"spaced cipher", func(c *Crypt) { c.Cipher = "aes xts" }, "cipher"},
		{"no device", func(c *Crypt) { c.Device = "" }, "device"},
		{"key size 0", func(c *Crypt) { c.Key.Size = 0 }, "key size"},
		{"hex key as type", func(c *Crypt) { c.Key.Type = "00112233" }, "key type"},
		{"readable user key", func(c *Crypt) { c.Key.Type = "user" }, "only logon keys"},
		{"no description", func(c *Crypt) { c.Key.Description = "" }, "description"},
		{"spaced description", func(c *Crypt) { c.Key.Description = "a: b" }, "description"},
		{"sector 1024+1", func(c *Crypt) { c.SectorSize = 1025 }, "sector size"},
		{"sector 8192", func(c *Crypt) { c.SectorSize = 8192 }, "sector size"},
		{"sector 256", func(c *Crypt) { c.SectorSize = 256 }, "sector size"},
	} {
		c := ok
		tc.edit(&c)
		if _, err := c.Params(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCryptTarget(t *testing.T) {
	c := Crypt{Cipher: "aes-xts-plain64", Key: testKey, Device: "8:2", SectorSize: 4096}
	tg, err := c.Target(0, 2048)
	if err != nil || tg.Type != "crypt" || tg.Length != 2048 || !strings.HasSuffix(tg.Params, "sector_size:4096") {
		t.Errorf("Target: %+v, %v", tg, err)
	}
	if _, err := c.Target(0, 2049); err == nil {
		t.Error("length not a multiple of the 4096-byte sector accepted")
	}
	if _, err := c.Target(4, 8); err == nil {
		t.Error("start not a multiple of the 4096-byte sector accepted")
	}
}

func TestLinear(t *testing.T) {
	tg, err := Linear{Device: "8:1", Offset: 2048}.Target(0, 1000)
	if err != nil || tg != (Target{0, 1000, "linear", "8:1 2048"}) {
		t.Errorf("linear: %+v, %v", tg, err)
	}
	if _, err := (Linear{Device: "8 1"}).Params(); err == nil {
		t.Error("device with a space accepted")
	}
	if _, err := (Linear{}).Target(0, 8); err == nil {
		t.Error("empty device accepted")
	}
}

func TestStriped(t *testing.T) {
	s := Striped{ChunkSectors: 128, Stripes: []Stripe{{"8:1", 2048}, {"8:17", 2048}, {"253:4", 0}}}
	tg, err := s.Target(0, 3*128*10)
	if err != nil || tg != (Target{0, 3840, "striped", "3 128 8:1 2048 8:17 2048 253:4 0"}) {
		t.Errorf("striped: %+v, %v", tg, err)
	}
	for _, tc := range []struct {
		name   string
		s      Striped
		length uint64
	}{
		{"no stripes", Striped{ChunkSectors: 8}, 8},
		{"chunk 0", Striped{Stripes: []Stripe{{"8:1", 0}}}, 8},
		{"empty device", Striped{ChunkSectors: 8, Stripes: []Stripe{{"", 0}}}, 8},
		{"length not a multiple", Striped{ChunkSectors: 8, Stripes: []Stripe{{"8:1", 0}, {"8:2", 0}}}, 24},
	} {
		if _, err := tc.s.Target(0, tc.length); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestTargetString(t *testing.T) {
	if got := (Target{0, 8, "linear", "8:1 0"}).String(); got != "0 8 linear 8:1 0" {
		t.Errorf("String = %q", got)
	}
	if got := DevNum(259, 1048575); got != "259:1048575" {
		t.Errorf("DevNum = %q", got)
	}
}
