package main

// -profile N boots each earlyroot image at 1 vCPU N more times with QEMU's gdbstub and
// samples where the vCPU is (internal/guestprof), to say what the init stage's time is
// made of: the kernel's module work, the Go runtime, earlyroot's own code, and, before
// /init, the kernel's unpacking of the image and the rest of its start. The timed boots
// stay unsampled: sampling stops the guest for each sample and slows it down. The phases
// are cut at the kernel's and the init's log lines as they reach the console;
// OUT/profile.md has the table, OUT/profile.tsv every function's count.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/guestprof"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// profileInterval is the wall time between samples; each costs the host about as much
// again, so a sampled boot runs at about half speed.
const profileInterval = time.Millisecond

// profilePhase is a phase of the boot: from the console line holding mark to the next
// phase's mark. The last mark ends the profile. The kernel's phases come before /init:
// they are not the init stage's, and a kernel may print neither of their marks (no
// initramfs message), so the tracker passes over them when the next mark comes first.
type profilePhase struct {
	mark, name string
	kernel     bool
}

var profilePhases = []profilePhase{
	// The kernel unpacks the image in a worker (initramfs_async) from this message to its
	// "Freeing initrd memory"; its start goes on meanwhile, but the first module request
	// of an initcall (the usermode helper) waits for the whole image, so at any CPU count
	// the image's unpacking is on the way to /init.
	{"Trying to unpack rootfs", "kernel: unpacking the image", true},
	{"Freeing initrd memory", "kernel: after the unpacking, until /init", true},
	{"Run /init as init process", "exec, Go runtime start, API mounts, log", false},
	{"earlyroot: earlyroot starting", "module index, discovery start", false},
	{"earlyroot: waiting up to", "wait for the root (coldplug, its driver's modules, probe)", false},
	{"earlyroot: wait for root took", "mount (the filesystem's modules, mount)", false},
	{"switching to", "", false},
}

// phaseTracker follows the console as it arrives and answers which phase the boot is in:
// 0 before the first mark, i+1 from mark i on.
type phaseTracker struct {
	mu    sync.Mutex
	line  []byte
	phase atomic.Int32
}

func (p *phaseTracker) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range b {
		if c != '\n' {
			if len(p.line) < 4096 {
				p.line = append(p.line, c)
			}
			continue
		}
		p.phase.Store(int32(nextPhase(int(p.phase.Load()), p.line)))
		p.line = p.line[:0]
	}
	return len(b), nil
}

func (p *phaseTracker) current() int { return int(p.phase.Load()) }

// nextPhase is the phase after a console line in phase n: that of the first mark the line
// holds among the next one and those after kernel marks, which may never come; n when it
// holds none. A later init mark does not count before the one ahead of it.
func nextPhase(n int, line []byte) int {
	for i := n; i < len(profilePhases); i++ {
		if bytes.Contains(line, []byte(profilePhases[i].mark)) {
			return i + 1
		}
		if !profilePhases[i].kernel {
			break
		}
	}
	return n
}

// imageProfile is the samples of one image's profiled boots, by phase (the index of
// profilePhases) and function name.
type imageProfile struct {
	name  string
	boots int
	errs  []string
	hits  []map[string]int
	// classOf is the class of each function name counted.
	classOf map[string]string
}

func newImageProfile(name string) *imageProfile {
	p := &imageProfile{name: name, classOf: map[string]string{}}
	for range profilePhases[:len(profilePhases)-1] {
		p.hits = append(p.hits, map[string]int{})
	}
	return p
}

// add counts one boot's samples of the phases between the first and the last mark.
// byClass sums a phase's hits by the class of each function.
func (p *imageProfile) byClass(hits map[string]int) map[string]int {
	cl := map[string]int{}
	for name, n := range hits {
		cl[p.classOf[name]] += n
	}
	return cl
}

func (p *imageProfile) add(samples []guestprof.Sample, names guestprof.Names) {
	p.boots++
	for _, s := range samples {
		i := s.Phase - 1
		if i < 0 || i >= len(p.hits) {
			continue
		}
		name := names.Name(s.PC)
		p.hits[i][name]++
		p.classOf[name] = classify(name, guestprof.Kernel(s.PC))
	}
}

// The classes of profile.md's table, in its column order.
var profileClasses = []string{classSignature, classDecompress, classModuleCode, classKernel, classRuntime, classLibrary, classEarlyroot, classOther}

const (
	classSignature  = "kernel: signatures"
	classDecompress = "kernel: decompression"
	classModuleCode = "kernel: modules' own code"
	classKernel     = "kernel: other"
	classRuntime    = "Go runtime"
	classLibrary    = "Go standard library and modules"
	classEarlyroot  = "earlyroot"
	classOther      = "other programs"
)

// signatureFuncs are the kernel functions of a signature check: a module's at its load
// (the SHA-256 of the module, the RSA (MPI arithmetic) or ECDSA (elliptic-curve
// arithmetic: Debian 13 signs with it) verification, PKCS#7 parsing) and, at the kernel's
// start, its built-in X.509 certificates' (parsing, RSA or ECDSA).
var signatureFuncs = regexp.MustCompile(`sha256|^mpi|_mpi|^_?rsa_|pkcs1pad|^vli_|^ecc_|ecdsa|pkcs7|x509|asn1_ber|public_key`)

// decompressFuncs are the kernel's decoders: of compressed modules at their load
// (MODULE_DECOMPRESS: xz, zstd or gzip, as the kernel was built) and of the image's
// compressed archive as it unpacks it.
var decompressFuncs = regexp.MustCompile(`^xz_dec|^lzma|^dict_(repeat|flush|get|put)|^rc_(read|update|is_bit|get_bit|direct|bittree)|^bcj_|decompress|^ZSTD_|^HUF_|^FSE_|^zlib_inflate|^inflate_`)

func classify(name string, kernel bool) string {
	switch {
	case name == guestprof.KernelModule:
		return classModuleCode
	case kernel && signatureFuncs.MatchString(name):
		return classSignature
	case kernel && decompressFuncs.MatchString(name):
		return classDecompress
	case kernel:
		return classKernel
	case name == guestprof.UserOther:
		return classOther
	case strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/"):
		return classRuntime
	case strings.HasPrefix(name, "github.com/earlyroot/earlyroot/"):
		return classEarlyroot
	}
	return classLibrary
}

// profileAll profiles each earlyroot image of imgs at 1 vCPU, e.opt.profile boots each.
func (e *benchEnv) profileAll(ctx context.Context, imgs []image) ([]*imageProfile, error) {
	ksyms, err := e.kallsyms(ctx)
	if err != nil {
		return nil, err
	}
	var out []*imageProfile
	for _, im := range imgs {
		if im.kind != KindEarlyroot || im.cpus > 1 || im.disks != nil {
			continue
		}
		prog, err := guestprof.GoTable(cmp.Or(im.init, filepath.Join(e.opt.build, "init")))
		if err != nil {
			return nil, err
		}
		names := guestprof.Names{Kernel: ksyms, Program: prog}
		p := newImageProfile(im.name)
		for round := range e.opt.profile {
			samples, err := e.profileBoot(ctx, im, round)
			if err != nil {
				p.errs = append(p.errs, err.Error())
				fmt.Fprintf(e.log, "bench: profile %s round %d: FAILED: %v\n", im.name, round+1, err)
				continue
			}
			p.add(samples, names)
			fmt.Fprintf(e.log, "bench: profile %s round %d: %d samples\n", im.name, round+1, len(samples))
		}
		out = append(out, p)
	}
	return out, nil
}

// profileBoot boots im once with the gdbstub and samples it until QEMU exits.
func (e *benchEnv) profileBoot(ctx context.Context, im image, round int) ([]guestprof.Sample, error) {
	logPath := e.path("logs", fmt.Sprintf("profile-%s-%d.log", im.name, round+1))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var phases phaseTracker
	// The kernel's symbols are read from a boot with KASLR off (kallsyms).
	cfg := e.vmConfig(im, e.disks[:1], io.MultiWriter(logf, &phases), "nokaslr")
	cfg.GDB = true
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	nc, err := v.DialGDB(10 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w (console: %s)", err, logPath)
	}
	sctx, cancel := context.WithTimeout(ctx, e.opt.timeout)
	defer cancel()
	samples, err := guestprof.Collect(sctx, nc, profileInterval, phases.current)
	if err != nil {
		return nil, fmt.Errorf("%w (console: %s)", err, logPath)
	}
	// The stub's socket closes as QEMU exits; its last console output is read by then only
	// once QEMU has been waited for.
	if err := v.WaitTimeout(30 * time.Second); err != nil {
		return nil, fmt.Errorf("%w (console: %s)", err, logPath)
	}
	if _, err := vm.ParseFacts(v.Output()); err != nil {
		return nil, fmt.Errorf("%w (console: %s)", err, logPath)
	}
	if n := phases.current(); n < len(profilePhases) {
		return nil, fmt.Errorf("the console never showed %q (console: %s)", profilePhases[n].mark, logPath)
	}
	return samples, nil
}

// kallsymsEnd ends the kallsyms boot's listing.
const kallsymsEnd = "KALLSYMS-END"

// kallsyms returns the kernel's text symbols, at their addresses without KASLR. They are
// read once per kernel image from a busybox guest and cached, keyed by the image's hash.
func (e *benchEnv) kallsyms(ctx context.Context) (*guestprof.Table, error) {
	data, err := os.ReadFile(e.k.Image)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	cache := filepath.Join(fixture.CacheDir(), "kallsyms", e.k.Release+"-"+hex.EncodeToString(sum[:8])+".txt")
	if f, err := os.Open(cache); err == nil {
		defer f.Close()
		return guestprof.ParseKallsyms(f)
	}
	fmt.Fprintf(e.log, "bench: reading the kernel's symbols (a busybox guest boot)\n")
	img := e.path("images", "kallsyms.img")
	if err := vm.WriteBusyboxInitramfs(img, e.k, vm.BusyboxGuest{
		Script: "grep ' [tT] ' /proc/kallsyms\necho " + kallsymsEnd + "\npoweroff -f\n",
	}); err != nil {
		return nil, err
	}
	v, err := vm.Start(ctx, vm.Config{Kernel: e.k.Image, Initrd: img, Append: "panic=-1 nokaslr quiet",
		Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if _, err := v.Expect(regexp.MustCompile(kallsymsEnd), 5*time.Minute); err != nil {
		return nil, fmt.Errorf("kallsyms boot: %w", err)
	}
	text := v.Output()
	tab, err := guestprof.ParseKallsyms(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(cache, []byte(text)); err != nil {
		fmt.Fprintf(e.log, "bench: kallsyms not cached: %v\n", err)
	}
	return tab, nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// profileTopN and profilePhaseTopN are how many functions profile.md names per image and
// per phase.
const (
	profileTopN      = 15
	profilePhaseTopN = 8
)

// ProfileTable renders profile.md.
func ProfileTable(ps []*imageProfile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Where the init stage's time goes: sampled profile\n\n")
	fmt.Fprintf(&b, "Separate boots at 1 vCPU, with QEMU's gdbstub stopping the guest about every %v of wall time "+
		"to read its program counter (kernel with nokaslr; names from /proc/kallsyms and the init's pclntab). "+
		"Sampling slows the boot down, so the shares matter here, not the times. "+
		"Each phase runs from one kernel or init log line to the next; the numbers are samples per boot. "+
		"The kernel's phases come before /init; the total and the top functions are the init stage's, "+
		"from /init to switch_root.\n\n", profileInterval)
	for _, p := range ps {
		fmt.Fprintf(&b, "## %s (%d boots)\n\n", p.name, p.boots)
		for _, e := range p.errs {
			fmt.Fprintf(&b, "- failed: %s\n", e)
		}
		if len(p.errs) > 0 {
			b.WriteString("\n")
		}
		if p.boots == 0 {
			continue
		}
		b.WriteString("| phase | samples | " + strings.Join(profileClasses, " | ") + " |\n")
		b.WriteString("|---|---|" + strings.Repeat("---|", len(profileClasses)) + "\n")
		total := map[string]int{}
		all := 0
		var stage []map[string]int // the init stage's phases
		for i, h := range p.hits {
			cl := p.byClass(h)
			n := sum(h)
			row := []string{profilePhases[i].name, perBoot(n, p.boots)}
			for _, c := range profileClasses {
				row = append(row, share(cl[c], n))
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
			if profilePhases[i].kernel {
				continue
			}
			stage = append(stage, h)
			all += n
			for _, c := range profileClasses {
				total[c] += cl[c]
			}
		}
		row := []string{"**/init to switch_root**", perBoot(all, p.boots)}
		for _, c := range profileClasses {
			row = append(row, share(total[c], all))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n\n")
		fmt.Fprintf(&b, "The %d functions with the most samples from /init to switch_root:\n\n| function | class | share |\n|---|---|---|\n", profileTopN)
		for _, f := range topFunctions(p, profileTopN, stage...) {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.name, f.class, share(f.n, all))
		}
		b.WriteString("\nIn each phase (share of the phase's samples):\n\n")
		for i, h := range p.hits {
			var top []string
			for _, f := range topFunctions(p, profilePhaseTopN, h) {
				top = append(top, fmt.Sprintf("`%s` %s", f.name, share(f.n, sum(h))))
			}
			if len(top) == 0 {
				top = []string{"no samples"}
			}
			fmt.Fprintf(&b, "- %s: %s\n", profilePhases[i].name, strings.Join(top, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ProfileTSV renders profile.tsv: every function's samples per boot in each phase of each
// image, most first, for the questions profile.md's top lists leave open. Its columns are
// image, phase, function, class and samples per boot.
func ProfileTSV(ps []*imageProfile) string {
	var b strings.Builder
	b.WriteString("image\tphase\tfunction\tclass\tsamples per boot\n")
	for _, p := range ps {
		// An image without boots has no hits, so no rows (and no division by its 0 boots).
		for i, h := range p.hits {
			for _, f := range topFunctions(p, len(h), h) {
				fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%.2f\n", p.name, profilePhases[i].name, f.name, f.class, float64(f.n)/float64(p.boots))
			}
		}
	}
	return b.String()
}

type funcHits struct {
	name, class string
	n           int
}

// topFunctions are the n functions with the most samples in the given phases' hit maps.
func topFunctions(p *imageProfile, n int, phases ...map[string]int) []funcHits {
	sums := map[string]int{}
	for _, h := range phases {
		for name, c := range h {
			sums[name] += c
		}
	}
	var fs []funcHits
	for name, c := range sums {
		fs = append(fs, funcHits{name: name, n: c})
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].n != fs[j].n {
			return fs[i].n > fs[j].n
		}
		return fs[i].name < fs[j].name
	})
	fs = fs[:min(n, len(fs))]
	for i := range fs {
		fs[i].class = p.classOf[fs[i].name]
	}
	return fs
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func perBoot(n, boots int) string { return fmt.Sprintf("%.0f", float64(n)/float64(boots)) }

func share(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}
