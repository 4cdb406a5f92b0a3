package keymap

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Linux key codes (linux/input-event-codes.h) of the keys a German
// keyboard swaps with a US one.
const (
	keyY = 21
	keyZ = 44
)

// letter is a KT_LETTER key value: a letter that Caps Lock shifts.
func letter(c byte) uint16 { return 0x0b00 | uint16(c) }

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseFixtures(t *testing.T) {
	for _, tc := range []struct {
		file         string
		tables       int
		keyY, keyZ   uint16
		shiftY, altY uint16 // table 1 (shift), table 8 (alt)
	}{
		{"de-latin1.bmap", 10, letter('z'), letter('y'), letter('Z'), 0x087a},
		{"us.bmap", 9, letter('y'), letter('z'), letter('Y'), 0x0879},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := readFixture(t, tc.file)
			k, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if n := k.Count(); n != tc.tables {
				t.Errorf("%d tables, want %d", n, tc.tables)
			}
			if got := k.Tables[0][keyY]; got != tc.keyY {
				t.Errorf("KEY_Y = %#04x, want %#04x", got, tc.keyY)
			}
			if got := k.Tables[0][keyZ]; got != tc.keyZ {
				t.Errorf("KEY_Z = %#04x, want %#04x", got, tc.keyZ)
			}
			if got := k.Tables[1][keyY]; got != tc.shiftY {
				t.Errorf("shift KEY_Y = %#04x, want %#04x", got, tc.shiftY)
			}
			if got := k.Tables[8][keyY]; got != tc.altY {
				t.Errorf("alt KEY_Y = %#04x, want %#04x", got, tc.altY)
			}
			again, err := k.MarshalBinary()
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("MarshalBinary does not give back the file (err %v)", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := readFixture(t, "us.bmap")
	flags := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b[len(Magic):])
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no \"bkeymap\" magic"},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, "no \"bkeymap\" magic"},
		{"flags cut", good[:100], "truncated table flags (93 of 256 bytes)"},
		{"table cut", good[:len(good)-1], "table 12: truncated (255 of 256 bytes)"},
		{"trailing", append(bytes.Clone(good), 0), "1 bytes after the last table"},
		{"bad flag", flags(func(b []byte) { b[3] = 2 }), "table 3: flag 2"},
		{"no tables", []byte(Magic + strings.Repeat("\x00", NumTables)), "no table defined"},
		{"no table 0", flags(func(b []byte) { b[0], b[3] = 0, 1 }), "table 0 (no modifier) not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, %v; want an error with %q", k != nil, err, tc.want)
			}
		})
	}
}

func TestEntries(t *testing.T) {
	var k Keymap
	k.Tables[0] = &[NumKeys]uint16{keyY: letter('z')}
	k.Tables[2] = &[NumKeys]uint16{keyY: 0x0140}
	es := k.Entries()
	if len(es) != 2*NumKeys+NumTables-2 {
		t.Fatalf("%d entries, want %d", len(es), 2*NumKeys+NumTables-2)
	}
	if e := es[keyY]; e != (Entry{0, keyY, letter('z')}) {
		t.Errorf("entry %d = %+v", keyY, e)
	}
	if e := es[NumKeys+keyY]; e != (Entry{2, keyY, 0x0140}) {
		t.Errorf("entry %d = %+v", NumKeys+keyY, e)
	}
	// Then every undefined table but 0 is freed: 1, 3, 4, ... 255.
	free := es[2*NumKeys:]
	if free[0] != (Entry{1, 0, NoSuchMap}) || free[1] != (Entry{3, 0, NoSuchMap}) || free[len(free)-1] != (Entry{255, 0, NoSuchMap}) {
		t.Errorf("frees %+v ... %+v", free[:2], free[len(free)-1])
	}
}

func TestApply(t *testing.T) {
	es := []Entry{{0, 1, 1}, {0, 2, 2}, {0, 3, 3}}
	var got []Entry
	if err := apply(es, func(e Entry) error { got = append(got, e); return nil }); err != nil || len(got) != 3 {
		t.Fatalf("apply = %v, %d set", err, len(got))
	}
	err := apply(es, func(e Entry) error {
		if e.Index == 1 {
			return nil
		}
		return unix.EINVAL
	})
	var le *LoadError
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &le) || le.Set != 1 || le.Refused != 2 ||
		!strings.Contains(err.Error(), "2 of 3 entries refused; first: table 0 key 2 = 0x0002") {
		t.Errorf("apply = %v", err)
	}
	calls := 0
	err = apply(es, func(Entry) error { calls++; return unix.ENOTTY })
	if calls != 1 || !errors.Is(err, unix.ENOTTY) || !errors.As(err, &le) || le.Set != 0 {
		t.Errorf("not a console: %d calls, %v; want 1 and ENOTTY, nothing set", calls, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readFixtureF(f, "us.bmap"))
	f.Add(readFixtureF(f, "de-latin1.bmap"))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data)
		if err != nil {
			return
		}
		again, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("a parsed keymap does not marshal back to its input")
		}
	})
}

func readFixtureF(f *testing.F, name string) []byte {
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	return data
}
