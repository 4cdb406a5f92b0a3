package luks

import (
	"encoding/binary"
	"fmt"
	"io"
)

// LUKS1 header layout (all integers big-endian).
const (
	luks1HeaderSize   = 592
	luks1Keyslots     = 8
	luks1KeyslotBase  = 208
	luks1KeyslotSize  = 48
	luks1SlotEnabled  = 0x00AC71F3
	luks1SlotDisabled = 0x0000DEAD
	luks1DigestSize   = 20
	luks1SaltSize     = 32
	maxKeyBytes       = 512
	maxAFBytes        = 64 << 20 // key material larger than this is not a real keyslot
)

func openLUKS1(r io.ReaderAt, size int64) (*Header, error) {
	buf := make([]byte, luks1HeaderSize)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("luks1: read header: %w", err)
	}
	return parseLUKS1(buf, size)
}

// parseLUKS1 checks a 592-byte LUKS1 header; size bounds the offsets it names (0: unknown).
func parseLUKS1(buf []byte, size int64) (*Header, error) {
	if len(buf) < luks1HeaderSize {
		return nil, fmt.Errorf("luks1: header is %d bytes, want %d", len(buf), luks1HeaderSize)
	}
	if string(buf[:6]) != string(magic1) || binary.BigEndian.Uint16(buf[6:]) != 1 {
		return nil, ErrNotLUKS
	}
	be := binary.BigEndian
	cipher := cString(buf[8:40])
	mode := cString(buf[40:72])
	hashName := cString(buf[72:104])
	payload := be.Uint32(buf[104:])
	keyBytes := int(be.Uint32(buf[108:]))
	h := &Header{Version: 1, uuid: cString(buf[168:208])}
	if !validUUID(h.uuid) {
		return nil, fmt.Errorf("luks1: malformed UUID %q", h.uuid)
	}
	if _, err := hashByName(hashName); err != nil {
		return nil, fmt.Errorf("luks1: hash: %w", err)
	}
	if keyBytes < 1 || keyBytes > maxKeyBytes {
		return nil, fmt.Errorf("luks1: key size %d bytes", keyBytes)
	}
	spec := cipher + "-" + mode
	if _, err := parseCipher(spec); err != nil {
		return nil, fmt.Errorf("luks1: %w", err)
	}
	mkIter := int(be.Uint32(buf[164:]))
	if mkIter < 1 {
		return nil, fmt.Errorf("luks1: master key digest has %d iterations", mkIter)
	}
	d := digest{
		hash:       hashName,
		iterations: mkIter,
		salt:       append([]byte(nil), buf[132:164]...),
		value:      append([]byte(nil), buf[112:132]...),
		segments:   []int{0},
	}
	for i := range luks1Keyslots {
		ks, active, err := parseLUKS1Keyslot(buf[luks1KeyslotBase+i*luks1KeyslotSize:], i, keyBytes, payload)
		if err != nil {
			return nil, fmt.Errorf("luks1: keyslot %d: %w", i, err)
		}
		if !active {
			continue
		}
		ks.KDF.Hash, ks.AFHash, ks.AreaCipher = hashName, hashName, spec
		h.keyslots = append(h.keyslots, ks)
		d.keyslots = append(d.keyslots, i)
	}
	h.digests = []digest{d}
	if size > 0 && uint64(payload)*sectorSize > uint64(size) {
		return nil, fmt.Errorf("luks1: payload offset %d sectors beyond the device's end", payload)
	}
	h.segment = Segment{Cipher: spec, KeySize: keyBytes, Offset: uint64(payload), Dynamic: true, SectorSize: sectorSize}
	return h, nil
}

func parseLUKS1Keyslot(b []byte, id, keyBytes int, payload uint32) (Keyslot, bool, error) {
	be := binary.BigEndian
	switch be.Uint32(b) {
	case luks1SlotDisabled:
		return Keyslot{}, false, nil
	case luks1SlotEnabled:
	default:
		return Keyslot{}, false, fmt.Errorf("state 0x%08x is neither enabled nor disabled", be.Uint32(b))
	}
	iter := int(be.Uint32(b[4:]))
	offset := uint64(be.Uint32(b[40:]))
	stripes := int(be.Uint32(b[44:]))
	if iter < 1 {
		return Keyslot{}, false, fmt.Errorf("%d iterations", iter)
	}
	if stripes < 1 || stripes > maxAFBytes/keyBytes {
		return Keyslot{}, false, fmt.Errorf("%d stripes", stripes)
	}
	area := roundUp(uint64(keyBytes*stripes), sectorSize)
	if offset*sectorSize < luks1HeaderSize || payload != 0 && offset*sectorSize+area > uint64(payload)*sectorSize {
		return Keyslot{}, false, fmt.Errorf("key material at sector %d overlaps the header or the payload", offset)
	}
	return Keyslot{
		ID: id, Type: "luks1", Priority: PriorityNormal, KeySize: keyBytes,
		KDF:        KDF{Type: "pbkdf2", Iterations: iter, Salt: append([]byte(nil), b[8:8+luks1SaltSize]...)},
		AreaOffset: offset * sectorSize, AreaSize: area, AreaKeySize: keyBytes,
		Stripes: stripes,
	}, true, nil
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }
