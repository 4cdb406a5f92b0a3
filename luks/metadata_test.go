package luks

import (
	"errors"
	"strings"
	"testing"
)

// baseJSON is the metadata cryptsetup 2.6.1 wrote for a LUKS2 luksFormat of a file
// (luksDump --dump-json-metadata), compacted.
const baseJSON = `{"keyslots":{"0":{"type":"luks2","key_size":64,"af":{"type":"luks1","stripes":4000,"hash":"sha256"},` +
	`"area":{"type":"raw","offset":"32768","size":"258048","encryption":"aes-xts-plain64","key_size":64},` +
	`"kdf":{"type":"argon2id","time":4,"memory":32768,"cpus":2,"salt":"y3ZKkpcynC9BNp8NHzBQkU9v3bIYVf1GxQW/JN2y4nw="}}},` +
	`"tokens":{},` +
	`"segments":{"0":{"type":"crypt","offset":"16777216","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}},` +
	`"digests":{"0":{"type":"pbkdf2","keyslots":["0"],"segments":["0"],"hash":"sha256","iterations":1000,` +
	`"salt":"yprwGLSFXTS8RzQ7fTd/xB2VerYkkHlkoWhjJBtDdvk=","digest":"YTN3arnoePkhcNlrwp6i/dZ+LLZWCfCBe5mANfnNtlc="}},` +
	`"config":{"json_size":"12288","keyslots_size":"16744448"}}`

// headerFromJSON runs the metadata checks on a JSON text as found in a 16 KiB header copy.
func headerFromJSON(text string) (*Header, error) {
	area := make([]byte, 12288)
	copy(area, text)
	m, err := parseMetadata(area)
	if err != nil {
		return nil, err
	}
	h := &Header{Version: 2}
	return h, m.fill(h, 16384, 64<<20)
}

func TestMetadata(t *testing.T) {
	seg := `"segments":{"0":{"type":"crypt","offset":"16777216","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}}`
	tests := []struct {
		name    string
		edit    func(string) string
		openErr string // from parsing
		segErr  string // from Segment
		want    Segment
	}{
		{name: "cryptsetup default", edit: func(s string) string { return s },
			want: Segment{Cipher: "aes-xts-plain64", KeySize: 64, Offset: 32768, Dynamic: true, SectorSize: 4096, Flags: nil}},
		{name: "fixed size, iv_tweak, flags", edit: func(s string) string {
			return strings.Replace(s, seg, `"segments":{"0":{"type":"crypt","offset":"1048576","size":"8388608","iv_tweak":"2048",`+
				`"encryption":"serpent-cbc-essiv:sha256","sector_size":512,"flags":["custom"]}}`, 1)
		}, want: Segment{Cipher: "serpent-cbc-essiv:sha256", KeySize: 64, Offset: 2048, Size: 16384, IVTweak: 2048, SectorSize: 512, Flags: []string{"custom"}}},
		{name: "integrity", edit: func(s string) string {
			return strings.Replace(s, `"sector_size":4096}`, `"sector_size":4096,"integrity":{"type":"hmac(sha256)","journal_encryption":"none","journal_integrity":"none"}}`, 1)
		}, segErr: `unsupported: segment 0 uses dm-integrity/AEAD (integrity "hmac(sha256)")`},
		{name: "linear segment", edit: func(s string) string {
			return strings.Replace(s, `"type":"crypt"`, `"type":"linear"`, 1)
		}, segErr: `unsupported: segment 0 of type "linear"`},
		{name: "unknown segment type", edit: func(s string) string {
			return strings.Replace(s, `"type":"crypt"`, `"type":"hw-opal"`, 1)
		}, segErr: `unsupported: segment 0 of type "hw-opal"`},
		{name: "two segments", edit: func(s string) string {
			return strings.Replace(s, `"sector_size":4096}}`, `"sector_size":4096},"1":{"type":"linear","offset":"0","size":"dynamic"}}`, 1)
		}, segErr: "unsupported: 2 data segments"},
		{name: "online reencryption", edit: func(s string) string {
			return strings.Replace(s, `"keyslots_size":"16744448"`, `"keyslots_size":"16744448","requirements":{"mandatory":["online-reencrypt-v2"]}`, 1)
		}, segErr: `unsupported: reencryption in progress (requirement "online-reencrypt-v2")`},
		{name: "unknown requirement", edit: func(s string) string {
			return strings.Replace(s, `"keyslots_size":"16744448"`, `"keyslots_size":"16744448","requirements":{"mandatory":["opal"]}`, 1)
		}, segErr: `unsupported: mandatory requirement "opal"`},
		{name: "bad sector size", edit: func(s string) string {
			return strings.Replace(s, `"sector_size":4096`, `"sector_size":3000`, 1)
		}, segErr: "sector size 3000"},
		{name: "offset as number", edit: func(s string) string {
			return strings.Replace(s, `"offset":"16777216"`, `"offset":16777216`, 1)
		}, openErr: "want a decimal string"},
		{name: "area beyond keyslots area", edit: func(s string) string {
			return strings.Replace(s, `"offset":"32768","size":"258048"`, `"offset":"16760000","size":"258048"`, 1)
		}, openErr: "keyslot 0: area offset"},
		{name: "area too small for stripes", edit: func(s string) string {
			return strings.Replace(s, `"size":"258048"`, `"size":"4096"`, 1)
		}, openErr: "smaller than 256000"},
		{name: "digest names a missing keyslot", edit: func(s string) string {
			return strings.Replace(s, `"keyslots":["0"]`, `"keyslots":["5"]`, 1)
		}, openErr: "digest 0: keyslots: 5 does not exist"},
		{name: "bad id", edit: func(s string) string {
			return strings.Replace(s, `"keyslots":{"0":`, `"keyslots":{"00":`, 1)
		}, openErr: `keyslot 00: bad id "00"`},
		{name: "stripes overflow", edit: func(s string) string {
			return strings.Replace(s, `"stripes":4000`, `"stripes":4611686018427387904`, 1)
		}, openErr: "keyslot 0: 4611686018427387904 stripes"},
		{name: "bad salt", edit: func(s string) string {
			return strings.Replace(s, `"salt":"y3ZK`, `"salt":"!!!`, 1)
		}, openErr: "kdf salt: not base64"},
		{name: "argon2 memory too large", edit: func(s string) string {
			return strings.Replace(s, `"memory":32768`, `"memory":99999999`, 1)
		}, openErr: "memory 99999999 KiB"},
		{name: "unknown kdf is reported at unlock", edit: func(s string) string {
			return strings.Replace(s, `"type":"argon2id"`, `"type":"scrypt"`, 1)
		}, want: Segment{Cipher: "aes-xts-plain64", KeySize: 64, Offset: 32768, Dynamic: true, SectorSize: 4096}},
		{name: "missing config", edit: func(s string) string {
			return strings.Replace(s, `"config":{"json_size":"12288",`, `"cfg":{"json_size":"12288",`, 1)
		}, openErr: "missing keyslots"},
		{name: "token without type", edit: func(s string) string {
			return strings.Replace(s, `"tokens":{}`, `"tokens":{"0":{"keyslots":["0"]}}`, 1)
		}, openErr: "token 0: no type"},
		{name: "not JSON", edit: func(string) string { return "{" }, openErr: "JSON offset 1: unexpected end"},
		{name: "a count as a string", edit: func(s string) string {
			return strings.Replace(s, `"stripes":4000`, `"stripes":"4000"`, 1)
		}, openErr: "keyslots 0: stripes: want a number, got a string"},
		{name: "an offset as a number", edit: func(s string) string {
			return strings.Replace(s, `"json_size":"12288"`, `"json_size":12288`, 1)
		}, openErr: "config: json_size: want a decimal string, got a number"},
		{name: "a fractional count", edit: func(s string) string {
			return strings.Replace(s, `"stripes":4000`, `"stripes":4e3`, 1)
		}, openErr: "stripes: 4e3 is not a 64-bit integer"},
		{name: "the last of duplicate members wins", edit: func(s string) string {
			return strings.Replace(s, `"sector_size":4096`, `"sector_size":512,"sector_size":4096`, 1)
		}, want: Segment{Cipher: "aes-xts-plain64", KeySize: 64, Offset: 32768, Dynamic: true, SectorSize: 4096}},
		{name: "integrity segment", edit: func(s string) string {
			return strings.Replace(s, `"sector_size":4096`, `"sector_size":4096,"integrity":{"type":"hmac(sha256)"}`, 1)
		}, segErr: `unsupported: segment 0 uses dm-integrity/AEAD (integrity "hmac(sha256)")`},
		{name: "token not an object", edit: func(s string) string {
			return strings.Replace(s, `"tokens":{}`, `"tokens":{"0":7}`, 1)
		}, openErr: "token 0: token: want an object, got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := headerFromJSON(tt.edit(baseJSON))
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("err = %v, want %q", err, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.Segment()
			if tt.segErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.segErr) {
					t.Fatalf("Segment: err = %v, want %q", err, tt.segErr)
				}
				if strings.HasPrefix(tt.segErr, "unsupported") && !errors.Is(err, ErrUnsupported) {
					t.Errorf("%v is not ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Cipher != tt.want.Cipher || got.KeySize != tt.want.KeySize || got.Offset != tt.want.Offset ||
				got.Size != tt.want.Size || got.Dynamic != tt.want.Dynamic || got.IVTweak != tt.want.IVTweak ||
				got.SectorSize != tt.want.SectorSize || strings.Join(got.Flags, ",") != strings.Join(tt.want.Flags, ",") {
				t.Errorf("Segment = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPersistentFlags(t *testing.T) {
	h, err := headerFromJSON(strings.Replace(baseJSON, `"keyslots_size":"16744448"`,
		`"keyslots_size":"16744448","flags":["allow-discards","no-read-workqueue"]`, 1))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Flags, ",") != "allow-discards,no-read-workqueue" {
		t.Errorf("Flags = %q", h.Flags)
	}
}

// TestUnknownKDFAtUnlock: a keyslot with a KDF this package lacks fails Unlock with an
// unsupported error; no keyslot checked the passphrase, so it is not ErrNoKeyslotMatched.
func TestUnknownKDFAtUnlock(t *testing.T) {
	h, err := headerFromJSON(strings.Replace(baseJSON, `"type":"argon2id"`, `"type":"scrypt"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	h.r, h.size = strings.NewReader(strings.Repeat("\x00", 1<<20)), 64<<20
	_, _, err = h.Unlock([]byte("x"))
	if errors.Is(err, ErrNoKeyslotMatched) || !errors.Is(err, ErrUnsupported) || err.Error() != `keyslot 0: unsupported: kdf "scrypt"` {
		t.Errorf("err = %v", err)
	}
}

// TestUnlockMixedFailures: one keyslot rejects the passphrase, another cannot be tried: the
// error says both.
func TestUnlockMixedFailures(t *testing.T) {
	text := strings.Replace(baseJSON, `"kdf":{"type":"argon2id","time":4,"memory":32768,"cpus":2,`, `"kdf":{"type":"pbkdf2","hash":"sha256","iterations":1000,`, 1)
	slot1 := `"1":{"type":"luks2","key_size":64,"af":{"type":"luks1","stripes":4000,"hash":"sha256"},` +
		`"area":{"type":"raw","offset":"290816","size":"258048","encryption":"aes-xts-plain64","key_size":64},` +
		`"kdf":{"type":"scrypt","salt":"y3ZKkpcynC9BNp8NHzBQkU9v3bIYVf1GxQW/JN2y4nw="}}},`
	text = strings.Replace(text, `}}},"tokens"`, `}},`+slot1+`"tokens"`, 1)
	text = strings.Replace(text, `"keyslots":["0"]`, `"keyslots":["0","1"]`, 1)
	h, err := headerFromJSON(text)
	if err != nil {
		t.Fatal(err)
	}
	h.r, h.size = strings.NewReader(strings.Repeat("\x00", 1<<20)), 64<<20
	_, _, err = h.Unlock([]byte("x"))
	if !errors.Is(err, ErrNoKeyslotMatched) || !errors.Is(err, ErrUnsupported) ||
		err.Error() != `no keyslot matched the passphrase; keyslot 1: unsupported: kdf "scrypt"` {
		t.Errorf("err = %v", err)
	}
}
