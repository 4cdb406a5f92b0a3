package keymap

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kdskbent is KDSKBENT of linux/kd.h: set one entry of a key table.
const kdskbent = 0x4B47

// kbentry is struct kbentry of linux/kd.h.
type kbentry struct {
	table, index uint8
	value        uint16
}

// Load puts k into the keyboard driver through fd, an open virtual
// console (/dev/tty0). The tables are shared by every virtual console.
// Unicode key values (U+ keysyms) are accepted only while the console's
// keyboard is in Unicode mode, the kernel's default. Load goes on past a
// refused entry; its error is a *LoadError.
func Load(fd int, k *Keymap) error {
	return apply(k.Entries(), func(e Entry) error {
		kb := kbentry{e.Table, e.Index, e.Value}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), kdskbent, uintptr(unsafe.Pointer(&kb)))
		if errno != 0 {
			return errno
		}
		return nil
	})
}

// LoadError reports the entries the kernel refused. Set of them were set
// nevertheless: a keymap with Set > 0 is partly in force.
type LoadError struct {
	Set, Refused int
	First        error // the first refusal, with its entry
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("keymap: KDSKBENT: %d of %d entries refused; first: %v", e.Refused, e.Set+e.Refused, e.First)
}

func (e *LoadError) Unwrap() error { return e.First }

// apply makes every request with set, and reports the refused ones. A
// refusal that every other request would meet alike (not a console, not
// allowed) stops it.
func apply(es []Entry, set func(Entry) error) error {
	var le LoadError
	for _, e := range es {
		err := set(e)
		if err == nil {
			le.Set++
			continue
		}
		if le.Refused == 0 {
			le.First = fmt.Errorf("table %d key %d = %#04x: %w", e.Table, e.Index, e.Value, err)
		}
		le.Refused++
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBADF) {
			break
		}
	}
	if le.Refused == 0 {
		return nil
	}
	return &le
}
