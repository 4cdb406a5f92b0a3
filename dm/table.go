package dm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Target is one line of a device-mapper table: Length sectors of the device from sector
// Start are mapped by the target Type ("linear", "striped", "crypt", …) with its
// parameters Params. Sectors are 512 bytes whatever the devices' block size.
type Target struct {
	Start  uint64
	Length uint64
	Type   string
	Params string
}

// String returns the target as dmsetup prints a table line.
func (t Target) String() string {
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params)
}

// DevNum returns "MAJ:MIN", the form in which the builders name underlying devices: it
// needs no device node, and it is the form the kernel prints tables back in.
func DevNum(major, minor uint32) string { return fmt.Sprintf("%d:%d", major, minor) }

// checkWord rejects a table word that is empty or would split into several.
func checkWord(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if strings.ContainsAny(s, " \t\n\x00") {
		return fmt.Errorf("%s %q contains white space or NUL", what, s)
	}
	return nil
}

// Linear maps a range onto a contiguous range of another device.
type Linear struct {
	Device string // MAJ:MIN
	Offset uint64 // first sector on Device
}

// Params returns "<device> <offset>".
func (l Linear) Params() (string, error) {
	if err := checkWord("linear device", l.Device); err != nil {
		return "", err
	}
	return l.Device + " " + strconv.FormatUint(l.Offset, 10), nil
}

// Target returns the linear target for [start, start+length).
func (l Linear) Target(start, length uint64) (Target, error) {
	p, err := l.Params()
	if err != nil {
		return Target{}, err
	}
	return Target{Start: start, Length: length, Type: "linear", Params: p}, nil
}

// Stripe is one leg of a striped target.
type Stripe struct {
	Device string // MAJ:MIN
	Offset uint64 // first sector on Device
}

// Striped spreads a range over several devices in chunks (LVM's "striped" segments).
type Striped struct {
	ChunkSectors uint64 // chunk size in sectors (LVM: a power of two, at least 8)
	Stripes      []Stripe
}

// Params returns "<#stripes> <chunk sectors> <device> <offset>...". The kernel also needs
// the target's length to be a multiple of the chunk size times the stripe count (Target
// checks it).
func (s Striped) Params() (string, error) {
	if len(s.Stripes) == 0 {
		return "", errors.New("striped: no stripes")
	}
	if s.ChunkSectors == 0 {
		return "", errors.New("striped: chunk size 0")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d", len(s.Stripes), s.ChunkSectors)
	for i, st := range s.Stripes {
		if err := checkWord(fmt.Sprintf("striped: stripe %d device", i), st.Device); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " %s %d", st.Device, st.Offset)
	}
	return b.String(), nil
}

// Target returns the striped target for [start, start+length).
func (s Striped) Target(start, length uint64) (Target, error) {
	p, err := s.Params()
	if err != nil {
		return Target{}, err
	}
	if w := s.ChunkSectors * uint64(len(s.Stripes)); length%w != 0 {
		return Target{}, fmt.Errorf("striped: length %d is not a multiple of %d stripes of %d sectors", length, len(s.Stripes), s.ChunkSectors)
	}
	return Target{Start: start, Length: length, Type: "striped", Params: p}, nil
}

// KeyRef names a key in the kernel keyring for dm-crypt (kernel 4.10+): the table then
// holds ":<size>:<type>:<description>" instead of the key, and dm-crypt looks the key up
// in the keyrings of the process that loads the table (see package keyring). cryptsetup
// does this for LUKS2 with a "logon" key described "cryptsetup:<LUKS uuid>-d<digest>".
type KeyRef struct {
	Size        int    // key length in bytes
	Type        string // "logon" (the payload cannot be read back from user space)
	Description string
}

// String returns ":<size>:<type>:<description>".
func (k KeyRef) String() string {
	return fmt.Sprintf(":%d:%s:%s", k.Size, k.Type, k.Description)
}

func (k KeyRef) check() error {
	if k.Size <= 0 {
		return fmt.Errorf("key size %d", k.Size)
	}
	// dm-crypt also takes "user", "encrypted" and "trusted" keys, but a user key's payload
	// can be read back from user space: only logon keys are ever referenced.
	if k.Type != "logon" {
		return fmt.Errorf("key type %q: only logon keys are used", k.Type)
	}
	return checkWord("key description", k.Description)
}

// Crypt is a dm-crypt target (Documentation/admin-guide/device-mapper/dm-crypt.rst). The
// key is always a keyring reference: a table never carries key bytes.
type Crypt struct {
	Cipher   string // kernel cipher spec, e.g. "aes-xts-plain64" or "capi:xts(aes)-plain64"
	Key      KeyRef
	IVOffset uint64 // added to the sector number for the IV (LUKS2 iv_tweak)
	Device   string // MAJ:MIN
	Offset   uint64 // first sector of the encrypted data on Device

	AllowDiscards       bool   // allow_discards: pass TRIM down (leaks which blocks are unused)
	SameCPUCrypt        bool   // same_cpu_crypt
	SubmitFromCryptCPUs bool   // submit_from_crypt_cpus
	NoReadWorkqueue     bool   // no_read_workqueue
	NoWriteWorkqueue    bool   // no_write_workqueue
	SectorSize          uint32 // sector_size:<n> when not 0 or 512 (a power of two, 512-4096)
}

// Params returns "<cipher> <key> <iv_offset> <device> <offset> [<#opts> <opts>...]", with
// the optional words in the order the kernel prints them back, so that a loaded table
// reads back identical.
func (c Crypt) Params() (string, error) {
	if err := checkWord("crypt cipher", c.Cipher); err != nil {
		return "", err
	}
	if err := c.Key.check(); err != nil {
		return "", fmt.Errorf("crypt key: %w", err)
	}
	if err := checkWord("crypt device", c.Device); err != nil {
		return "", err
	}
	var opts []string
	for _, o := range []struct {
		on   bool
		word string
	}{
		{c.AllowDiscards, "allow_discards"},
		{c.SameCPUCrypt, "same_cpu_crypt"},
		{c.SubmitFromCryptCPUs, "submit_from_crypt_cpus"},
		{c.NoReadWorkqueue, "no_read_workqueue"},
		{c.NoWriteWorkqueue, "no_write_workqueue"},
	} {
		if o.on {
			opts = append(opts, o.word)
		}
	}
	switch s := c.SectorSize; {
	case s == 0 || s == 512:
	case s < 512 || s > 4096 || s&(s-1) != 0:
		return "", fmt.Errorf("crypt sector size %d is not a power of two from 512 to 4096", s)
	default:
		opts = append(opts, "sector_size:"+strconv.FormatUint(uint64(s), 10))
	}
	p := fmt.Sprintf("%s %s %d %s %d", c.Cipher, c.Key, c.IVOffset, c.Device, c.Offset)
	if len(opts) > 0 {
		p += fmt.Sprintf(" %d %s", len(opts), strings.Join(opts, " "))
	}
	return p, nil
}

// Target returns the crypt target for [start, start+length). With a SectorSize above 512,
// start and length must be multiples of it, as the kernel requires.
func (c Crypt) Target(start, length uint64) (Target, error) {
	p, err := c.Params()
	if err != nil {
		return Target{}, err
	}
	if c.SectorSize > 512 {
		if n := uint64(c.SectorSize / 512); start%n != 0 || length%n != 0 {
			return Target{}, fmt.Errorf("crypt: start %d and length %d must be multiples of the %d-byte sector", start, length, c.SectorSize)
		}
	}
	return Target{Start: start, Length: length, Type: "crypt", Params: p}, nil
}
