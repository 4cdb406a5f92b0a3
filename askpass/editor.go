package askpass

import "unicode/utf8"

// MaxLen is the longest passphrase accepted, in bytes: cryptsetup's limit
// for one typed at a terminal.
const MaxLen = 512

// Keys the editor acts on.
const (
	keyCtrlC     = 0x03
	keyCtrlD     = 0x04
	keyBackspace = 0x08
	keyTab       = 0x09
	keyLF        = 0x0a
	keyCR        = 0x0d
	keyCtrlU     = 0x15
	keyEsc       = 0x1b
	keyDEL       = 0x7f
)

// action is what a keystroke asks the reader to do.
type action int

const (
	more  action = iota // keep reading
	enter               // the line is complete
	abort               // Ctrl-C
	eof                 // Ctrl-D on an empty line
)

// escape-sequence states: function and arrow keys send ESC [ … final or
// ESC O x; they are swallowed, not typed into the passphrase.
const (
	escNone = iota
	escStart
	escCSI
	escSS3
)

// editor turns keystrokes into a passphrase, without echo: Backspace and
// DEL erase the last character (a whole UTF-8 sequence), Ctrl-U erases the
// line, CR or LF ends it, Ctrl-C aborts, Ctrl-D on an empty line is end of
// input. Other control characters except Tab are ignored. The buffer has a
// fixed capacity so that no copy of the passphrase is left behind by a
// reallocation; erased bytes are zeroed.
type editor struct {
	buf  []byte
	over int  // characters typed past MaxLen (dropped, but counted for Backspace)
	drop bool // dropping the rest of a character that did not fit
	esc  int
}

func newEditor() *editor {
	return &editor{buf: make([]byte, 0, MaxLen)}
}

// feed applies one byte.
func (e *editor) feed(b byte) action {
	if b < 0x20 || b == keyDEL {
		e.esc = escNone
		return e.control(b)
	}
	if e.esc != escNone && b >= 0x80 {
		e.esc, e.drop = escNone, true // a character after ESC: swallowed whole
		return more
	}
	switch e.esc {
	case escStart:
		switch b {
		case '[':
			e.esc = escCSI
		case 'O':
			e.esc = escSS3
		default:
			e.esc = escNone // Alt+key: dropped
		}
		return more
	case escCSI:
		if b >= 0x40 && b <= 0x7e {
			e.esc = escNone
		}
		return more
	case escSS3:
		e.esc = escNone
		return more
	}
	e.add(b)
	return more
}

func (e *editor) control(b byte) action {
	switch b {
	case keyCR, keyLF:
		return enter
	case keyCtrlC:
		return abort
	case keyCtrlD:
		if len(e.buf) == 0 && e.over == 0 {
			return eof
		}
	case keyBackspace, keyDEL:
		e.erase()
	case keyCtrlU:
		e.clear()
	case keyEsc:
		e.esc = escStart
	case keyTab:
		e.add(b)
	}
	return more
}

// add types one byte. A character is added whole or not at all: its
// first byte reserves room for the whole UTF-8 sequence.
func (e *editor) add(b byte) {
	if b&0xc0 == 0x80 && e.drop {
		return
	}
	e.drop = false
	if len(e.buf)+seqLen(b) > cap(e.buf) {
		e.over++
		e.drop = true
		return
	}
	e.buf = append(e.buf, b)
}

// seqLen is the length of the UTF-8 sequence that b starts (1 for bytes
// that start none).
func seqLen(b byte) int {
	switch {
	case b >= 0xf0 && b <= 0xf7:
		return 4
	case b >= 0xe0 && b <= 0xef:
		return 3
	case b >= 0xc0 && b <= 0xdf:
		return 2
	}
	return 1
}

// erase removes the last character, first those dropped past MaxLen.
func (e *editor) erase() {
	e.drop = false
	if e.over > 0 {
		e.over--
		return
	}
	_, n := utf8.DecodeLastRune(e.buf)
	zero(e.buf[len(e.buf)-n:])
	e.buf = e.buf[:len(e.buf)-n]
}

// clear erases the whole line.
func (e *editor) clear() {
	zero(e.buf)
	e.buf = e.buf[:0]
	e.over = 0
	e.drop = false
}

// zero overwrites b with zeros.
func zero(b []byte) {
	clear(b)
}
