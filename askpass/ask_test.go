package askpass

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// script is a Terminal that answers prompts from a list and records what
// was said. An answer "!abort" returns ErrAborted.
type script struct {
	answers []string
	prompts int
	said    []string
	given   [][]byte // the slices handed out, to check they were zeroed
}

func (s *script) ReadPassphrase(ctx context.Context, prompt string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.prompts >= len(s.answers) {
		return nil, ErrEOF
	}
	a := s.answers[s.prompts]
	s.prompts++
	if a == "!abort" {
		return nil, ErrAborted
	}
	b := []byte(a)
	s.given = append(s.given, b)
	return b, nil
}

func (s *script) Say(msg string) error {
	s.said = append(s.said, msg)
	return nil
}

var (
	errWrong       = errors.New("no keyslot matched the passphrase")
	errUnsupported = errors.New("unsupported cipher camellia-xts-plain64")
)

// accept returns a check that accepts good and records what it saw.
func accept(good string, seen *[]string) func([]byte) error {
	return func(p []byte) error {
		*seen = append(*seen, string(p))
		if string(p) == good {
			return nil
		}
		return errWrong
	}
}

func TestAsk(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		tries   int
		check   func([]byte) error // nil: accept("right")
		err     string
		prompts int
		said    []string
	}{
		{"first", []string{"right"}, 3, nil, "", 1, nil},
		{"second", []string{"wrong", "right"}, 3, nil, "", 2,
			[]string{"no keyslot matched the passphrase; 2 of 3 tries left"}},
		{"three wrong", []string{"a", "b", "c", "right"}, 3, nil, "no keyslot matched the passphrase (3 tries)", 3,
			[]string{"no keyslot matched the passphrase; 2 of 3 tries left", "no keyslot matched the passphrase; 1 of 3 tries left"}},
		{"one try", []string{"a", "right"}, 1, nil, "no keyslot matched the passphrase (1 tries)", 1, nil},
		{"unlimited", []string{"a", "b", "c", "d", "right"}, 0, nil, "", 5,
			[]string{"no keyslot matched the passphrase; try again", "no keyslot matched the passphrase; try again",
				"no keyslot matched the passphrase; try again", "no keyslot matched the passphrase; try again"}},
		{"abort", []string{"a", "!abort", "right"}, 3, nil, ErrAborted.Error(), 2,
			[]string{"no keyslot matched the passphrase; 2 of 3 tries left"}},
		{"end of input", []string{"a"}, 0, nil, ErrEOF.Error(), 1,
			[]string{"no keyslot matched the passphrase; try again"}},
		{"permanent", []string{"a", "right"}, 3, func([]byte) error { return Permanent(errUnsupported) },
			errUnsupported.Error(), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			var seen []string
			check := tt.check
			if check == nil {
				check = accept("right", &seen)
			}
			err := (&Asker{Term: s}).Ask(context.Background(), "P: ", tt.tries, check)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.err || s.prompts != tt.prompts || !reflect.DeepEqual(s.said, tt.said) {
				t.Errorf("Ask = %q after %d prompts, said %q; want %q, %d, %q", gotErr, s.prompts, s.said, tt.err, tt.prompts, tt.said)
			}
			for _, g := range s.given {
				if bytes.ContainsFunc(g, func(r rune) bool { return r != 0 }) {
					t.Errorf("passphrase %q not zeroed", g)
				}
			}
			if err != nil && strings.Contains(err.Error(), "right") {
				t.Errorf("error %q contains a passphrase", err)
			}
		})
	}
}

func TestAskErrorsWrap(t *testing.T) {
	s := &script{answers: []string{"a"}}
	err := (&Asker{Term: s}).Ask(context.Background(), "P: ", 1, func([]byte) error { return errWrong })
	if !errors.Is(err, errWrong) {
		t.Errorf("Ask = %v, want it to wrap the check's error", err)
	}
	s = &script{answers: []string{"a"}}
	err = (&Asker{Term: s}).Ask(context.Background(), "P: ", 1, func([]byte) error { return Permanent(errUnsupported) })
	if err != errUnsupported {
		t.Errorf("Ask with a permanent failure = %#v, want the check's error itself", err)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Asker{Term: &script{answers: []string{"right"}}}).Ask(ctx, "P: ", 3, func([]byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Ask with a cancelled context = %v", err)
	}
}

func TestAskCache(t *testing.T) {
	cache := &Cache{}
	// Device 1: typed, wrong then right; the right one is remembered.
	s := &script{answers: []string{"wrong", "disk1"}}
	var seen []string
	if err := (&Asker{Term: s, Cache: cache}).Ask(context.Background(), "P: ", 3, accept("disk1", &seen)); err != nil {
		t.Fatal(err)
	}
	if got := candidates(cache); !reflect.DeepEqual(got, []string{"disk1"}) {
		t.Fatalf("cache = %q, want [disk1]", got)
	}
	// Device 2, same passphrase: not asked at all.
	s = &script{}
	seen = nil
	if err := (&Asker{Term: s, Cache: cache}).Ask(context.Background(), "P: ", 3, accept("disk1", &seen)); err != nil {
		t.Fatal(err)
	}
	if s.prompts != 0 || !reflect.DeepEqual(seen, []string{"disk1"}) {
		t.Errorf("device 2: %d prompts, checked %q; want 0 prompts, [disk1]", s.prompts, seen)
	}
	if want := []string{"Trying the passphrase that opened an earlier device"}; !reflect.DeepEqual(s.said, want) {
		t.Errorf("device 2 said %q, want %q", s.said, want)
	}
	// Device 3, another passphrase: the cached one is tried, does not cost
	// a try, then three prompts are allowed.
	s = &script{answers: []string{"x", "y", "disk3"}}
	seen = nil
	if err := (&Asker{Term: s, Cache: cache}).Ask(context.Background(), "P: ", 3, accept("disk3", &seen)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"disk1", "x", "y", "disk3"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("device 3 checked %q, want %q", seen, want)
	}
	if got, want := candidates(cache), []string{"disk3", "disk1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cache = %q, want %q", got, want)
	}
	// A permanent failure on a cached passphrase stops at once.
	s = &script{answers: []string{"z"}}
	err := (&Asker{Term: s, Cache: cache}).Ask(context.Background(), "P: ", 3, func([]byte) error { return Permanent(errUnsupported) })
	if err != errUnsupported || s.prompts != 0 {
		t.Errorf("permanent failure: %v after %d prompts", err, s.prompts)
	}
}

func candidates(c *Cache) []string {
	var out []string
	for _, p := range c.Candidates() {
		out = append(out, string(p))
	}
	return out
}

func TestCache(t *testing.T) {
	var c Cache
	if got := c.Candidates(); len(got) != 0 {
		t.Errorf("empty cache has %q", got)
	}
	a := []byte("alpha")
	c.Remember(a)
	zero(a) // the caller's copy; the cache keeps its own
	c.Remember([]byte("beta"))
	c.Remember([]byte("gamma"))
	c.Remember([]byte("alpha"))
	if got, want := candidates(&c), []string{"alpha", "gamma", "beta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("candidates = %q, want %q", got, want)
	}
	// Candidates are copies: zeroing them does not change the cache.
	for _, p := range c.Candidates() {
		zero(p)
	}
	if got := candidates(&c); got[0] != "alpha" {
		t.Errorf("zeroing a candidate changed the cache: %q", got)
	}
	held := c.pass
	c.Forget()
	if len(c.Candidates()) != 0 {
		t.Error("Forget left candidates")
	}
	for _, p := range held {
		if bytes.ContainsFunc(p, func(r rune) bool { return r != 0 }) {
			t.Errorf("Forget did not zero %q", p)
		}
	}
}

func TestPrompt(t *testing.T) {
	tests := []struct {
		device, name, keymap, want string
	}{
		{"/dev/vda3", "luks-3b1e", DefaultKeymap, "Passphrase for /dev/vda3 (luks-3b1e) [keymap: us]: "},
		{"/dev/sda2", "cryptroot", "de-latin1", "Passphrase for /dev/sda2 (cryptroot) [keymap: de-latin1]: "},
		{"/dev/x\x1b[2J", "n\r", "us", "Passphrase for /dev/x?[2J (n?) [keymap: us]: "},
	}
	for _, tt := range tests {
		if got := Prompt(tt.device, tt.name, tt.keymap); got != tt.want {
			t.Errorf("Prompt(%q, %q, %q) = %q, want %q", tt.device, tt.name, tt.keymap, got, tt.want)
		}
	}
}
