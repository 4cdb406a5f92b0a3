package modload

import (
	"encoding/binary"
	"hash/crc32"
)

// fixChecksum rewrites the checksum of an index file in place.
func fixChecksum(data []byte) {
	binary.LittleEndian.PutUint32(data[12:], crc32.ChecksumIEEE(data[headerSize:]))
}
