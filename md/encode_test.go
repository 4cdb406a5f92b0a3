package md

import (
	"encoding/binary"
)

// The encoders below write superblocks from md_p.h's layout so the tests
// can build member images; the fields they take are the ones the tests
// vary. Images from mdadm itself come from the builder VM.

type v1Fields struct {
	minor      int
	uuid       [16]byte
	name       string
	level      int32
	layout     uint32
	size       uint64 // component size, sectors
	chunk      uint32 // sectors
	raidDisks  uint32
	features   uint32
	dataOffset uint64
	dataSize   uint64
	devNumber  uint32
	events     uint64
	clean      bool
	roles      []uint16
}

// putV1 writes a 1.x superblock into img at the location of its minor
// version and returns the offset.
func putV1(img []byte, f v1Fields) int64 {
	var off int64
	switch f.minor {
	case 0:
		off = ((int64(len(img))/512 - 16) &^ 7) * 512
	case 1:
		off = 0
	case 2:
		off = 4096
	}
	b := make([]byte, v1Size+2*len(f.roles))
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], f.features)
	copy(b[16:], f.uuid[:])
	copy(b[32:64], f.name)
	le.PutUint32(b[72:], uint32(f.level))
	le.PutUint32(b[76:], f.layout)
	le.PutUint64(b[80:], f.size)
	le.PutUint32(b[88:], f.chunk)
	le.PutUint32(b[92:], f.raidDisks)
	le.PutUint64(b[128:], f.dataOffset)
	le.PutUint64(b[136:], f.dataSize)
	le.PutUint64(b[144:], uint64(off/512))
	le.PutUint32(b[160:], f.devNumber)
	le.PutUint64(b[200:], f.events)
	if f.clean {
		le.PutUint64(b[208:], ^uint64(0))
	}
	le.PutUint32(b[220:], uint32(len(f.roles)))
	for i, r := range f.roles {
		le.PutUint16(b[256+2*i:], r)
	}
	le.PutUint32(b[v1CsumOff:], csumV1(b))
	copy(img[off:], b)
	return off
}

type disk090 struct{ number, major, minor, raidDisk, state uint32 }

type v090Fields struct {
	order     binary.ByteOrder
	uuid      [4]uint32
	level     int32
	sizeKiB   uint32
	raidDisks uint32
	mdMinor   uint32
	state     uint32
	events    uint64
	layout    uint32
	chunk     uint32 // bytes
	disks     []disk090
	this      disk090
}

// put090 writes a 0.90 superblock at the end of img.
func put090(img []byte, f v090Fields) int64 {
	off := offset090(int64(len(img)))
	b := make([]byte, v090Bytes)
	w := func(i int, v uint32) { f.order.PutUint32(b[4*i:], v) }
	w(0, magic)
	w(2, 90)
	w(5, f.uuid[0])
	w(7, uint32(f.level))
	w(8, f.sizeKiB)
	w(10, f.raidDisks)
	w(11, f.mdMinor)
	w(13, f.uuid[1])
	w(14, f.uuid[2])
	w(15, f.uuid[3])
	w(33, f.state)
	if f.order == binary.BigEndian {
		w(39, uint32(f.events>>32))
		w(40, uint32(f.events))
	} else {
		w(39, uint32(f.events))
		w(40, uint32(f.events>>32))
	}
	w(64, f.layout)
	w(65, f.chunk)
	desc := func(word int, d disk090) {
		w(word, d.number)
		w(word+1, d.major)
		w(word+2, d.minor)
		w(word+3, d.raidDisk)
		w(word+4, d.state)
	}
	for i, d := range f.disks {
		desc(128+32*i, d)
	}
	desc(992, f.this)
	w(v090CsumWord, csum090(b, f.order))
	copy(img[off:], b)
	return off
}
