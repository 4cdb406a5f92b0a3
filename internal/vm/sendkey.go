package vm

import (
	"fmt"
)

// SendKey presses keys together and releases them, as the QEMU monitor's sendkey does:
// the names are QEMU's key codes ("a", "shift", "ret", "slash", …; see the QMP send-key
// command). The keys reach the guest through its emulated keyboard (PS/2), so, unlike
// text sent to the serial console, they go through the console keymap of a virtual
// terminal. It needs Config.Monitor.
func (v *VM) SendKey(keys ...string) error {
	type keyValue struct {
		Type string `json:"type"`
		Data string `json:"data"`
	}
	args := struct {
		Keys []keyValue `json:"keys"`
	}{}
	for _, k := range keys {
		args.Keys = append(args.Keys, keyValue{"qcode", k})
	}
	if _, err := v.QMP("send-key", args); err != nil {
		return fmt.Errorf("send-key %v: %w", keys, err)
	}
	return nil
}

// TypeUS types s key by key, pressing for each character the key (with shift when needed)
// that gives it on a US keyboard. What the guest reads is s only under a US keymap: that
// is the point of typing keys rather than text.
func (v *VM) TypeUS(s string) error {
	chords, err := usKeys(s)
	if err != nil {
		return err
	}
	for _, c := range chords {
		if err := v.SendKey(c...); err != nil {
			return err
		}
	}
	return nil
}

// usUnshifted and usShifted map the printable characters of a US keyboard to QEMU key codes.
var (
	usUnshifted = map[byte]string{
		'-': "minus", '=': "equal", '[': "bracket_left", ']': "bracket_right", '\\': "backslash",
		';': "semicolon", '\'': "apostrophe", '`': "grave_accent", ',': "comma", '.': "dot", '/': "slash",
		' ': "spc", '\n': "ret", '\t': "tab",
	}
	usShifted = map[byte]byte{
		'!': '1', '@': '2', '#': '3', '$': '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
		'_': '-', '+': '=', '{': '[', '}': ']', '|': '\\', ':': ';', '"': '\'', '~': '`', '<': ',', '>': '.', '?': '/',
	}
)

// usKeys returns the key chords that type s on a US keyboard.
func usKeys(s string) ([][]string, error) {
	var out [][]string
	for i := 0; i < len(s); i++ {
		c := s[i]
		shift := false
		if c >= 'A' && c <= 'Z' {
			c, shift = c-'A'+'a', true
		} else if base, ok := usShifted[c]; ok {
			c, shift = base, true
		}
		var key string
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			key = string(c)
		case usUnshifted[c] != "":
			key = usUnshifted[c]
		default:
			return nil, fmt.Errorf("type %q: no US key gives %q", s, s[i])
		}
		if shift {
			out = append(out, []string{"shift", key})
		} else {
			out = append(out, []string{key})
		}
	}
	return out, nil
}
