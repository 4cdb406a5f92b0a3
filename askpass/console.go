package askpass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// Errors of ReadPassphrase other than I/O errors and the context's.
var (
	ErrAborted = errors.New("passphrase entry aborted (Ctrl-C)")
	ErrEOF     = errors.New("passphrase entry ended (Ctrl-D on an empty line)")
	ErrTooLong = fmt.Errorf("passphrase longer than %d bytes", MaxLen)
)

// Console reads passphrases from a terminal (or, if the input is not one,
// from whatever it is, with the same editing keys) and writes prompts and
// messages to it. Only one passphrase is read at a time.
type Console struct {
	mu      sync.Mutex
	in, out int
	owned   bool // Close closes in (== out)
	afterCR bool // the last line ended with CR: a following LF is its other half
}

// Open opens a terminal device (such as /dev/console or /dev/tty1) for
// reading passphrases. It does not become the controlling terminal.
func Open(path string) (*Console, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("askpass: open %s: %w", path, err)
	}
	return &Console{in: fd, out: fd, owned: true}, nil
}

// NewConsole returns a Console reading from the file descriptor in and
// writing to out (often the same terminal); Close does not close them.
func NewConsole(in, out int) *Console {
	return &Console{in: in, out: out}
}

// Close closes the terminal if Open opened it.
func (c *Console) Close() error {
	if !c.owned {
		return nil
	}
	c.owned = false
	return unix.Close(c.in)
}

// Say writes one line of text (a reason for a retry, a notice).
func (c *Console) Say(msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(msg + "\n")
}

// ReadPassphrase shows prompt and reads one line without echo. On a
// terminal, echo, canonical mode and signal keys are off while it reads,
// and the terminal's settings are restored on every return. The caller
// zeroes the returned bytes when done. It returns ErrAborted on Ctrl-C,
// ErrEOF on Ctrl-D on an empty line, ErrTooLong past MaxLen bytes, and
// ctx's error if ctx ends first.
func (c *Console) ReadPassphrase(ctx context.Context, prompt string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	restore, err := c.noEcho()
	if err != nil {
		return nil, err
	}
	defer restore()
	if err := c.write(prompt); err != nil {
		return nil, err
	}
	pass, err := c.readLine(ctx)
	if werr := c.write("\n"); err == nil && werr != nil {
		zero(pass)
		return nil, werr
	}
	return pass, err
}

// noEcho switches a terminal input to reading keys one by one without
// echo, and returns the function that restores the previous settings. An
// input that is not a terminal is left alone.
func (c *Console) noEcho() (restore func(), err error) {
	old, err := unix.IoctlGetTermios(c.in, unix.TCGETS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("askpass: terminal settings: %w", err)
	}
	raw := *old
	raw.Lflag &^= unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Iflag &^= unix.ICRNL | unix.INLCR | unix.IGNCR | unix.IXON
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(c.in, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("askpass: turning echo off: %w", err)
	}
	return func() { _ = unix.IoctlSetTermios(c.in, unix.TCSETS, old) }, nil
}

// readLine feeds bytes to an editor until the line is complete.
func (c *Console) readLine(ctx context.Context) ([]byte, error) {
	w, err := newWaker(ctx)
	if err != nil {
		return nil, err
	}
	defer w.close()
	e := newEditor()
	fail := func(err error) ([]byte, error) {
		zero(e.buf)
		return nil, err
	}
	for {
		b, err := c.readByte(w)
		if err != nil {
			return fail(err)
		}
		if c.afterCR && b == keyLF {
			c.afterCR = false
			continue
		}
		c.afterCR = false
		switch e.feed(b) {
		case enter:
			c.afterCR = b == keyCR
			if e.over > 0 {
				return fail(ErrTooLong)
			}
			return e.buf, nil
		case abort:
			return fail(ErrAborted)
		case eof:
			return fail(ErrEOF)
		}
	}
}

// readByte waits for one byte of input, or for the context to end.
func (c *Console) readByte(w *waker) (byte, error) {
	fds := []unix.PollFd{{Fd: int32(c.in), Events: unix.POLLIN}, {Fd: int32(w.fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return 0, fmt.Errorf("askpass: poll: %w", err)
		}
		if fds[1].Revents != 0 {
			return 0, w.ctx.Err()
		}
		if fds[0].Revents == 0 {
			continue
		}
		var buf [1]byte
		n, err := unix.Read(c.in, buf[:])
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err == unix.EIO || n == 0 && err == nil:
			// EIO: a terminal whose other end hung up.
			return 0, fmt.Errorf("askpass: console input closed: %w", io.ErrUnexpectedEOF)
		case err != nil:
			return 0, fmt.Errorf("askpass: read: %w", err)
		}
		b := buf[0]
		buf[0] = 0
		return b, nil
	}
}

// write writes all of s to the output.
func (c *Console) write(s string) error {
	b := []byte(s)
	for len(b) > 0 {
		n, err := unix.Write(c.out, b)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return fmt.Errorf("askpass: write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// waker is an eventfd that becomes readable when a context ends, so that
// a read can wait for input and cancellation together.
type waker struct {
	ctx  context.Context
	fd   int
	stop func() bool
	done chan struct{}
}

func newWaker(ctx context.Context) (*waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("askpass: eventfd: %w", err)
	}
	w := &waker{ctx: ctx, fd: fd, done: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() {
		defer close(w.done)
		one := [8]byte{1}
		_, _ = unix.Write(fd, one[:])
	})
	return w, nil
}

// close stops the waker; the eventfd is closed only once the context's
// callback can no longer write to it.
func (w *waker) close() {
	if !w.stop() {
		<-w.done
	}
	_ = unix.Close(w.fd)
}
