package luks

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/blake2s"
	//lint:ignore SA1019 LUKS1 volumes made with --hash ripemd160 exist; reading them needs it.
	"golang.org/x/crypto/ripemd160"
)

// hashes are the hash names cryptsetup accepts for PBKDF2, AF diffusion, digests, ESSIV and
// header checksums that have a Go implementation (whirlpool, stribog and sm3 have none here).
var hashes = map[string]func() hash.Hash{
	"sha1":        sha1.New,
	"sha224":      sha256.New224,
	"sha256":      sha256.New,
	"sha384":      sha512.New384,
	"sha512":      sha512.New,
	"sha3-224":    func() hash.Hash { return sha3.New224() },
	"sha3-256":    func() hash.Hash { return sha3.New256() },
	"sha3-384":    func() hash.Hash { return sha3.New384() },
	"sha3-512":    func() hash.Hash { return sha3.New512() },
	"blake2b-160": func() hash.Hash { return mustHash(blake2b.New(20, nil)) },
	"blake2b-256": func() hash.Hash { return mustHash(blake2b.New256(nil)) },
	"blake2b-384": func() hash.Hash { return mustHash(blake2b.New384(nil)) },
	"blake2b-512": func() hash.Hash { return mustHash(blake2b.New512(nil)) },
	"blake2s-256": func() hash.Hash { return mustHash(blake2s.New256(nil)) },
	"ripemd160":   ripemd160.New,
}

// mustHash unwraps constructors that fail only for a key longer than allowed; they get none.
func mustHash(h hash.Hash, err error) hash.Hash {
	if err != nil {
		panic(err)
	}
	return h
}

func hashByName(name string) (func() hash.Hash, error) {
	if h, ok := hashes[strings.ToLower(name)]; ok {
		return h, nil
	}
	if name == "" {
		return nil, fmt.Errorf("no hash named")
	}
	return nil, unsupported("hash %q", name)
}

// KDF is a keyslot's key derivation function with the header's own costs.
type KDF struct {
	Type       string // "pbkdf2", "argon2i", "argon2id"
	Hash       string // pbkdf2 only
	Iterations int    // pbkdf2 iterations, or argon2 time cost
	MemoryKiB  uint32 // argon2 only
	Threads    uint8  // argon2 parallelism ("cpus")
	Salt       []byte
}

// maxArgon2MemoryKiB is the LUKS2 limit on argon2 memory cost (4 GiB).
const maxArgon2MemoryKiB = 4 * 1024 * 1024

func (k *KDF) validate() error {
	switch k.Type {
	case "pbkdf2":
		if _, err := hashByName(k.Hash); err != nil {
			return fmt.Errorf("pbkdf2: %w", err)
		}
		if k.Iterations < 1 {
			return fmt.Errorf("pbkdf2: %d iterations", k.Iterations)
		}
	case "argon2i", "argon2id":
		if k.Iterations < 1 || k.Iterations > math.MaxUint32 || k.MemoryKiB < 8*uint32(k.Threads) || k.MemoryKiB > maxArgon2MemoryKiB || k.Threads < 1 {
			return fmt.Errorf("%s: bad costs time=%d memory=%d cpus=%d", k.Type, k.Iterations, k.MemoryKiB, k.Threads)
		}
	default:
		return unsupported("kdf %q", k.Type)
	}
	if len(k.Salt) == 0 {
		return fmt.Errorf("%s: empty salt", k.Type)
	}
	return nil
}

// derive returns keyLen bytes derived from passphrase.
func (k *KDF) derive(passphrase []byte, keyLen int) ([]byte, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	switch k.Type {
	case "pbkdf2":
		h, _ := hashByName(k.Hash)
		return pbkdf2Key(passphrase, k.Salt, k.Iterations, keyLen, h), nil
	case "argon2i":
		return argon2.Key(passphrase, k.Salt, uint32(k.Iterations), k.MemoryKiB, k.Threads, uint32(keyLen)), nil
	default:
		return argon2.IDKey(passphrase, k.Salt, uint32(k.Iterations), k.MemoryKiB, k.Threads, uint32(keyLen)), nil
	}
}

// pbkdf2Key is PBKDF2 (RFC 8018) with HMAC-h. Each block of the output is an independent
// chain of iterations, so the blocks are computed in parallel: a 512-bit key from sha256 is
// two chains, from sha1 four, and cryptsetup sizes iteration counts for the whole key.
func pbkdf2Key(password, salt []byte, iter, keyLen int, h func() hash.Hash) []byte {
	size := h().Size()
	blocks := (keyLen + size - 1) / size
	out := make([]byte, blocks*size)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range blocks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			pbkdf2Block(out[i*size:(i+1)*size], password, salt, iter, uint32(i+1), h)
			<-sem
		}()
	}
	wg.Wait()
	key := append([]byte(nil), out[:keyLen]...)
	clear(out)
	return key
}

// pbkdf2Block computes block n: U1 = PRF(salt || be32(n)), Uj = PRF(Uj-1), T = U1 ^ … ^ Uiter.
func pbkdf2Block(t, password, salt []byte, iter int, n uint32, h func() hash.Hash) {
	prf := hmac.New(h, password)
	prf.Write(salt)
	prf.Write(binary.BigEndian.AppendUint32(nil, n))
	u := prf.Sum(nil)
	copy(t, u)
	for range iter - 1 {
		prf.Reset()
		prf.Write(u)
		u = prf.Sum(u[:0])
		for i := range t {
			t[i] ^= u[i]
		}
	}
	clear(u)
}
