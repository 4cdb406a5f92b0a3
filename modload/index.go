package modload

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Module describes one loadable module of the index.
type Module struct {
	Name     string   // normalised with '_' (e.g. "virtio_blk")
	Path     string   // relative to the module dir, e.g. "kernel/drivers/block/virtio_blk.ko" (may end .ko.xz/.ko.zst/.ko.gz)
	Deps     []string // module names of direct+indirect deps in LOAD order (deepest first)
	SoftPre  []string // softdep pre: names or aliases
	SoftPost []string // softdep post: names or aliases
}

// modRec is the stored form of a Module.
type modRec struct {
	name, path string
	deps       []int32 // indexes into Index.mods, in load order
	pre, post  []string
}

// Index answers questions about the modules of one /lib/modules/<kver>
// tree. It is immutable once built and safe for concurrent use.
type Index struct {
	mods    []modRec // sorted by name
	builtin []string // sorted, unique
	aliasTable
	problems []error
}

// rawMod is a module as read from text files or ELF, before indexing.
type rawMod struct {
	name, path string
	deps       []string // normalised names: full closure (text) or direct (ELF)
	soft       softdep
}

// modinfoTreeFunc reads the .modinfo of every module file below a module
// directory (readModinfoTree).
type modinfoTreeFunc func(moddir string) ([]rawMod, []aliasEntry, []error, error)

// build is [Build] with the reader of module files' .modinfo given: nil
// builds from depmod's text files only ([OpenImage]'s fallback, which the
// init's build, without tree.go, has).
func build(moddir string, modinfoTree modinfoTreeFunc) (*Index, error) {
	st, err := os.Stat(moddir)
	if err != nil {
		return nil, fmt.Errorf("build module index: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("build module index: %s is not a directory", moddir)
	}
	builtin, baliases, problems := readBuiltin(moddir)
	var mods []rawMod
	var aliases []aliasEntry
	transitive := false
	if exists(filepath.Join(moddir, "modules.dep")) && exists(filepath.Join(moddir, "modules.alias")) {
		mods, aliases, err = readDepmodFiles(moddir)
		if err == nil {
			transitive = true
		} else {
			problems = append(problems, fmt.Errorf("%w; using .modinfo instead", err))
		}
	}
	if !transitive && modinfoTree == nil {
		err := fmt.Errorf("build module index: no usable modules.dep and modules.alias in %s", moddir)
		if len(problems) > 0 {
			err = fmt.Errorf("%w: %w", err, errors.Join(problems...))
		}
		return nil, err
	}
	if !transitive {
		var perr []error
		mods, aliases, perr, err = modinfoTree(moddir)
		if err != nil {
			return nil, fmt.Errorf("build module index: %w", err)
		}
		problems = append(problems, perr...)
	}
	ix := newIndex(mods, transitive, builtin, append(aliases, baliases...))
	ix.problems = problems
	return ix, nil
}

// Problems returns the non-fatal errors met while building the index, such
// as module files whose .modinfo could not be read.
func (ix *Index) Problems() []error { return slices.Clone(ix.problems) }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readFileLimit reads at most limit bytes of p; a larger file is an error.
func readFileLimit(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var data []byte
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 && st.Size() <= limit {
		// one exact read; ReadAll would grow its buffer step by step
		data = make([]byte, st.Size())
		n, err := io.ReadFull(f, data)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return data[:n], nil // shorter than its size: a sysfs attribute claims a page
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if n, _ := f.Read(make([]byte, 1)); n == 0 {
			return data, nil
		}
		data = nil // the file grew while being read: start again
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, limit)
	}
	return data, nil
}

// parseFile opens moddir/name and runs parse on it. A missing optional file
// yields the zero value and no error.
func parseFile[T any](moddir, name string, optional bool, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	p := filepath.Join(moddir, name)
	data, err := readFileLimit(p, maxTextFile)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return zero, nil
		}
		return zero, err
	}
	v, err := parse(strings.NewReader(string(data)))
	if err != nil {
		return zero, fmt.Errorf("parse %s: %w", p, err)
	}
	return v, nil
}

// readBuiltin reads modules.builtin and modules.builtin.modinfo, both
// optional. Errors are returned as problems: built-in facts are a nicety.
func readBuiltin(moddir string) (names []string, aliases []aliasEntry, problems []error) {
	names, err := parseFile(moddir, "modules.builtin", true, parseBuiltin)
	if err != nil {
		problems = append(problems, err)
	}
	p := filepath.Join(moddir, "modules.builtin.modinfo")
	data, err := readFileLimit(p, maxTextFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		problems = append(problems, err)
	default:
		bi, err := parseBuiltinModinfo(data)
		if err != nil {
			problems = append(problems, fmt.Errorf("parse %s: %w", p, err))
		}
		names = append(names, bi.Names...)
		aliases = bi.Aliases
	}
	return names, aliases, problems
}

// readDepmodFiles reads modules.dep, modules.alias and modules.softdep.
func readDepmodFiles(moddir string) ([]rawMod, []aliasEntry, error) {
	deps, err := parseFile(moddir, "modules.dep", false, parseDep)
	if err != nil {
		return nil, nil, err
	}
	aliases, err := parseFile(moddir, "modules.alias", false, parseAliases)
	if err != nil {
		return nil, nil, err
	}
	soft, err := parseFile(moddir, "modules.softdep", true, parseSoftdep)
	if err != nil {
		return nil, nil, err
	}
	prefix := filepath.Clean(moddir) + "/"
	mods := make([]rawMod, 0, len(deps))
	for _, d := range deps {
		m := rawMod{path: strings.TrimPrefix(d.Path, prefix), name: moduleNameFromPath(d.Path)}
		if m.name == "" {
			continue
		}
		for _, dp := range d.Deps {
			if n := moduleNameFromPath(dp); n != "" {
				m.deps = append(m.deps, n)
			}
		}
		m.soft = soft[m.name]
		mods = append(mods, m)
	}
	return mods, aliases, nil
}

// newIndex builds the lookup structures. deps of each rawMod are the full
// closure when transitive, else direct dependencies.
func newIndex(raw []rawMod, transitive bool, builtin []string, aliases []aliasEntry) *Index {
	sort.SliceStable(raw, func(i, j int) bool { return raw[i].name < raw[j].name })
	raw = slices.CompactFunc(raw, func(a, b rawMod) bool { return a.name == b.name })
	ix := &Index{mods: make([]modRec, len(raw))}
	byName := make(map[string]int32, len(raw))
	for i, m := range raw {
		byName[m.name] = int32(i)
	}
	direct := make([][]int32, len(raw))
	for i, m := range raw {
		for _, d := range m.deps {
			if j, ok := byName[d]; ok && j != int32(i) && !slices.Contains(direct[i], j) {
				direct[i] = append(direct[i], j)
			}
		}
	}
	sets := direct
	if !transitive {
		sets = closures(direct)
	}
	depth := depths(sets)
	for i, m := range raw {
		deps := slices.Clone(sets[i])
		sort.Slice(deps, func(i, j int) bool {
			a, b := deps[i], deps[j]
			if depth[a] != depth[b] {
				return depth[a] < depth[b]
			}
			return a < b // same order as names: mods are sorted
		})
		ix.mods[i] = modRec{name: m.name, path: m.path, deps: deps, pre: m.soft.Pre, post: m.soft.Post}
	}
	slices.Sort(builtin)
	ix.builtin = slices.Compact(builtin)
	ix.setAliases(aliases)
	ix.addMissingSoftdeps()
	return ix
}

// closures expands direct dependencies into full closures.
func closures(direct [][]int32) [][]int32 {
	out := make([][]int32, len(direct))
	mark := make([]int, len(direct))
	for i := range direct {
		stamp := i + 1
		mark[i] = stamp
		stack := slices.Clone(direct[i])
		var set []int32
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if mark[j] == stamp {
				continue
			}
			mark[j] = stamp
			set = append(set, j)
			stack = append(stack, direct[j]...)
		}
		out[i] = set
	}
	return out
}

// depths returns, for each module, 0 when it has no dependencies, else one
// more than its deepest dependency. Cycles (which depmod never writes) are
// cut where they are found.
func depths(sets [][]int32) []int {
	depth := make([]int, len(sets))
	state := make([]byte, len(sets)) // 0 new, 1 in progress, 2 done
	var visit func(i int32) int
	visit = func(i int32) int {
		switch state[i] {
		case 1:
			return -1
		case 2:
			return depth[i]
		}
		state[i] = 1
		d := 0
		for _, j := range sets[i] {
			if dj := visit(j); dj >= 0 && dj+1 > d {
				d = dj + 1
			}
		}
		state[i], depth[i] = 2, d
		return d
	}
	for i := range sets {
		visit(int32(i))
	}
	return depth
}

// find returns the position of module name in ix.mods.
func (ix *Index) find(name string) (int, bool) {
	return slices.BinarySearchFunc(ix.mods, normName(name), func(m modRec, n string) int { return cmp.Compare(m.name, n) })
}

// Module returns the module called name ('-' and '_' are equivalent).
func (ix *Index) Module(name string) (Module, bool) {
	i, ok := ix.find(name)
	if !ok {
		return Module{}, false
	}
	m := ix.mods[i]
	deps := make([]string, len(m.deps))
	for k, d := range m.deps {
		deps[k] = ix.mods[d].name
	}
	return Module{Name: m.name, Path: m.path, Deps: deps, SoftPre: slices.Clone(m.pre), SoftPost: slices.Clone(m.post)}, true
}

// Modules returns the names of all loadable modules, sorted.
func (ix *Index) Modules() []string {
	out := make([]string, len(ix.mods))
	for i, m := range ix.mods {
		out[i] = m.name
	}
	return out
}

// Builtin reports whether name is built into the kernel.
func (ix *Index) Builtin(name string) bool {
	_, ok := slices.BinarySearch(ix.builtin, normName(name))
	return ok
}

// Resolve turns a module name or an alias ("ext4", "fs-ext4",
// "crypto-crc32c") into module names: the name itself when it is a module
// or built in, else every module with a matching alias.
func (ix *Index) Resolve(nameOrAlias string) []string {
	n := normName(nameOrAlias)
	if _, ok := ix.find(n); ok || ix.Builtin(n) {
		return []string{n}
	}
	return ix.Lookup(nameOrAlias)
}

// Closure returns the loadable modules needed to load names (module names
// or aliases): the modules themselves, their dependencies and their soft
// dependencies, recursively, sorted. Built-in and unknown names are left
// out. The image generator copies these files.
func (ix *Index) Closure(names []string) []string {
	seen := map[string]bool{}
	var out []string
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		i, ok := ix.find(name)
		if !ok {
			return
		}
		m := ix.mods[i]
		out = append(out, m.name)
		for _, d := range m.deps {
			visit(ix.mods[d].name)
		}
		for _, s := range slices.Concat(m.pre, m.post) {
			for _, r := range ix.Resolve(s) {
				visit(r)
			}
		}
	}
	for _, n := range names {
		for _, r := range ix.Resolve(n) {
			visit(r)
		}
	}
	slices.Sort(out)
	return out
}

// Subset returns an index of only the named modules (names as Closure
// returns them) plus every built-in, for an image that carries only those
// module files: aliases of the other modules are dropped, so a device
// they would serve finds no module instead of a missing file. moved gives the
// path a module has in that image when it differs from the tree's (its
// compression changed); nil when none does.
func (ix *Index) Subset(names []string, moved map[string]string) *Index {
	keep := map[string]bool{}
	for _, n := range names {
		keep[normName(n)] = true
	}
	var raw []rawMod
	for _, m := range ix.mods {
		if !keep[m.name] {
			continue
		}
		p := m.path
		if q, ok := moved[m.name]; ok {
			p = q
		}
		r := rawMod{name: m.name, path: p, soft: softdep{Pre: slices.Clone(m.pre), Post: slices.Clone(m.post)}}
		for _, d := range m.deps {
			r.deps = append(r.deps, ix.mods[d].name)
		}
		raw = append(raw, r)
	}
	var aliases []aliasEntry
	for _, a := range ix.aliases {
		if keep[a.Module] || ix.Builtin(a.Module) {
			aliases = append(aliases, a)
		}
	}
	return newIndex(raw, true, slices.Clone(ix.builtin), aliases)
}
