package dm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// The expected values below were checked against the kernel's uapi header: a C program
// printing sizeof/offsetof of struct dm_ioctl, dm_target_spec and dm_name_list and the
// DM_* request numbers from <linux/dm-ioctl.h> (interface 4.47) gave exactly these.

func TestIoctlNumbers(t *testing.T) {
	for _, tc := range []struct {
		nr   uint
		want uint
	}{
		{cmdVersion, 0xc138fd00},
		{cmdListDevices, 0xc138fd02},
		{cmdDevCreate, 0xc138fd03},
		{cmdDevRemove, 0xc138fd04},
		{cmdDevSuspend, 0xc138fd06},
		{cmdDevStatus, 0xc138fd07},
		{cmdTableLoad, 0xc138fd09},
		{cmdTableStatus, 0xc138fd0c},
	} {
		if got := iowr(tc.nr); got != tc.want {
			t.Errorf("%s: ioctl %#x, want %#x", cmdNames[tc.nr], got, tc.want)
		}
	}
}

func TestFlagValues(t *testing.T) {
	got := []uint32{flagReadOnly, flagSuspend, flagStatusTable, flagActivePresent, flagInactive, flagBufferFull, flagUUID, flagSecureData}
	want := []uint32{0x1, 0x2, 0x10, 0x20, 0x40, 0x100, 0x4000, 0x8000}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("flag %d = %#x, want %#x", i, got[i], want[i])
		}
	}
}

func needLittleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("skipping: the hand-made byte layouts are little-endian")
	}
}

func TestHeaderLayout(t *testing.T) {
	needLittleEndian(t)
	h := header{
		Version: [3]uint32{4, 0, 0}, DataSize: 0x01020304, DataStart: 312, TargetCount: 2,
		OpenCount: -1, Flags: flagSecureData | flagReadOnly, EventNr: 7, Dev: 0xfd03,
		Name: "vg-root", UUID: "LVM-abc",
	}
	b := make([]byte, headerSize)
	for i := range b {
		b[i] = 0xee // put must overwrite everything
	}
	if err := h.put(b); err != nil {
		t.Fatal(err)
	}
	want := map[int][]byte{
		0:   {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		12:  {4, 3, 2, 1},
		16:  {0x38, 1, 0, 0},
		20:  {2, 0, 0, 0},
		24:  {0xff, 0xff, 0xff, 0xff},
		28:  {0x01, 0x80, 0, 0},
		32:  {7, 0, 0, 0, 0, 0, 0, 0}, // event_nr, padding
		40:  {3, 0xfd, 0, 0, 0, 0, 0, 0},
		48:  append([]byte("vg-root"), make([]byte, 128-7)...),
		176: append([]byte("LVM-abc"), make([]byte, 129-7+7)...), // uuid, data[7]
	}
	for off, w := range want {
		if got := b[off : off+len(w)]; !bytes.Equal(got, w) {
			t.Errorf("bytes at %d: % x, want % x", off, got, w)
		}
	}
	back, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if back != h {
		t.Errorf("round trip: %+v, want %+v", back, h)
	}
}

func TestHeaderLimits(t *testing.T) {
	b := make([]byte, headerSize)
	if err := (&header{Name: strings.Repeat("n", 127)}).put(b); err != nil {
		t.Errorf("127-byte name: %v", err)
	}
	if err := (&header{Name: strings.Repeat("n", 128)}).put(b); err == nil {
		t.Error("128-byte name accepted")
	}
	if err := (&header{UUID: strings.Repeat("u", 128)}).put(b); err != nil {
		t.Errorf("128-byte uuid: %v", err)
	}
	if err := (&header{UUID: strings.Repeat("u", 129)}).put(b); err == nil {
		t.Error("129-byte uuid accepted")
	}
	if err := (&header{}).put(make([]byte, headerSize-1)); err == nil {
		t.Error("short buffer accepted")
	}
	if _, err := parseHeader(make([]byte, headerSize-1)); err == nil {
		t.Error("short reply accepted")
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"luks-0b2c", true},
		{"my--vg-root", true},
		{strings.Repeat("x", 127), true},
		{"", false},
		{strings.Repeat("x", 128), false},
		{"a/b", false},
		{".", false},
		{"..", false},
		{"nul\x00", false},
	} {
		if err := checkName(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestEncodeTargetsLayout(t *testing.T) {
	needLittleEndian(t)
	b, err := encodeTargets([]Target{
		{Start: 0, Length: 100, Type: "linear", Params: "8:1 0"},
		{Start: 100, Length: 0x1_0000_0000, Type: "crypt", Params: "aes-xts-plain64 :64:logon:cryptsetup:u-d0 0 8:2 4096"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// First spec: 40 + len("8:1 0")+1 = 46, padded to 48.
	first := []byte{
		0, 0, 0, 0, 0, 0, 0, 0, // sector_start
		100, 0, 0, 0, 0, 0, 0, 0, // length
		0, 0, 0, 0, // status
		48, 0, 0, 0, // next: from this spec to the next
		'l', 'i', 'n', 'e', 'a', 'r', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		'8', ':', '1', ' ', '0', 0, 0, 0,
	}
	if !bytes.Equal(b[:48], first) {
		t.Errorf("first spec:\n% x\nwant\n% x", b[:48], first)
	}
	p2 := "aes-xts-plain64 :64:logon:cryptsetup:u-d0 0 8:2 4096"
	size2 := (40 + len(p2) + 1 + 7) &^ 7
	if len(b) != 48+size2 {
		t.Fatalf("encoded %d bytes, want %d", len(b), 48+size2)
	}
	s := b[48:]
	if ne.Uint64(s) != 100 || ne.Uint64(s[8:]) != 0x1_0000_0000 || ne.Uint32(s[20:]) != uint32(size2) {
		t.Errorf("second spec header % x", s[:24])
	}
	if string(s[24:29]) != "crypt" || s[29] != 0 || string(s[40:40+len(p2)]) != p2 || s[40+len(p2)] != 0 {
		t.Errorf("second spec body %q", s[24:])
	}
	if len(b)%8 != 0 {
		t.Errorf("length %d not 8-aligned", len(b))
	}
}

func TestEncodeTargetsRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		table []Target
		want  string
	}{
		{"empty", nil, "empty table"},
		{"not from 0", []Target{{Start: 8, Length: 8, Type: "linear", Params: "8:1 0"}}, "contiguous"},
		{"gap", []Target{{0, 8, "linear", "8:1 0"}, {9, 8, "linear", "8:1 8"}}, "contiguous"},
		{"zero length", []Target{{0, 0, "linear", "8:1 0"}}, "length 0"},
		{"no type", []Target{{0, 8, "", "x"}}, "bad target type"},
		{"long type", []Target{{0, 8, "sixteen-letters!", "x"}}, "bad target type"},
		{"nul params", []Target{{0, 8, "linear", "8:1\x000"}}, "NUL"},
		{"overflow", []Target{{0, ^uint64(0), "zero", ""}, {^uint64(0), 2, "zero", ""}}, "overflows"},
	} {
		if _, err := encodeTargets(tc.table); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// statusReply lays targets out as DM_TABLE_STATUS returns them: next counts from the
// start of the first spec. It stands for the kernel in these tests.
func statusReply(table []Target) []byte {
	var b []byte
	for _, t := range table {
		s := make([]byte, specSize)
		ne.PutUint64(s[specOffStart:], t.Start)
		ne.PutUint64(s[specOffLen:], t.Length)
		copy(s[specOffType:], t.Type)
		s = append(s, t.Params...)
		s = append(s, 0)
		b = append(b, s...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		ne.PutUint32(b[len(b)-alignUp(len(s))+specOffNext:], uint32(len(b)))
	}
	return b
}

func TestDecodeTargets(t *testing.T) {
	needLittleEndian(t)
	// Hand-made reply: two specs, the second's offset (56) counted from the first spec.
	b := make([]byte, 56+48)
	copy(b[0:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 56, 0, 0, 0})
	copy(b[24:], "striped")
	// Params end with their NUL at 54; the next spec is where next says (56), which
	// decode must follow rather than compute.
	copy(b[40:], "2 128 8:1 0 8:\x00")
	copy(b[56:], []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	copy(b[56+24:], "error")
	got, err := decodeTargets(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{0, 16, "striped", "2 128 8:1 0 8:"}, {16, 8, "error", ""}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("decoded %+v, want %+v", got, want)
	}

	table := []Target{{0, 100, "linear", "8:1 0"}, {100, 28, "crypt", "aes-xts-plain64 :64:logon:cryptsetup:x-d0 0 8:2 4096 1 allow_discards"}}
	got, err = decodeTargets(statusReply(table), 2)
	if err != nil || len(got) != 2 || got[0] != table[0] || got[1] != table[1] {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

func TestDecodeTargetsRejects(t *testing.T) {
	good := statusReply([]Target{{0, 8, "linear", "8:1 0"}, {8, 8, "linear", "8:2 0"}})
	loop := bytes.Clone(good)
	ne.PutUint32(loop[specOffNext:], 0) // next pointing back at the first spec
	unterminated := bytes.Clone(good[:48])
	for i := 40; i < 48; i++ {
		unterminated[i] = 'x'
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		count uint32
	}{
		{"count beyond data", good, 5},
		{"no data", nil, 1},
		{"next does not advance", loop, 2},
		{"params not terminated", unterminated, 1},
		{"truncated second", good[:50], 2},
	} {
		if got, err := decodeTargets(tc.data, tc.count); err == nil {
			t.Errorf("%s: decoded %+v, want an error", tc.name, got)
		}
	}
}

// nameListReply lays devices out as DM_LIST_DEVICES returns them; withFlags false gives
// the layout of kernels before 5.14 (event_nr only).
func nameListReply(devs []Device, withFlags bool) []byte {
	var b []byte
	prev := -1
	for _, d := range devs {
		start := len(b)
		if prev >= 0 {
			ne.PutUint32(b[prev+nameListOffNext:], uint32(start-prev))
		}
		prev = start
		r := make([]byte, nameListOffName)
		ne.PutUint64(r, uint64(d.Major)<<8|uint64(d.Minor&0xff)|uint64(d.Minor&^0xff)<<12)
		r = append(r, d.Name...)
		r = append(r, 0)
		for len(r)%8 != 0 {
			r = append(r, 0)
		}
		r = ne.AppendUint32(r, 5) // event_nr
		if withFlags {
			if d.UUID != "" {
				r = ne.AppendUint32(r, nameListHasUUID)
				r = append(r, d.UUID...)
				r = append(r, 0)
			} else {
				r = ne.AppendUint32(r, 2)
			}
		} else {
			r = ne.AppendUint32(r, 0)
		}
		for len(r)%8 != 0 {
			r = append(r, 0)
		}
		b = append(b, r...)
	}
	return b
}

func TestDecodeNameList(t *testing.T) {
	needLittleEndian(t)
	// Hand-made: one device "root" 253:0 with uuid "U".
	hand := []byte{
		0x00, 0xfd, 0, 0, 0, 0, 0, 0, // dev 253:0
		0, 0, 0, 0, // next: last record
		'r', 'o', 'o', 't', 0, 0, 0, 0, 0, 0, 0, 0, // name, NUL at 16, padded to 24
		9, 0, 0, 0, 1, 0, 0, 0, // event_nr 9, flags HAS_UUID
		'U', 0, 0, 0, 0, 0, 0, 0,
	}
	got, err := decodeNameList(hand)
	if err != nil || len(got) != 1 || got[0] != (Device{Name: "root", UUID: "U", Major: 253, Minor: 0}) {
		t.Errorf("hand-made record: %+v, %v", got, err)
	}

	devs := []Device{
		{Name: "luks-0b2c", UUID: "CRYPT-LUKS2-0b2c-luks-0b2c", Major: 253, Minor: 0},
		{Name: "vg-root", UUID: "", Major: 253, Minor: 1},
		{Name: "x", UUID: "LVM-" + strings.Repeat("a", 64), Major: 253, Minor: 300},
	}
	got, err = decodeNameList(nameListReply(devs, true))
	if err != nil || len(got) != 3 {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	for i := range devs {
		if got[i] != devs[i] {
			t.Errorf("device %d: %+v, want %+v", i, got[i], devs[i])
		}
	}
	old, err := decodeNameList(nameListReply(devs, false))
	if err != nil || len(old) != 3 || old[0].UUID != "" || old[2].Name != "x" || old[2].Minor != 300 {
		t.Errorf("pre-5.14 layout: %+v, %v", old, err)
	}
	for _, empty := range [][]byte{nil, make([]byte, 4), make([]byte, 16)} {
		if got, err := decodeNameList(empty); err != nil || len(got) != 0 {
			t.Errorf("empty reply of %d bytes: %+v, %v", len(empty), got, err)
		}
	}
}

func TestDecodeNameListRejects(t *testing.T) {
	good := nameListReply([]Device{{Name: "a", Major: 253}, {Name: "b", Major: 253, Minor: 1}}, true)
	badNext := bytes.Clone(good)
	ne.PutUint32(badNext[nameListOffNext:], 4)
	farNext := bytes.Clone(good)
	ne.PutUint32(farNext[nameListOffNext:], 4096)
	noNUL := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'}
	uuidNoNUL := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 'u', 'u'}
	for name, data := range map[string][]byte{
		"next inside header": badNext, "next beyond reply": farNext,
		"name not terminated": noNUL, "uuid not terminated": uuidNoNUL,
		"truncated second": good[:len(good)-20],
	} {
		if got, err := decodeNameList(data); err == nil {
			t.Errorf("%s: %+v, want an error", name, got)
		}
	}
}

func FuzzDecodeTargets(f *testing.F) {
	f.Add(statusReply([]Target{{0, 8, "linear", "8:1 0"}, {8, 8, "crypt", "aes :32:logon:a:b 0 8:2 0"}}), uint32(2))
	f.Add([]byte{}, uint32(1))
	f.Fuzz(func(t *testing.T, data []byte, count uint32) {
		table, err := decodeTargets(data, count)
		if err == nil && uint32(len(table)) != count {
			t.Fatalf("%d targets for count %d", len(table), count)
		}
	})
}

func FuzzDecodeNameList(f *testing.F) {
	f.Add(nameListReply([]Device{{Name: "a", UUID: "u", Major: 253}, {Name: "bb", Major: 253, Minor: 1}}, true))
	f.Add(nameListReply([]Device{{Name: "a", Major: 253}}, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		devs, err := decodeNameList(data)
		if err == nil && len(devs) > len(data)/nameListOffName {
			t.Fatalf("%d devices from %d bytes", len(devs), len(data))
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	b := make([]byte, headerSize)
	(&header{Version: ioctlVersion, Name: "n", UUID: "u", DataSize: 400, DataStart: 312}).put(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			return
		}
		p := h.payload(data)
		if len(p) > len(data) {
			t.Fatalf("payload of %d bytes from %d", len(p), len(data))
		}
		if len(h.Name) >= nameLen || len(h.UUID) >= uuidLen {
			t.Fatalf("name %d / uuid %d bytes", len(h.Name), len(h.UUID))
		}
	})
}
