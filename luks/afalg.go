package luks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sectorCipher decrypts the 512-byte sectors of a keyslot area in place, sector n with the
// IV its cipher spec gives n.
type sectorCipher interface {
	decryptSector(sector []byte, n uint64) error
	Close()
}

// newSectorCipher is the kernel's implementation through AF_ALG. Tests on a host whose kernel
// lacks AF_ALG replace it with one built on Go's AES.
var newSectorCipher = newKernelCipher

// kernelCipher is a sectorCipher on AF_ALG transforms: the bulk cipher and, for ESSIV, the
// ecb cipher keyed with hash(key) that encrypts each IV.
type kernelCipher struct {
	spec  *cipherSpec
	bulk  *skcipher
	essiv *skcipher
	iv    []byte
}

func newKernelCipher(spec *cipherSpec, key []byte) (sectorCipher, error) {
	bulk, err := openSkcipher(spec.kernel, key, spec.ivSize)
	if err != nil {
		return nil, nameSpec(err, spec)
	}
	c := &kernelCipher{spec: spec, bulk: bulk, iv: make([]byte, spec.ivSize)}
	if spec.ivMode == "essiv" {
		newHash, err := hashByName(spec.ivHash)
		if err != nil {
			c.Close()
			return nil, err
		}
		h := newHash()
		h.Write(key)
		salt := h.Sum(nil)
		c.essiv, err = openSkcipher(spec.essivCipher(), salt, 0)
		clear(salt)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("essiv: %w", nameSpec(err, spec))
		}
	}
	return c, nil
}

// nameSpec puts the cryptsetup spec into a CipherError.
func nameSpec(err error, spec *cipherSpec) error {
	var ce *CipherError
	if errors.As(err, &ce) {
		ce.Spec = spec.spec
	}
	return err
}

func (c *kernelCipher) decryptSector(sector []byte, n uint64) error {
	c.spec.sectorIV(c.iv, n)
	if c.essiv != nil {
		if err := c.essiv.crypt(c.iv, c.iv, nil, opEncrypt); err != nil {
			return fmt.Errorf("essiv: %w", err)
		}
	}
	return c.bulk.crypt(sector, sector, c.iv, opDecrypt)
}

func (c *kernelCipher) Close() {
	c.bulk.Close()
	if c.essiv != nil {
		c.essiv.Close()
	}
}

// skcipher is one keyed kernel skcipher transform reached through AF_ALG: tfm is the bound
// socket holding the key, op the accepted socket requests go through.
type skcipher struct {
	tfm, op int
	oob     []byte // control messages: ALG_SET_OP decrypt, ALG_SET_IV
	iv      []byte // the IV bytes inside oob
}

// openSkcipher binds the kernel algorithm name (e.g. "xts(aes)") and sets key on it. The key
// is passed to the kernel from the caller's slice, without copies.
func openSkcipher(name string, key []byte, ivSize int) (*skcipher, error) {
	tfm, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_ALG socket (kernel needs CONFIG_CRYPTO_USER_API_SKCIPHER): %w", err)
	}
	c := &skcipher{tfm: tfm, op: -1}
	if err := unix.Bind(tfm, &unix.SockaddrALG{Type: "skcipher", Name: name}); err != nil {
		c.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, &CipherError{Kernel: name}
		}
		return nil, fmt.Errorf("AF_ALG bind %s: %w", name, err)
	}
	if len(key) == 0 {
		c.Close()
		return nil, fmt.Errorf("AF_ALG %s: empty key", name)
	}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(tfm), unix.SOL_ALG, unix.ALG_SET_KEY,
		uintptr(unsafe.Pointer(&key[0])), uintptr(len(key)), 0)
	if errno != 0 {
		c.Close()
		return nil, fmt.Errorf("AF_ALG %s: the kernel refuses a %d-byte key: %w", name, len(key), errno)
	}
	op, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(tfm), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		c.Close()
		return nil, fmt.Errorf("AF_ALG %s: accept: %w", name, errno)
	}
	c.op = int(op)
	c.buildOOB(ivSize)
	return c, nil
}

// buildOOB lays out the two control messages sent with every request.
func (c *skcipher) buildOOB(ivSize int) {
	opLen, ivLen := 4, 4+ivSize
	c.oob = make([]byte, unix.CmsgSpace(opLen)+unix.CmsgSpace(ivLen))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c.oob[0]))
	h.Level, h.Type = unix.SOL_ALG, unix.ALG_SET_OP
	h.SetLen(unix.CmsgLen(opLen))
	binary.NativeEndian.PutUint32(c.oob[unix.CmsgLen(0):], opDecrypt)
	second := unix.CmsgSpace(opLen)
	h = (*unix.Cmsghdr)(unsafe.Pointer(&c.oob[second]))
	h.Level, h.Type = unix.SOL_ALG, unix.ALG_SET_IV
	h.SetLen(unix.CmsgLen(ivLen))
	data := second + unix.CmsgLen(0)
	binary.NativeEndian.PutUint32(c.oob[data:], uint32(ivSize))
	c.iv = c.oob[data+4 : data+4+ivSize]
}

// crypt encrypts or decrypts (op) src into dst, same length, as one request with the given IV;
// with no IV (ecb) only the operation is sent.
func (c *skcipher) crypt(dst, src, iv []byte, op uint32) error {
	copy(c.iv, iv)
	binary.NativeEndian.PutUint32(c.oob[unix.CmsgLen(0):], op)
	oob := c.oob
	if len(c.iv) == 0 {
		oob = oob[:unix.CmsgSpace(4)]
	}
	n, err := unix.SendmsgN(c.op, src, oob, nil, 0)
	if err != nil {
		return fmt.Errorf("AF_ALG sendmsg: %w", err)
	}
	if n != len(src) {
		return fmt.Errorf("AF_ALG sendmsg: short write %d of %d", n, len(src))
	}
	for got := 0; got < len(dst); {
		n, err := unix.Read(c.op, dst[got:])
		if err != nil {
			return fmt.Errorf("AF_ALG read: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("AF_ALG read: short result %d of %d", got, len(dst))
		}
		got += n
	}
	return nil
}

func (c *skcipher) Close() {
	if c.op >= 0 {
		unix.Close(c.op)
		c.op = -1
	}
	if c.tfm >= 0 {
		unix.Close(c.tfm)
		c.tfm = -1
	}
	clear(c.oob)
}

// The AF_ALG operations.
const (
	opDecrypt = unix.ALG_OP_DECRYPT
	opEncrypt = unix.ALG_OP_ENCRYPT
)

// Prepare has the kernel build the transforms that unlocking and mapping the volume use
// (the data segment's and every keyslot's cipher, ESSIV's ecb cipher), binding an AF_ALG
// socket to each without a key. The kernel builds a composed algorithm such as "xts(aes)"
// at its first use, asking the modprobe helper on the way for modules of its names; a caller
// that prepares while the key is derived (seconds of Argon2) finds it built when Unlock
// needs it. Failures are left for Unlock to report.
func (h *Header) Prepare() {
	for _, name := range h.transforms() {
		bindTransform(name)
	}
}

// transforms are the kernel skcipher names of the segment's and the keyslots' ciphers, in
// order, without repeats.
func (h *Header) transforms() []string {
	var out []string
	for _, s := range h.cipherSpecs() {
		c, err := parseCipher(s)
		if err != nil {
			continue
		}
		names := []string{c.kernel}
		if c.ivMode == "essiv" && c.cipher != "" {
			names = append(names, c.essivCipher())
		}
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// essivCipher is the kernel name of the ecb cipher that encrypts ESSIV's IVs.
func (c *cipherSpec) essivCipher() string { return "ecb(" + c.cipher + ")" }

// bindTransform binds an AF_ALG skcipher socket to name and closes it; tests replace it.
var bindTransform = func(name string) {
	fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	_ = unix.Bind(fd, &unix.SockaddrALG{Type: "skcipher", Name: name})
	unix.Close(fd)
}
