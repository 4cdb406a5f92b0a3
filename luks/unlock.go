package luks

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
)

// VolumeKey is a recovered volume (master) key. Wipe it as soon as the kernel has it.
type VolumeKey struct {
	key []byte
}

// Bytes returns the key itself (not a copy): hand it to the kernel keyring, then Wipe.
func (k *VolumeKey) Bytes() []byte { return k.key }

// Len is the key size in bytes.
func (k *VolumeKey) Len() int { return len(k.key) }

// Wipe zeroes the key.
func (k *VolumeKey) Wipe() {
	if k != nil {
		clear(k.key)
		k.key = nil
	}
}

// String and GoString never show the key, whatever verb formats it.
func (k VolumeKey) String() string   { return fmt.Sprintf("luks.VolumeKey(%d bytes)", len(k.key)) }
func (k VolumeKey) GoString() string { return k.String() }

// Unlock tries passphrase on every usable keyslot whose key opens the data segment (LUKS2:
// high priority first, then normal; priority "ignore" never) and returns the volume key and
// the keyslot that held it. When the passphrase was checked and no keyslot accepts it, the
// error wraps ErrNoKeyslotMatched, and also the first other failure met on the way (an
// unsupported cipher, an I/O error), if any. When no keyslot could check it at all, the error
// is the first failure alone (errors.Is(err, ErrUnsupported) for a missing cipher).
func (h *Header) Unlock(passphrase []byte) (*VolumeKey, int, error) {
	var firstErr error
	checked := false
	for _, ks := range h.keyslots {
		if ks.Priority == PriorityIgnore || !h.opensSegment(ks.ID) {
			continue
		}
		vk, err := h.UnlockSlot(passphrase, ks.ID)
		switch {
		case err == nil:
			return vk, ks.ID, nil
		case errors.Is(err, errMismatch):
			checked = true
		case firstErr == nil:
			firstErr = err
		}
	}
	switch {
	case firstErr == nil:
		if !checked {
			return nil, -1, errors.New("no keyslot holds the data segment's key")
		}
		return nil, -1, ErrNoKeyslotMatched
	case checked:
		return nil, -1, fmt.Errorf("%w; %w", ErrNoKeyslotMatched, firstErr)
	default:
		return nil, -1, firstErr
	}
}

// opensSegment says whether keyslot id holds the data segment's key (LUKS2 may hold keys for
// nothing: unbound keyslots).
func (h *Header) opensSegment(id int) bool {
	d := h.digestFor(id)
	return d != nil && slices.Contains(d.segments, h.segID)
}

func (h *Header) digestFor(slot int) *digest {
	for i := range h.digests {
		if slices.Contains(h.digests[i].keyslots, slot) {
			return &h.digests[i]
		}
	}
	return nil
}

// UnlockSlot tries passphrase on keyslot id only. A wrong passphrase gives an error that
// says so (and is not ErrNoKeyslotMatched).
func (h *Header) UnlockSlot(passphrase []byte, id int) (*VolumeKey, error) {
	i := slices.IndexFunc(h.keyslots, func(k Keyslot) bool { return k.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("keyslot %d: not active", id)
	}
	key, err := h.unlockSlot(passphrase, &h.keyslots[i])
	if err != nil {
		return nil, fmt.Errorf("keyslot %d: %w", id, err)
	}
	return key, nil
}

func (h *Header) unlockSlot(passphrase []byte, ks *Keyslot) (*VolumeKey, error) {
	if ks.Type != "luks1" && ks.Type != "luks2" {
		return nil, unsupported("keyslot type %q", ks.Type)
	}
	d := h.digestFor(ks.ID)
	if d == nil {
		return nil, errors.New("no digest covers it")
	}
	spec, err := parseCipher(ks.AreaCipher)
	if err != nil {
		return nil, err
	}
	afHash, err := hashByName(ks.AFHash)
	if err != nil {
		return nil, fmt.Errorf("anti-forensic hash: %w", err)
	}
	afLen := ks.KeySize * ks.Stripes
	material := make([]byte, roundUp(uint64(afLen), sectorSize))
	defer clear(material)
	if h.size > 0 && ks.AreaOffset+uint64(len(material)) > uint64(h.size) {
		return nil, fmt.Errorf("key material at %d runs past the device's end", ks.AreaOffset)
	}
	if _, err := h.r.ReadAt(material, int64(ks.AreaOffset)); err != nil {
		return nil, fmt.Errorf("read key material: %w", err)
	}
	derived, err := ks.KDF.derive(passphrase, ks.AreaKeySize)
	if err != nil {
		return nil, err
	}
	err = decryptSectors(spec, derived, material)
	clear(derived)
	if err != nil {
		return nil, err
	}
	key, err := afMerge(material[:afLen], ks.KeySize, ks.Stripes, afHash)
	if err != nil {
		return nil, err
	}
	vk := &VolumeKey{key: key}
	if err := d.verify(key); err != nil {
		vk.Wipe()
		return nil, err
	}
	return vk, nil
}

// verify checks a candidate key against the digest: PBKDF2(key, salt) = value.
func (d *digest) verify(key []byte) error {
	h, err := hashByName(d.hash)
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	got := pbkdf2Key(key, d.salt, d.iterations, len(d.value), h)
	defer clear(got)
	if subtle.ConstantTimeCompare(got, d.value) != 1 {
		return errMismatch
	}
	return nil
}

// decryptSectors decrypts data in place, a whole number of 512-byte sectors numbered from 0.
func decryptSectors(spec *cipherSpec, key, data []byte) error {
	c, err := newSectorCipher(spec, key)
	if err != nil {
		return err
	}
	defer c.Close()
	for n := uint64(0); n*sectorSize < uint64(len(data)); n++ {
		if err := c.decryptSector(data[n*sectorSize:(n+1)*sectorSize], n); err != nil {
			return fmt.Errorf("%s: sector %d: %w", spec.kernel, n, err)
		}
	}
	return nil
}
