package askpass

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// run feeds input until an action other than more; it returns the text,
// the action and how many bytes were used.
func run(input string) (string, action, int) {
	e := newEditor()
	for i := 0; i < len(input); i++ {
		if a := e.feed(input[i]); a != more {
			if e.over > 0 && a == enter {
				return "<too long>", a, i + 1
			}
			return string(e.buf), a, i + 1
		}
	}
	return string(e.buf), more, len(input)
}

func TestEditor(t *testing.T) {
	long := strings.Repeat("a", MaxLen)
	tests := []struct {
		name  string
		input string
		want  string
		act   action
		used  int
	}{
		{"CR", "secret\rrest", "secret", enter, 7},
		{"LF", "secret\n", "secret", enter, 7},
		{"empty", "\r", "", enter, 1},
		{"spaces and tab kept", " a b\tc \r", " a b\tc ", enter, 8},
		{"backspace", "secrex\bt\r", "secret", enter, 9},
		{"DEL", "secrex\x7ft\r", "secret", enter, 9},
		{"backspace on empty", "\x7f\x7fab\r", "ab", enter, 5},
		{"backspace UTF-8", "pässé\x7f\x7f\r", "päs", enter, 10},
		{"backspace 4-byte", "a😀\x7fb\r", "ab", enter, 8},
		{"backspace invalid byte", "a\xff\x7f\r", "a", enter, 4},
		{"Ctrl-U", "wrong\x15right\r", "right", enter, 12},
		{"Ctrl-C", "abc\x03def\r", "abc", abort, 4},
		{"Ctrl-D empty", "\x04abc\r", "", eof, 1},
		{"Ctrl-D after Ctrl-U", "ab\x15\x04", "", eof, 4},
		{"Ctrl-D not empty ignored", "ab\x04c\r", "abc", enter, 5},
		{"other controls ignored", "a\x01\x02\x07b\x13\x11\x1a\r", "ab", enter, 9},
		{"arrow keys swallowed", "a\x1b[Ab\x1b[1;5Cc\x1bOHd\r", "abcd", enter, 17},
		{"Alt+x swallowed", "a\x1bxb\r", "ab", enter, 5},
		{"Enter ends escape", "a\x1b[\r", "a", enter, 4},
		{"no Enter", "abc", "abc", more, 3},
		{"exactly MaxLen", long + "\r", long, enter, MaxLen + 1},
		{"too long", long + "b\r", "<too long>", enter, MaxLen + 2},
		{"too long then backspace", long + "bc\x7f\x7f\r", long, enter, MaxLen + 5},
		{"too long then Ctrl-U", long + "b\x15ok\r", "ok", enter, MaxLen + 5},
		{"character not split at MaxLen", long[1:] + "é\r", "<too long>", enter, MaxLen + 2},
		{"split character erased whole", long[1:] + "é\x7fz\r", long[1:] + "z", enter, MaxLen + 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, act, used := run(tt.input)
			if got != tt.want || act != tt.act || used != tt.used {
				t.Errorf("run(%q) = %q, %d, %d; want %q, %d, %d", tt.input, got, act, used, tt.want, tt.act, tt.used)
			}
		})
	}
}

// TestEditorZeroes checks that erased bytes do not stay in the buffer's
// backing array.
func TestEditorZeroes(t *testing.T) {
	e := newEditor()
	for _, b := range []byte("secret\x7f\x7f\x15xy") {
		e.feed(b)
	}
	backing := e.buf[:cap(e.buf)]
	if got := string(backing[:2]); got != "xy" {
		t.Fatalf("buffer = %q, want xy", got)
	}
	for i, b := range backing[2:8] {
		if b != 0 {
			t.Errorf("byte %d of the erased text is %q, want 0", i+2, b)
		}
	}
}

func FuzzEditor(f *testing.F) {
	f.Add("pässé\x7f\x15ab\x1b[A\r")
	f.Add(strings.Repeat("é", 300) + "\x7f\r")
	f.Fuzz(func(t *testing.T, input string) {
		e := newEditor()
		for i := 0; i < len(input); i++ {
			e.feed(input[i])
			if len(e.buf) > MaxLen || cap(e.buf) != MaxLen {
				t.Fatalf("buffer grew: len %d cap %d", len(e.buf), cap(e.buf))
			}
			if e.over < 0 {
				t.Fatalf("negative overflow %d", e.over)
			}
		}
		if utf8.ValidString(input) && !utf8.Valid(e.buf) {
			t.Errorf("valid input %q gave invalid passphrase %q", input, e.buf)
		}
	})
}
