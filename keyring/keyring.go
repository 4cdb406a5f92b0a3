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

// threadRing is the calling thread's keyring (KEY_SPEC_THREAD_KEYRING), dropped at exec and
// thread exit; the only ring WithLogonKey uses.
const threadRing = unix.KEY_SPEC_THREAD_KEYRING

// key is a key's serial number.
type key int

// maxPayload is the largest payload the kernel accepts for user and logon keys.
const maxPayload = 32767

// checkLogonDescription reports whether the kernel accepts desc as the description of a
// logon key: "<prefix>:<rest>" with a non-empty prefix. It must also be a single word to
// be usable in a dm table.
func checkLogonDescription(desc string) error {
	i := strings.IndexByte(desc, ':')
	switch {
	case i <= 0:
		return fmt.Errorf("logon key description %q lacks a \"prefix:\"", desc)
	case strings.ContainsAny(desc, " \t\n\x00"):
		return fmt.Errorf("logon key description %q contains white space or NUL", desc)
	}
	return nil
}

// addLogon adds a logon key with payload to the thread keyring and returns its serial
// number. If the ring holds a logon key with the same description, the kernel replaces it. The payload is
// copied by the kernel; addLogon keeps no copy, so the caller zeroes it when done. Errors
// never contain the payload.
func addLogon(description string, payload []byte) (key, error) {
	if err := checkLogonDescription(description); err != nil {
		return 0, fmt.Errorf("keyring: %w", err)
	}
	if len(payload) == 0 || len(payload) > maxPayload {
		return 0, fmt.Errorf("keyring: add logon key %s: payload of %d bytes, want 1 to %d", description, len(payload), maxPayload)
	}
	id, err := unix.AddKey("logon", description, payload, threadRing)
	if err != nil {
		return 0, fmt.Errorf("keyring: add logon key %s: %w", description, err)
	}
	return key(id), nil
}

// revoke revokes k: the kernel frees its payload at once and refuses any further use.
func (k key) revoke() error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_REVOKE, int(k), 0, 0, 0); err != nil {
		return fmt.Errorf("keyring: revoke key %d: %w", k, err)
	}
	return nil
}

// unlink removes k from the thread keyring.
func (k key) unlink() error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, int(k), threadRing, 0, 0); err != nil {
		return fmt.Errorf("keyring: unlink key %d: %w", k, err)
	}
	return nil
}

// drop revokes k and unlinks it, as cryptsetup drops a volume key: the payload is freed by
// the revocation even if the unlink fails.
func (k key) drop() error {
	return errors.Join(k.revoke(), k.unlink())
}

// WithLogonKey adds a logon key to the calling thread's keyring, runs fn on the same OS
// thread (so that a DM_TABLE_LOAD issued by fn finds the key), then drops the key whatever
// fn returned. fn's error comes first; an error dropping the key is joined to it.
func WithLogonKey(description string, payload []byte, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	k, err := addLogon(description, payload)
	if err != nil {
		return err
	}
	err = fn()
	return errors.Join(err, k.drop())
}
