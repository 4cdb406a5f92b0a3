package modload

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a [Loader].
type Options struct {
	Params    map[string][]string // per module ("virtio_blk" -> ["queue_depth=64"]), from cmdline + modprobe.d
	Blacklist []string            // module names not loaded by alias-driven loads
	SysModule string              // "/sys/module": compression algorithm and already loaded modules; "" skips both checks
	// Observe, when set, is called with every result as it is recorded (dependencies and
	// softdeps included), from the loading goroutine: the init logs failures as they happen.
	Observe func(Result)
	// CPU is the CPU's modalias (/sys/devices/system/cpu/modalias). A module reached
	// through an alias that serves only CPUs with certain features (it has cpu: aliases)
	// and matches none of this CPU's is then not inserted (status OtherCPU): its init
	// would refuse with ENODEV, after the kernel had checked its signature and relocated
	// it (crc32c-intel without SSE4.2 beside crc32c_generic, aesni-intel without AES-NI).
	// A module asked for by its own name is always tried. "" tries every module.
	CPU string
	// RequestSysctl is the kernel.modprobe setting's file (/proc/ + [RequestSysctl]), which
	// [Loader.WithoutRequests] empties for a while; "" leaves it alone.
	RequestSysctl string
}

// Status is the outcome of loading one module.
type Status int

// The outcomes of a load.
const (
	Loaded        Status = iota // the module was inserted
	Builtin                     // built into the kernel, nothing to do
	AlreadyLoaded               // present in /sys/module or the kernel said EEXIST
	Failed                      // see Result.Err
	NoModule                    // no module has that name or alias
	Blacklisted                 // skipped by the blacklist
	Deferred                    // a device's load not started: see [Loader.DeferDeviceLoads]
	OtherCPU                    // not tried: it serves CPU features this one lacks (see Options.CPU)
)

var statusNames = [...]string{"loaded", "builtin", "already-loaded", "failed", "no-module", "blacklisted", "deferred", "other-cpu"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// OK reports whether the status means the module's code is in the kernel.
func (s Status) OK() bool { return s == Loaded || s == Builtin || s == AlreadyLoaded }

// Result records one load.
type Result struct {
	Module string        // module name, "" when nothing matched
	Alias  string        // the alias or name asked for
	Path   string        // module file, "" for built-ins
	Status Status        //
	Err    error         // "load ext4: finit_module /lib/modules/…/ext4.ko: exec format error"
	Took   time.Duration // time spent in the load itself
	// ByKernel says that the file went to finit_module compressed, for the
	// kernel to decompress (its /sys/module/compression matches the file's).
	ByKernel bool
}

// entry is the once-only load of one module; done is closed when res is
// final.
type entry struct {
	done chan struct{}
	res  Result
}

// Loader loads modules of one index. It is safe for concurrent use; each
// module is inserted at most once.
type Loader struct {
	ix        *Index
	moddir    string
	params    map[string]string // module -> kernel parameter string
	blacklist map[string]bool
	sysModule string
	observe   func(Result)

	// The syscalls, replaced by tests.
	finitModule func(fd int, params string, flags int) error
	initModule  func(image []byte, params string) error

	compOnce sync.Once
	kernComp string                       // contents of /sys/module/compression
	zstd     func() (*ZstdDecoder, error) // the decoder of moddir's zstd modules, made at its first use
	hasDict  func() bool                  // whether moddir has a zstd dictionary (DictFile)

	cpu      string // Options.CPU
	cpuOnce  sync.Once
	cpuBound map[string]bool // modules with cpu: aliases
	cpuFits  map[string]bool // modules whose aliases match cpu

	mu       sync.Mutex
	entries  map[string]*entry
	ahead    map[string]bool // modules of LoadAhead's loads: inserted with asyncProbe
	results  []Result
	deferred []string // modaliases whose loads were deferred, in order, once each

	deferring atomic.Bool // device loads not yet in the kernel are deferred

	requestSysctl string       // Options.RequestSysctl
	requests      sync.RWMutex // held by WithoutRequests; read-held by inserts and Requesting
}

// NewLoader returns a loader for the modules of ix found below moddir.
func NewLoader(ix *Index, moddir string, opt Options) *Loader {
	if ix == nil {
		ix = &Index{} // no index (it failed to open): every alias resolves to no module
	}
	l := &Loader{
		ix:            ix,
		moddir:        moddir,
		params:        map[string]string{},
		blacklist:     map[string]bool{},
		sysModule:     opt.SysModule,
		observe:       opt.Observe,
		cpu:           opt.CPU,
		requestSysctl: opt.RequestSysctl,
		finitModule:   unix.FinitModule,
		initModule:    unix.InitModule,
		entries:       map[string]*entry{},
		ahead:         map[string]bool{},
	}
	l.zstd = sync.OnceValues(func() (*ZstdDecoder, error) { return OpenZstdDecoder(moddir) })
	// Only with a dictionary can a module's frame need one, and only then is each zstd
	// module's header read before the kernel gets it: one stat, no decoder, otherwise.
	l.hasDict = sync.OnceValue(func() bool { return exists(filepath.Join(moddir, DictFile)) })
	for name, ps := range opt.Params {
		l.params[normName(name)] = joinParams(ps)
	}
	for _, b := range opt.Blacklist {
		l.blacklist[normName(b)] = true
	}
	return l
}

// joinParams makes the kernel parameter string, quoting values with
// blanks: ["a=1", "b=x y"] -> `a=1 b="x y"`. A parameter given more than
// once (names compared with '-' and '_' alike, as the kernel does) keeps
// the place of its first occurrence and the value of its last, which is
// the value the kernel would end with: a later source (the command line
// after modprobe.d, modprobe's own arguments after both) wins.
func joinParams(ps []string) string {
	var out []string
	at := map[string]int{} // normalised name -> index in out
	for _, p := range ps {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.ContainsAny(v, " \t\n") && !strings.Contains(v, `"`) {
			p = k + `="` + v + `"`
		}
		if i, seen := at[normName(k)]; seen {
			out[i] = p
			continue
		}
		at[normName(k)] = len(out)
		out = append(out, p)
	}
	return strings.Join(out, " ")
}

// Results returns every recorded outcome so far, in completion order.
func (l *Loader) Results() []Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

func (l *Loader) record(r Result) {
	l.mu.Lock()
	l.results = append(l.results, r)
	l.mu.Unlock()
	if l.observe != nil {
		l.observe(r)
	}
}

// LoadAlias loads every non-blacklisted module matching modalias (with
// dependencies and soft dependencies) and returns one result per matching
// module, or a single NoModule result when none matches. It is the load for a
// device, which [Loader.DeferDeviceLoads] can put off.
func (l *Loader) LoadAlias(modalias string) []Result {
	names := l.ix.Lookup(modalias)
	if len(names) == 0 {
		r := Result{Alias: modalias, Status: NoModule}
		l.record(r)
		return []Result{r}
	}
	if l.deferring.Load() {
		l.addDeferred(modalias)
		return []Result{{Alias: modalias, Status: Deferred}}
	}
	out := l.loadAll(names, modalias, true, true, nil)
	for _, r := range out {
		if r.Status == Deferred {
			l.addDeferred(modalias)
			break
		}
	}
	return out
}

// DeferDeviceLoads puts off device-driven loads ([Loader.LoadAlias]) from now on: new
// ones, and the modules of those under way that have not reached the kernel yet, end as
// Deferred and their modaliases are kept for [Loader.LoadDeferred]. Loads by name
// ([Loader.Load]: filesystems, modules_load=, softdeps of those) are not affected. The init
// calls it once the root device is found: every other device is the real system's to
// handle, and on one CPU its modules would only delay the root's mount.
func (l *Loader) DeferDeviceLoads() { l.deferring.Store(true) }

// LoadDeferred stops deferring and loads, concurrently, every deferred modalias; it
// returns how many there were. A load that was under way when deferring stopped and still
// ended as Deferred is picked up too.
func (l *Loader) LoadDeferred() int {
	l.deferring.Store(false)
	n := 0
	for {
		l.mu.Lock()
		aliases := l.deferred
		l.deferred = nil
		l.mu.Unlock()
		if len(aliases) == 0 {
			return n
		}
		n += len(aliases)
		var wg sync.WaitGroup
		for _, a := range aliases {
			wg.Go(func() { l.LoadAlias(a) })
		}
		wg.Wait()
	}
}

// Deferred returns the modaliases whose loads are deferred.
func (l *Loader) Deferred() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.deferred)
}

func (l *Loader) addDeferred(modalias string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.deferred, modalias) {
		l.deferred = append(l.deferred, modalias)
	}
}

// deferNow reports whether a load for a device (device set) must be put off.
func (l *Loader) deferNow(device bool) bool { return device && l.deferring.Load() }

// loadAll loads names concurrently; blacklisted ones are skipped when
// useBlacklist is set. device marks a load for a device (see DeferDeviceLoads).
func (l *Loader) loadAll(names []string, alias string, useBlacklist, device bool, chain []string) []Result {
	out := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		if useBlacklist && l.blacklist[n] {
			out[i] = Result{Module: n, Alias: alias, Status: Blacklisted}
			l.record(out[i])
			continue
		}
		if slices.Contains(chain, n) {
			out[i] = Result{Module: n, Alias: alias, Status: AlreadyLoaded}
			continue
		}
		if n != normName(alias) && l.otherCPU(n) {
			out[i] = Result{Module: n, Alias: alias, Status: OtherCPU}
			l.record(out[i])
			continue
		}
		wg.Go(func() { out[i] = l.load(n, alias, device, chain) })
	}
	wg.Wait()
	return out
}

// CPUModaliasPath is the file below the sysfs root sys that holds the CPU's modalias.
func CPUModaliasPath(sys string) string {
	return filepath.Join(sys, "devices/system/cpu/modalias")
}

// ReadCPUModalias returns the CPU's modalias from the file p (CPUModaliasPath), or "" when
// p is unreadable or holds no cpu: modalias: then every module is tried.
func ReadCPUModalias(p string) string {
	data, err := readFileLimit(p, maxLine)
	if s := strings.TrimSpace(string(data)); err == nil && strings.HasPrefix(s, "cpu:") {
		return s
	}
	return ""
}

// otherCPU reports whether module name serves only CPU features this CPU lacks (see
// Options.CPU). The index's cpu: aliases are read at the first call.
func (l *Loader) otherCPU(name string) bool {
	if l.cpu == "" {
		return false
	}
	l.cpuOnce.Do(func() {
		l.cpuBound = l.ix.aliasedModules("cpu:")
		l.cpuFits = map[string]bool{}
		for _, m := range l.ix.Lookup(l.cpu) {
			l.cpuFits[m] = true
		}
	})
	return l.cpuBound[name] && !l.cpuFits[name]
}

// Load loads one module by name or alias ("ext4", "fs-ext4"), with its
// dependencies and soft dependencies; the blacklist is not applied. When an
// alias names several modules all are loaded, and the first success (else
// the first failure) is returned.
func (l *Loader) Load(name string) Result {
	names := l.ix.Resolve(name)
	if len(names) == 0 {
		r := Result{Alias: name, Status: NoModule, Err: fmt.Errorf("load %s: module not found in %s", name, l.moddir)}
		l.record(r)
		return r
	}
	return best(l.loadAll(names, name, false, false, nil))
}

// asyncProbe is the parameter the kernel takes from every module (it is no module's own):
// the load ends without waiting for the asynchronous probes under way, and the module's
// drivers bind their devices asynchronously.
const asyncProbe = "async_probe=1"

// LoadAhead is [Load] for a module loaded ahead of the device or the mount that will need
// it. It and the modules it brings are inserted with the async_probe parameter (as
// modprobe.d's "options <module> async_probe" gives it): the kernel otherwise ends each
// module's load only once every asynchronous probe under way is done, those of other
// drivers included, so that an AHCI controller's port scan holds up a CRC module's load
// for its whole length. Its drivers then bind their devices asynchronously too: whoever
// needs a device waits for its uevent, not for the load.
func (l *Loader) LoadAhead(name string) Result {
	l.mu.Lock()
	for _, m := range l.ix.Closure([]string{name}) {
		l.ahead[m] = true
	}
	l.mu.Unlock()
	return l.Load(name)
}

// paramsOf is the parameter string module name is inserted with.
func (l *Loader) paramsOf(name string) string {
	l.mu.Lock()
	ahead := l.ahead[name]
	l.mu.Unlock()
	if !ahead {
		return l.params[name]
	}
	return strings.TrimSpace(l.params[name] + " " + asyncProbe)
}

// best returns the first successful result, else the first one.
func best(rs []Result) Result {
	for _, r := range rs {
		if r.Status.OK() {
			return r
		}
	}
	return rs[0]
}

// load loads module name with softdeps and deps. chain holds the modules
// whose softdeps led here, to cut softdep cycles.
func (l *Loader) load(name, alias string, device bool, chain []string) Result {
	i, ok := l.ix.find(name)
	if !ok || l.ix.Builtin(name) || l.present(name) {
		return l.insertOnce(name, alias, -1, nil)
	}
	chain = append(slices.Clip(chain), name)
	deps := l.loadDeps(l.ix.mods[i].deps, device, chain)
	return l.insertSoft(i, alias, deps, device, chain)
}

// insertSoft inserts module i between its softdep pre: and post: modules,
// as modprobe does for a module and for each of its dependencies.
// A device's load that is deferred, or one of whose dependencies was, ends here as
// Deferred without an entry, so that a later load of the module starts afresh.
func (l *Loader) insertSoft(i int, alias string, deps []Result, device bool, chain []string) Result {
	m := l.ix.mods[i]
	if l.deferNow(device) || slices.ContainsFunc(deps, func(r Result) bool { return r.Status == Deferred }) {
		return Result{Module: m.name, Alias: alias, Status: Deferred}
	}
	if !slices.Contains(chain, m.name) {
		chain = append(slices.Clip(chain), m.name)
	}
	for _, s := range m.pre {
		l.loadSoft(s, device, chain)
	}
	r := l.insertOnce(m.name, alias, i, deps)
	if r.Status == Loaded {
		for _, s := range m.post {
			l.loadSoft(s, device, chain)
		}
	}
	return r
}

// loadSoft loads a softdep (a name or an alias with possibly several
// providers); failures are recorded but do not matter to the caller.
func (l *Loader) loadSoft(spec string, device bool, chain []string) {
	names := l.ix.Resolve(spec)
	if len(names) == 0 {
		l.record(Result{Alias: spec, Status: NoModule})
		return
	}
	viaAlias := len(names) != 1 || names[0] != normName(spec)
	l.loadAll(names, spec, viaAlias, device, chain)
}

// loadDeps inserts the dependencies deps (in load order), each with its
// soft dependencies. Each one starts as soon as those of its own
// dependencies that come earlier in the list are done, so independent ones
// load concurrently; waiting only on earlier entries rules out deadlock
// even on a cyclic index.
func (l *Loader) loadDeps(deps []int32, device bool, chain []string) []Result {
	res := make([]Result, len(deps))
	done := make([]chan struct{}, len(deps))
	pos := make(map[int32]int, len(deps))
	for k, d := range deps {
		done[k] = make(chan struct{})
		pos[d] = k
	}
	for k, d := range deps {
		go func() {
			defer close(done[k])
			var failed []Result
			for _, dd := range l.ix.mods[d].deps {
				if j, ok := pos[dd]; ok && j < k {
					<-done[j]
					if !res[j].Status.OK() {
						failed = append(failed, res[j])
					}
				}
			}
			name := l.ix.mods[d].name
			if l.ix.Builtin(name) || l.present(name) {
				res[k] = l.insertOnce(name, "", -1, nil)
				return
			}
			res[k] = l.insertSoft(int(d), "", failed, device, chain)
		}()
	}
	for _, c := range done {
		<-c
	}
	return res
}

// present reports whether /sys/module/<name> exists.
func (l *Loader) present(name string) bool {
	if l.sysModule == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(l.sysModule, name))
	return err == nil
}

// insertOnce runs the load of module name once; concurrent and later
// callers get the first caller's result. i is the module's position (-1
// when it is built in, present or unknown); deps are results of its
// dependencies, a failed one makes this load fail without a syscall.
func (l *Loader) insertOnce(name, alias string, i int, deps []Result) Result {
	l.mu.Lock()
	e, ok := l.entries[name]
	if !ok {
		e = &entry{done: make(chan struct{})}
		l.entries[name] = e
	}
	l.mu.Unlock()
	if ok {
		<-e.done
		r := e.res
		if alias != "" {
			r.Alias = alias
		}
		return r
	}
	e.res = l.insert(name, alias, i, deps)
	l.record(e.res)
	close(e.done)
	return e.res
}

// insert does the work of insertOnce.
func (l *Loader) insert(name, alias string, i int, deps []Result) Result {
	r := Result{Module: name, Alias: alias}
	switch {
	case l.ix.Builtin(name):
		r.Status = Builtin
		return r
	case l.present(name):
		r.Status = AlreadyLoaded
		return r
	case i < 0:
		r.Status = NoModule
		r.Err = fmt.Errorf("load %s: module not found in %s", name, l.moddir)
		return r
	}
	m := l.ix.mods[i]
	r.Path = filepath.Join(l.moddir, m.path)
	for _, d := range deps {
		if d.Status == Failed || d.Status == NoModule {
			r.Status = Failed
			r.Err = fmt.Errorf("load %s: dependency %s failed", name, d.Module)
			return r
		}
	}
	start := time.Now()
	var err error
	r.ByKernel, err = l.insertFile(r.Path, l.paramsOf(name))
	r.Took = time.Since(start)
	switch {
	case err == nil:
		r.Status = Loaded
	case errors.Is(err, unix.EEXIST):
		r.Status = AlreadyLoaded
	default:
		r.Status = Failed
		r.Err = fmt.Errorf("load %s: %w", name, err)
	}
	return r
}

// insertFile puts the module file p into the kernel; byKernel says that
// the kernel decompressed it.
func (l *Loader) insertFile(p, params string) (byKernel bool, err error) {
	algo := compression(p)
	userSpace := algo != "" && algo != l.kernelCompression()
	if !userSpace && algo == "zstd" && l.hasDict() {
		userSpace = needsDict(p) // the kernel has not the tree's dictionary
	}
	if userSpace {
		image, err := loadImage(p, l.zstd)
		if err != nil {
			return false, err
		}
		l.Requesting(func() { err = l.initModule(image, params) })
		if err != nil {
			return false, fmt.Errorf("init_module %s: %w", p, err)
		}
		return false, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	flags := 0
	if algo != "" {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	l.Requesting(func() { err = l.finitModule(int(f.Fd()), params, flags) })
	if err != nil {
		return false, fmt.Errorf("finit_module %s: %w", p, err)
	}
	return algo != "", nil
}

// kernelCompression returns the algorithm the kernel decompresses modules
// with, from /sys/module/compression, or "".
func (l *Loader) kernelCompression() string {
	l.compOnce.Do(func() {
		if l.sysModule == "" {
			return
		}
		data, err := os.ReadFile(filepath.Join(l.sysModule, "compression"))
		if err == nil {
			l.kernComp = string(bytes.TrimSpace(data))
		}
	})
	return l.kernComp
}
