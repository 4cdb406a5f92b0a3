package luks

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/crypto/xts"
	"golang.org/x/sys/unix"
)

// This host's kernel may have no AF_ALG (a microVM kernel built without
// CONFIG_CRYPTO_USER_API_SKCIPHER). The header, KDF, AF and digest logic is then tested with
// keyslots decrypted by Go's AES, and the AF_ALG path by the tests that need it (which skip
// here, visibly, and run where the kernel has it, e.g. in the QEMU guest).

var hostHasAFALG = func() bool {
	fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}()

func TestMain(m *testing.M) {
	if !hostHasAFALG {
		fmt.Fprintln(os.Stderr, "luks tests: the host kernel has no AF_ALG; keyslots are decrypted with Go's AES in these tests (AES only)")
		newSectorCipher = newGoCipher
	}
	os.Exit(m.Run())
}

func needAFALG(tb testing.TB) {
	tb.Helper()
	if !hostHasAFALG {
		tb.Skip("the host kernel has no AF_ALG (algif_skcipher): cannot test the kernel cipher path here")
	}
}

// goCipher implements aes with xts or cbc and the plain/plain64/essiv IVs, for tests only.
type goCipher struct {
	spec  *cipherSpec
	xts   *xts.Cipher
	block cipher.Block
	essiv cipher.Block
	iv    []byte
}

func newGoCipher(spec *cipherSpec, key []byte) (sectorCipher, error) {
	if spec.cipher != "aes" {
		return nil, &CipherError{Spec: spec.spec, Kernel: spec.kernel + " (test double: AES only)"}
	}
	c := &goCipher{spec: spec, iv: make([]byte, spec.ivSize)}
	var err error
	switch spec.kernel {
	case "xts(aes)":
		if spec.ivMode != "plain64" {
			return nil, errors.New("test double: xts only with plain64")
		}
		c.xts, err = xts.NewCipher(aes.NewCipher, key)
	case "cbc(aes)":
		c.block, err = aes.NewCipher(key)
		if err == nil && spec.ivMode == "essiv" {
			h, _ := hashByName(spec.ivHash)
			sum := h()
			sum.Write(key)
			c.essiv, err = aes.NewCipher(sum.Sum(nil))
		}
	default:
		return nil, &CipherError{Spec: spec.spec, Kernel: spec.kernel + " (test double)"}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *goCipher) decryptSector(sector []byte, n uint64) error {
	if c.xts != nil {
		c.xts.Decrypt(sector, sector, n)
		return nil
	}
	c.spec.sectorIV(c.iv, n)
	if c.essiv != nil {
		c.essiv.Encrypt(c.iv, c.iv)
	}
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(sector, sector)
	return nil
}

func (c *goCipher) Close() {}
