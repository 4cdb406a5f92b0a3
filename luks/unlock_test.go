package luks

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestUnlockFormats formats images with cryptsetup in many formats, unlocks them, and checks
// the volume key against cryptsetup's luksDump --dump-volume-key and the keyslot against
// cryptsetup open --test-passphrase.
func TestUnlockFormats(t *testing.T) {
	needCryptsetup(t)
	luks1 := []string{"--type", "luks1", "--pbkdf-force-iterations", "1000"}
	tests := []struct {
		name    string
		args    []string
		version int
		cipher  string
		keySize int
		sector  int
		offset  uint64
	}{
		{"luks1 aes-xts sha256", append(luks1, "--hash", "sha256"), 1, "aes-xts-plain64", 64, 512, 4096},
		{"luks1 aes-xts sha1", append(luks1, "--hash", "sha1"), 1, "aes-xts-plain64", 64, 512, 4096},
		{"luks1 aes-xts-256 sha512", append(luks1, "--hash", "sha512", "--key-size", "256"), 1, "aes-xts-plain64", 32, 512, 4096},
		{"luks1 aes-cbc-essiv", append(luks1, "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"), 1, "aes-cbc-essiv:sha256", 32, 512, 4096},
		{"luks1 aes-cbc-plain64", append(luks1, "--cipher", "aes-cbc-plain64", "--key-size", "128"), 1, "aes-cbc-plain64", 16, 512, 2048},
		{"luks1 aes-cbc-plain", append(luks1, "--cipher", "aes-cbc-plain", "--key-size", "256"), 1, "aes-cbc-plain", 32, 512, 4096},
		{"luks1 serpent-xts", append(luks1, "--cipher", "serpent-xts-plain64"), 1, "serpent-xts-plain64", 64, 512, 4096},
		{"luks1 twofish-xts", append(luks1, "--cipher", "twofish-xts-plain64"), 1, "twofish-xts-plain64", 64, 512, 4096},
		{"luks1 ripemd160", append(luks1, "--hash", "ripemd160"), 1, "aes-xts-plain64", 64, 512, 4096},
		{"luks2 pbkdf2 sha3-256", append([]string{"--type", "luks2", "--hash", "sha3-256"}, fastPBKDF2...), 2, "aes-xts-plain64", 64, 4096, 32768},
		{"luks2 pbkdf2 blake2b-512", append([]string{"--type", "luks2", "--hash", "blake2b-512"}, fastPBKDF2...), 2, "aes-xts-plain64", 64, 4096, 32768},
		{"luks2 argon2id", append([]string{"--type", "luks2"}, fastArgon2...), 2, "aes-xts-plain64", 64, 4096, 32768},
		{"luks2 argon2i", append([]string{"--type", "luks2"}, fastArgon2i...), 2, "aes-xts-plain64", 64, 4096, 32768},
		{"luks2 pbkdf2 sha512", append([]string{"--type", "luks2", "--hash", "sha512"}, fastPBKDF2...), 2, "aes-xts-plain64", 64, 4096, 32768},
		{"luks2 sector 512", append([]string{"--type", "luks2", "--sector-size", "512"}, fastPBKDF2...), 2, "aes-xts-plain64", 64, 512, 32768},
		{"luks2 essiv", append([]string{"--type", "luks2", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"}, fastPBKDF2...), 2, "aes-cbc-essiv:sha256", 32, 4096, 32768},
		{"luks2 offset", append([]string{"--type", "luks2", "--offset", "65536"}, fastPBKDF2...), 2, "aes-xts-plain64", 64, 4096, 65536},
		{"luks2 serpent", append([]string{"--type", "luks2", "--cipher", "serpent-xts-plain64"}, fastPBKDF2...), 2, "serpent-xts-plain64", 64, 4096, 32768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needCipher(t, tt.cipher, tt.keySize)
			img := format(t, 40, "correct horse", tt.args...)
			h := openImage(t, img)
			if h.Version != tt.version {
				t.Errorf("Version = %d, want %d", h.Version, tt.version)
			}
			seg, err := h.Segment()
			if err != nil {
				t.Fatalf("Segment: %v", err)
			}
			want := Segment{Cipher: tt.cipher, KeySize: tt.keySize, Offset: tt.offset, Dynamic: true, SectorSize: tt.sector}
			if seg.Cipher != want.Cipher || seg.KeySize != want.KeySize || seg.Offset != want.Offset ||
				seg.Dynamic != want.Dynamic || seg.SectorSize != want.SectorSize || seg.IVTweak != 0 {
				t.Errorf("Segment = %+v, want %+v", seg, want)
			}
			if slot := checkUnlock(t, h, img, "correct horse"); slot != 0 {
				t.Errorf("slot %d, want 0", slot)
			}
			_, _, err = h.Unlock([]byte("correct horse "))
			if !errors.Is(err, ErrNoKeyslotMatched) {
				t.Errorf("wrong passphrase: err = %v, want ErrNoKeyslotMatched", err)
			}
		})
	}
}

// TestUnlockSlotThreeOfFour: four passphrases in keyslots 0-3; each opens its own keyslot.
func TestUnlockSlotThreeOfFour(t *testing.T) {
	needCryptsetup(t)
	for _, typ := range []string{"luks1", "luks2"} {
		t.Run(typ, func(t *testing.T) {
			args := append([]string{"--type", typ}, fastPBKDF2...)
			img := format(t, 40, "zero", append(args, "--key-slot", "0")...)
			for i, p := range []string{"one", "two", "three"} {
				addKey(t, img, "zero", p, string(rune('1'+i)), fastPBKDF2...)
			}
			h := openImage(t, img)
			if n := len(h.Keyslots()); n != 4 {
				t.Fatalf("%d keyslots, want 4", n)
			}
			if slot := checkUnlock(t, h, img, "three"); slot != 3 {
				t.Errorf("slot %d, want 3", slot)
			}
			if _, err := h.UnlockSlot([]byte("three"), 2); err == nil || errors.Is(err, ErrNoKeyslotMatched) {
				t.Errorf("UnlockSlot(three, 2) = %v, want a mismatch", err)
			}
			if _, err := h.UnlockSlot([]byte("three"), 5); err == nil {
				t.Error("UnlockSlot on an empty keyslot succeeded")
			}
		})
	}
}

// TestKeyslotPriority: a keyslot marked "ignore" is never tried; "prefer" is tried first.
func TestKeyslotPriority(t *testing.T) {
	needCryptsetup(t)
	args := append([]string{"--type", "luks2"}, fastPBKDF2...)
	img := format(t, 40, "zero", append(args, "--key-slot", "0")...)
	addKey(t, img, "zero", "one", "1", fastPBKDF2...)
	addKey(t, img, "zero", "two", "2", fastPBKDF2...)
	run(t, "config", "--priority", "ignore", "--key-slot", "1", img)
	run(t, "config", "--priority", "prefer", "--key-slot", "2", img)
	h := openImage(t, img)
	var order []int
	for _, ks := range h.Keyslots() {
		order = append(order, ks.ID)
	}
	if want := []int{2, 0, 1}; !slices.Equal(order, want) {
		t.Errorf("keyslot order %v, want %v", order, want)
	}
	if got, want := h.String(), "; keyslots 2 pbkdf2 (prefer) 0 pbkdf2 1 pbkdf2 (ignore)"; !strings.HasSuffix(got, want) {
		t.Errorf("String = %q, want suffix %q", got, want)
	}
	if _, _, err := h.Unlock([]byte("one")); !errors.Is(err, ErrNoKeyslotMatched) {
		t.Errorf("passphrase of an ignored keyslot: err = %v, want ErrNoKeyslotMatched", err)
	}
	if slot := checkUnlock(t, h, img, "two"); slot != 2 {
		t.Errorf("slot %d, want 2", slot)
	}
}

// TestUnsupportedHash: a LUKS1 header whose hash has no Go implementation is refused by Open
// with an "unsupported" error, not misread.
func TestUnsupportedHash(t *testing.T) {
	needCryptsetup(t)
	img := format(t, 20, "pw", "--type", "luks1", "--hash", "whirlpool", "--pbkdf-force-iterations", "1000")
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Open(f, 20<<20)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `unsupported: hash "whirlpool"`) {
		t.Errorf("Open: err = %v, want unsupported hash whirlpool", err)
	}
}

// TestVolumeKeyNeverPrinted: no format verb shows key bytes; Wipe zeroes them.
func TestVolumeKeyNeverPrinted(t *testing.T) {
	raw := []byte{0xde, 0xad, 0xbe, 0xef}
	vk := &VolumeKey{key: raw}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{vk, *vk} {
			if s := fmt.Sprintf(f, v); strings.Contains(strings.ToLower(s), "dead") || strings.Contains(s, "222") {
				t.Errorf("%s shows the key: %s", f, s)
			}
		}
	}
	vk.Wipe()
	if !slices.Equal(raw, make([]byte, 4)) || vk.Len() != 0 {
		t.Errorf("after Wipe: %x, len %d", raw, vk.Len())
	}
}
