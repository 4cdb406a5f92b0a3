package bootlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// fakeKmsgFile is one open file of a fake /dev/kmsg that, like the kernel's,
// drops the records past kmsgBurst.
type fakeKmsgFile struct {
	log     *fakeKmsg
	records int
	closed  bool
}

func (f *fakeKmsgFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, errors.New("write to a closed file")
	}
	f.records++
	if f.records > kmsgBurst {
		f.log.dropped++
		return len(p), nil
	}
	f.log.buf.Write(p)
	return len(p), nil
}

func (f *fakeKmsgFile) Close() error {
	if f.closed {
		return errors.New("closed twice")
	}
	f.closed = true
	return nil
}

type fakeKmsg struct {
	buf     bytes.Buffer
	files   []*fakeKmsgFile
	dropped int
	failAt  int // the open that fails (1-based), 0: none
}

func (k *fakeKmsg) open() (io.WriteCloser, error) {
	if len(k.files)+1 == k.failAt {
		k.failAt = 0
		return nil, errors.New("no more files")
	}
	f := &fakeKmsgFile{log: k}
	k.files = append(k.files, f)
	return f, nil
}

func TestKmsgReopens(t *testing.T) {
	for _, c := range []struct {
		name                 string
		records, failAt      int
		wantOpens, wantDrops int
	}{
		{"within one allowance", kmsgBurst, 0, 1, 0},
		{"one past it", kmsgBurst + 1, 0, 2, 0},
		{"many", 5*kmsgBurst + 3, 0, 6, 0},
		// the second open fails: the eleventh record goes to the first file, which
		// drops it, and the next write opens again
		{"a failed reopen", 2*kmsgBurst + 1, 2, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := &fakeKmsg{failAt: c.failAt}
			k, err := NewKmsg(fake.open)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			for i := range c.records {
				line := fmt.Sprintf("<6>earlyroot: line %d\n", i)
				if n, err := k.Write([]byte(line)); err != nil || n != len(line) {
					t.Fatalf("write %d: %d, %v", i, n, err)
				}
				if c.failAt == 0 || i != kmsgBurst {
					want.WriteString(line)
				}
			}
			if err := k.Close(); err != nil {
				t.Fatal(err)
			}
			if len(fake.files) != c.wantOpens || fake.dropped != c.wantDrops {
				t.Errorf("%d opens, %d records dropped; want %d, %d", len(fake.files), fake.dropped, c.wantOpens, c.wantDrops)
			}
			for i, f := range fake.files {
				if !f.closed {
					t.Errorf("file %d left open", i)
				}
			}
			if fake.buf.String() != want.String() {
				t.Errorf("kernel log:\n%s\nwant:\n%s", fake.buf.String(), want.String())
			}
		})
	}
}

func TestKmsgOpenFails(t *testing.T) {
	fake := &fakeKmsg{failAt: 1}
	if k, err := NewKmsg(fake.open); err == nil || k != nil {
		t.Fatalf("NewKmsg = %v, %v; want an error", k, err)
	}
}
