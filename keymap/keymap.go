// Package keymap reads the binary console keymaps that kbd's `loadkeys -b`
// writes, and loads them into the Linux console's keyboard driver with the
// KDSKBENT ioctl.
//
// A keymap source (kbd's text format, or an XKB layout translated by
// console-setup's ckbcomp) needs a compiler that knows every keysym name,
// include file and charset; the distribution already ships one. So an
// image carries the compiled result instead, and the init only has to copy
// numbers into the kernel. The binary form is the one busybox's loadkmap
// reads:
//
//	"bkeymap"                    7 bytes of magic
//	flags[256]                   1 if table i (a combination of modifiers) is defined
//	keys[128] per defined table  host-order uint16 key values, in table order
//
// It carries the key tables only: the strings of function keys and the
// compose and dead-key tables stay the kernel's defaults.
package keymap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits of the format (linux/keyboard.h's MAX_NR_KEYMAPS, and the 128
// keys per table the format keeps of the kernel's NR_KEYS).
const (
	NumTables = 256
	NumKeys   = 128
)

// Where an earlyroot image keeps the keymap, relative to its root: the
// binary keymap and, in a one-line text file, its name.
const (
	ImageFile     = "etc/earlyroot/keymap.bmap"
	ImageNameFile = "etc/earlyroot/keymap.name"
)

// Magic starts every binary keymap.
const Magic = "bkeymap"

// Key values with a meaning of their own (linux/keyboard.h).
const (
	Hole      = 0x0200 // K_HOLE: the key does nothing in this table
	NoSuchMap = 0x027f // K_NOSUCHMAP: given for key 0 of a table, frees the table
)

// Keymap is a set of key tables; Tables[t] is nil when table t is not
// defined. Table t is used while the modifiers whose bits are set in t
// are down (bit 0 shift, 1 altgr, 2 control, 3 alt, ...).
type Keymap struct {
	Tables [NumTables]*[NumKeys]uint16
}

// Parse reads a binary keymap.
func Parse(data []byte) (*Keymap, error) {
	if !bytes.HasPrefix(data, []byte(Magic)) {
		return nil, errors.New("keymap: not a binary keymap (no \"bkeymap\" magic; make one with loadkeys -b)")
	}
	rest := data[len(Magic):]
	if len(rest) < NumTables {
		return nil, fmt.Errorf("keymap: truncated table flags (%d of %d bytes)", len(rest), NumTables)
	}
	flags, rest := rest[:NumTables], rest[NumTables:]
	k := &Keymap{}
	n := 0
	for t, f := range flags {
		switch f {
		case 0:
			continue
		case 1:
		default:
			return nil, fmt.Errorf("keymap: table %d: flag %d, want 0 or 1", t, f)
		}
		if len(rest) < 2*NumKeys {
			return nil, fmt.Errorf("keymap: table %d: truncated (%d of %d bytes)", t, len(rest), 2*NumKeys)
		}
		var keys [NumKeys]uint16
		for i := range keys {
			keys[i] = binary.NativeEndian.Uint16(rest[2*i:])
		}
		k.Tables[t] = &keys
		rest = rest[2*NumKeys:]
		n++
	}
	if n == 0 {
		return nil, errors.New("keymap: no table defined")
	}
	if k.Tables[0] == nil {
		return nil, errors.New("keymap: table 0 (no modifier) not defined")
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("keymap: %d bytes after the last table", len(rest))
	}
	return k, nil
}

// MarshalBinary returns k in the binary form Parse reads.
func (k *Keymap) MarshalBinary() ([]byte, error) {
	b := []byte(Magic)
	for _, t := range k.Tables {
		if t != nil {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	for _, t := range k.Tables {
		if t == nil {
			continue
		}
		for _, v := range t {
			b = binary.NativeEndian.AppendUint16(b, v)
		}
	}
	return b, nil
}

// Count returns the number of tables defined.
func (k *Keymap) Count() int {
	n := 0
	for _, t := range k.Tables {
		if t != nil {
			n++
		}
	}
	return n
}

// Entry is one KDSKBENT request: key Index of table Table gets Value.
type Entry struct {
	Table, Index uint8
	Value        uint16
}

// Entries returns the requests that make the kernel's tables k's, in
// order: every key of every defined table, then, for each other table but
// table 0 (which always exists), a request that frees it, as loadkeys
// does, so that no table of the previous keymap is left behind.
func (k *Keymap) Entries() []Entry {
	var es []Entry
	for t, keys := range k.Tables {
		if keys == nil {
			continue
		}
		for i, v := range keys {
			es = append(es, Entry{uint8(t), uint8(i), v})
		}
	}
	for t, keys := range k.Tables {
		if keys == nil && t != 0 {
			es = append(es, Entry{uint8(t), 0, NoSuchMap})
		}
	}
	return es
}
