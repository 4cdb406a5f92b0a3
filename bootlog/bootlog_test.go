package bootlog

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// recorder keeps every Write separately, like /dev/kmsg records.
type recorder struct {
	mu     sync.Mutex
	writes []string
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

// fakeClock advances by step at every reading.
func fakeClock(start, step time.Duration) func() time.Duration {
	t := start
	return func() time.Duration {
		now := t
		t += step
		return now
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		name         string
		quiet, debug bool
		kmsg         []string
		console      string
	}{
		{"default", false, false,
			[]string{"<6>earlyroot: i 1\n", "<4>earlyroot: w 2\n", "<3>earlyroot: e 3\n"},
			"earlyroot: i 1\nearlyroot: w 2\nearlyroot: e 3\n"},
		{"quiet", true, false,
			[]string{"<6>earlyroot: i 1\n", "<4>earlyroot: w 2\n", "<3>earlyroot: e 3\n"},
			"earlyroot: w 2\nearlyroot: e 3\n"},
		{"debug", false, true,
			[]string{"<6>earlyroot: i 1\n", "<4>earlyroot: w 2\n", "<3>earlyroot: e 3\n", "<7>earlyroot: d 4\n"},
			"earlyroot: i 1\nearlyroot: w 2\nearlyroot: e 3\nearlyroot: d 4\n"},
		{"quiet debug", true, true,
			[]string{"<6>earlyroot: i 1\n", "<4>earlyroot: w 2\n", "<3>earlyroot: e 3\n", "<7>earlyroot: d 4\n"},
			"earlyroot: w 2\nearlyroot: e 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &recorder{}
			var con bytes.Buffer
			l := New(k, &con)
			l.SetClock(fakeClock(time.Second, time.Millisecond))
			l.SetQuiet(tt.quiet)
			l.SetDebug(tt.debug)
			l.Infof("i %d", 1)
			l.Warnf("w %d", 2)
			l.Errorf("e %d", 3)
			l.Debugf("d %d", 4)
			if strings.Join(k.writes, "|") != strings.Join(tt.kmsg, "|") {
				t.Errorf("kmsg = %q, want %q", k.writes, tt.kmsg)
			}
			if con.String() != tt.console {
				t.Errorf("console = %q, want %q", con.String(), tt.console)
			}
			wantHist := "[    1.000000] i 1\n[    1.001000] warning: w 2\n[    1.002000] error: e 3\n[    1.003000] debug: d 4\n"
			if got := string(l.History()); got != wantHist {
				t.Errorf("history = %q, want %q", got, wantHist)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	k := &recorder{}
	var con bytes.Buffer
	l := New(k, &con)
	l.SetTargets(false, true)
	l.Infof("a")
	l.SetTargets(true, false)
	l.Infof("b")
	if len(k.writes) != 1 || k.writes[0] != "<6>earlyroot: b\n" {
		t.Errorf("kmsg = %q", k.writes)
	}
	if con.String() != "earlyroot: a\n" {
		t.Errorf("console = %q", con.String())
	}
	if !bytes.Contains(l.History(), []byte("] a\n")) || !bytes.Contains(l.History(), []byte("] b\n")) {
		t.Errorf("history = %q", l.History())
	}
}

func TestNilWriters(t *testing.T) {
	l := New(nil, nil)
	l.Errorf("x")
	l.Phase("p")()
	if len(l.History()) == 0 {
		t.Error("no history")
	}
}

func TestMultiLine(t *testing.T) {
	k := &recorder{}
	var con bytes.Buffer
	l := New(k, &con)
	l.SetClock(fakeClock(0, 0))
	l.Infof("one\ntwo\n")
	if len(k.writes) != 2 || k.writes[0] != "<6>earlyroot: one\n" || k.writes[1] != "<6>earlyroot: two\n" {
		t.Errorf("kmsg = %q", k.writes)
	}
	if con.String() != "earlyroot: one\nearlyroot: two\n" {
		t.Errorf("console = %q", con.String())
	}
	if got := string(l.History()); got != "[    0.000000] one\n[    0.000000] two\n" {
		t.Errorf("history = %q", got)
	}
}

func TestLongLineSplit(t *testing.T) {
	for _, msg := range []string{
		strings.Repeat("a", 5000),
		strings.Repeat("é", 3000), // 2-byte runes must not be cut
		strings.Repeat("€x", 1000),
		string([]byte{0xff, 0xfe}) + strings.Repeat("\x80", 3000), // invalid UTF-8
	} {
		k := &recorder{}
		l := New(k, nil)
		l.Infof("%s", msg)
		var joined strings.Builder
		for _, w := range k.writes {
			if len(w) > MaxKmsgLine {
				t.Fatalf("write of %d bytes > %d", len(w), MaxKmsgLine)
			}
			body, ok := strings.CutPrefix(w, "<6>earlyroot: ")
			if !ok || !strings.HasSuffix(body, "\n") {
				t.Fatalf("bad record %.40q", w)
			}
			body = strings.TrimSuffix(body, "\n")
			if utf8.ValidString(msg) && !utf8.ValidString(body) {
				t.Fatalf("record splits a rune")
			}
			joined.WriteString(body)
		}
		if joined.String() != msg {
			t.Errorf("records do not reassemble the message")
		}
		if len(k.writes) < 2 {
			t.Errorf("long line not split: %d writes", len(k.writes))
		}
	}
}

func TestPhase(t *testing.T) {
	var con bytes.Buffer
	l := New(nil, &con)
	l.SetClock(fakeClock(2*time.Second, 12300*time.Microsecond))
	doneA := l.Phase("modules")
	doneB := l.Phase("udev")
	doneB()
	doneA()
	doneA() // no effect
	if !strings.Contains(con.String(), "earlyroot: udev took 12.3 ms\n") {
		t.Errorf("console = %q", con.String())
	}
	if strings.Count(con.String(), "modules took") != 1 {
		t.Errorf("done logged twice: %q", con.String())
	}
}

func TestConcurrent(t *testing.T) {
	k := &recorder{}
	var con syncBuffer
	l := New(k, &con)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				done := l.Phase("p")
				l.Infof("g%d i%d", g, i)
				done()
				l.History()
			}
		}()
	}
	wg.Wait()
	if n := bytes.Count(l.History(), []byte("\n")); n != 1600 {
		t.Errorf("history has %d lines, want 1600", n)
	}
	if n := bytes.Count(l.History(), []byte("] p took ")); n != 800 {
		t.Errorf("history has %d phase lines, want 800", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestHistoryBounded(t *testing.T) {
	l := New(nil, nil)
	line := strings.Repeat("x", 1<<16)
	for i := 0; i < (MaxHistory>>16)+10; i++ {
		l.Infof("%s", line)
	}
	h := l.History()
	if len(h) > MaxHistory+100 {
		t.Errorf("history grew to %d", len(h))
	}
	if !bytes.HasSuffix(h, []byte("[history truncated]\n")) {
		t.Errorf("no truncation marker")
	}
}

func TestRealClock(t *testing.T) {
	l := New(nil, nil)
	l.Infof("x")
	h := string(l.History())
	if !strings.HasPrefix(h, "[") || !strings.Contains(h, "] x\n") {
		t.Errorf("history = %q", h)
	}
	var buf bytes.Buffer
	if err := l.WriteHistory(&buf); err != nil || buf.String() != h {
		t.Errorf("WriteHistory = %q, %v", buf.String(), err)
	}
}

func TestWriter(t *testing.T) {
	k := &recorder{}
	l := New(k, nil)
	w := l.Writer(LevelWarn)
	n, err := io.WriteString(w, "from child\nsecond\n")
	if n != 18 || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	io.WriteString(w, "\n")
	if strings.Join(k.writes, "") != "<4>earlyroot: from child\n<4>earlyroot: second\n" {
		t.Errorf("kmsg = %q", k.writes)
	}
}

func TestKernelEchoNotDuplicated(t *testing.T) {
	for _, c := range []struct {
		name        string
		level       int
		wantConsole bool
	}{
		{"unknown level: console written", 0, true},
		{"kernel echoes info (loglevel 7)", 7, false},
		{"quiet kernel (loglevel 4) does not echo info", 4, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var kmsg, console bytes.Buffer
			l := New(&kmsg, &console)
			l.SetKernelConsoleLevel(c.level)
			l.Infof("hello")
			if got := console.Len() > 0; got != c.wantConsole {
				t.Errorf("console written = %v, want %v (%q)", got, c.wantConsole, console.String())
			}
			if !strings.Contains(kmsg.String(), "earlyroot: hello") {
				t.Errorf("kmsg = %q", kmsg.String())
			}
		})
	}
}
