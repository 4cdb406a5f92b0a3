package initramfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/earlyroot/earlyroot/modload"
)

// IndexFile is the name of modload's compact index in the image's module
// directory.
const IndexFile = "modules.earlyroot"

// stagedFile is one file of the staged module directory.
type stagedFile struct {
	rel string // relative to the module dir
	src string // staged copy on the host
}

// staged is the module directory as it goes into the image.
type staged struct {
	files              []stagedFile
	srcBytes, imgBytes int64    // imgBytes counts the dictionary
	dictBytes          int      // the size of the modules' zstd dictionary, 0 for none
	leftOut            []string // the modules modload.LeftOutFile lists, sorted
	warnings           []string
}

// Select returns the sorted names of the modules an image built from cfg
// gets: the generic or host-only set plus cfg.Modules, closed over
// dependencies and softdeps, minus cfg.Omit and whatever depends on an
// omitted module. Problems met while indexing the tree (unreadable module
// files) come back as warnings.
func Select(cfg Config) (names, warnings []string, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if _, err := hostCryptFor(&cfg); err != nil {
		return nil, nil, err
	}
	mods, err := ScanModules(cfg.ModDir)
	if err != nil {
		return nil, nil, err
	}
	return selectModules(cfg, mods)
}

func selectModules(cfg Config, mods []ModuleFile) ([]string, []string, error) {
	ix := cfg.Index
	if ix == nil {
		var err error
		if ix, err = modload.Build(cfg.ModDir); err != nil {
			return nil, nil, fmt.Errorf("module index of %s: %w", cfg.ModDir, err)
		}
	}
	var warnings []string
	for _, p := range ix.Problems() {
		warnings = append(warnings, p.Error())
	}
	names, err := selectWith(cfg, mods, ix)
	return names, warnings, err
}

func selectWith(cfg Config, mods []ModuleFile, ix *modload.Index) ([]string, error) {
	have := map[string]bool{}
	for _, m := range mods {
		have[m.Name] = true
	}
	var start []string
	if cfg.HostOnly {
		h, err := HostModules(ix, cfg.SysFS, cfg.Mounts, cfg.HostRoot, cfg.DevDir)
		if err != nil {
			return nil, err
		}
		start = append(h, cfg.cryptModules...)
	} else {
		start = GenericSelection().Match(mods)
		if cfg.LegacyHBAs {
			start = append(start, LegacySelection().Match(mods)...)
		}
	}
	for _, m := range cfg.Modules {
		names, err := resolveKnown(ix, have, m)
		if err != nil {
			return nil, fmt.Errorf("-modules: %w", err)
		}
		start = append(start, names...)
	}
	omit := map[string]bool{}
	for _, m := range cfg.Omit {
		names, err := resolveKnown(ix, have, m)
		if err != nil {
			return nil, fmt.Errorf("-omit: %w", err)
		}
		for _, n := range names {
			omit[n] = true
		}
	}
	set := map[string]bool{}
	for _, n := range ix.Closure(sortedCopy(start)) {
		n = NormName(n)
		if !have[n] || omit[n] {
			continue // built in, or left out on purpose
		}
		if m, ok := ix.Module(n); ok && dependsOnAny(m, omit) {
			continue
		}
		set[n] = true
	}
	return sortedKeys(set), nil
}

func dependsOnAny(m modload.Module, omit map[string]bool) bool {
	for _, d := range m.Deps {
		if omit[NormName(d)] {
			return true
		}
	}
	return false
}

// resolveKnown resolves a module name or alias given by the user to the
// module files it names. A built-in module resolves to nothing; anything
// else that resolves to no module is an error.
func resolveKnown(ix *modload.Index, have map[string]bool, nameOrAlias string) ([]string, error) {
	var out []string
	for _, n := range ix.Resolve(nameOrAlias) {
		if n = NormName(n); have[n] {
			out = append(out, n)
		}
	}
	if len(out) > 0 || ix.Builtin(nameOrAlias) {
		return out, nil
	}
	if have[NormName(nameOrAlias)] {
		return []string{NormName(nameOrAlias)}, nil
	}
	return nil, fmt.Errorf("unknown module %q", nameOrAlias)
}

// HostModules returns the modules this machine needs to reach its root
// filesystem, /usr and the filesystems its fstab marks x-initrd.mount (HostMounts
// of mounts and hostRoot): the drivers of every device in sysfs (each modalias
// looked up in ix) except those under HostExclude, the root filesystem's module
// and the device-mapper or MD modules its root device stacks on, and the same
// for each of the other mounts that is on a block device (a /dev source).
// Built-in modules are left out; dependencies are added later by the caller.
//
// A mount's source is taken as the kernel names its device, its links resolved in devDir
// (/dev/md/NAME is md127, /dev/VG/LV a dm-N), so that its layers are recognised however the
// mount table writes it.
func HostModules(ix *modload.Index, sysfs, mounts, hostRoot, devDir string) ([]string, error) {
	aliases, err := Modaliases(sysfs)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, a := range aliases {
		for _, n := range ix.Lookup(a) {
			set[NormName(n)] = true
		}
	}
	ms, err := HostMounts(mounts, hostRoot)
	if err != nil {
		return nil, err
	}
	var want []string
	for _, m := range ms {
		want = append(want, "fs-"+m.FSType, m.FSType)
		src := m.Source
		if n := blockName(sysfs, devDir, src); n != "" && strings.HasPrefix(src, "/dev/") {
			src = "/dev/" + n
		}
		want = append(want, StackModules(sysfs, src)...)
	}
	for n := range set {
		m, ok := ix.Module(n)
		if !ok || hostExcluded(m.Path) {
			delete(set, n) // built in, or not needed to reach the mounts
		}
	}
	for _, w := range want {
		for _, n := range ix.Resolve(w) {
			if _, ok := ix.Module(n); ok {
				set[NormName(n)] = true // the mounts' own modules are never excluded
			}
		}
	}
	return sortedKeys(set), nil
}

// HostExclude lists module path prefixes (relative to the module dir, the
// leading "kernel/" removed) that host-only images leave out even when a
// device of the machine matches them: drivers that play no part in
// reaching the root filesystem (network, sound, graphics, video capture,
// error reporting, sensors, ballooning, the PC speaker).
func HostExclude() []string {
	return []string{
		"net/", "drivers/net/", "sound/", "drivers/gpu/", "drivers/media/",
		"drivers/edac/", "drivers/hwmon/", "drivers/powercap/", "drivers/bluetooth/",
		"drivers/infiniband/", "drivers/watchdog/", "drivers/thermal/", "drivers/cpufreq/",
		"drivers/input/misc/", "drivers/char/hw_random/", "drivers/virtio/virtio_balloon",
		"drivers/virtio/virtio_mem", "drivers/virtio/virtio_input", "arch/x86/kvm/",
		"drivers/i2c/busses/i2c-piix4", "drivers/platform/x86/",
	}
}

func hostExcluded(modPath string) bool {
	p := strings.TrimPrefix(modPath, "kernel/")
	for _, x := range HostExclude() {
		if strings.HasPrefix(p, x) {
			return true
		}
	}
	return false
}

// stageModules writes the selected modules (compressed when asked) and the
// builtin lists to stage, then builds modload's index of exactly that tree
// and writes it as IndexFile. loading says which module files already
// compressed in the tree stay as they are; the modules in plain are staged
// uncompressed whatever their form in the tree (see unpackedModules). It
// returns the files that go to the image.
func stageModules(ctx context.Context, cfg Config, enc zstdEncoder, loading moduleLoading, mods []ModuleFile, names []string, plain map[string]bool, stage string) (staged, error) {
	var st staged
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return st, fmt.Errorf("stage module tree: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	suffix, err := cfg.ModCompression.ModuleSuffix()
	if err != nil {
		return st, err
	}
	var jobs []stageJob
	for _, m := range mods {
		if !want[m.Name] {
			continue
		}
		j := stageJob{name: m.Name, rel: m.Path, src: filepath.Join(cfg.ModDir, filepath.FromSlash(m.Path))}
		want := suffix
		if plain[m.Name] {
			want = ""
		}
		switch src := compressedSuffix(m.Path); {
		case src == "":
			j.rel += want
			j.compress = want != ""
		case plain[m.Name] || !loading.keep(src, want):
			j.rel = strings.TrimSuffix(m.Path, src) + want
			j.decompress, j.compress = src, want != ""
		}
		j.dst = filepath.Join(stage, filepath.FromSlash(j.rel))
		jobs = append(jobs, j)
		st.srcBytes += m.Size
		st.files = append(st.files, stagedFile{rel: j.rel, src: j.dst})
	}
	// Beside the module tree, never in it: the staged tree may be indexed below.
	samples, err := os.MkdirTemp(filepath.Dir(stage), "dict-samples-")
	if err != nil {
		return st, fmt.Errorf("stage module tree: %w", err)
	}
	defer os.RemoveAll(samples)
	enc, warning, err := trainDict(ctx, cfg, enc, loading, jobs, samples, filepath.Join(stage, modload.DictFile))
	if err != nil {
		return st, err
	}
	if warning != "" {
		st.warnings = append(st.warnings, warning)
	}
	if enc.dict != "" {
		fi, err := os.Stat(enc.dict)
		if err != nil {
			return st, err
		}
		st.dictBytes = int(fi.Size())
		st.imgBytes += fi.Size()
		st.files = append(st.files, stagedFile{rel: modload.DictFile, src: enc.dict})
	}
	if err := runStageJobs(ctx, jobs, cfg.ModCompression, enc); err != nil {
		return st, err
	}
	for _, j := range jobs {
		st.imgBytes += j.size
	}
	// modules.builtin goes into the image (small, for tools); the
	// .modinfo list only feeds the index, which keeps the built-in names
	// and aliases itself.
	for _, f := range []struct {
		name    string
		inImage bool
	}{{"modules.builtin", true}, {"modules.builtin.modinfo", false}} {
		dst := filepath.Join(stage, f.name)
		if err := copyFile(filepath.Join(cfg.ModDir, f.name), dst); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return st, fmt.Errorf("stage %s: %w", f.name, err)
		}
		if f.inImage {
			st.files = append(st.files, stagedFile{rel: f.name, src: dst})
		}
	}
	ix := subsetIndex(cfg.Index, names, jobs)
	if ix == nil {
		if ix, err = modload.Build(stage); err != nil {
			return st, fmt.Errorf("index of the selected modules: %w", err)
		}
		if p := ix.Problems(); len(p) > 0 {
			return st, fmt.Errorf("index of the selected modules: %w", errors.Join(p...))
		}
	}
	idx := filepath.Join(stage, IndexFile)
	if err := ix.WriteFile(idx); err != nil {
		return st, fmt.Errorf("write %s: %w", IndexFile, err)
	}
	st.files = append(st.files, stagedFile{rel: IndexFile, src: idx})
	st.leftOut = leftOut(mods, names)
	if f, err := writeLeftOut(cfg.Index, st.leftOut, stage); err != nil {
		return st, err
	} else if f.rel != "" {
		st.files = append(st.files, f)
	}
	return st, nil
}

// leftOut returns the modules of the generic and legacy sets (what a generic image with
// -legacyhba carries) that names lacks, sorted.
func leftOut(mods []ModuleFile, names []string) []string {
	in := setOf(names)
	var out []string
	for _, n := range slices.Concat(GenericSelection().Match(mods), LegacySelection().Match(mods)) {
		if !in[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// writeLeftOut writes modload.LeftOutFile to stage: the storage-bus aliases of the modules
// the image leaves out (leftOut), for the rescue shell to name the module a controller it
// saw needs. It returns the file staged, none when nothing is left out.
func writeLeftOut(ix *modload.Index, out []string, stage string) (stagedFile, error) {
	if len(out) == 0 || ix == nil {
		return stagedFile{}, nil
	}
	var buf bytes.Buffer
	if err := ix.WriteStorageAliases(&buf, out); err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", modload.LeftOutFile, err)
	}
	z, err := CompressModule(buf.Bytes(), Zstd)
	if err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", modload.LeftOutFile, err)
	}
	p := filepath.Join(stage, modload.LeftOutFile)
	if err := os.WriteFile(p, z, 0o644); err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", modload.LeftOutFile, err)
	}
	return stagedFile{rel: modload.LeftOutFile, src: p}, nil
}

// subsetIndex returns the tree's index narrowed to the staged modules, each at
// its staged path (its suffix changed by compression), saving a second read of
// each module's .modinfo; nil when a selected module was not staged, and the
// caller indexes the staged tree.
func subsetIndex(ix *modload.Index, names []string, jobs []stageJob) *modload.Index {
	if ix == nil || len(jobs) != len(names) {
		return nil
	}
	moved := map[string]string{}
	for _, j := range jobs {
		m, ok := ix.Module(j.name)
		if !ok {
			return nil
		}
		if m.Path != j.rel {
			moved[j.name] = j.rel
		}
	}
	return ix.Subset(names, moved)
}

// maxModuleFile bounds one decompressed module.
const maxModuleFile = 256 << 20

// stageJob stages one module file.
type stageJob struct {
	name       string // module name
	rel        string // staged path, relative to the module dir
	src, dst   string
	decompress string // the source's compression suffix to undo, or ""
	compress   bool   // compress with the image's module compression
	size       int64  // staged size, set by runStageJobs
}

// runStageJobs stages the modules with a few workers (compressing modules
// is CPU-bound; each output only depends on its input, so the result is
// the same in any order).
func runStageJobs(ctx context.Context, jobs []stageJob, c Compression, enc zstdEncoder) error {
	return inParallel(ctx, len(jobs), func(i int) (err error) {
		jobs[i].size, err = stageModule(ctx, jobs[i], c, enc)
		return err
	})
}

// inParallel runs do(0) … do(n-1) with a few workers, and returns their errors joined.
func inParallel(ctx context.Context, n int, do func(i int) error) error {
	workers := min(max(runtime.GOMAXPROCS(0), 1), 8, max(n, 1))
	next := make(chan int)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if errs[i] = ctx.Err(); errs[i] == nil {
					errs[i] = do(i)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stage modules: %w", err)
	}
	return errors.Join(errs...)
}

// stageModule puts one module at j.dst: decompressed and (when j.compress)
// compressed with c by enc, else as a hard link or copy. It returns the staged
// size.
func stageModule(ctx context.Context, j stageJob, c Compression, enc zstdEncoder) (int64, error) {
	src, dst := j.src, j.dst
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, fmt.Errorf("stage module: %w", err)
	}
	if !j.compress && j.decompress == "" {
		if err := os.Link(src, dst); err != nil {
			if err := copyFile(src, dst); err != nil {
				return 0, fmt.Errorf("stage module %s: %w", path.Base(src), err)
			}
		}
		fi, err := os.Stat(dst)
		if err != nil {
			return 0, fmt.Errorf("stage module: %w", err)
		}
		return fi.Size(), nil
	}
	data, err := readStaged(j)
	if err != nil {
		return 0, err
	}
	z := data
	if j.compress {
		if z, err = enc.module(ctx, data, c); err != nil {
			return 0, fmt.Errorf("stage module %s: %w", j.name, err)
		}
	}
	if err := os.WriteFile(dst, z, 0o644); err != nil {
		return 0, fmt.Errorf("stage module: %w", err)
	}
	return int64(len(z)), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
