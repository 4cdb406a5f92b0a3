package askpass

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master (the "keyboard and
// screen" side, the test's) and the slave (the console's).
func openPTY(t *testing.T) (master, slave int) {
	master, slave, _ = openPTYPath(t)
	return master, slave
}

func openPTYPath(t *testing.T) (master, slave int, path string) {
	t.Helper()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { unix.Close(master) })
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		t.Fatalf("TIOCSPTLCK: %v", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN) // ptsname
	if err != nil {
		t.Fatalf("TIOCGPTN: %v", err)
	}
	path = fmt.Sprintf("/dev/pts/%d", n)
	slave, err = unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: open %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Close(slave) })
	return master, slave, path
}

// readFor reads what the terminal shows until want has appeared (want
// "") or until nothing more comes for a moment.
func readFor(t *testing.T, master int, want string) string {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if want != "" && bytes.Contains(got, []byte(want)) {
			return string(got)
		}
		wait := 200
		if want != "" {
			wait = int(time.Until(deadline) / time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(master), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, wait)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		buf := make([]byte, 256)
		m, err := unix.Read(master, buf)
		if err != nil {
			break
		}
		got = append(got, buf[:m]...)
	}
	if want != "" && !bytes.Contains(got, []byte(want)) {
		t.Fatalf("terminal showed %q, never %q", got, want)
	}
	return string(got)
}

type result struct {
	pass []byte
	err  error
}

// typeAt starts reading a passphrase on the slave, waits for the prompt,
// types input on the master and returns the result and everything the
// terminal showed after the prompt.
func typeAt(t *testing.T, ctx context.Context, c *Console, master int, prompt, input string) (result, string) {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		p, err := c.ReadPassphrase(ctx, prompt)
		done <- result{p, err}
	}()
	shown := readFor(t, master, prompt)
	if input != "" {
		if _, err := unix.Write(master, []byte(input)); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no result after typing %q", input)
	}
	shown += readFor(t, master, "")
	return r, strings.TrimPrefix(shown, prompt)
}

func TestConsolePTY(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
		err   error
	}{
		{"plain", "correct horse\r", "correct horse", nil},
		{"backspace and DEL", "secrex\bt!\x7f\r", "secret", nil},
		{"Ctrl-U", "wrong one\x15right one\r", "right one", nil},
		{"LF", "abc\n", "abc", nil},
		{"UTF-8", "pässwörd\x7f\x7fd\r", "pässwöd", nil},
		{"Ctrl-C", "abc\x03", "", ErrAborted},
		{"Ctrl-D on empty line", "\x04", "", ErrEOF},
		{"Ctrl-D after Ctrl-U", "abc\x15\x04", "", ErrEOF},
		{"signal keys are plain keys", "a\x1a\x1cb\r", "ab", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(slave, unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if before.Lflag&unix.ECHO == 0 || before.Lflag&unix.ICANON == 0 {
				t.Fatalf("a new pty should echo and be canonical: lflag %#x", before.Lflag)
			}
			c := NewConsole(slave, slave)
			r, shown := typeAt(t, context.Background(), c, master, "Passphrase: ", tt.input)
			if string(r.pass) != tt.want || !errors.Is(r.err, tt.err) {
				t.Errorf("ReadPassphrase = %q, %v; want %q, %v", r.pass, r.err, tt.want, tt.err)
			}
			// Echo off: the terminal shows only the end of the line.
			if shown != "\r\n" {
				t.Errorf("terminal showed %q after the prompt, want only \"\\r\\n\"", shown)
			}
			after, err := unix.IoctlGetTermios(slave, unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if *after != *before {
				t.Errorf("terminal settings not restored:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func TestConsolePTYCRLF(t *testing.T) {
	master, slave := openPTY(t)
	c := NewConsole(slave, slave)
	r, _ := typeAt(t, context.Background(), c, master, "1: ", "first\r\n")
	if string(r.pass) != "first" || r.err != nil {
		t.Fatalf("first = %q, %v", r.pass, r.err)
	}
	// The LF that came with the CR must not end the next line empty.
	r, _ = typeAt(t, context.Background(), c, master, "2: ", "second\r")
	if string(r.pass) != "second" || r.err != nil {
		t.Errorf("second = %q, %v; want second", r.pass, r.err)
	}
	r, _ = typeAt(t, context.Background(), c, master, "3: ", "\nthird\r")
	if string(r.pass) != "third" || r.err != nil {
		t.Errorf("third = %q, %v; want third", r.pass, r.err)
	}
	r, _ = typeAt(t, context.Background(), c, master, "4: ", "fourth\n")
	if string(r.pass) != "fourth" || r.err != nil {
		t.Errorf("fourth = %q, %v; want fourth", r.pass, r.err)
	}
	// After a line ended by LF, an LF is an empty line.
	r, _ = typeAt(t, context.Background(), c, master, "5: ", "\n")
	if string(r.pass) != "" || r.pass == nil || r.err != nil {
		t.Errorf("fifth = %q, %v; want an empty line", r.pass, r.err)
	}
}

func TestConsolePTYCancel(t *testing.T) {
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(slave, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConsole(slave, slave)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		p, err := c.ReadPassphrase(ctx, "Passphrase: ")
		done <- result{p, err}
	}()
	readFor(t, master, "Passphrase: ")
	unix.Write(master, []byte("half"))
	cancel()
	select {
	case r := <-done:
		if r.pass != nil || !errors.Is(r.err, context.Canceled) {
			t.Errorf("ReadPassphrase = %q, %v; want nil, context.Canceled", r.pass, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadPassphrase did not return after cancel")
	}
	after, _ := unix.IoctlGetTermios(slave, unix.TCGETS)
	if *after != *before {
		t.Errorf("terminal settings not restored after cancel")
	}
}

func TestConsolePTYHangup(t *testing.T) {
	master, slave := openPTY(t)
	c := NewConsole(slave, slave)
	done := make(chan result, 1)
	go func() {
		p, err := c.ReadPassphrase(context.Background(), "Passphrase: ")
		done <- result{p, err}
	}()
	readFor(t, master, "Passphrase: ")
	unix.Write(master, []byte("abc"))
	time.Sleep(50 * time.Millisecond) // let the bytes reach the reader before the hangup
	unix.Close(master)
	select {
	case r := <-done:
		if r.pass != nil || !errors.Is(r.err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadPassphrase = %q, %v; want nil, io.ErrUnexpectedEOF", r.pass, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadPassphrase did not return after hangup")
	}
}

// TestConsolePipe reads from a pipe: not a terminal, so no terminal
// settings, but the same keys.
func TestConsolePipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w.WriteString("one\x7fe\r\ntwo\nthree")
	w.Close()
	c := NewConsole(int(r.Fd()), int(out.Fd()))
	for _, want := range []string{"one", "two"} {
		p, err := c.ReadPassphrase(context.Background(), "> ")
		if string(p) != want || err != nil {
			t.Errorf("ReadPassphrase = %q, %v; want %q", p, err, want)
		}
	}
	if p, err := c.ReadPassphrase(context.Background(), "> "); p != nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("line without Enter = %q, %v; want nil, io.ErrUnexpectedEOF", p, err)
	}
	shown, _ := os.ReadFile(out.Name())
	if string(shown) != "> \n> \n> \n" {
		t.Errorf("output = %q", shown)
	}
	if err := c.Say("wrong"); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	master, _, path := openPTYPath(t)
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, shown := typeAt(t, context.Background(), c, master, "P: ", "pw\r")
	if string(r.pass) != "pw" || r.err != nil || shown != "\r\n" {
		t.Errorf("ReadPassphrase on an opened console = %q, %v, showing %q", r.pass, r.err, shown)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := Open("/nonexistent/tty"); err == nil || !strings.Contains(err.Error(), "/nonexistent/tty") {
		t.Errorf("Open(missing) = %v, want an error naming the path", err)
	}
}
