package uevent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeConn is the test seam: a scripted datagram source.
type fakeConn struct {
	ch     chan fakeMsg
	done   chan struct{}
	once   sync.Once
	closed atomic.Bool
}

type fakeMsg struct {
	data []byte
	port uint32
	err  error
}

func newFakeConn() *fakeConn {
	return &fakeConn{ch: make(chan fakeMsg, 64), done: make(chan struct{})}
}

func (c *fakeConn) recv(buf []byte) (int, uint32, error) {
	select {
	case m := <-c.ch:
		if m.err != nil {
			return 0, 0, m.err
		}
		return copy(buf, m.data), m.port, nil
	case <-c.done:
		return 0, 0, fmt.Errorf("fake recv: %w", os.ErrClosed)
	}
}

func (c *fakeConn) close() error {
	c.once.Do(func() { close(c.done); c.closed.Store(true) })
	return nil
}

func (c *fakeConn) send(msg string) { c.ch <- fakeMsg{data: []byte(msg)} }

// recorder collects handled events and lets a test wait for one.
type recorder struct {
	mu   sync.Mutex
	evs  []Event
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) handle(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// waitFor blocks until an event satisfying ok has been handled.
func (r *recorder) waitFor(t *testing.T, what string, ok func(Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if slices.ContainsFunc(r.events(), ok) {
			return
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func msg(action, devpath string, kv ...string) string {
	s := action + "@" + devpath + "\x00ACTION=" + action + "\x00DEVPATH=" + devpath + "\x00"
	for _, x := range kv {
		s += x + "\x00"
	}
	return s
}

func is(action, devpath string) func(Event) bool {
	return func(e Event) bool { return e.Action == action && e.DevPath == devpath }
}

func count(evs []Event, action, devpath string) int {
	n := 0
	for _, e := range evs {
		if e.Action == action && e.DevPath == devpath {
			n++
		}
	}
	return n
}

const (
	fxVda  = "/devices/pci0000:00/0000:00:04.0/virtio0/block/vda"
	fxVda1 = fxVda + "/vda1"
	fxSdc1 = "/devices/pci0000:00/0000:00:08.0/usb2/2-1/2-1:1.0/host7/target7:0:0/7:0:0:0/block/sdc/sdc1"
)

func TestSourceDedup(t *testing.T) {
	sysfs := extractSysfs(t)
	c := newFakeConn()
	rec := newRecorder()
	s := start(sysfs, c, rec.handle)
	defer s.Stop()
	select {
	case <-s.ColdplugDone():
	case <-time.After(10 * time.Second):
		t.Fatal("coldplug did not finish")
	}
	cold := len(rec.events())

	c.send(msg("add", fxVda1, "SUBSYSTEM=block", "SEQNUM=1"))                          // duplicate of coldplug: dropped
	c.send(msg("change", fxVda1, "SUBSYSTEM=block", "SEQNUM=2"))                       // passed
	c.ch <- fakeMsg{data: []byte(msg("add", "/devices/evil", "SEQNUM=3")), port: 4242} // not the kernel
	c.send("garbage")                                                                  // malformed
	c.send(msg("remove", fxVda1, "SUBSYSTEM=block", "SEQNUM=4"))                       // passed
	c.send(msg("add", fxVda1, "SUBSYSTEM=block", "SEQNUM=5"))                          // re-add: passed
	c.send(msg("add", fxVda1, "SUBSYSTEM=block", "SEQNUM=6"))                          // duplicate: dropped
	c.send(msg("add", "/devices/virtual/block/loop0", "SUBSYSTEM=block", "SEQNUM=7"))  // new
	rec.waitFor(t, "loop0 add", is("add", "/devices/virtual/block/loop0"))

	live := rec.events()[cold:]
	var got []string
	for _, e := range live {
		got = append(got, e.Action+" "+e.Env["SEQNUM"])
	}
	want := []string{"change 2", "remove 4", "add 5", "add 7"}
	if !slices.Equal(got, want) {
		t.Errorf("live events delivered %v, want %v", got, want)
	}
	st := s.Stats()
	if st.Foreign != 1 || st.Malformed != 1 || st.Duplicates != 2 || st.Live != 6 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !c.closed.Load() {
		t.Error("Stop did not close the connection")
	}
}

// TestMerger checks the de-duplication rules on fixed interleavings of the
// coldplug replay (cold) and the live stream.
func TestMerger(t *testing.T) {
	const d = "/devices/d"
	live := func(a string) item { return item{kind: kindLive, ev: Event{Action: a, DevPath: d}} }
	cold := func(gen int) item { return item{kind: kindCold, gen: gen, ev: Event{Action: "add", DevPath: d}} }
	tests := []struct {
		name  string
		items []item
		want  []string // delivered actions
	}{
		{"cold then live add", []item{cold(0), live("add")}, []string{"add"}},
		{"live add then cold", []item{live("add"), cold(0)}, []string{"add"}},
		{"cold, remove, add", []item{cold(0), live("remove"), live("add")}, []string{"add", "remove", "add"}},
		{"remove before cold (still in sysfs)", []item{live("remove"), cold(0)}, []string{"remove"}},
		{"change passes through", []item{cold(0), live("change"), live("bind")}, []string{"add", "change", "bind"}},
		{"double live add", []item{live("add"), live("add")}, []string{"add"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := merger{sysfs: t.TempDir(), present: map[string]Event{}, removed: map[string]bool{}}
			var dups, removed atomic.Uint64
			var got []string
			for i := range tt.items {
				for _, e := range m.step(&tt.items[i], &dups, &removed) {
					got = append(got, e.Action)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("delivered %v, want %v", got, tt.want)
			}
		})
	}
}

// TestENOBUFSRescan injects ENOBUFS into the read loop after devices
// appeared and vanished without their events reaching us: the Source must
// rescan sysfs, deliver the new device, synthesise the lost remove, and keep
// reading the socket.
func TestENOBUFSRescan(t *testing.T) {
	sysfs := extractSysfs(t)
	c := newFakeConn()
	rec := newRecorder()
	s := start(sysfs, c, rec.handle)
	defer s.Stop()
	<-s.ColdplugDone()
	want := map[string]bool{}
	for _, e := range rec.events() {
		want[e.DevPath] = true
	}

	// Lost events: a new disk vdb appears, sdc1 disappears.
	vdb := "/devices/pci0000:00/0000:00:04.0/virtio0/block/vdb"
	dir := filepath.Join(sysfs, vdb)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "uevent"), []byte("MAJOR=254\nMINOR=16\nDEVNAME=vdb\nDEVTYPE=disk\nDISKSEQ=9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../class/block", filepath.Join(dir, "subsystem")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(sysfs, fxSdc1)); err != nil {
		t.Fatal(err)
	}
	c.ch <- fakeMsg{err: fmt.Errorf("recvfrom: %w", unix.ENOBUFS)}
	rec.waitFor(t, "vdb found by the rescan", is("add", vdb))
	rec.waitFor(t, "synthesised sdc1 remove", is("remove", fxSdc1))

	// The read loop is still alive.
	c.send(msg("add", "/devices/virtual/block/loop0", "SUBSYSTEM=block"))
	rec.waitFor(t, "live event after ENOBUFS", is("add", "/devices/virtual/block/loop0"))

	evs := rec.events()
	delete(want, fxSdc1)
	want[vdb] = true
	want["/devices/virtual/block/loop0"] = true
	for dp := range want {
		if n := count(evs, "add", dp); n != 1 {
			t.Errorf("%s: %d adds, want exactly 1", dp, n)
		}
	}
	rm := slices.IndexFunc(evs, is("remove", fxSdc1))
	if e := evs[rm]; e.DevName() != "sdc1" || !e.IsBlock() {
		t.Errorf("synthetic remove lacks the device's identity: %+v", e)
	}
	st := s.Stats()
	if st.Rescans != 1 || st.Removed != 1 {
		t.Errorf("stats %+v, want 1 rescan, 1 removed", st)
	}
}

func TestStopWhileHandling(t *testing.T) {
	sysfs := extractSysfs(t)
	c := newFakeConn()
	var n atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	s := start(sysfs, c, func(Event) {
		once.Do(func() { close(started) })
		n.Add(1)
		time.Sleep(time.Millisecond)
	})
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hung")
	}
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	if n.Load() != after {
		t.Error("handle called after Stop returned")
	}
}

func TestStartBadSysfs(t *testing.T) {
	if _, err := Start(filepath.Join(t.TempDir(), "nope"), func(Event) {}); err == nil {
		t.Error("Start on a missing sysfs succeeded")
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: SO_RCVBUFFORCE and writing /sys/devices/*/uevent require CAP_NET_ADMIN/CAP_SYS_ADMIN")
	}
	if _, err := os.Stat("/sys/devices"); err != nil {
		t.Skip("no sysfs mounted at /sys")
	}
}

// openFDs lists this process's descriptors. It first makes sure the Go
// runtime's netpoller (an epoll fd and an eventfd, created lazily on the
// first pollable file, and never closed) exists, so that it is not
// mistaken for a leak.
func openFDs(t *testing.T) []string {
	t.Helper()
	if r, w, err := os.Pipe(); err == nil {
		r.SetReadDeadline(time.Now())
		r.Close()
		w.Close()
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

func TestNetlinkSocketOptions(t *testing.T) {
	needRoot(t)
	c, err := openNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var fd int
	if err := c.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("FD_CLOEXEC not set: flags %#x err %v", flags, err)
	}
	rcv, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil || rcv < rcvBufSize {
		t.Errorf("SO_RCVBUF = %d (%v), want >= %d", rcv, err, rcvBufSize)
	}
	sa, err := unix.Getsockname(fd)
	if nl, ok := sa.(*unix.SockaddrNetlink); err != nil || !ok || nl.Groups != 1 {
		t.Errorf("bound to %+v (%v), want netlink group 1", sa, err)
	}
}

// TestStartStopNetlink runs the real socket against the host's /sys: the
// coldplug replay arrives, a synthetic uevent written to a harmless device
// (the perf "software" PMU) comes back through the socket tagged with our
// UUID, and Stop leaves no file descriptor behind.
func TestStartStopNetlink(t *testing.T) {
	needRoot(t)
	before := openFDs(t)
	rec := newRecorder()
	s, err := Start("/sys", rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ColdplugDone():
	case <-time.After(30 * time.Second):
		t.Fatal("coldplug did not finish")
	}
	if len(rec.events()) == 0 {
		t.Error("coldplug over /sys delivered nothing")
	}

	var raw [16]byte
	rand.Read(raw[:])
	u := hex.EncodeToString(raw[:])
	uuid := u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
	const dev = "/sys/devices/software/uevent"
	if err := os.WriteFile(dev, []byte("change "+uuid+" EARLYROOT=ab"), 0); err != nil {
		t.Logf("cannot trigger a uevent via %s: %v; live part not checked", dev, err)
	} else {
		got := make(chan Event, 1)
		deadline := time.After(5 * time.Second)
	wait:
		for {
			for _, e := range rec.events() {
				if e.Env["SYNTH_UUID"] == uuid {
					got <- e
					break wait
				}
			}
			select {
			case <-rec.wake:
			case <-deadline:
				break wait
			}
		}
		select {
		case e := <-got:
			if e.Action != "change" || e.DevPath != "/devices/software" || e.Env["SYNTH_ARG_EARLYROOT"] != "ab" {
				t.Errorf("live event %+v", e)
			}
		default:
			s.Stop()
			t.Skip("the kernel did not deliver our synthetic uevent to this network namespace; live path not checked")
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	after := openFDs(t)
	if len(after) != len(before) {
		t.Errorf("fd leak: before %v\nafter %v", before, after)
	}
	t.Logf("stats %+v", s.Stats())
}

// TestStopLoopNoLeak needs no root: unprivileged, the receive buffer
// falls back from SO_RCVBUFFORCE to SO_RCVBUF.
func TestStopLoopNoLeak(t *testing.T) {
	if _, err := os.Stat("/sys/devices"); err != nil {
		t.Skip("no sysfs mounted at /sys")
	}
	before := openFDs(t)
	for i := range 20 {
		s, err := Start("/sys", func(Event) {})
		if err != nil {
			if i == 0 && os.Geteuid() != 0 {
				t.Skipf("cannot open a uevent socket unprivileged here: %v", err)
			}
			t.Fatal(err)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if after := openFDs(t); len(after) != len(before) {
		t.Errorf("fd leak after 20 Start/Stop: before %d after %d: %v", len(before), len(after), after)
	}
}

// TestNetlinkENOBUFS overflows a real socket whose receive buffer was
// shrunk and checks that recv reports ENOBUFS (what readLoop turns into a
// rescan) and then goes on delivering the queued datagrams.
func TestNetlinkENOBUFS(t *testing.T) {
	needRoot(t)
	c, err := openNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 0) // kernel minimum
	}); err != nil {
		t.Fatal(err)
	}
	const dev = "/sys/devices/software/uevent"
	for range 200 {
		if err := os.WriteFile(dev, []byte("change"), 0); err != nil {
			t.Skipf("cannot trigger uevents via %s: %v", dev, err)
		}
	}
	type result struct {
		n    int
		port uint32
		err  error
	}
	results := make(chan result, 1024)
	go func() {
		buf := make([]byte, recvBufLen)
		for {
			n, port, err := c.recv(buf)
			results <- result{n, port, err}
			if err != nil && !errors.Is(err, unix.ENOBUFS) {
				return
			}
		}
	}()
	var sawENOBUFS bool
	var after int
	timeout := time.After(time.Second)
loop:
	for {
		select {
		case r := <-results:
			switch {
			case errors.Is(r.err, unix.ENOBUFS):
				sawENOBUFS = true
			case r.err != nil:
				t.Fatalf("recv: %v", r.err)
			case r.port == 0:
				if sawENOBUFS {
					after++
				}
			}
		case <-timeout:
			break loop
		}
	}
	if !sawENOBUFS {
		t.Skip("the kernel did not overflow the shrunk buffer (events not delivered to this namespace?)")
	}
	if after == 0 {
		t.Error("no datagram received after ENOBUFS")
	}
	t.Logf("ENOBUFS reported, then %d datagrams", after)
}

// TestBackground checks that background lowers the calling goroutine's thread
// to nice 19, and only that thread.
func TestBackground(t *testing.T) {
	before, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Skipf("getpriority: %v", err)
	}
	got := make(chan int, 1)
	go func() {
		background()
		// The raw system call returns 20 - nice.
		p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		if err != nil {
			p = -1
		}
		got <- p
	}()
	if p := <-got; p != 20-19 {
		t.Errorf("background thread: getpriority %d, want %d (nice 19)", p, 20-19)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if p, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid()); p != before {
		t.Errorf("another thread: getpriority %d, want %d as before", p, before)
	}
}
