package boot

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/earlyroot/earlyroot/modload"
)

// timeline records when the steps of a boot happened, as offsets from /init's start, for
// the breakdown line logged before switch_root (see breakdownLine): the benchmark reads it
// to show where the time between the kernel's "Run /init" and the real init goes. Each step
// keeps its first record: a retry after the rescue shell does not replace it. The zero
// value is ready.
type timeline struct {
	mu                         sync.Mutex
	discovery, coldplug, found stamp // offsets
	fs, mount                  stamp // durations
	devices                    map[string]deviceTiming
}

// stamp is a duration once recorded.
type stamp struct {
	d  time.Duration
	ok bool
}

// deviceTiming is when a block device's first uevent arrived, and how long its probe took.
type deviceTiming struct{ event, probe time.Duration }

// record sets s (a field of t) to d, unless it was already recorded.
func (t *timeline) record(s *stamp, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.ok {
		*s = stamp{d, true}
	}
}

// device records a block device's first uevent (at) and its probe's duration.
func (t *timeline) device(name string, at, probe time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.devices == nil {
		t.devices = map[string]deviceTiming{}
	}
	if _, ok := t.devices[name]; !ok {
		t.devices[name] = deviceTiming{at, probe}
	}
}

// since is the offset of now from the boot's start.
func (b *Boot) since() time.Duration { return b.sys.Now().Sub(b.start) }

// watchColdplug marks "coldplug" once the discovery's replay of the devices present at
// start is complete, when the discovery can tell (uevent.Source can).
func (b *Boot) watchColdplug(src Discovery) {
	c, ok := src.(interface{ ColdplugDone() <-chan struct{} })
	if !ok {
		b.gate.coldplugDone()
		return
	}
	done := c.ColdplugDone()
	go func() {
		<-done
		b.timing.record(&b.timing.coldplug, b.since())
		b.gate.coldplugDone()
	}()
}

// slowModules is how many of the slowest module loads the breakdown names.
const slowModules = 3

// breakdownLine is the one-line summary of where the boot's time went, logged at info
// level before switch_root. Fields are key=value, times in milliseconds from /init's start
// unless named *_ms (a duration):
//
//	main_at   the boot clock (seconds since the kernel started) when /init's Go code began:
//	          minus the kernel's "Run /init" time it is the exec and the Go runtime's start
//	discovery when device discovery started (after the API mounts, the log, the index)
//	coldplug  when the replay of the devices present at start was complete
//	root      when the root's block device first appeared (its uevent)
//	probe_ms  how long reading the root's signature took
//	found     when the root was recognised (wait for root ended)
//	fs_ms     loading the filesystem's modules in the mount step (0 when already in)
//	mount_ms  the mount call(s)
//	switch    when the breakdown was logged, just before switch_root
//	modules   modules inserted; finit_ms their summed time in the kernel (loads overlap,
//	          so it can exceed the wall time); slowest: name:ms:KiB of the slowest loads
func (b *Boot) breakdownLine(root string, mainAt time.Duration, loaded []modload.Result) string {
	t := &b.timing
	t.mu.Lock()
	defer t.mu.Unlock()
	var f []string
	add := func(k string, s stamp) {
		if s.ok {
			f = append(f, fmt.Sprintf("%s=%.1f", k, float64(s.d)/float64(time.Millisecond)))
		}
	}
	f = append(f, fmt.Sprintf("main_at=%.6f", mainAt.Seconds()))
	add("discovery", t.discovery)
	add("coldplug", t.coldplug)
	dev, ok := t.devices[root]
	add("root", stamp{dev.event, ok})
	add("probe_ms", stamp{dev.probe, ok})
	add("found", t.found)
	add("fs_ms", t.fs)
	add("mount_ms", t.mount)
	add("switch", stamp{b.since(), true})
	f = append(f, moduleSummary(loaded)...)
	return "breakdown: " + strings.Join(f, " ")
}

// loadedModules are the results of the modules that went into the kernel.
func loadedModules(rs []modload.Result) []modload.Result {
	var loaded []modload.Result
	for _, r := range rs {
		if r.Status == modload.Loaded {
			loaded = append(loaded, r)
		}
	}
	return loaded
}

// moduleSummary is the modules=, finit_ms= and slowest= fields of the breakdown, from the
// results of the loaded modules (loadedModules); it sorts them.
func moduleSummary(loaded []modload.Result) []string {
	var total time.Duration
	for _, r := range loaded {
		total += r.Took
	}
	sort.SliceStable(loaded, func(i, j int) bool { return loaded[i].Took > loaded[j].Took })
	var slow []string
	for _, r := range loaded[:min(len(loaded), slowModules)] {
		kib := int64(-1)
		if fi, err := os.Stat(r.Path); err == nil {
			kib = (fi.Size() + 1023) / 1024
		}
		slow = append(slow, fmt.Sprintf("%s:%.0f:%d", r.Module, float64(r.Took)/float64(time.Millisecond), kib))
	}
	out := []string{fmt.Sprintf("modules=%d", len(loaded)), fmt.Sprintf("finit_ms=%.1f", float64(total)/float64(time.Millisecond))}
	if len(slow) > 0 {
		out = append(out, "slowest="+strings.Join(slow, ","))
	}
	return out
}
