package luks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrNoKeyslotMatched is returned by Unlock when the passphrase opens no usable keyslot.
var ErrNoKeyslotMatched = errors.New("no keyslot matched the passphrase")

// ErrNotLUKS is returned by Open when neither a LUKS1 nor a LUKS2 header is found.
var ErrNotLUKS = errors.New("not a LUKS device")

// errMismatch is a keyslot whose recovered key fails its digest: a wrong passphrase.
var errMismatch = errors.New("passphrase does not match")

var (
	magic1 = []byte("LUKS\xba\xbe")
	magic2 = []byte("SKUL\xba\xbe") // LUKS2 secondary header
)

const sectorSize = 512

// Priority is a LUKS2 keyslot priority; Unlock tries High before Normal and never Ignore.
type Priority int

// Keyslot priorities as stored in LUKS2 metadata (LUKS1 keyslots are all Normal).
const (
	PriorityIgnore Priority = 0
	PriorityNormal Priority = 1
	PriorityHigh   Priority = 2
)

// Keyslot describes one active keyslot.
type Keyslot struct {
	ID       int
	Type     string // "luks1" for LUKS1, "luks2" or "reencrypt" for LUKS2
	Priority Priority
	KeySize  int // bytes of the volume key it holds
	KDF      KDF

	AreaOffset  uint64 // bytes from the start of the device
	AreaSize    uint64 // bytes
	AreaCipher  string // cryptsetup spec of the key material's encryption
	AreaKeySize int    // bytes derived by the KDF
	Stripes     int    // anti-forensic stripes
	AFHash      string // hash of the anti-forensic diffusion
}

// Token is a LUKS2 token: a hint that another mechanism (TPM2, FIDO2, …) can open keyslots.
type Token struct {
	ID       int
	Type     string // "systemd-tpm2", "systemd-fido2", "luks2-keyring", …
	Keyslots []int
}

// Segment is the encrypted data area, what a dm-crypt table needs besides the key:
//
//	0 <size> crypt <Cipher> :<KeySize>:logon:<KeyDescription> <IVTweak> <device> <Offset> [sector_size:<SectorSize>]
//
// with size the device's size minus Offset when Dynamic, and the sector_size option only
// when SectorSize is not 512.
type Segment struct {
	// Cipher is the spec as cryptsetup and dm-crypt write it ("aes-xts-plain64").
	Cipher  string
	KeySize int // bytes of the volume key
	// Offset and Size are in 512-byte sectors; Dynamic means "to the end of the device".
	Offset  uint64
	Size    uint64
	Dynamic bool
	// IVTweak is the dm-crypt iv_offset, in 512-byte sectors.
	IVTweak uint64
	// SectorSize is the encryption sector size in bytes (512 … 4096).
	SectorSize int
	Flags      []string
}

// digest checks a candidate volume key (LUKS1 mk-digest, LUKS2 digest of type pbkdf2).
type digest struct {
	id         int
	keyslots   []int
	segments   []int
	hash       string
	iterations int
	salt       []byte
	value      []byte
}

// Header is a parsed, checked LUKS header and the device it came from.
type Header struct {
	Version   int    // 1 or 2
	Label     string // LUKS2 only
	Subsystem string // LUKS2 only
	// Seqid is the LUKS2 sequence number of the header copy in use; Secondary says that copy
	// is the secondary one (the primary is damaged or older).
	Seqid     uint64
	Secondary bool
	// Flags are LUKS2's persistent activation flags (config.flags), which cryptsetup applies
	// on every open: "allow-discards", "same-cpu-crypt", "submit-from-crypt-cpus",
	// "no-read-workqueue", "no-write-workqueue", …
	Flags []string

	uuid     string
	keyslots []Keyslot // in the order Unlock tries them
	tokens   []Token
	digests  []digest
	segID    int
	segment  Segment
	segErr   error // why the data segment cannot be opened, if it cannot

	r    io.ReaderAt
	size int64
}

// Open reads and checks the LUKS header of a device of size bytes (0 if unknown: offsets are
// then only checked by reading them). r is kept for Unlock, which reads the keyslot areas.
func Open(r io.ReaderAt, size int64) (*Header, error) {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var h *Header
	var err error
	switch {
	case bytes.Equal(head[:6], magic1) && head[6] == 0 && head[7] == 1:
		h, err = openLUKS1(r, size)
	default:
		// LUKS2, or a device whose primary LUKS2 header is damaged: the secondary decides.
		h, err = openLUKS2(r, size)
	}
	if err != nil {
		return nil, err
	}
	h.r, h.size = r, size
	return h, nil
}

// UUID returns the LUKS UUID as stored ("xxxxxxxx-xxxx-…").
func (h *Header) UUID() string { return h.uuid }

// Keyslots returns the active keyslots: priority high, then normal, then ignore; ids
// ascending within each. Unlock tries them in this order, skipping "ignore" and keyslots
// whose key is not the data segment's.
func (h *Header) Keyslots() []Keyslot { return append([]Keyslot(nil), h.keyslots...) }

// Tokens returns the LUKS2 tokens (none for LUKS1).
func (h *Header) Tokens() []Token { return append([]Token(nil), h.tokens...) }

// Segment returns the data segment for dm-crypt, or an error wrapping ErrUnsupported for
// layouts this package does not open (dm-integrity/AEAD, reencryption, unknown types).
// Call it before asking for a passphrase.
func (h *Header) Segment() (Segment, error) {
	if h.segErr != nil {
		return Segment{}, h.segErr
	}
	s := h.segment
	s.Flags = append([]string(nil), s.Flags...)
	return s, nil
}

// DMUUID is the device-mapper UUID cryptsetup gives the mapping name, which lets the booted
// system's cryptsetup and systemd recognise the device as theirs:
// "CRYPT-LUKS<version>-<uuid without dashes>-<name>". (The default name, "luks-<UUID>", is
// cmdline.LUKS.Lookup's; dm.Control.Create checks the kernel's length limit.)
func (h *Header) DMUUID(name string) string {
	return fmt.Sprintf("CRYPT-LUKS%d-%s-%s", h.Version, strings.ReplaceAll(h.uuid, "-", ""), name)
}

// KeyDescription is the description cryptsetup gives the volume key when it loads it into the
// kernel keyring as a "logon" key for dm-crypt: "cryptsetup:<UUID>-d<digest id>", the digest
// being the one that certifies the data segment's key (0 for LUKS1, which has one).
func (h *Header) KeyDescription() string {
	id := 0
	for _, d := range h.digests {
		if slices.Contains(d.segments, h.segID) {
			id = d.id
			break
		}
	}
	return fmt.Sprintf("cryptsetup:%s-d%d", h.uuid, id)
}

// cString returns a NUL-terminated string field.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// validUUID accepts the printable form LUKS stores (cryptsetup allows any ASCII without
// spaces; it writes 36-character RFC 4122 UUIDs).
func validUUID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '/' {
			return false
		}
	}
	return true
}

// String summarises the header for logs and the rescue shell; it holds nothing secret:
// "LUKS2 <uuid>: aes-xts-plain64, 512-bit key, 4096-byte sectors; keyslots 0 argon2id;
// tokens 1 systemd-tpm2 (keyslots 0)".
func (h *Header) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "LUKS%d %s: ", h.Version, h.uuid)
	if h.segErr != nil {
		b.WriteString(h.segErr.Error())
	} else {
		fmt.Fprintf(&b, "%s, %d-bit key, %d-byte sectors", h.segment.Cipher, h.segment.KeySize*8, h.segment.SectorSize)
	}
	b.WriteString("; keyslots")
	for _, ks := range h.keyslots {
		kdf := ks.KDF.Type
		if ks.Type != "luks1" && ks.Type != "luks2" {
			kdf = ks.Type
		}
		fmt.Fprintf(&b, " %d %s", ks.ID, kdf)
		if ks.Priority != PriorityNormal {
			fmt.Fprintf(&b, " (%s)", ks.Priority)
		}
	}
	if len(h.keyslots) == 0 {
		b.WriteString(" none")
	}
	if len(h.tokens) > 0 {
		b.WriteString("; tokens")
		for _, t := range h.tokens {
			fmt.Fprintf(&b, " %d %s (keyslots %s)", t.ID, t.Type, strings.Trim(fmt.Sprint(t.Keyslots), "[]"))
		}
	}
	return b.String()
}

func (p Priority) String() string {
	switch p {
	case PriorityIgnore:
		return "ignore"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "prefer"
	}
	return fmt.Sprintf("priority %d", int(p))
}
