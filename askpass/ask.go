// Package askpass asks for the passphrase of an encrypted device at the
// console: echo off, the usual editing keys, a limited number of tries
// with the reason for each failure, and a cache so that one passphrase
// typed for the first device is tried on the next ones before asking
// again.
//
// Passphrases are byte slices that their owner zeroes after use; the
// package zeroes its own copies and never puts a passphrase in an error or
// a message. Go may still leave copies it made on its own (a string
// conversion, a moved stack); the package avoids the operations that make
// them.
package askpass

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// DefaultKeymap is the keymap of a console nobody has loaded one into: the
// kernel's built-in US layout. Prompts name the keymap, because a
// passphrase typed with the wrong one is the commonest "wrong passphrase".
const DefaultKeymap = "us"

// Prompt returns the text that asks for the passphrase of device, to be
// opened as the mapping name, under the given keymap.
func Prompt(device, name, keymap string) string {
	return fmt.Sprintf("Passphrase for %s (%s) [keymap: %s]: ", printable(device), printable(name), printable(keymap))
}

// printable replaces control characters, so that a strange device name
// cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// Terminal is what Ask needs from a console; *Console is one.
type Terminal interface {
	ReadPassphrase(ctx context.Context, prompt string) ([]byte, error)
	Say(msg string) error
}

// Asker asks for passphrases on a terminal.
type Asker struct {
	Term  Terminal
	Cache *Cache // if not nil, remembered passphrases are tried first and good ones remembered
}

// Ask obtains a passphrase that check accepts, and reports whether one
// was found. check gets the passphrase (which it must not keep) and
// returns nil when it opens the device, or the reason it does not
// ("no keyslot matched the passphrase"); wrap the reason with Permanent
// when asking again cannot help (an unsupported cipher).
//
// First the cache's passphrases are tried, without counting as tries.
// Then Ask prompts up to tries times (0 = until one works, as tries=0
// in crypttab), saying after each failure why, and returns the last
// reason, or the terminal's error (ErrAborted, ErrEOF, the context's).
func (a *Asker) Ask(ctx context.Context, prompt string, tries int, check func(pass []byte) error) error {
	if a.Cache != nil {
		if err := a.tryCached(check); !errors.Is(err, errNoCandidate) {
			return err
		}
	}
	var last error
	for i := 1; tries <= 0 || i <= tries; i++ {
		pass, err := a.Term.ReadPassphrase(ctx, prompt)
		if err != nil {
			return err
		}
		err = check(pass)
		if err == nil && a.Cache != nil {
			a.Cache.Remember(pass)
		}
		zero(pass)
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		last = err
		switch {
		case tries <= 0:
			_ = a.Term.Say(fmt.Sprintf("%v; try again", err))
		case i < tries:
			_ = a.Term.Say(fmt.Sprintf("%v; %d of %d tries left", err, tries-i, tries))
		}
	}
	return fmt.Errorf("%w (%d tries)", last, tries)
}

// errNoCandidate says that no cached passphrase opened the device.
var errNoCandidate = errors.New("no cached passphrase")

// tryCached tries the cache's passphrases: nil when one works, the error
// of a Permanent failure, or errNoCandidate.
func (a *Asker) tryCached(check func([]byte) error) error {
	cands := a.Cache.Candidates()
	defer func() {
		for _, c := range cands {
			zero(c)
		}
	}()
	if len(cands) > 0 {
		_ = a.Term.Say("Trying the passphrase that opened an earlier device")
	}
	for _, c := range cands {
		err := check(c)
		if err == nil {
			a.Cache.Remember(c)
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
	}
	return errNoCandidate
}

// permanent marks a failure that asking again cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err, returned by a check function, as a failure that
// another passphrase cannot fix: Ask stops and returns err. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// Cache holds passphrases that opened devices, so that the next device is
// tried with them first. It is safe for concurrent use. The zero value is
// an empty cache.
type Cache struct {
	mu   sync.Mutex
	pass [][]byte // most recent first
}

// Remember keeps a copy of pass (the caller still zeroes its own), as the
// most recent; a passphrase already held is moved to the front.
func (c *Cache) Remember(pass []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pass {
		if bytes.Equal(p, pass) {
			copy(c.pass[1:i+1], c.pass[:i])
			c.pass[0] = p
			return
		}
	}
	c.pass = append([][]byte{bytes.Clone(pass)}, c.pass...)
}

// Candidates returns copies of the remembered passphrases, most recent
// first. The caller zeroes them when done.
func (c *Cache) Candidates() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.pass))
	for i, p := range c.pass {
		out[i] = bytes.Clone(p)
	}
	return out
}

// Forget zeroes and drops every remembered passphrase (before the real
// root's init runs, for instance).
func (c *Cache) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pass {
		zero(p)
	}
	c.pass = nil
}
