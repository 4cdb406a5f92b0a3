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
// refused entry and returns the first error with the count of refusals.
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

// apply makes every request with set, and reports the refused ones.
func apply(es []Entry, set func(Entry) error) error {
	var first error
	failed := 0
	for _, e := range es {
		err := set(e)
		if err == nil {
			continue
		}
		if failed == 0 {
			first = fmt.Errorf("table %d key %d = %#04x: %w", e.Table, e.Index, e.Value, err)
		}
		failed++
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBADF) {
			break // not a console, or not allowed: every other entry fails alike
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("keymap: KDSKBENT: %d of %d entries refused; first: %w", failed, len(es), first)
}
