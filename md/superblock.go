package md

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// magic is the MD superblock magic number, in the superblock's byte order.
const magic = 0xa92b4efc

// ErrNotFound says that a device carries no MD superblock.
var ErrNotFound = errors.New("no md superblock")

// ErrUnsupported is wrapped by errors about metadata that is recognised but
// cannot be assembled here (IMSM, DDF, foreign byte order, reshape, ...).
var ErrUnsupported = errors.New("unsupported")

// ErrIMSM and ErrDDF are what Read returns for a member of a firmware-RAID
// container with external metadata, which mdadm assembles through mdmon
// and the kernel alone cannot run. Both wrap ErrUnsupported; a prober
// tells them apart to name the member as blkid does.
var (
	ErrIMSM = fmt.Errorf("%w: Intel IMSM (firmware RAID) container; it needs mdadm and mdmon", ErrUnsupported)
	ErrDDF  = fmt.Errorf("%w: SNIA DDF container; it needs mdadm and mdmon", ErrUnsupported)
)

// Levels as the superblocks store them.
const (
	LevelFaulty    = -5
	LevelMultipath = -4
	LevelLinear    = -1
	LevelRAID0     = 0
	LevelRAID1     = 1
	LevelRAID4     = 4
	LevelRAID5     = 5
	LevelRAID6     = 6
	LevelRAID10    = 10
)

// Special roles of a device in a 1.x superblock (dev_roles).
const (
	RoleSpare   = 0xffff
	RoleFaulty  = 0xfffe
	RoleJournal = 0xfffd
	roleMax     = 0xff00
)

// 1.x feature_map bits (include/uapi/linux/raid/md_p.h).
const (
	FeatureBitmap           = 1 << 0
	FeatureRecoveryOffset   = 1 << 1
	FeatureReshapeActive    = 1 << 2
	FeatureBadBlocks        = 1 << 3
	FeatureReplacement      = 1 << 4
	FeatureReshapeBackwards = 1 << 5
	FeatureNewOffset        = 1 << 6
	FeatureRecoveryBitmap   = 1 << 7
	FeatureClustered        = 1 << 8
	FeatureJournal          = 1 << 9
	FeaturePPL              = 1 << 10
	FeatureMultiplePPLs     = 1 << 11
	FeatureRAID0Layout      = 1 << 12
	featureKnown            = 1<<13 - 1
)

// Superblock is what one member's superblock says about the array and
// about the member. Sizes and offsets are in 512-byte sectors.
type Superblock struct {
	Version string // "0.90", "1.0", "1.1" or "1.2"
	Offset  int64  // byte offset of the superblock on the member

	// UUID is the array UUID in the byte order mdadm prints it
	// (UUIDString); for 0.90 the four words are taken as numbers.
	UUID [16]byte
	// Name is the 1.x array name as stored ("host:name" when created
	// with a homehost); 0.90 has none.
	Name string
	// PreferredMinor is the 0.90 md_minor (the array was /dev/mdN).
	PreferredMinor int
	// Patch is the 0.90 patch_version (blkid's VERSION is 0.90.Patch).
	Patch int

	Level      int
	Layout     uint32
	ChunkBytes uint32 // chunk size in bytes (0 for levels without one)
	RaidDisks  int
	Events     uint64
	Clean      bool   // no resync needed (0.90 state bit, 1.x resync_offset)
	FeatureMap uint32 // 1.x feature_map; 0.90: FeatureBitmap when it has one

	// Role is this member's slot (0..RaidDisks-1) or RoleSpare,
	// RoleFaulty, RoleJournal.
	Role      int
	DevNumber uint32 // 1.x dev_number, 0.90 this_disk.number
	// Roles holds the role of every device number, as the superblock
	// knows the array (1.x dev_roles; 0.90 built from disks[]).
	Roles []uint16

	DataOffset    uint64 // where the array's data starts on the member
	DataSize      uint64 // sectors of the member the array may use
	ComponentSize uint64 // sectors each member contributes (0.90 size, 1.x size)
	DeviceUUID    [16]byte

	// ForeignEndian is set for a 0.90 superblock written by a host of
	// the other byte order; the kernel does not assemble those.
	ForeignEndian bool
}

// UUIDString formats the array UUID as mdadm does: four groups of eight
// hex digits joined by ':' (the form of /dev/disk/by-id/md-uuid-…).
func (sb *Superblock) UUIDString() string { return UUIDString(sb.UUID) }

// BlkidUUID formats the array UUID as blkid reports it for a member
// (TYPE="linux_raid_member" UUID=…): 8-4-4-4-12 lower-case hex of the same
// bytes UUIDString prints.
func (sb *Superblock) BlkidUUID() string {
	u := sb.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// UUIDString formats an array UUID as mdadm does.
func UUIDString(u [16]byte) string {
	return fmt.Sprintf("%x:%x:%x:%x", u[0:4], u[4:8], u[8:12], u[12:16])
}

// ParseUUID reads an array UUID in mdadm's form (any of ':', '-', '.' or
// ' ' between hex digits, as mdadm.conf and rd.md.uuid= allow).
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.', ' ':
			return -1
		}
		return r
	}, s)
	if len(h) != 32 {
		return u, fmt.Errorf("md uuid %q: want 32 hex digits", s)
	}
	for i := range u {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return u, fmt.Errorf("md uuid %q: not hex", s)
		}
		u[i] = hi<<4 | lo
	}
	return u, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// LevelName is the level as md's sysfs "level" file and mdadm name it.
func LevelName(level int) string {
	switch level {
	case LevelFaulty:
		return "faulty"
	case LevelMultipath:
		return "multipath"
	case LevelLinear:
		return "linear"
	case LevelRAID0, LevelRAID1, LevelRAID4, LevelRAID5, LevelRAID6, LevelRAID10:
		return fmt.Sprintf("raid%d", level)
	}
	return fmt.Sprintf("level %d", level)
}

// Unsupported returns why the kernel would not, or this package will not,
// assemble an array from this superblock, or nil.
func (sb *Superblock) Unsupported() error {
	switch {
	case sb.ForeignEndian:
		return fmt.Errorf("%w: 0.90 superblock in the other byte order (mdadm --update=byteorder converts it)", ErrUnsupported)
	case sb.FeatureMap&FeatureReshapeActive != 0:
		return fmt.Errorf("%w: a reshape is in progress (finish it with mdadm)", ErrUnsupported)
	case sb.FeatureMap&FeatureClustered != 0:
		return fmt.Errorf("%w: clustered md array", ErrUnsupported)
	case sb.FeatureMap&^featureKnown != 0:
		return fmt.Errorf("%w: unknown feature bits %#x", ErrUnsupported, sb.FeatureMap&^featureKnown)
	}
	switch sb.Level {
	case LevelLinear, LevelRAID0, LevelRAID1, LevelRAID4, LevelRAID5, LevelRAID6, LevelRAID10, LevelMultipath:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupported, LevelName(sb.Level))
}

// sbReader bounds reads to the device.
type sbReader struct {
	r    io.ReaderAt
	size int64
}

func (d sbReader) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > d.size || int64(n) > d.size-off {
		return nil, nil // outside the device: nothing there
	}
	buf := make([]byte, n)
	m, err := d.r.ReadAt(buf, off)
	if m == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
}

// Read finds and parses the MD superblock of a member device of size
// bytes. It returns ErrNotFound when there is none, ErrIMSM or ErrDDF for
// a member of such a container, and an error for a
// superblock whose checksum or fields are wrong.
//
// The 1.x locations are tried before 0.90, as mdadm does, so a device
// that was re-created with 1.x over an old 0.90 array is read as 1.x.
func Read(r io.ReaderAt, size int64) (*Superblock, error) {
	d := sbReader{r, size}
	var firstErr error
	for _, loc := range v1Locations(size) {
		sb, err := readV1(d, loc.off, loc.minor)
		if err == nil {
			return sb, nil
		}
		if !errors.Is(err, ErrNotFound) && firstErr == nil {
			firstErr = err
		}
	}
	sb, err := read090(d)
	if err == nil {
		return sb, nil
	}
	if !errors.Is(err, ErrNotFound) && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := containers(d); err != nil {
		return nil, err
	}
	return nil, ErrNotFound
}

type v1Location struct {
	off   int64
	minor int
}

// v1Locations are the byte offsets of 1.0 (at least 8 KiB before the end,
// 4 KiB aligned), 1.1 (0) and 1.2 (4 KiB) superblocks on a device.
func v1Locations(size int64) []v1Location {
	locs := make([]v1Location, 0, 3)
	if sectors := size / 512; sectors >= 16 {
		locs = append(locs, v1Location{((sectors - 16) &^ 7) * 512, 0})
	}
	return append(locs, v1Location{0, 1}, v1Location{4096, 2})
}

// v1 superblock field offsets (struct mdp_superblock_1).
const (
	v1Size     = 256
	v1MaxDev   = (4096 - v1Size) / 2 // the superblock fits in 4 KiB
	v1CsumOff  = 216
	v1RolesOff = 256
)

func readV1(d sbReader, off int64, minor int) (*Superblock, error) {
	b, err := d.read(off, v1Size)
	if err != nil || b == nil {
		return nil, orNotFound(err)
	}
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != magic {
		return nil, ErrNotFound
	}
	version := fmt.Sprintf("1.%d", minor)
	if v := le.Uint32(b[4:]); v != 1 {
		return nil, fmt.Errorf("md %s superblock at %d: major version %d", version, off, v)
	}
	if so := le.Uint64(b[144:]); so != uint64(off/512) {
		// A 1.x superblock records where it is; one found elsewhere
		// (for example a 1.2 superblock seen at 0 of a partition
		// that starts 4 KiB into the disk) belongs to another device.
		return nil, ErrNotFound
	}
	maxDev := le.Uint32(b[220:])
	if maxDev > v1MaxDev {
		return nil, fmt.Errorf("md %s superblock at %d: max_dev %d", version, off, maxDev)
	}
	full, err := d.read(off, v1Size+int(maxDev)*2)
	if err != nil || full == nil {
		return nil, fmt.Errorf("md %s superblock at %d: roles table: %w", version, off, orShort(err))
	}
	if got, want := csumV1(full), le.Uint32(b[v1CsumOff:]); got != want {
		return nil, fmt.Errorf("md %s superblock at %d: checksum %#08x, want %#08x", version, off, want, got)
	}
	sb := &Superblock{
		Version:       version,
		Offset:        off,
		Name:          cstring(b[32:64]),
		Level:         int(int32(le.Uint32(b[72:]))),
		Layout:        le.Uint32(b[76:]),
		ComponentSize: le.Uint64(b[80:]),
		ChunkBytes:    le.Uint32(b[88:]) * 512,
		RaidDisks:     int(le.Uint32(b[92:])),
		FeatureMap:    le.Uint32(b[8:]),
		DataOffset:    le.Uint64(b[128:]),
		DataSize:      le.Uint64(b[136:]),
		DevNumber:     le.Uint32(b[160:]),
		Events:        le.Uint64(b[200:]),
		Clean:         le.Uint64(b[208:]) == ^uint64(0),
		Roles:         make([]uint16, maxDev),
	}
	copy(sb.UUID[:], b[16:32])
	copy(sb.DeviceUUID[:], b[168:184])
	for i := range sb.Roles {
		sb.Roles[i] = le.Uint16(full[v1RolesOff+2*i:])
	}
	sb.Role = RoleFaulty
	if sb.DevNumber < maxDev {
		sb.Role = int(sb.Roles[sb.DevNumber])
	}
	if err := sb.check(); err != nil {
		return nil, fmt.Errorf("md %s superblock at %d: %w", version, off, err)
	}
	return sb, nil
}

// csumV1 is the 1.x checksum: the sum of the little-endian 32-bit words
// of the superblock and its roles table (sb_csum counted as zero), with
// the carry folded back in.
func csumV1(b []byte) uint32 {
	var sum uint64
	i := 0
	for ; i+4 <= len(b); i += 4 {
		if i != v1CsumOff {
			sum += uint64(binary.LittleEndian.Uint32(b[i:]))
		}
	}
	if len(b)-i == 2 {
		sum += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return uint32(sum) + uint32(sum>>32)
}

// check rejects values no kernel would accept, so the rest of the package
// can rely on them.
func (sb *Superblock) check() error {
	if sb.RaidDisks < 0 || sb.RaidDisks > roleMax {
		return fmt.Errorf("raid_disks %d", sb.RaidDisks)
	}
	if sb.Role < RoleJournal && sb.Role >= sb.RaidDisks && sb.Level != LevelMultipath {
		return fmt.Errorf("device role %d outside %d raid disks", sb.Role, sb.RaidDisks)
	}
	return nil
}

// 0.90 superblock: 4 KiB of 32-bit words in the writer's byte order, at
// the start of the last 64 KiB-aligned 64 KiB of the device.
const (
	v090Bytes    = 4096
	v090Reserved = 64 << 10
	v090Disks    = 27
	v090DiskOff  = 128 * 4 // disks[0]
	v090ThisOff  = 992 * 4 // this_disk
	v090CsumWord = 38
)

// offset090 is where a 0.90 superblock lives on a device of size bytes, or
// -1 when the device is too small to hold one.
func offset090(size int64) int64 {
	if size < 2*v090Reserved {
		return -1
	}
	return size&^(v090Reserved-1) - v090Reserved
}

func read090(d sbReader) (*Superblock, error) {
	off := offset090(d.size)
	if off < 0 {
		return nil, ErrNotFound
	}
	b, err := d.read(off, v090Bytes)
	if err != nil || b == nil {
		return nil, orNotFound(err)
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(b) == magic:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(b) == magic:
		order = binary.BigEndian
	default:
		return nil, ErrNotFound
	}
	w := func(i int) uint32 { return order.Uint32(b[4*i:]) }
	if w(1) != 0 || w(2) != 90 {
		return nil, fmt.Errorf("md superblock at %d: version %d.%d.%d", off, w(1), w(2), w(3))
	}
	if got, want := csum090(b, order), w(v090CsumWord); got != want {
		return nil, fmt.Errorf("md 0.90 superblock at %d: checksum %#08x, want %#08x", off, want, got)
	}
	// events is a 64-bit value stored as two words in the writer's order.
	events := uint64(w(40))<<32 | uint64(w(39))
	if order == binary.BigEndian {
		events = uint64(w(39))<<32 | uint64(w(40))
	}
	sb := &Superblock{
		Version:        "0.90",
		Patch:          int(w(3)),
		Offset:         off,
		PreferredMinor: int(w(11)),
		Level:          int(int32(w(7))),
		ComponentSize:  uint64(w(8)) * 2,
		RaidDisks:      int(w(10)),
		Clean:          w(33)&1 != 0, // MD_SB_CLEAN
		Events:         events,
		Layout:         w(64),
		ChunkBytes:     w(65),
		DataSize:       uint64(w(8)) * 2,
		ForeignEndian:  (order == binary.BigEndian) != bigEndianHost,
	}
	if w(33)&(1<<8) != 0 { // MD_SB_BITMAP_PRESENT
		sb.FeatureMap |= FeatureBitmap
	}
	for i, word := range []int{5, 13, 14, 15} {
		binary.BigEndian.PutUint32(sb.UUID[4*i:], w(word))
	}
	// Roles from the descriptor table: number, major, minor, raid_disk,
	// state (faulty 0, active 1, sync 2, removed 3).
	sb.Roles = make([]uint16, v090Disks)
	for i := range sb.Roles {
		sb.Roles[i] = role090(order, b[v090DiskOff+128*i:])
	}
	sb.DevNumber = order.Uint32(b[v090ThisOff:])
	sb.Role = int(role090(order, b[v090ThisOff:]))
	if err := sb.check(); err != nil {
		return nil, fmt.Errorf("md 0.90 superblock at %d: %w", off, err)
	}
	return sb, nil
}

// bigEndianHost says the kernel here writes 0.90 superblocks big-endian.
// (binary.NativeEndian is a type of its own: it never compares equal to
// binary.LittleEndian, whatever the host.)
var bigEndianHost = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

func role090(order binary.ByteOrder, desc []byte) uint16 {
	raidDisk, state := order.Uint32(desc[12:]), order.Uint32(desc[16:])
	switch {
	case state&1 != 0: // faulty
		return RoleFaulty
	case state&(1<<1) != 0 && state&(1<<2) != 0 && raidDisk < roleMax: // active, in sync
		return uint16(raidDisk)
	}
	return RoleSpare
}

// csum090 is the 0.90 checksum: the sum of the 1024 words (sb_csum as
// zero) in the writer's byte order, carry folded back in.
func csum090(b []byte, order binary.ByteOrder) uint32 {
	var sum uint64
	for i := 0; i < v090Bytes/4; i++ {
		if i != v090CsumWord {
			sum += uint64(order.Uint32(b[4*i:]))
		}
	}
	return uint32(sum) + uint32(sum>>32)
}

// The anchors of containers with external metadata (ErrIMSM, ErrDDF).
var (
	imsmSignature = []byte("Intel Raid ISM Cfg Sig. ")
	ddfMagic      = []byte{0xde, 0x11, 0xde, 0x11}
)

// containers reports IMSM (anchor in the second-to-last sector) and DDF
// (anchor header in the last sector) metadata as unsupported.
func containers(d sbReader) error {
	if d.size < 2*512 {
		return nil
	}
	b, err := d.read(d.size/512*512-2*512, 2*512)
	if err != nil {
		return err
	}
	switch {
	case bytes.HasPrefix(b, imsmSignature):
		return ErrIMSM
	case bytes.HasPrefix(b[512:], ddfMagic):
		return ErrDDF
	}
	return nil
}

func orNotFound(err error) error {
	if err == nil {
		return ErrNotFound
	}
	return err
}

func orShort(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cstring returns b up to its first NUL, invalid UTF-8 replaced.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
