package uevent

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// recvBufLen is the per-datagram read buffer; kernel uevents are bounded
// by UEVENT_BUFFER_SIZE (2 KiB of environment) plus the header.
const recvBufLen = 16 << 10

// Stats counts what the Source did, for logs and tests.
type Stats struct {
	Live       uint64 // kernel messages parsed from the socket
	Coldplug   uint64 // events synthesised from sysfs (all scans)
	Delivered  uint64 // calls to handle
	Duplicates uint64 // "add" events dropped because the device was already added
	Foreign    uint64 // datagrams dropped: sender port id was not 0 (not the kernel)
	Malformed  uint64 // datagrams dropped: truncated or rejected by Parse
	Rescans    uint64 // sysfs re-scans after ENOBUFS (events lost in the socket)
	Removed    uint64 // "remove" events synthesised after a rescan found a device gone
	ReadErrors uint64 // other receive errors (retried)
}

// Source merges the coldplug replay of sysfs with the live kernel uevent
// stream and calls handle once per device "add", from one goroutine.
type Source struct {
	sysfs  string
	conn   recver
	handle func(Event)

	q        queue
	stop     chan struct{}
	stopOnce sync.Once
	rescan   chan struct{}
	wg       sync.WaitGroup
	cold     chan struct{} // closed once the first coldplug is delivered

	errMu sync.Mutex
	err   error // coldplug walk errors, returned by Stop

	st struct {
		live, coldplug, delivered, dups, foreign, malformed, rescans, removed, readErrs atomic.Uint64
	}
}

// Start opens the kernel uevent socket, then replays sysfs/devices
// (coldplug) and calls handle for every event, in order, from a single
// goroutine: each device's "add" exactly once (whether it came from the
// replay or the live stream), every other action passed through. A lost
// event burst (ENOBUFS) triggers a sysfs rescan. handle must not call Stop.
func Start(sysfs string, handle func(Event)) (*Source, error) {
	if err := checkSysfs(sysfs); err != nil {
		return nil, err
	}
	c, err := openNetlink()
	if err != nil {
		return nil, err
	}
	return start(sysfs, c, handle), nil
}

func checkSysfs(sysfs string) error {
	dir := filepath.Join(sysfs, "devices")
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("uevent: sysfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("uevent: sysfs: %s is not a directory", dir)
	}
	return nil
}

// start runs the three goroutines over an already open connection.
func start(sysfs string, c recver, handle func(Event)) *Source {
	s := &Source{
		sysfs:  sysfs,
		conn:   c,
		handle: handle,
		stop:   make(chan struct{}),
		rescan: make(chan struct{}, 1),
		cold:   make(chan struct{}),
	}
	s.q.init()
	s.wg.Add(3)
	go s.readLoop()
	go s.scanLoop()
	go s.mergeLoop()
	return s
}

// Stop closes the socket, ends and waits for every goroutine (an event
// being handled is finished first; queued ones are dropped) and returns
// the coldplug walk errors, if any. It is idempotent.
func (s *Source) Stop() error {
	var cerr error
	s.stopOnce.Do(func() {
		close(s.stop)
		cerr = s.conn.close()
	})
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if cerr != nil {
		return errors.Join(s.err, fmt.Errorf("uevent: close socket: %w", cerr))
	}
	return s.err
}

// ColdplugDone is closed once every device found by the initial sysfs
// replay has been passed to handle (or dropped as a duplicate): from then
// on, every device present at Start has been seen. It is never closed if
// Stop comes first. The Source keeps delivering live events afterwards.
func (s *Source) ColdplugDone() <-chan struct{} { return s.cold }

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	return Stats{
		Live:       s.st.live.Load(),
		Coldplug:   s.st.coldplug.Load(),
		Delivered:  s.st.delivered.Load(),
		Duplicates: s.st.dups.Load(),
		Foreign:    s.st.foreign.Load(),
		Malformed:  s.st.malformed.Load(),
		Rescans:    s.st.rescans.Load(),
		Removed:    s.st.removed.Load(),
		ReadErrors: s.st.readErrs.Load(),
	}
}

func (s *Source) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// readLoop receives kernel datagrams until the socket is closed.
func (s *Source) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, recvBufLen)
	backoff := time.Millisecond
	for {
		n, port, err := s.conn.recv(buf)
		if s.stopping() {
			return
		}
		switch {
		case err == nil:
			backoff = time.Millisecond
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped events: re-read sysfs instead of giving up.
			select {
			case s.rescan <- struct{}{}:
			default: // a rescan is already pending
			}
			continue
		case errors.Is(err, os.ErrClosed):
			return
		case errors.Is(err, unix.EINTR):
			continue
		default:
			s.st.readErrs.Add(1)
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		if port != 0 {
			s.st.foreign.Add(1)
			continue
		}
		if n > len(buf) {
			s.st.malformed.Add(1)
			continue
		}
		ev, err := Parse(buf[:n])
		if err != nil {
			s.st.malformed.Add(1)
			continue
		}
		s.st.live.Add(1)
		s.q.push(item{kind: kindLive, ev: ev})
	}
}

// scanLoop runs the initial coldplug, then one rescan per ENOBUFS burst.
func (s *Source) scanLoop() {
	defer s.wg.Done()
	background()
	for gen := 0; ; gen++ {
		if gen > 0 {
			select {
			case <-s.stop:
				return
			case <-s.rescan:
				s.st.rescans.Add(1)
			}
		}
		s.q.push(item{kind: kindScanStart, gen: gen})
		err := coldplug(s.sysfs, s.stop, func(ev Event) {
			s.st.coldplug.Add(1)
			s.q.push(item{kind: kindCold, ev: ev, gen: gen})
		})
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			s.errMu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.errMu.Unlock()
		}
		s.q.push(item{kind: kindScanDone, gen: gen})
	}
}

// background makes the calling goroutine's thread the lowest-priority one of
// the process (nice 19), for good: the goroutine stays locked to it, and the
// runtime ends the thread when the goroutine returns, so no other goroutine
// ever runs there. The walk is the init's largest piece of CPU work (a few
// hundred sysfs directories, each listed and its attributes read; the first
// walk of a boot is the costly one, the kernel's sysfs nodes being made as
// they are first looked up), and most of it finds nothing to load. On one CPU
// it shared the processor evenly with the module loads of the devices it had
// already found, the root's controller among them; at the lowest priority it
// runs when they wait. On several CPUs it changes nothing. A failure (a
// seccomp filter, say) leaves the priority as it was: only slower.
func background() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}

// mergeLoop is the single goroutine calling handle.
func (s *Source) mergeLoop() {
	defer s.wg.Done()
	m := merger{sysfs: s.sysfs, present: make(map[string]Event), removed: make(map[string]bool)}
	var batch []item
	for {
		select {
		case <-s.stop:
			return
		case <-s.q.notify:
		}
		batch = s.q.drain(batch[:0])
		for i := range batch {
			if s.stopping() {
				return
			}
			for _, ev := range m.step(&batch[i], &s.st.dups, &s.st.removed) {
				s.st.delivered.Add(1)
				s.handle(ev)
			}
			if it := &batch[i]; it.kind == kindScanDone && it.gen == 0 {
				close(s.cold)
			}
			batch[i] = item{}
		}
	}
}

type itemKind int

const (
	kindLive itemKind = iota
	kindCold
	kindScanStart
	kindScanDone
)

type item struct {
	kind itemKind
	gen  int
	ev   Event
}

// merger holds the de-duplication state. It is used only by mergeLoop.
type merger struct {
	sysfs   string
	present map[string]Event // devpath -> its delivered "add"
	removed map[string]bool  // devpaths whose live "remove" was seen
	// rescan bookkeeping (generation > 0)
	before map[string]bool // present devpaths when the rescan started
	seen   map[string]bool // devpaths the rescan found
}

// step applies one queued item and returns the events to deliver.
func (m *merger) step(it *item, dups, removed *atomic.Uint64) []Event {
	switch it.kind {
	case kindScanStart:
		if it.gen > 0 {
			m.before = make(map[string]bool, len(m.present))
			for dp := range m.present {
				m.before[dp] = true
			}
			m.seen = make(map[string]bool)
		}
	case kindScanDone:
		if it.gen > 0 {
			out := m.vanished()
			removed.Add(uint64(len(out)))
			m.before, m.seen = nil, nil
			return out
		}
	case kindCold:
		dp := it.ev.DevPath
		if m.seen != nil {
			m.seen[dp] = true
		}
		if _, ok := m.present[dp]; ok {
			dups.Add(1)
			return nil
		}
		// A device removed live is replayed only by a rescan, and only
		// if it is (again) in sysfs: its re-"add" may have been lost.
		if m.removed[dp] && (it.gen == 0 || !m.exists(dp)) {
			dups.Add(1)
			return nil
		}
		delete(m.removed, dp)
		m.present[dp] = it.ev
		return []Event{it.ev}
	case kindLive:
		return m.live(it.ev, dups)
	}
	return nil
}

func (m *merger) live(ev Event, dups *atomic.Uint64) []Event {
	dp := ev.DevPath
	switch ev.Action {
	case "add":
		if _, ok := m.present[dp]; ok {
			dups.Add(1)
			return nil
		}
		delete(m.removed, dp)
		m.present[dp] = ev
	case "remove":
		delete(m.present, dp)
		m.removed[dp] = true
	case "move":
		if old := ev.Env["DEVPATH_OLD"]; old != "" {
			delete(m.present, old)
			m.removed[old] = true
		}
		delete(m.removed, dp)
		m.present[dp] = ev
	}
	return []Event{ev}
}

// vanished synthesises "remove" for devices present before a rescan that
// the rescan did not find and whose sysfs directory is gone.
func (m *merger) vanished() []Event {
	var out []Event
	for dp := range m.before {
		if m.seen[dp] {
			continue
		}
		add, ok := m.present[dp]
		if !ok || m.exists(dp) {
			continue
		}
		env := maps.Clone(add.Env)
		env["ACTION"] = "remove"
		delete(env, "SEQNUM")
		out = append(out, Event{Action: "remove", DevPath: dp, Env: env})
		delete(m.present, dp)
		m.removed[dp] = true
	}
	sortEvents(out)
	return out
}

func (m *merger) exists(devpath string) bool {
	_, err := os.Lstat(filepath.Join(m.sysfs, filepath.FromSlash(devpath), "uevent"))
	return err == nil
}

// queue is an unbounded FIFO: the reader never blocks on a slow handle
// (the socket would overflow), and producers keep their order.
type queue struct {
	mu     sync.Mutex
	items  []item
	notify chan struct{}
}

func (q *queue) init() { q.notify = make(chan struct{}, 1) }

func (q *queue) push(it item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain moves every queued item to dst.
func (q *queue) drain(dst []item) []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	return dst
}
