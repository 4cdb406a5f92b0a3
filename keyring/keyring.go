// Package keyring puts keys into the Linux kernel keyring (keyrings(7)) for kernel
// consumers such as dm-crypt, which loads a table's key by reference
// (":<size>:logon:<description>") from the keyrings of the process that loads the table.
//
// Only "logon" keys are made: their payload can be read by the kernel but never by user
// space (KEYCTL_READ fails), so a key added here cannot leak back out through the keyring.
//
// cryptsetup adds a LUKS2 volume key to its thread keyring, loads the table and exits,
// which discards the thread keyring. PID 1 never exits, so WithLogonKey revokes and unlinks
// the key itself once the caller's table load is done: dm-crypt copied the key when it
// built the target and needs the keyring entry no longer. A thread keyring is per OS
// thread, and Go moves goroutines between threads, so WithLogonKey locks the goroutine to
// its thread from adding the key until it is gone.
package keyring

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Ring is a keyring: a key serial number or one of the special rings.
type Ring int

// The special rings of the calling thread (KEY_SPEC_*).
const (
	Thread  Ring = unix.KEY_SPEC_THREAD_KEYRING  // this thread's, dropped at exec and thread exit
	Process Ring = unix.KEY_SPEC_PROCESS_KEYRING // this process's (per thread once threads exist), dropped at exec
	Session Ring = unix.KEY_SPEC_SESSION_KEYRING // inherited across fork and exec
	User    Ring = unix.KEY_SPEC_USER_KEYRING    // the uid's, lives as long as the uid has processes
)

// Key is a key's serial number.
type Key int

// maxPayload is the largest payload the kernel accepts for user and logon keys.
const maxPayload = 32767

// CheckLogonDescription reports whether the kernel accepts desc as the description of a
// logon key: "<prefix>:<rest>" with a non-empty prefix. It must also be a single word to
// be usable in a dm table.
func CheckLogonDescription(desc string) error {
	i := strings.IndexByte(desc, ':')
	switch {
	case i <= 0:
		return fmt.Errorf("logon key description %q lacks a \"prefix:\"", desc)
	case strings.ContainsAny(desc, " \t\n\x00"):
		return fmt.Errorf("logon key description %q contains white space or NUL", desc)
	}
	return nil
}

// AddLogon adds a logon key with payload to ring and returns its serial number. If ring
// holds a logon key with the same description, the kernel replaces it. The payload is
// copied by the kernel; AddLogon keeps no copy, so the caller zeroes it when done. Errors
// never contain the payload.
func AddLogon(ring Ring, description string, payload []byte) (Key, error) {
	if err := CheckLogonDescription(description); err != nil {
		return 0, fmt.Errorf("keyring: %w", err)
	}
	if len(payload) == 0 || len(payload) > maxPayload {
		return 0, fmt.Errorf("keyring: add logon key %s: payload of %d bytes, want 1 to %d", description, len(payload), maxPayload)
	}
	id, err := unix.AddKey("logon", description, payload, int(ring))
	if err != nil {
		return 0, fmt.Errorf("keyring: add logon key %s: %w", description, err)
	}
	return Key(id), nil
}

// Revoke revokes k: the kernel frees its payload at once and refuses any further use.
func (k Key) Revoke() error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_REVOKE, int(k), 0, 0, 0); err != nil {
		return fmt.Errorf("keyring: revoke key %d: %w", k, err)
	}
	return nil
}

// Unlink removes k from ring.
func (k Key) Unlink(ring Ring) error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, int(k), int(ring), 0, 0); err != nil {
		return fmt.Errorf("keyring: unlink key %d: %w", k, err)
	}
	return nil
}

// Drop revokes k and unlinks it from ring, as cryptsetup drops a volume key: the payload
// is freed by the revocation even if the unlink fails.
func (k Key) Drop(ring Ring) error {
	return errors.Join(k.Revoke(), k.Unlink(ring))
}

// WithLogonKey adds a logon key to the calling thread's keyring, runs fn on the same OS
// thread (so that a DM_TABLE_LOAD issued by fn finds the key), then drops the key whatever
// fn returned. fn's error comes first; an error dropping the key is joined to it.
func WithLogonKey(description string, payload []byte, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	k, err := AddLogon(Thread, description, payload)
	if err != nil {
		return err
	}
	err = fn()
	return errors.Join(err, k.Drop(Thread))
}
