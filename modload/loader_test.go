package modload

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKernel stands in for finit_module and init_module.
type fakeKernel struct {
	mu     sync.Mutex
	calls  []kcall
	errs   map[string]error // by module name
	delay  time.Duration
	before func(name string) // runs inside the syscall
	loaded map[string]bool
}

type kcall struct {
	name, params string
	flags        int
	image        []byte // init_module only
	syscall      string
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{errs: map[string]error{}, loaded: map[string]bool{}}
}

func (k *fakeKernel) install(l *Loader) {
	l.finitModule = func(fd int, params string, flags int) error {
		p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if flags&unix.MODULE_INIT_COMPRESSED_FILE != 0 {
			if data, err = decompress(compression(p), bytes.NewReader(data)); err != nil {
				return unix.EINVAL
			}
		}
		return k.load(kcall{params: params, flags: flags, syscall: "finit_module"}, data)
	}
	l.initModule = func(image []byte, params string) error {
		return k.load(kcall{params: params, image: bytes.Clone(image), syscall: "init_module"}, image)
	}
}

func (k *fakeKernel) load(c kcall, image []byte) error {
	sec, err := modinfoSection(bytes.NewReader(image))
	if err != nil {
		return unix.ENOEXEC
	}
	mi, err := parseModinfo(sec)
	if err != nil {
		return unix.ENOEXEC
	}
	c.name = mi.Name
	if k.before != nil {
		k.before(c.name)
	}
	time.Sleep(k.delay)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, c)
	if err := k.errs[c.name]; err != nil {
		return err
	}
	for _, d := range mi.Depends {
		if !k.loaded[d] {
			return unix.ENOENT // unknown symbol, as the kernel says
		}
	}
	if k.loaded[c.name] {
		return unix.EEXIST
	}
	k.loaded[c.name] = true
	return nil
}

func (k *fakeKernel) names() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, c := range k.calls {
		out = append(out, c.name)
	}
	return out
}

func (k *fakeKernel) call(name string) (kcall, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n, found := 0, kcall{}
	for _, c := range k.calls {
		if c.name == name {
			n++
			found = c
		}
	}
	return found, n
}

type loaderEnv struct {
	dir, sys string
	ix       *Index
	k        *fakeKernel
}

func newLoaderEnv(t *testing.T) *loaderEnv {
	t.Helper()
	dir := writeTree(t, treeOpts{})
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(t.TempDir(), "sys", "module")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	return &loaderEnv{dir: dir, sys: sys, ix: ix, k: newFakeKernel()}
}

func (e *loaderEnv) loader(opt Options) *Loader {
	if opt.SysModule == "" {
		opt.SysModule = e.sys
	}
	l := NewLoader(e.ix, e.dir, opt)
	e.k.install(l)
	return l
}

func statuses(rs []Result) map[string]Status {
	out := map[string]Status{}
	for _, r := range rs {
		out[r.Module] = r.Status
	}
	return out
}

func TestLoadDepsInOrder(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{})
	r := l.Load("chain-d")
	if r.Status != Loaded || r.Err != nil {
		t.Fatalf("Load(chain-d) = %+v", r)
	}
	if got, want := e.k.names(), []string{"chain_c", "chain_b", "chain_a", "chain_d"}; !slices.Equal(got, want) {
		t.Errorf("load order %v, want %v", got, want)
	}
	c, _ := e.k.call("chain_d")
	if c.syscall != "finit_module" || c.flags != 0 {
		t.Errorf("chain_d loaded with %+v", c)
	}
	if want := filepath.Join(e.dir, "kernel/test/chain-d.ko"); r.Path != want {
		t.Errorf("Path = %q, want %q", r.Path, want)
	}
	// Loading again does nothing more.
	if r := l.Load("chain_a"); r.Status != Loaded {
		t.Errorf("second Load(chain_a) = %+v", r)
	}
	if n := len(e.k.names()); n != 4 {
		t.Errorf("%d syscalls after a second load, want 4", n)
	}
}

func TestLoadSoftdepProviders(t *testing.T) {
	e := newLoaderEnv(t)
	e.k.errs["crc32c_intel"] = unix.ENODEV // as on QEMU's default CPU
	l := e.loader(Options{})
	rs := l.LoadAlias("fs-ext4")
	if len(rs) != 1 || rs[0].Module != "ext4" || rs[0].Status != Loaded || rs[0].Alias != "fs-ext4" {
		t.Fatalf("LoadAlias(fs-ext4) = %+v", rs)
	}
	names := e.k.names()
	pos := func(n string) int { return slices.Index(names, n) }
	for _, n := range []string{"crc32c_intel", "crc32c_generic", "crc16", "jbd2", "mbcache", "ext4"} {
		if pos(n) < 0 {
			t.Errorf("%s not loaded: %v", n, names)
		}
	}
	if pos("crc32c_generic") > pos("ext4") || pos("crc32c_intel") > pos("ext4") || pos("jbd2") > pos("ext4") {
		t.Errorf("softdep pre: or deps after ext4: %v", names)
	}
	st := statuses(l.Results())
	if st["crc32c_intel"] != Failed || st["crc32c_generic"] != Loaded || st["ext4"] != Loaded {
		t.Errorf("results %v", st)
	}
	for _, r := range l.Results() {
		if r.Module == "crc32c_intel" {
			want := "load crc32c_intel: finit_module " + filepath.Join(e.dir, "kernel/arch/x86/crypto/crc32c-intel.ko") + ": no such device"
			if r.Err == nil || r.Err.Error() != want || !errors.Is(r.Err, unix.ENODEV) {
				t.Errorf("error %v\nwant %s", r.Err, want)
			}
		}
	}
	// Load of an alias with several providers succeeds if any works.
	if r := l.Load("crypto-crc32c"); !r.Status.OK() || r.Module != "crc32c_generic" {
		t.Errorf("Load(crypto-crc32c) = %+v", r)
	}
}

// With the CPU's modalias known, a module that serves only CPU features this CPU lacks is
// not tried when an alias leads to it (ext4's softdep on crypto-crc32c), and is when the CPU
// has them or when it is asked for by name.
func TestLoadOtherCPU(t *testing.T) {
	const (
		noSSE42 = "cpu:type:x86,ven0000fam0006mod0006:feature:,0000,0001,0002,0003,0004,0005,0006,0008,0009,000B,000C,000D,000F,0010,0013,0017,0018,0019,001A,0080"
		sse42   = noSSE42 + ",0094"
	)
	for _, tc := range []struct {
		name, cpu string
		load      func(*Loader) Result
		want      Status // crc32c_intel's
		tried     bool
	}{
		{"alias, no SSE4.2", noSSE42, func(l *Loader) Result { return l.LoadAlias("fs-ext4")[0] }, OtherCPU, false},
		{"alias, SSE4.2", sse42, func(l *Loader) Result { return l.LoadAlias("fs-ext4")[0] }, Loaded, true},
		{"alias, CPU unknown", "", func(l *Loader) Result { return l.LoadAlias("fs-ext4")[0] }, Loaded, true},
		{"by name, no SSE4.2", noSSE42, func(l *Loader) Result { return l.Load("crc32c-intel") }, Loaded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoaderEnv(t)
			l := e.loader(Options{CPU: tc.cpu})
			if r := tc.load(l); !r.Status.OK() {
				t.Fatalf("load: %+v", r)
			}
			if st := statuses(l.Results())["crc32c_intel"]; st != tc.want {
				t.Errorf("crc32c_intel: %v, want %v", st, tc.want)
			}
			if _, n := e.k.call("crc32c_intel"); (n > 0) != tc.tried {
				t.Errorf("crc32c_intel reached the kernel %d times", n)
			}
			if st, ok := statuses(l.Results())["crc32c_generic"]; ok && st != Loaded {
				t.Errorf("crc32c_generic: %v", st)
			}
		})
	}
	dir := t.TempDir()
	p := CPUModaliasPath(dir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	for content, want := range map[string]string{noSSE42 + "\n": noSSE42, "garbage\n": "", "": ""} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ReadCPUModalias(p); got != want {
			t.Errorf("ReadCPUModalias(%q) = %q, want %q", content, got, want)
		}
	}
	if got := ReadCPUModalias(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing file: %q", got)
	}
	// sysfs gives the attribute a page's size whatever it holds.
	if _, err := os.Stat(CPUModaliasPath("/sys")); err != nil {
		t.Logf("skipped the host's CPU modalias: %v", err)
	} else if got := ReadCPUModalias(CPUModaliasPath("/sys")); !strings.HasPrefix(got, "cpu:type:") {
		t.Errorf("the host's CPU modalias: %q", got)
	}
}

func TestLoadSoftdepPost(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{})
	if r := l.Load("posty"); r.Status != Loaded {
		t.Fatalf("Load(posty) = %+v", r)
	}
	if got := e.k.names(); !slices.Equal(got, []string{"posty", "chain_c"}) {
		t.Errorf("order %v, want posty then chain_c", got)
	}
}

func TestLoadBuiltinAndPresent(t *testing.T) {
	e := newLoaderEnv(t)
	if err := os.MkdirAll(filepath.Join(e.sys, "virtio_ring"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.k.loaded["virtio_ring"] = true
	l := e.loader(Options{})
	if rs := l.LoadAlias("block-major-7-0"); len(rs) != 1 || rs[0].Status != Builtin || rs[0].Module != "loop" {
		t.Errorf("LoadAlias(block-major-7-0) = %+v", rs)
	}
	if r := l.Load("virtio_ring"); r.Status != AlreadyLoaded {
		t.Errorf("Load(virtio_ring) = %+v", r)
	}
	rs := l.LoadAlias("virtio:d00000002v00001AF4")
	if len(rs) != 1 || rs[0].Status != Loaded {
		t.Errorf("LoadAlias(virtio blk) = %+v", rs)
	}
	if got := e.k.names(); !slices.Equal(got, []string{"virtio", "virtio_blk"}) {
		t.Errorf("syscalls for %v, want virtio, virtio_blk", got)
	}
	st := statuses(l.Results())
	if st["loop"] != Builtin || st["virtio_ring"] != AlreadyLoaded {
		t.Errorf("results %v", st)
	}
}

func TestLoadEEXIST(t *testing.T) {
	e := newLoaderEnv(t)
	e.k.errs["chain_c"] = unix.EEXIST
	l := e.loader(Options{})
	if r := l.Load("chain_c"); r.Status != AlreadyLoaded || r.Err != nil {
		t.Errorf("Load = %+v, want already loaded", r)
	}
}

func TestLoadFailures(t *testing.T) {
	e := newLoaderEnv(t)
	e.k.errs["chain_b"] = unix.ENOEXEC
	if err := os.Remove(filepath.Join(e.dir, "kernel/test/posty.ko")); err != nil {
		t.Fatal(err)
	}
	l := e.loader(Options{})
	r := l.Load("chain_d")
	if r.Status != Failed || r.Err == nil || r.Err.Error() != "load chain_d: dependency chain_b failed" {
		t.Errorf("Load(chain_d) = %+v", r)
	}
	var errb error
	for _, r := range l.Results() {
		if r.Module == "chain_b" {
			errb = r.Err
		}
	}
	want := "load chain_b: finit_module " + filepath.Join(e.dir, "kernel/test/chain-b.ko") + ": exec format error"
	if errb == nil || errb.Error() != want {
		t.Errorf("chain_b error %v\nwant %s", errb, want)
	}
	if _, n := e.k.call("chain_a"); n != 0 {
		t.Errorf("chain_a was tried although its dependency failed")
	}
	// A missing file fails that module only.
	r = l.Load("posty")
	if r.Status != Failed || !errors.Is(r.Err, os.ErrNotExist) || !strings.HasPrefix(r.Err.Error(), "load posty: open ") {
		t.Errorf("Load(posty) = %+v", r)
	}
	if r := l.Load("virtio_blk"); r.Status != Loaded {
		t.Errorf("Load(virtio_blk) after failures = %+v", r)
	}
	// Nothing matches.
	if rs := l.LoadAlias("pci:v0000FFFFd0000FFFF"); len(rs) != 1 || rs[0].Status != NoModule || rs[0].Alias != "pci:v0000FFFFd0000FFFF" {
		t.Errorf("LoadAlias(unknown) = %+v", rs)
	}
	if r := l.Load("nonesuch"); r.Status != NoModule || r.Err == nil {
		t.Errorf("Load(nonesuch) = %+v", r)
	}
	st := map[Status]int{}
	for _, r := range l.Results() {
		st[r.Status]++
	}
	if st[Failed] != 4 || st[NoModule] != 2 || st[Loaded] != 4 { // failed: chain_b, chain_a, chain_d, posty
		t.Errorf("result counts %v", st)
	}
}

func TestLoadBlacklist(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{Blacklist: []string{"virtio-blk", "crc32c_intel"}})
	rs := l.LoadAlias("virtio:d00000002v00001AF4")
	if len(rs) != 1 || rs[0].Status != Blacklisted || rs[0].Module != "virtio_blk" {
		t.Errorf("LoadAlias = %+v, want blacklisted", rs)
	}
	// softdeps via an alias honour the blacklist too
	if r := l.Load("ext4"); r.Status != Loaded {
		t.Errorf("Load(ext4) = %+v", r)
	}
	if _, n := e.k.call("crc32c_intel"); n != 0 {
		t.Errorf("blacklisted crc32c_intel loaded as a softdep provider")
	}
	// explicit loads ignore it
	if r := l.Load("virtio_blk"); r.Status != Loaded {
		t.Errorf("Load(virtio_blk) = %+v, want loaded", r)
	}
	if st := statuses(l.Results()); st["crc32c_intel"] != Blacklisted {
		t.Errorf("results %v", st)
	}
}

func TestLoadParams(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{Params: map[string][]string{
		"virtio-blk": {"queue_depth=64", `name=a b`, "flag"},
		"zstmod":     {"x=1"},
	}})
	l.Load("virtio_blk")
	c, _ := e.k.call("virtio_blk")
	if want := `queue_depth=64 name="a b" flag`; c.params != want {
		t.Errorf("params %q, want %q", c.params, want)
	}
	if c, _ := e.k.call("virtio"); c.params != "" {
		t.Errorf("virtio got params %q", c.params)
	}
	l.Load("zstmod")
	if c, _ := e.k.call("zstmod"); c.params != "x=1" {
		t.Errorf("zstmod params %q", c.params)
	}
}

// A compressed module goes to finit_module as it is when the kernel decompresses its
// format; else the loader decodes a zstd one and hands the image to init_module, and
// refuses xz and gzip ones (mkinitramfs writes them only for a kernel that takes them).
func TestLoadCompressed(t *testing.T) {
	for _, kernelHas := range []string{"", "zstd", "xz", "gzip"} {
		t.Run("kernel="+kernelHas, func(t *testing.T) {
			e := newLoaderEnv(t)
			if kernelHas != "" {
				writeFile(t, filepath.Join(e.sys, "compression"), []byte(kernelHas+"\n"))
			}
			l := e.loader(Options{})
			for _, m := range []struct{ name, algo string }{{"xzmod", "xz"}, {"zstmod", "zstd"}, {"gzmod", "gzip"}} {
				r := l.Load(m.name)
				if m.algo != "zstd" && m.algo != kernelHas {
					want := "the kernel does not decompress " + m.algo + " modules"
					if r.Status != Failed || r.Err == nil || !strings.Contains(r.Err.Error(), want) {
						t.Errorf("Load(%s) = %+v, want a failure: %s", m.name, r, want)
					}
					if _, n := e.k.call(m.name); n != 0 {
						t.Errorf("%s reached the kernel", m.name)
					}
					continue
				}
				if r.Status != Loaded {
					t.Fatalf("Load(%s) = %+v", m.name, r)
				}
				c, n := e.k.call(m.name)
				if n != 1 {
					t.Fatalf("%s loaded %d times", m.name, n)
				}
				if r.ByKernel != (m.algo == kernelHas) {
					t.Errorf("%s: ByKernel = %v, want %v", m.name, r.ByKernel, m.algo == kernelHas)
				}
				if m.algo == kernelHas {
					if c.syscall != "finit_module" || c.flags != unix.MODULE_INIT_COMPRESSED_FILE {
						t.Errorf("%s: %s flags %d, want finit_module with MODULE_INIT_COMPRESSED_FILE", m.name, c.syscall, c.flags)
					}
					continue
				}
				fm := fixture[slices.IndexFunc(fixture, func(f fixMod) bool { return f.name == m.name })]
				if c.syscall != "init_module" || !bytes.Equal(c.image, makeELF(fm.modinfoBytes())) {
					t.Errorf("%s: %s with %d bytes, want init_module with the decompressed image", m.name, c.syscall, len(c.image))
				}
			}
		})
	}
}

func TestLoadConcurrentOnce(t *testing.T) {
	e := newLoaderEnv(t)
	e.k.delay = 2 * time.Millisecond
	l := e.loader(Options{})
	aliases := []string{"test:chain:x", "test:zst", "fs-ext4", "virtio:d00000002v00001AF4", "test:chain:y",
		"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", "test:post", "crypto-crc32c"}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			for _, r := range l.LoadAlias(aliases[i%len(aliases)]) {
				if r.Status != Loaded && r.Status != AlreadyLoaded {
					t.Errorf("%s: %+v", aliases[i%len(aliases)], r)
				}
			}
		})
	}
	wg.Wait()
	counts := map[string]int{}
	for _, n := range e.k.names() {
		counts[n]++
	}
	for n, c := range counts {
		if c != 1 {
			t.Errorf("%s inserted %d times", n, c)
		}
	}
	if len(counts) != 16 {
		t.Errorf("%d modules loaded, want 16: %v", len(counts), counts)
	}
	seen := map[string]int{}
	for _, r := range l.Results() {
		seen[r.Module]++
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%d results for %s", c, n)
		}
	}
}

// TestLoadIndependentConcurrently shows independent modules load at the
// same time: each fake syscall waits until both have started.
func TestLoadIndependentConcurrently(t *testing.T) {
	e := newLoaderEnv(t)
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	e.k.before = func(name string) {
		if name == "crc16" || name == "mbcache" {
			started.Done()
			select {
			case <-both:
			case <-time.After(5 * time.Second):
				t.Errorf("%s: the other independent dependency did not start meanwhile", name)
			}
		}
	}
	l := e.loader(Options{})
	if r := l.Load("ext4"); r.Status != Loaded {
		t.Errorf("Load(ext4) = %+v", r)
	}
}

func TestStatusString(t *testing.T) {
	want := []string{"loaded", "builtin", "already-loaded", "failed", "no-module", "blacklisted", "deferred", "other-cpu"}
	for i, w := range want {
		if got := Status(i).String(); got != w {
			t.Errorf("Status(%d) = %q, want %q", i, got, w)
		}
	}
	if Status(42).String() != "status(42)" {
		t.Error("unknown status")
	}
}

// TestLoadSoftdepOfDependency: modprobe honours the softdeps of every
// dependency too, and a softdep cycle ends.
func TestLoadSoftdepOfDependency(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []fixMod{
		{path: "a.ko", name: "a", depends: []string{"b"}},
		{path: "b.ko", name: "b", softdep: []string{"pre: c", "post: d"}},
		{path: "c.ko", name: "c", softdep: []string{"pre: b"}},
		{path: "d.ko", name: "d", softdep: []string{"post: a"}},
	} {
		writeFile(t, filepath.Join(dir, m.path), makeELF(m.modinfoBytes()))
	}
	ix, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel()
	l := NewLoader(ix, dir, Options{})
	k.install(l)
	if r := l.Load("a"); r.Status != Loaded {
		t.Fatalf("Load(a) = %+v", r)
	}
	if got := k.names(); !slices.Equal(got, []string{"c", "b", "d", "a"}) {
		t.Errorf("order %v, want c b d a", got)
	}
}

// Observe sees every recorded result, dependencies included.
func TestObserve(t *testing.T) {
	e := newLoaderEnv(t)
	var mu sync.Mutex
	seen := map[string]Status{}
	l := e.loader(Options{Observe: func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Module] = r.Status
	}})
	if r := l.Load("chain-d"); r.Status != Loaded {
		t.Fatalf("Load = %+v", r)
	}
	for _, m := range []string{"chain_a", "chain_b", "chain_c", "chain_d"} {
		if seen[m] != Loaded {
			t.Errorf("Observe saw %s as %v; saw %v", m, seen[m], seen)
		}
	}
}

// TestDeferDeviceLoads: once device loads are deferred, a new LoadAlias and the rest of a
// chain under way reach no syscall; loads by name go on; LoadDeferred loads what was put
// off, each module once.
func TestDeferDeviceLoads(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{})
	e.k.before = func(name string) {
		if name == "chain_c" { // the first dependency of test:chain:x is in the kernel
			l.DeferDeviceLoads()
		}
	}
	rs := l.LoadAlias("test:chain:x")
	if len(rs) != 1 || rs[0].Status != Deferred {
		t.Fatalf("LoadAlias(test:chain:x) while deferring mid-chain = %+v, want one Deferred", rs)
	}
	if got, want := e.k.names(), []string{"chain_c"}; !slices.Equal(got, want) {
		t.Errorf("syscalls %v, want %v (the rest deferred)", got, want)
	}
	e.k.before = nil
	if rs := l.LoadAlias("test:zst"); len(rs) != 1 || rs[0].Status != Deferred {
		t.Errorf("LoadAlias(test:zst) while deferring = %+v, want Deferred", rs)
	}
	if rs := l.LoadAlias("test:no-such-device"); len(rs) != 1 || rs[0].Status != NoModule {
		t.Errorf("LoadAlias of an alias without module = %+v, want NoModule", rs)
	}
	if got, want := l.Deferred(), []string{"test:chain:x", "test:zst"}; !slices.Equal(got, want) {
		t.Errorf("Deferred() = %v, want %v", got, want)
	}
	if r := l.Load("chain_b"); r.Status != Loaded {
		t.Errorf("Load(chain_b) by name while deferring = %+v, want Loaded", r)
	}
	if n := l.LoadDeferred(); n != 2 {
		t.Errorf("LoadDeferred() = %d, want 2", n)
	}
	if d := l.Deferred(); len(d) != 0 {
		t.Errorf("Deferred() after LoadDeferred = %v", d)
	}
	counts := map[string]int{}
	for _, n := range e.k.names() {
		counts[n]++
	}
	want := map[string]int{"chain_c": 1, "chain_b": 1, "chain_a": 1, "chain_d": 1, "zstmod": 1}
	if !maps.Equal(counts, want) {
		t.Errorf("syscalls per module %v, want %v", counts, want)
	}
	for _, r := range l.Results() {
		if r.Status == Deferred || r.Status == Failed {
			t.Errorf("recorded result %+v", r)
		}
	}
}

// TestLoadCorruptCompressed: a .ko.zst that is not zstd, or a valid frame cut short, fails
// that module with the file named, and the loader goes on.
func TestLoadCorruptCompressed(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"not-zstd":  func([]byte) []byte { return []byte("this is not a zstd frame at all") },
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
	} {
		t.Run(name, func(t *testing.T) {
			e := newLoaderEnv(t)
			p := filepath.Join(e.dir, "kernel/test/zstmod.ko.zst")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, damage(data))
			l := e.loader(Options{})
			r := l.Load("zstmod")
			if r.Status != Failed || r.Err == nil || !strings.Contains(r.Err.Error(), "decompress "+p+": zstd: ") {
				t.Errorf("Load(zstmod) = %+v, want a zstd decompress failure naming %s", r, p)
			}
			if _, n := e.k.call("zstmod"); n != 0 {
				t.Errorf("zstmod reached the kernel %d times", n)
			}
			if r := l.Load("virtio_blk"); r.Status != Loaded {
				t.Errorf("Load(virtio_blk) after the failure = %+v", r)
			}
		})
	}
}

// LoadAhead inserts the module and every module it brings with async_probe=1 (after the
// module's own parameters); loads by Load, of other modules, get none.
func TestLoadAhead(t *testing.T) {
	e := newLoaderEnv(t)
	l := e.loader(Options{Params: map[string][]string{"chain_b": {"x=1"}}})
	if r := l.LoadAhead("chain-d"); r.Status != Loaded {
		t.Fatalf("LoadAhead(chain-d) = %+v", r)
	}
	l.Load("virtio_blk")
	want := map[string]string{
		"chain_a": "async_probe=1", "chain_b": "x=1 async_probe=1", "chain_c": "async_probe=1", "chain_d": "async_probe=1",
		"virtio_blk": "", "virtio": "",
	}
	for name, params := range want {
		c, n := e.k.call(name)
		if n != 1 || c.params != params {
			t.Errorf("%s: %d syscalls, params %q; want 1 with %q", name, n, c.params, params)
		}
	}
}
