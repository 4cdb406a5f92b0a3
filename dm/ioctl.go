package dm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Sizes and offsets of the kernel's ioctl structures (include/uapi/linux/dm-ioctl.h), in the
// layout every Linux ABI gives them: no implicit padding, native byte order.
const (
	nameLen     = 128 // DM_NAME_LEN, including the NUL
	uuidLen     = 129 // DM_UUID_LEN, including the NUL
	typeNameLen = 16  // DM_MAX_TYPE_NAME, including the NUL

	// struct dm_ioctl
	offVersion     = 0
	offDataSize    = 12
	offDataStart   = 16
	offTargetCount = 20
	offOpenCount   = 24
	offFlags       = 28
	offEventNr     = 32
	offDev         = 40
	offName        = 48
	offUUID        = offName + nameLen // 176
	headerSize     = 312               // sizeof(struct dm_ioctl): uuid ends at 305, data[7] pads to 312

	// struct dm_target_spec: sector_start u64, length u64, status s32, next u32, target_type[16].
	specSize     = 40
	specOffType  = 24
	specOffNext  = 20
	specOffStat  = 16
	specOffLen   = 8
	specOffStart = 0

	// struct dm_name_list: dev u64, next u32, name[] at 12; after the name's NUL, aligned to
	// 8: event_nr u32, flags u32, then the uuid when flags has nameListHasUUID.
	nameListOffNext = 8
	nameListOffName = 12

	align = 8 // records in the data area start on 8-byte boundaries
)

// ioctl request numbers: _IOWR(0xfd, nr, struct dm_ioctl), i.e. direction read|write (3) in
// bits 30-31, the argument size (312) in bits 16-29, the type 0xfd in bits 8-15 and the
// command number in bits 0-7. The numbers follow the kernel's enum order.
const (
	cmdVersion     = 0
	cmdListDevices = 2
	cmdDevCreate   = 3
	cmdDevRemove   = 4
	cmdDevSuspend  = 6
	cmdDevStatus   = 7
	cmdTableLoad   = 9
	cmdTableStatus = 12
)

func iowr(nr uint) uint { return 3<<30 | headerSize<<16 | 0xfd<<8 | nr }

var cmdNames = map[uint]string{
	cmdVersion:     "version",
	cmdListDevices: "list devices",
	cmdDevCreate:   "create",
	cmdDevRemove:   "remove",
	cmdDevSuspend:  "suspend",
	cmdDevStatus:   "status",
	cmdTableLoad:   "table load",
	cmdTableStatus: "table status",
}

// Flags of dm_ioctl.flags.
const (
	flagReadOnly      = 1 << 0
	flagSuspend       = 1 << 1
	flagStatusTable   = 1 << 4
	flagActivePresent = 1 << 5
	flagInactive      = 1 << 6
	flagBufferFull    = 1 << 8
	flagUUID          = 1 << 14 // DM_LIST_DEVICES: return each device's uuid
	flagSecureData    = 1 << 15 // the kernel wipes its copy of the buffer
	flagDeferRemove   = 1 << 17 // DM_DEFERRED_REMOVE: remove when the last opener closes
)

// dm_name_list flags (kernel 5.14+, ioctl version 4.45).
const nameListHasUUID = 1

// Interface version sent: major 4 is the only one; the kernel accepts any minor not above
// its own and answers with its version.
var ioctlVersion = [3]uint32{4, 0, 0}

var ne = binary.NativeEndian

// header is struct dm_ioctl.
type header struct {
	Version     [3]uint32
	DataSize    uint32
	DataStart   uint32
	TargetCount uint32
	OpenCount   int32
	Flags       uint32
	EventNr     uint32 // in: udev cookie; out: event number
	Dev         uint64 // huge_encode_dev of the block device
	Name        string
	UUID        string
}

// checkName reports whether s is a name the kernel accepts for a device.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty device name")
	case len(s) >= nameLen:
		return fmt.Errorf("device name %q longer than %d bytes", s, nameLen-1)
	case strings.ContainsAny(s, "/\x00"):
		return fmt.Errorf("device name %q contains '/' or NUL", s)
	case s == "." || s == "..":
		return fmt.Errorf("device name %q is not allowed", s)
	}
	return nil
}

func checkUUID(s string) error {
	switch {
	case len(s) >= uuidLen:
		return fmt.Errorf("dm uuid %q longer than %d bytes", s, uuidLen-1)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("dm uuid %q contains NUL", s)
	}
	return nil
}

// put writes h into the first headerSize bytes of b. Name and UUID must fit (checkName,
// checkUUID); longer ones are an error, never truncated.
func (h *header) put(b []byte) error {
	if len(b) < headerSize {
		return fmt.Errorf("ioctl buffer of %d bytes, need %d", len(b), headerSize)
	}
	if len(h.Name) >= nameLen {
		return fmt.Errorf("device name %q longer than %d bytes", h.Name, nameLen-1)
	}
	if err := checkUUID(h.UUID); err != nil {
		return err
	}
	clear(b[:headerSize])
	for i, v := range h.Version {
		ne.PutUint32(b[offVersion+4*i:], v)
	}
	ne.PutUint32(b[offDataSize:], h.DataSize)
	ne.PutUint32(b[offDataStart:], h.DataStart)
	ne.PutUint32(b[offTargetCount:], h.TargetCount)
	ne.PutUint32(b[offOpenCount:], uint32(h.OpenCount))
	ne.PutUint32(b[offFlags:], h.Flags)
	ne.PutUint32(b[offEventNr:], h.EventNr)
	ne.PutUint64(b[offDev:], h.Dev)
	copy(b[offName:offName+nameLen-1], h.Name)
	copy(b[offUUID:offUUID+uuidLen-1], h.UUID)
	return nil
}

// parseHeader reads struct dm_ioctl from b.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, fmt.Errorf("ioctl reply of %d bytes, need %d", len(b), headerSize)
	}
	for i := range h.Version {
		h.Version[i] = ne.Uint32(b[offVersion+4*i:])
	}
	h.DataSize = ne.Uint32(b[offDataSize:])
	h.DataStart = ne.Uint32(b[offDataStart:])
	h.TargetCount = ne.Uint32(b[offTargetCount:])
	h.OpenCount = int32(ne.Uint32(b[offOpenCount:]))
	h.Flags = ne.Uint32(b[offFlags:])
	h.EventNr = ne.Uint32(b[offEventNr:])
	h.Dev = ne.Uint64(b[offDev:])
	h.Name = cstring(b[offName : offName+nameLen-1]) // the kernel always ends them with NUL
	h.UUID = cstring(b[offUUID : offUUID+uuidLen-1])
	return h, nil
}

// payload returns the data area of a reply buffer: [data_start, data_size), clipped to buf.
func (h *header) payload(buf []byte) []byte {
	start, end := int(h.DataStart), int(h.DataSize)
	if end > len(buf) {
		end = len(buf)
	}
	if start < headerSize || start >= end {
		return nil
	}
	return buf[start:end]
}

// cstring returns b up to its first NUL (all of b if there is none).
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func alignUp(n int) int { return (n + align - 1) &^ (align - 1) }

// checkTable checks what the kernel would reject with a less helpful EINVAL: targets must
// cover the device from sector 0 without gaps or overlaps, have a length, and a type name
// and parameters that fit the ioctl's strings.
func checkTable(table []Target) error {
	if len(table) == 0 {
		return errors.New("empty table")
	}
	var next uint64
	for i, t := range table {
		switch {
		case t.Start != next:
			return fmt.Errorf("target %d starts at sector %d, want %d (targets must be contiguous from 0)", i, t.Start, next)
		case t.Length == 0:
			return fmt.Errorf("target %d has length 0", i)
		case t.Start+t.Length < t.Start:
			return fmt.Errorf("target %d: start+length overflows", i)
		case t.Type == "" || len(t.Type) >= typeNameLen || strings.ContainsAny(t.Type, " \t\n\x00"):
			return fmt.Errorf("target %d: bad target type %q", i, t.Type)
		case strings.ContainsRune(t.Params, 0):
			return fmt.Errorf("target %d (%s): parameters contain NUL", i, t.Type)
		}
		next = t.Start + t.Length
	}
	return nil
}

// encodeTargets lays out table as DM_TABLE_LOAD expects it after the header: each
// dm_target_spec followed by its NUL-terminated parameters, padded so the next spec starts
// on an 8-byte boundary; spec.next is the distance from this spec to the next one.
func encodeTargets(table []Target) ([]byte, error) {
	if err := checkTable(table); err != nil {
		return nil, err
	}
	n := 0
	for _, t := range table {
		n += alignUp(specSize + len(t.Params) + 1)
	}
	b := make([]byte, n)
	off := 0
	for _, t := range table {
		size := alignUp(specSize + len(t.Params) + 1)
		s := b[off : off+size]
		ne.PutUint64(s[specOffStart:], t.Start)
		ne.PutUint64(s[specOffLen:], t.Length)
		ne.PutUint32(s[specOffNext:], uint32(size))
		copy(s[specOffType:specOffType+typeNameLen-1], t.Type)
		copy(s[specSize:], t.Params)
		off += size
	}
	return b, nil
}

// decodeTargets reads count dm_target_specs as DM_TABLE_STATUS returns them: the first at
// offset 0 of data, every next one at spec.next bytes from the start of data.
func decodeTargets(data []byte, count uint32) ([]Target, error) {
	if uint64(count) > uint64(len(data)/specSize) {
		return nil, fmt.Errorf("%d targets cannot fit in %d bytes", count, len(data))
	}
	table := make([]Target, 0, count)
	off := 0
	for i := uint32(0); i < count; i++ {
		if off+specSize > len(data) {
			return nil, fmt.Errorf("target %d at offset %d beyond the %d-byte reply", i, off, len(data))
		}
		s := data[off:]
		params := s[specSize:]
		end := bytes.IndexByte(params, 0)
		if end < 0 {
			return nil, fmt.Errorf("target %d: parameters not terminated", i)
		}
		table = append(table, Target{
			Start:  ne.Uint64(s[specOffStart:]),
			Length: ne.Uint64(s[specOffLen:]),
			Type:   cstring(s[specOffType : specOffType+typeNameLen]),
			Params: string(params[:end]),
		})
		next := int(ne.Uint32(s[specOffNext:]))
		if i+1 < count && next <= off {
			return nil, fmt.Errorf("target %d: next offset %d does not advance past %d", i, next, off)
		}
		off = next
	}
	return table, nil
}

// decodeNameList reads the dm_name_list records of a DM_LIST_DEVICES reply.
func decodeNameList(data []byte) ([]Device, error) {
	var devs []Device
	off := 0
	for {
		if len(data)-off < nameListOffName {
			if off == 0 {
				return nil, nil // no devices: the kernel returns no records
			}
			return nil, fmt.Errorf("device record at offset %d beyond the %d-byte reply", off, len(data))
		}
		r := data[off:]
		dev := ne.Uint64(r)
		if off == 0 && dev == 0 {
			return nil, nil // "no data" marker
		}
		next := int(ne.Uint32(r[nameListOffNext:]))
		if next != 0 {
			if next < nameListOffName+1 || next > len(r) {
				return nil, fmt.Errorf("device record at offset %d: next %d out of range", off, next)
			}
			r = r[:next]
		}
		nameEnd := bytes.IndexByte(r[nameListOffName:], 0)
		if nameEnd < 0 {
			return nil, fmt.Errorf("device record at offset %d: name not terminated", off)
		}
		d := Device{Name: string(r[nameListOffName : nameListOffName+nameEnd])}
		d.Major, d.Minor = unix.Major(dev), unix.Minor(dev)
		// event_nr and flags follow the name, aligned; older kernels wrote only event_nr
		// and we sent zeros, so flags then reads as 0.
		x := alignUp(nameListOffName + nameEnd + 1)
		if x+8 <= len(r) && ne.Uint32(r[x+4:])&nameListHasUUID != 0 {
			u := r[x+8:]
			e := bytes.IndexByte(u, 0)
			if e < 0 {
				return nil, fmt.Errorf("device %q: uuid not terminated", d.Name)
			}
			d.UUID = string(u[:e])
		}
		devs = append(devs, d)
		if next == 0 {
			return devs, nil
		}
		off += next
	}
}
