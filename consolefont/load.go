package consolefont

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Requests of linux/kd.h.
const (
	kdFontOp      = 0x4B72
	pioUnimap     = 0x4B67
	pioUnimapClr  = 0x4B68
	kdFontOpSet   = 0
	maxUnimapPair = 0xffff // entry_ct is 16 bits
)

// consoleFontOp is struct console_font_op.
type consoleFontOp struct {
	op, flags, width, height, charCount uint32
	data                                *byte
}

// unimapDesc is struct unimapdesc.
type unimapDesc struct {
	count   uint16
	entries *UniPair
}

// unimapInit is struct unimapinit (PIO_UNIMAPCLR's argument).
type unimapInit struct{ hashSize, hashStep, hashLevel uint16 }

// Load puts f into the virtual console open on fd (/dev/tty0): the glyphs,
// then, when the font has one, its Unicode table in place of the
// console's.
func Load(fd int, f *Font) error {
	data := f.kernelData()
	op := consoleFontOp{op: kdFontOpSet, width: uint32(f.Width), height: uint32(f.Height),
		charCount: uint32(f.Count()), data: &data[0]}
	if err := ioctl(fd, kdFontOp, unsafe.Pointer(&op)); err != nil {
		return fmt.Errorf("font: KDFONTOP (%d glyphs of %dx%d): %w", f.Count(), f.Width, f.Height, err)
	}
	runtime.KeepAlive(data)
	pairs := f.UniPairs()
	if f.Unicode == nil || len(pairs) == 0 {
		return nil
	}
	if len(pairs) > maxUnimapPair {
		pairs = pairs[:maxUnimapPair]
	}
	var init unimapInit
	if err := ioctl(fd, pioUnimapClr, unsafe.Pointer(&init)); err != nil {
		return fmt.Errorf("font: PIO_UNIMAPCLR: %w", err)
	}
	desc := unimapDesc{count: uint16(len(pairs)), entries: &pairs[0]}
	if err := ioctl(fd, pioUnimap, unsafe.Pointer(&desc)); err != nil {
		return fmt.Errorf("font: PIO_UNIMAP (%d characters): %w", len(pairs), err)
	}
	runtime.KeepAlive(pairs)
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}
