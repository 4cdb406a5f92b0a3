package luks

import (
	"bytes"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/pbkdf2"
)

// TestPBKDF2 checks the parallel PBKDF2 against RFC 6070's HMAC-SHA1 vectors and against
// x/crypto's sequential implementation for every hash and for keys of several blocks.
func TestPBKDF2(t *testing.T) {
	rfc6070 := []struct {
		pass, salt string
		iter, n    int
		want       string
	}{
		{"password", "salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{"password", "salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"},
		{"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
	}
	sha1, _ := hashByName("sha1")
	for _, v := range rfc6070 {
		got := pbkdf2Key([]byte(v.pass), []byte(v.salt), v.iter, v.n, sha1)
		if hex.EncodeToString(got) != v.want {
			t.Errorf("%s/%s/%d: %x, want %s", v.pass, v.salt, v.iter, got, v.want)
		}
	}
	for name, h := range hashes {
		for _, n := range []int{16, 32, 64, 100} {
			want := pbkdf2.Key([]byte("pass"), []byte("salt"), 37, n, h)
			if got := pbkdf2Key([]byte("pass"), []byte("salt"), 37, n, h); !bytes.Equal(got, want) {
				t.Errorf("%s, %d bytes: differs from x/crypto", name, n)
			}
		}
	}
}
