package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/md"
)

// mdLayer collects MD members and starts their arrays: at once when every member the
// newest superblock expects is there, degraded when the level allows and no member has
// arrived for rd.retry= seconds.
type mdLayer struct {
	mu      sync.Mutex
	members map[[16]byte]map[string]md.Member // array UUID → device name → member
	arrays  map[[16]byte]*mdArray
	conf    *md.Conf // the image's mdadm.conf (host-only images), nil without one
	confSet bool
}

// mdArray is the boot's state of one array.
type mdArray struct {
	started  bool        // started, or being started
	last     time.Time   // when its last member arrived
	deadline *time.Timer // the degraded start, while one is waiting
}

// mdAction is what a new member leads to.
type mdAction int

const (
	mdWait     mdAction = iota // not runnable yet: wait for more members
	mdStart                    // every expected member is there: start now
	mdDegraded                 // runnable degraded: start unless a member arrives in time
	mdLate                     // the array already runs: the member is left out
	mdKnown                    // the array already runs with this member (a change event)
)

// add records a member that arrived at now and says what to do about its array.
func (l *mdLayer) add(name string, m md.Member, now time.Time) (*md.Array, mdAction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.members == nil {
		l.members = map[[16]byte]map[string]md.Member{}
		l.arrays = map[[16]byte]*mdArray{}
	}
	u := m.SB.UUID
	if l.members[u] == nil {
		l.members[u] = map[string]md.Member{}
		l.arrays[u] = &mdArray{}
	}
	st := l.arrays[u]
	if _, known := l.members[u][name]; known && st.started {
		return nil, mdKnown
	}
	if st.started {
		return nil, mdLate
	}
	l.members[u][name] = m
	st.last = now
	a := l.groupLocked(u)
	switch {
	case a.Ready():
		st.started = true
		st.stopTimer()
		return a, mdStart
	case a.Runnable() == nil:
		return a, mdDegraded
	}
	return a, mdWait
}

// groupLocked groups the members of one array.
func (l *mdLayer) groupLocked(u [16]byte) *md.Array {
	var ms []md.Member
	for _, m := range l.members[u] {
		ms = append(ms, m)
	}
	// Group keeps arrival order among equal event counts; sort by device for a stable one.
	sortMembers(ms)
	return md.Group(ms)[0]
}

// due says whether the array's degraded start is due at now (no member arrived for
// retry), and if so marks it started and returns its members as they are.
func (l *mdLayer) due(u [16]byte, now time.Time, retry time.Duration) (*md.Array, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.arrays[u]
	if st == nil || st.started || now.Sub(st.last) < retry {
		return nil, false
	}
	a := l.groupLocked(u)
	if a.Runnable() != nil {
		return nil, false
	}
	st.started = true
	st.deadline = nil
	return a, true
}

// failed forgets that an array was started, so that the next member retries it.
func (l *mdLayer) failed(u [16]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.arrays[u]; st != nil {
		st.started = false
	}
}

func (st *mdArray) stopTimer() {
	if st.deadline != nil {
		st.deadline.Stop()
		st.deadline = nil
	}
}

// pending returns the arrays still waiting for members, for the rescue shell and the log.
func (l *mdLayer) pending() []*md.Array {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*md.Array
	for u, st := range l.arrays {
		if !st.started {
			out = append(out, l.groupLocked(u))
		}
	}
	return out
}

func sortMembers(ms []md.Member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Device < ms[j-1].Device; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// addMD reads the superblock of a probed MD member and starts its array when it can.
func (b *Boot) addMD(d devices.Device) {
	if b.cfg.MD.Disabled {
		b.log.Debugf("md: %s is an array member; rd.md=0: not assembling", d.Path)
		return
	}
	sb, err := readMD(d)
	if err != nil {
		b.log.Warnf("md: %s: %v", d.Path, err)
		return
	}
	uuid := sb.UUIDString()
	if !b.cfg.MD.Wants(uuid) {
		b.log.Infof("md: %s is a member of %s, which rd.md.uuid= does not list", d.Path, uuid)
		return
	}
	if conf := b.mdConf(); conf != nil && !conf.Wants(sb) {
		b.log.Infof("md: %s is a member of %s, which the image's mdadm.conf does not list", d.Path, uuid)
		return
	}
	if err := sb.Unsupported(); err != nil {
		b.log.Warnf("md: %s (array %s): %v", d.Path, uuid, err)
		return
	}
	m := md.Member{Device: d.Path, Dev: fmt.Sprintf("%d:%d", d.Major, d.Minor), SB: sb}
	a, action := b.stack.md.add(d.Name, m, b.sys.Now())
	if action != mdKnown && action != mdLate {
		b.loadMDModules(sb.Level) // before startMD, which waits for md_mod only
	}
	switch action {
	case mdKnown:
		b.log.Debugf("md: %s changed; its array %s runs already", d.Path, uuid)
	case mdLate:
		b.log.Warnf("md: %s arrived after its array %s was started; it is left out (mdadm --add it)", d.Path, uuid)
	case mdStart:
		b.startMD(a, false)
	case mdDegraded:
		b.scheduleMD(a)
	case mdWait:
		b.log.Infof("md: %s: %s member %d of %d of %s; waiting for more", d.Path, md.LevelName(a.SB.Level), a.Present(), len(a.Slots), uuid)
	}
}

// readMD reads a member's superblock. d comes from the registry, which sized it.
func readMD(d devices.Device) (*md.Superblock, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return md.Read(f, d.Size)
}

// scheduleMD (re)starts the wait before a degraded start: every new member restarts it.
func (b *Boot) scheduleMD(a *md.Array) {
	retry := b.cfg.MD.RetryOrDefault()
	b.log.Infof("md: %s %s has %d of %d members; starting it degraded in %v unless the others appear",
		a.SB.UUIDString(), md.LevelName(a.SB.Level), a.Present(), len(a.Slots), retry)
	l := &b.stack.md
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.arrays[a.UUID]
	st.stopTimer()
	st.deadline = time.AfterFunc(retry, func() {
		if b.layersStopped() {
			return
		}
		b.goSafe(func() {
			if a, ok := l.due(a.UUID, b.sys.Now(), retry); ok {
				b.startMD(a, true)
			}
		})
	})
}

// stopMD cancels the degraded starts still waiting.
func (b *Boot) stopMD() {
	l := &b.stack.md
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.arrays {
		st.stopTimer()
	}
}

// loadMDModules starts loading md_mod and the array's personality as soon as its first
// member is seen, in the background: on a machine with more than one CPU they go into the
// kernel while the other members are still being found and probed. The loader inserts
// each module once, so the loads startMD asks for again only wait for these.
func (b *Boot) loadMDModules(level int) {
	b.goSafe(func() {
		if r := b.loader.Load("md_mod"); r.Err != nil {
			b.log.Debugf("md_mod: %v", r.Err) // built in, or the start says why
		}
		// The kernel asks for the personality itself (request_module "md-level-N") when
		// the array runs; asking first lets it load while the members are added.
		b.loader.Load(mdPersonality(level))
	})
}

// startMD starts an array auto-read-only, and gives it its /dev/md/NAME and by-id links.
func (b *Boot) startMD(a *md.Array, degraded bool) {
	uuid := a.SB.UUIDString()
	if r := b.loader.Load("md_mod"); r.Err != nil {
		b.log.Debugf("md_mod: %v", r.Err) // built in, or the start below says why
	}
	for _, l := range a.Left {
		b.log.Warnf("md: %s: left out %s: %s", uuid, l.Member.Device, l.Reason)
	}
	as := md.Assembler{Sys: b.mdSys()}
	st, err := b.runMD(&as, a, degraded)
	if err != nil {
		b.stack.md.failed(a.UUID)
		b.log.Errorf("md: %v", err)
		return
	}
	if st.Degraded {
		b.log.Warnf("md: array %s (%s) STARTED DEGRADED as /dev/%s: %d of %d members, slots %v missing; replace the missing disk",
			uuid, md.LevelName(a.SB.Level), st.Name, a.Present(), len(a.Slots), st.Missing)
	} else {
		b.log.Infof("md: started %s (%s, %s, %d members) as /dev/%s", uuid, md.LevelName(a.SB.Level), a.SB.Version, len(st.Members), st.Name)
	}
	b.linkMD(a.SB, st.Name)
}

// runMD starts the array. md asks for the array's personality (request_module
// "md-level-N") each time it runs one, loaded or not, and waits for the modprobe helper
// process it starts; so once the init has the personality in the kernel (loadMDModules
// started its load), the array runs with the kernel's module requests off
// (modload.Loader.WithoutRequests). Without the personality the kernel asks as it would.
func (b *Boot) runMD(as *md.Assembler, a *md.Array, degraded bool) (md.Started, error) {
	var st md.Started
	var err error
	start := func() { st, err = as.Start(a, degraded) }
	if r := b.loader.Load(mdPersonality(a.SB.Level)); r.Status.OK() {
		b.withoutRequests(start)
	} else {
		b.loader.Requesting(start)
	}
	return st, err
}

// mdPersonality is the module alias md asks for to run an array of level.
func mdPersonality(level int) string { return "md-level-" + strconv.Itoa(level) }

// linkMD makes the links udev's md rules would: /dev/md/NAME and
// /dev/disk/by-id/md-uuid-…, md-name-….
func (b *Boot) linkMD(sb *md.Superblock, name string) {
	home := md.HomeAny
	if conf := b.mdConf(); conf != nil && conf.HomeHost != "" && conf.HomeHost != "<system>" {
		home = conf.HomeHost
	}
	var errs []error
	if n := md.DevName(sb, home); n != "" {
		errs = append(errs, b.reg.AddLink("md/"+n, name))
	}
	for _, l := range md.Links(sb) {
		errs = append(errs, b.reg.AddLink("disk/by-id/"+l, name))
	}
	if err := errors.Join(errs...); err != nil {
		b.log.Warnf("md: %v", err)
	}
}

// mdConf is the image's mdadm.conf, read once: a host-only image assembles only the arrays
// its ARRAY lines name.
func (b *Boot) mdConf() *md.Conf {
	l := &b.stack.md
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.confSet {
		return l.conf
	}
	l.confSet = true
	for _, p := range md.ConfPaths {
		data, err := os.ReadFile(filepath.Join(b.sys.ModRoot, p))
		if err != nil {
			continue
		}
		c, err := md.ParseConf(string(data))
		if err != nil {
			b.log.Warnf("md: /%s: %v (assembling every array)", p, err)
			return nil
		}
		l.conf = c
		b.log.Infof("md: /%s lists %d arrays", p, len(c.Arrays))
		return c
	}
	return nil
}

// describeMD names the arrays still waiting for members, for a root that did not appear.
func (b *Boot) describeMD() string {
	var parts []string
	for _, a := range b.stack.md.pending() {
		parts = append(parts, fmt.Sprintf("%s %s with %d of %d members (%v)", a.SB.UUIDString(), md.LevelName(a.SB.Level), a.Present(), len(a.Slots), a.Runnable()))
	}
	return strings.Join(parts, "; ")
}
