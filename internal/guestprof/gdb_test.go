package guestprof

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// registers is a "g" reply with rip = pc and every other register a filler.
func registers(pc uint64) string {
	var b strings.Builder
	b.WriteString(strings.Repeat("ab", 16*8))
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "%02x", byte(pc>>(8*i)))
	}
	b.WriteString(strings.Repeat("00", 4+6*4)) // eflags and the segment registers
	return b.String()
}

// pipe returns the two ends of a loopback TCP connection: unlike net.Pipe's, its writes
// are buffered, as a real socket's are.
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli, srv
}

func packet(data string) string { return fmt.Sprintf("$%s#%02x", data, checksum(data)) }

// fakeStub answers like QEMU's gdbstub on its side of a pipe: a stop reply to each
// interrupt, the registers with the next of pcs to "g", nothing to "c". After the last pc
// it answers the interrupt with end (an exit reply, "close" to hang up, or a raw string).
func fakeStub(t *testing.T, srv net.Conn, pcs []uint64, end string) {
	t.Helper()
	go func() {
		defer srv.Close()
		r := bufio.NewReader(srv)
		next := 0
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			switch b {
			case 0x03:
				if next == len(pcs) {
					switch end {
					case "close":
						return
					case "":
					default:
						srv.Write([]byte(end))
					}
					continue
				}
				srv.Write([]byte("+" + packet("T05thread:01;")))
			case '$':
				data, err := r.ReadString('#')
				if err != nil {
					return
				}
				r.Discard(2)
				srv.Write([]byte("+"))
				if data == "g#" {
					if pcs[next] == exitsNow {
						srv.Write([]byte(packet("W00")))
						return
					}
					srv.Write([]byte(packet(registers(pcs[next]))))
					next++
				}
			}
		}
	}()
}

// exitsNow in fakeStub's pcs makes it answer "g" with the exit reply, as QEMU does when
// the guest powers off between the stop and the request.
const exitsNow = 1

func TestCollect(t *testing.T) {
	pcs := []uint64{0xffffffff81000010, 0x401234, 0x5e0000}
	for _, end := range []string{packet("W00"), "close"} {
		cli, srv := pipe(t)
		fakeStub(t, srv, pcs, end)
		phase := 0
		got, err := Collect(context.Background(), cli, time.Millisecond, func() int { phase++; return phase })
		if err != nil {
			t.Fatalf("end %q: %v", end, err)
		}
		if len(got) != len(pcs) {
			t.Fatalf("end %q: %d samples, want %d: %+v", end, len(got), len(pcs), got)
		}
		for i, s := range got {
			if s.PC != pcs[i] || s.Phase != i+1 {
				t.Errorf("end %q: sample %d = %+v, want pc %#x phase %d", end, i, s, pcs[i], i+1)
			}
		}
	}
}

func TestCollectExitBeforeRegisters(t *testing.T) {
	cli, srv := pipe(t)
	fakeStub(t, srv, []uint64{0x401000, exitsNow}, "")
	got, err := Collect(context.Background(), cli, time.Millisecond, func() int { return 0 })
	if err != nil || len(got) != 1 || got[0].PC != 0x401000 {
		t.Fatalf("Collect = %+v, %v; want the one sample and no error", got, err)
	}
}

func TestCollectErrors(t *testing.T) {
	for _, tc := range []struct {
		name, end, want string
	}{
		{"bad checksum", "$T05#00", "bad checksum"},
		{"odd stop reply", packet("E01"), "unexpected reply"},
	} {
		cli, srv := pipe(t)
		fakeStub(t, srv, []uint64{0x401000}, tc.end)
		got, err := Collect(context.Background(), cli, time.Millisecond, func() int { return 0 })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if len(got) != 1 {
			t.Errorf("%s: %d samples kept, want the 1 taken before", tc.name, len(got))
		}
	}
}

func TestCollectCancel(t *testing.T) {
	cli, srv := pipe(t)
	fakeStub(t, srv, nil, "") // never answers the interrupt
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Collect(ctx, cli, time.Millisecond, func() int { return 0 })
	if err != context.DeadlineExceeded {
		t.Fatalf("err %v, want the context's", err)
	}
}

func TestParseRIP(t *testing.T) {
	pc, err := parseRIP(registers(0xffffffff8114b9d0))
	if err != nil || pc != 0xffffffff8114b9d0 {
		t.Fatalf("parseRIP = %#x, %v", pc, err)
	}
	for _, bad := range []string{"E14", registers(1)[:ripOffset+4], strings.Repeat("zz", 200)} {
		if _, err := parseRIP(bad); err == nil {
			t.Errorf("parseRIP(%.20q…) accepted", bad)
		}
	}
}

func FuzzRecv(f *testing.F) {
	f.Add([]byte(packet("T05thread:01;")))
	f.Add([]byte("+" + packet(registers(0x401000))))
	f.Add([]byte("$abc#zz"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := newConn(&struct {
			*strings.Reader
			discard
		}{strings.NewReader(string(in)), discard{}})
		body, err := c.recv()
		if err == nil && !strings.Contains(string(in), body) {
			t.Fatalf("recv returned %q, not in its input", body)
		}
		if err == nil {
			parseRIP(body)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
