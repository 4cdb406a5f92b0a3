package guestprof

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// Sample is where the guest's first vCPU was when it was stopped.
type Sample struct {
	PC    uint64
	Phase int // the phase function's answer when the sample was taken
}

// x86-64's rip in the reply to gdb's "g" packet: after the 16 general registers, each
// 8 bytes, sent as hex.
const (
	ripOffset = 16 * 8 * 2
	ripHexLen = 8 * 2
)

// maxPacket bounds one packet from the stub (a "g" reply is well under 1 KiB).
const maxPacket = 64 << 10

// conn speaks gdb's remote serial protocol: "$data#ck" packets, each acknowledged by the
// receiver with '+'.
type conn struct {
	rw io.ReadWriter
	r  *bufio.Reader
}

func newConn(rw io.ReadWriter) *conn { return &conn{rw: rw, r: bufio.NewReaderSize(rw, maxPacket)} }

func checksum(data string) byte {
	var s byte
	for i := 0; i < len(data); i++ {
		s += data[i]
	}
	return s
}

// send writes one packet; the stub's '+' is skipped by the next recv.
func (c *conn) send(data string) error {
	_, err := fmt.Fprintf(c.rw, "$%s#%02x", data, checksum(data))
	return err
}

// recv reads the next packet, skipping acknowledgements, checks its checksum and
// acknowledges it.
func (c *conn) recv() (string, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '$' {
			break
		}
	}
	data, err := c.r.ReadSlice('#')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("gdb packet longer than %d bytes", c.r.Size())
		}
		return "", err
	}
	var ck [2]byte
	if _, err := io.ReadFull(c.r, ck[:]); err != nil {
		return "", err
	}
	body := string(data[:len(data)-1])
	want, err := hex.DecodeString(string(ck[:]))
	if err != nil || want[0] != checksum(body) {
		return "", fmt.Errorf("gdb packet %.40q: bad checksum %q", body, ck[:])
	}
	if _, err := c.rw.Write([]byte{'+'}); err != nil {
		return "", err
	}
	return body, nil
}

// gone reports whether err says the guest is gone: the stub's exit reply, or QEMU closing
// the connection as it exits.
func gone(err error) bool {
	return errors.Is(err, errExited) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errExited is the stub's report that the guest is gone.
var errExited = errors.New("guest exited")

// stop interrupts the guest and waits for its stop reply.
func (c *conn) stop() error {
	if _, err := c.rw.Write([]byte{0x03}); err != nil {
		return err
	}
	r, err := c.recv()
	if err != nil {
		return err
	}
	switch {
	case r == "":
		return errors.New("gdb stop: empty reply")
	case exitReply(r):
		return errExited
	case r[0] != 'T' && r[0] != 'S':
		return fmt.Errorf("gdb stop: unexpected reply %.40q", r)
	}
	return nil
}

// pc reads the stopped vCPU's rip.
func (c *conn) pc() (uint64, error) {
	if err := c.send("g"); err != nil {
		return 0, err
	}
	r, err := c.recv()
	if err != nil {
		return 0, err
	}
	if exitReply(r) { // the guest ended between the stop and this request
		return 0, errExited
	}
	return parseRIP(r)
}

// exitReply reports whether a reply is the stub's "the guest exited" (W or X and a code).
func exitReply(r string) bool {
	return len(r) == 3 && (r[0] == 'W' || r[0] == 'X')
}

// parseRIP takes rip from a "g" reply.
func parseRIP(reply string) (uint64, error) {
	if len(reply) < ripOffset+ripHexLen {
		return 0, fmt.Errorf("gdb registers: reply of %d hex digits, want at least %d (an error %.8q?)", len(reply), ripOffset+ripHexLen, reply)
	}
	b, err := hex.DecodeString(reply[ripOffset : ripOffset+ripHexLen])
	if err != nil {
		return 0, fmt.Errorf("gdb registers: %w", err)
	}
	return binary.LittleEndian.Uint64(b), nil // the target's byte order
}

// Collect stops the guest behind the gdbstub connection nc every interval, records its
// program counter with phase's answer, and lets it run on, until the guest exits (the stub
// says so or closes the connection) or ctx ends. The samples taken so far are returned
// either way; the error is nil when the guest exited.
func Collect(ctx context.Context, nc net.Conn, interval time.Duration, phase func() int) ([]Sample, error) {
	defer nc.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { // a stub that stops answering is cut off by ctx
		select {
		case <-ctx.Done():
			nc.Close()
		case <-done:
		}
	}()
	c := newConn(nc)
	var out []Sample
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-t.C:
		}
		err := c.stop()
		if err == nil {
			var pc uint64
			if pc, err = c.pc(); err == nil {
				out = append(out, Sample{PC: pc, Phase: phase()})
				err = c.send("c")
			}
		}
		switch {
		case err == nil:
		case gone(err):
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			return out, nil
		default:
			return out, fmt.Errorf("sample guest: %w", err)
		}
	}
}
