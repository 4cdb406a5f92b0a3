package luks

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

func TestParseCipher(t *testing.T) {
	tests := []struct {
		spec, kernel, iv string
		ivSize           int
		wantErr          bool
		unsupported      bool
	}{
		{spec: "aes-xts-plain64", kernel: "xts(aes)", iv: "plain64", ivSize: 16},
		{spec: "aes-cbc-essiv:sha256", kernel: "cbc(aes)", iv: "essiv", ivSize: 16},
		{spec: "aes-cbc-plain64", kernel: "cbc(aes)", iv: "plain64", ivSize: 16},
		{spec: "aes-cbc-plain", kernel: "cbc(aes)", iv: "plain", ivSize: 16},
		{spec: "serpent-xts-plain64", kernel: "xts(serpent)", iv: "plain64", ivSize: 16},
		{spec: "twofish-xts-plain64", kernel: "xts(twofish)", iv: "plain64", ivSize: 16},
		{spec: "twofish-cbc-essiv:sha256", kernel: "cbc(twofish)", iv: "essiv", ivSize: 16},
		{spec: "blowfish-cbc-plain64", kernel: "cbc(blowfish)", iv: "plain64", ivSize: 8},
		{spec: "camellia-xts-plain64be", kernel: "xts(camellia)", iv: "plain64be", ivSize: 16},
		{spec: "aes-lrw-benbi", kernel: "lrw(aes)", iv: "benbi", ivSize: 16},
		{spec: "aes-ecb", kernel: "ecb(aes)", iv: "", ivSize: 0},
		{spec: "cipher_null", kernel: "ecb(cipher_null)", iv: "", ivSize: 0},
		{spec: "cipher_null-ecb", kernel: "ecb(cipher_null)", iv: "", ivSize: 0},
		{spec: "capi:xts(aes)-plain64", kernel: "xts(aes)", iv: "plain64", ivSize: 16},
		{spec: "aes-xts-null", kernel: "xts(aes)", iv: "null", ivSize: 16},
		{spec: "aes", wantErr: true},
		{spec: "aes-xts", wantErr: true},
		{spec: "aes-ecb-plain64", wantErr: true},
		{spec: "AES(x)-xts-plain64", wantErr: true},
		{spec: "aes-cbc-essiv:md4", wantErr: true, unsupported: true},
		{spec: "aes-xts-lmk", wantErr: true, unsupported: true},
		{spec: "aes-xts-plain64:x", wantErr: true},
		{spec: "capi:xts", wantErr: true},
		{spec: "", wantErr: true},
	}
	for _, tt := range tests {
		c, err := parseCipher(tt.spec)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tt.spec)
			} else if errors.Is(err, ErrUnsupported) != tt.unsupported {
				t.Errorf("%q: err = %v, unsupported want %v", tt.spec, err, tt.unsupported)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if c.kernel != tt.kernel || c.ivMode != tt.iv || c.ivSize != tt.ivSize {
			t.Errorf("%q: kernel %q iv %q/%d, want %q %q/%d", tt.spec, c.kernel, c.ivMode, c.ivSize, tt.kernel, tt.iv, tt.ivSize)
		}
	}
}

func TestSectorIV(t *testing.T) {
	tests := []struct {
		spec   string
		sector uint64
		want   string
	}{
		{"aes-xts-plain64", 0x0102030405, "0504030201000000" + "0000000000000000"},
		{"aes-cbc-plain", 0x1_0000_0002, "02000000000000000000000000000000"},
		{"aes-cbc-plain64be", 0x0102, "00000000000000000000000000000102"},
		{"aes-cbc-essiv:sha256", 7, "07000000000000000000000000000000"}, // before encryption
		{"aes-lrw-benbi", 1, "00000000000000000000000000000021"},        // 32 blocks per sector, from 1
		{"blowfish-cbc-benbi", 1, "0000000000000041"},                   // 64 blocks per sector
		{"aes-xts-null", 99, "00000000000000000000000000000000"},
	}
	for _, tt := range tests {
		c, err := parseCipher(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		iv := make([]byte, c.ivSize)
		for i := range iv {
			iv[i] = 0xaa // must be overwritten
		}
		c.sectorIV(iv, tt.sector)
		if got := hex.EncodeToString(iv); got != tt.want {
			t.Errorf("%s sector %d: IV %s, want %s", tt.spec, tt.sector, got, tt.want)
		}
	}
}

// TestCipherErrorText: the diagnosis the boot shows names the spec and the kernel algorithm.
func TestCipherErrorText(t *testing.T) {
	err := error(&CipherError{Spec: "serpent-xts-plain64", Kernel: "xts(serpent)"})
	if got, want := err.Error(), "unsupported cipher serpent-xts-plain64: the kernel has no xts(serpent)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if !errors.Is(err, ErrUnsupported) {
		t.Error("CipherError is not ErrUnsupported")
	}
}

// TestKernelCipher exercises AF_ALG itself: the ESSIV, plain64 and xts plumbing against Go's
// AES (the stand-in the other tests use where the kernel has no AF_ALG).
func TestKernelCipher(t *testing.T) {
	needAFALG(t)
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	data := make([]byte, 4*sectorSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, spec := range []string{"aes-xts-plain64", "aes-cbc-essiv:sha256", "aes-cbc-plain64", "aes-cbc-plain"} {
		cs, err := parseCipher(spec)
		if err != nil {
			t.Fatal(err)
		}
		k, err := newKernelCipher(cs, key)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		g, err := newGoCipher(cs, key)
		if err != nil {
			t.Fatal(err)
		}
		a, b := append([]byte(nil), data...), append([]byte(nil), data...)
		for n := uint64(0); n < 4; n++ {
			if err := k.decryptSector(a[n*sectorSize:(n+1)*sectorSize], n+100); err != nil {
				t.Fatalf("%s: %v", spec, err)
			}
			g.decryptSector(b[n*sectorSize:(n+1)*sectorSize], n+100)
		}
		k.Close()
		if hex.EncodeToString(a) != hex.EncodeToString(b) {
			t.Errorf("%s: kernel and Go disagree", spec)
		}
	}
	_, err := newKernelCipher(&cipherSpec{spec: "nonesuch-xts-plain64", kernel: "xts(nonesuch)", ivSize: 16}, key)
	if !errors.Is(err, ErrUnsupported) || err.Error() != "unsupported cipher nonesuch-xts-plain64: the kernel has no xts(nonesuch)" {
		t.Errorf("missing cipher: %v", err)
	}
}

// TestKernelCiphersOnDemand: non-AES ciphers and their ESSIV variants, whose modules the
// kernel loads on the first AF_ALG bind, open and transform data.
func TestKernelCiphersOnDemand(t *testing.T) {
	needAFALG(t)
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(i)
	}
	for _, tt := range []struct {
		spec string
		key  int
	}{
		{"serpent-xts-plain64", 64}, {"twofish-xts-plain64", 64}, {"serpent-cbc-essiv:sha256", 32},
		{"twofish-cbc-plain64", 32}, {"aes-xts-plain64", 32},
	} {
		cs, err := parseCipher(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		c, err := newKernelCipher(cs, key[:tt.key])
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		a, b := make([]byte, sectorSize), make([]byte, sectorSize)
		if err := c.decryptSector(a, 1); err != nil {
			t.Errorf("%s: %v", tt.spec, err)
		}
		if err := c.decryptSector(b, 2); err != nil {
			t.Errorf("%s: %v", tt.spec, err)
		}
		c.Close()
		if string(a) == string(make([]byte, sectorSize)) || string(a) == string(b) {
			t.Errorf("%s: sectors 1 and 2 of zeros decrypt to zeros or to the same bytes", tt.spec)
		}
	}
}

func TestCipherAlgorithms(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"aes-xts-plain64", []string{"xts", "aes"}},
		{"serpent-cbc-plain64", []string{"cbc", "serpent"}},
		{"twofish-cbc-essiv:sha256", []string{"cbc", "twofish", "essiv", "sha256"}},
		{"aes-ecb", []string{"ecb", "aes"}},
		{"capi:xts(camellia)-plain64", []string{"xts", "camellia"}},
		{"capi:cbc(aes)-essiv:sha512", nil}, // refused: essiv with a capi: name
	}
	for _, tt := range tests {
		c, err := parseCipher(tt.spec)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%q: no error", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.spec, err)
		}
		if got := c.algorithms(); !slices.Equal(got, tt.want) {
			t.Errorf("%q: algorithms %q, want %q", tt.spec, got, tt.want)
		}
	}
}
