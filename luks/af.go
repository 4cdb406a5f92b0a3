package luks

import (
	"encoding/binary"
	"fmt"
	"hash"
)

// afMerge undoes the anti-forensic split: material holds stripes blocks of keyLen bytes; the
// key is the last block XOR the diffusion chain over the others. It returns a new slice.
func afMerge(material []byte, keyLen, stripes int, newHash func() hash.Hash) ([]byte, error) {
	if keyLen <= 0 || stripes <= 0 || len(material) < keyLen*stripes {
		return nil, fmt.Errorf("af: %d bytes of material for %d stripes of %d bytes", len(material), stripes, keyLen)
	}
	d := make([]byte, keyLen)
	h := newHash()
	scratch := make([]byte, 0, h.Size())
	for i := 0; i < stripes-1; i++ {
		xorInto(d, material[i*keyLen:(i+1)*keyLen])
		scratch = diffuse(d, h, scratch)
	}
	xorInto(d, material[(stripes-1)*keyLen:stripes*keyLen])
	clear(scratch[:cap(scratch)])
	return d, nil
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// diffuse replaces each digest-sized piece j of buf (the last one may be shorter) with
// hash(be32(j) || piece), truncated to the piece's length.
func diffuse(buf []byte, h hash.Hash, scratch []byte) []byte {
	size := h.Size()
	var idx [4]byte
	for j := 0; j*size < len(buf); j++ {
		piece := buf[j*size : min((j+1)*size, len(buf))]
		binary.BigEndian.PutUint32(idx[:], uint32(j))
		h.Reset()
		h.Write(idx[:])
		h.Write(piece)
		scratch = h.Sum(scratch[:0])
		copy(piece, scratch)
	}
	return scratch
}
