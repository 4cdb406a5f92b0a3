package luks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// ErrUnsupported is matched (errors.Is) by every error about a layout, cipher or feature this
// package recognises but does not handle. Such volumes are never guessed at.
var ErrUnsupported = errors.New("unsupported")

// UnsupportedError names what is not supported; its text starts with "unsupported".
type UnsupportedError struct {
	What string
}

func (e *UnsupportedError) Error() string        { return "unsupported: " + e.What }
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

func unsupported(format string, args ...any) error {
	return &UnsupportedError{What: fmt.Sprintf(format, args...)}
}

// CipherError says that the kernel's crypto API has no implementation of a cipher (bind on
// the AF_ALG socket failed with ENOENT): the module providing Kernel is missing.
type CipherError struct {
	Spec   string // cryptsetup spec, "serpent-xts-plain64"
	Kernel string // kernel crypto API name, "xts(serpent)"
}

func (e *CipherError) Error() string {
	return fmt.Sprintf("unsupported cipher %s: the kernel has no %s", e.Spec, e.Kernel)
}
func (e *CipherError) Is(target error) bool { return target == ErrUnsupported }

// cipherSpec is a cryptsetup cipher specification ("aes-xts-plain64") taken apart: the kernel
// algorithm for the bulk cipher and how each sector's IV is made.
type cipherSpec struct {
	spec    string // as written in the header
	cipher  string // base cipher, "aes"; empty when given as a kernel name (capi:)
	kernel  string // skcipher name for AF_ALG, "xts(aes)"
	ivMode  string // "", plain, plain64, plain64be, essiv, benbi, null
	ivHash  string // essiv's hash
	ivSize  int    // bytes; 0 for ecb
	blockSz int    // cipher block size in bytes
}

// blockSizes are the block sizes of the ciphers dm-crypt users meet; unknown ones are assumed
// to have 16-byte blocks, which is what every modern block cipher in the kernel uses.
var blockSizes = map[string]int{
	"blowfish": 8, "cast5": 8, "des": 8, "des3_ede": 8,
}

// parseCipher splits a LUKS cipher name and mode ("aes", "xts-plain64") or a full spec
// ("aes-xts-plain64", "capi:xts(aes)-plain64") into what AF_ALG needs.
func parseCipher(spec string) (*cipherSpec, error) {
	c := &cipherSpec{spec: spec}
	var chain, iv string
	if rest, ok := strings.CutPrefix(spec, "capi:"); ok {
		// capi:KERNELNAME-IVMODE; the kernel name itself may hold dashes inside parentheses.
		i := strings.LastIndexByte(rest, ')')
		if i < 0 {
			return nil, fmt.Errorf("cipher %q: malformed capi: name", spec)
		}
		c.kernel = rest[:i+1]
		iv = strings.TrimPrefix(rest[i+1:], "-")
		c.blockSz = 16
		if open := strings.LastIndexByte(c.kernel, '('); open >= 0 {
			inner := strings.TrimRight(c.kernel[open+1:], ")")
			if bs, ok := blockSizes[inner]; ok {
				c.blockSz = bs
			}
			chain = c.kernel[:strings.IndexByte(c.kernel, '(')]
		}
	} else {
		parts := strings.SplitN(spec, "-", 3)
		c.cipher = parts[0]
		switch len(parts) {
		case 1:
			if c.cipher != "cipher_null" {
				return nil, fmt.Errorf("cipher %q: no mode", spec)
			}
			chain = "ecb"
		case 2:
			chain = parts[1]
		default:
			chain, iv = parts[1], parts[2]
		}
		if !validName(c.cipher) || !validName(chain) {
			return nil, fmt.Errorf("cipher %q: malformed", spec)
		}
		c.kernel = chain + "(" + c.cipher + ")"
		c.blockSz = 16
		if bs, ok := blockSizes[c.cipher]; ok {
			c.blockSz = bs
		}
	}
	if err := c.parseIV(chain, iv); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cipherSpec) parseIV(chain, iv string) error {
	mode, opt, _ := strings.Cut(iv, ":")
	c.ivMode = mode
	switch mode {
	case "":
		if chain != "ecb" {
			return fmt.Errorf("cipher %q: mode %s needs an IV generator", c.spec, chain)
		}
		return nil
	case "plain", "plain64", "plain64be", "null", "benbi":
		if opt != "" {
			return fmt.Errorf("cipher %q: IV %s takes no option", c.spec, mode)
		}
	case "essiv":
		if _, err := hashByName(opt); err != nil {
			return fmt.Errorf("cipher %q: essiv: %w", c.spec, err)
		}
		if c.cipher == "" {
			return unsupported("cipher %s: essiv with a capi: name", c.spec)
		}
		c.ivHash = opt
	default:
		return unsupported("cipher %s: IV generator %q", c.spec, mode)
	}
	if chain == "ecb" {
		return fmt.Errorf("cipher %q: ecb takes no IV", c.spec)
	}
	c.ivSize = c.blockSz
	return nil
}

// validName accepts the characters of kernel crypto algorithm and cryptsetup mode names.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// sectorIV writes the IV of 512-byte sector n into iv (len ivSize). essiv, when used,
// encrypts the result in place.
func (c *cipherSpec) sectorIV(iv []byte, n uint64) {
	clear(iv)
	switch c.ivMode {
	case "plain":
		binary.LittleEndian.PutUint32(iv, uint32(n))
	case "plain64", "essiv":
		binary.LittleEndian.PutUint64(iv, n)
	case "plain64be":
		binary.BigEndian.PutUint64(iv[len(iv)-8:], n)
	case "benbi":
		// Big-endian count of cipher blocks, starting at 1 for the sector's first block.
		shift := 9 - (bits.Len(uint(c.blockSz)) - 1)
		binary.BigEndian.PutUint64(iv[len(iv)-8:], n<<shift+1)
	}
}

// algorithms returns the kernel crypto API names the spec is built from, as the kernel asks
// for their modules ("crypto-<name>"): the chaining mode and the cipher of its skcipher name
// ("xts", "aes"), and for ESSIV the template and its hash ("essiv", "sha256").
func (c *cipherSpec) algorithms() []string {
	names := strings.FieldsFunc(c.kernel, func(r rune) bool { return r == '(' || r == ')' || r == ',' })
	if c.ivMode == "essiv" {
		names = append(names, "essiv", c.ivHash)
	}
	return names
}

// Algorithms returns the kernel crypto algorithms the volume needs, sorted and without
// repeats: those of the data segment's cipher and of every keyslot's key material cipher
// ("aes", "xts"; "cbc", "essiv", "sha256" for cbc-essiv:sha256). The kernel loads each
// through the module alias "crypto-<name>", so an image builder resolves those aliases to
// carry the modules. Hashes and KDFs computed in Go are not listed. Ciphers that cannot be
// parsed, and the segment of a layout Segment refuses, are left out.
func (h *Header) Algorithms() []string {
	var out []string
	for _, s := range h.cipherSpecs() {
		if c, err := parseCipher(s); err == nil {
			out = append(out, c.algorithms()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cipherSpecs are the cryptsetup cipher specs of the data segment (unless Segment refuses
// its layout) and of every keyslot's key material, in that order.
func (h *Header) cipherSpecs() []string {
	specs := make([]string, 0, len(h.keyslots)+1)
	if h.segErr == nil {
		specs = append(specs, h.segment.Cipher)
	}
	for _, ks := range h.keyslots {
		specs = append(specs, ks.AreaCipher)
	}
	return specs
}
