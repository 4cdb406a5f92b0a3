package modload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unsafe"
)

// IndexFile is the name of the compact index inside a module directory.
const IndexFile = "modules.earlyroot"

// The compact index file is:
//
//	magic   "ERMODIDX"
//	version uint32 little endian (indexVersion)
//	crc     uint32 little endian, CRC-32 (IEEE) of the body
//	body:
//	  uvarint module count, then per module (sorted by name):
//	    str name, str path, uvarint dep count, uvarint module number per dep
//	    (load order), uvarint count + str per softdep pre:, same for post:
//	  uvarint built-in count, str per name (sorted)
//	  uvarint extra name count, str per name
//	  uvarint alias count, uvarint bucket count, then per bucket (sorted by literal prefix):
//	    uvarint prefix length (a prefix of the bucket's first pattern),
//	    uvarint keyed alias count, uvarint alias count, then per alias:
//	      uvarint module number (modules, then built-ins, then extra
//	      names), str pattern, and for keyed ones a byte: 1 + offset of
//	      the key gram (see aliasTable)
//
// The buckets are stored in the order Lookup needs them, so reading the
// file does no sorting and no hashing.
//
// where str is a uvarint length followed by that many bytes.
const (
	indexMagic   = "ERMODIDX"
	indexVersion = 1
	headerSize   = len(indexMagic) + 8
)

// WriteFile writes the index in the compact format to the file p, atomically
// (a temporary file renamed into place).
func (ix *Index) WriteFile(p string) error {
	data := ix.marshal()
	tmp, err := os.CreateTemp(filepath.Dir(p), ".modules.earlyroot-*")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write index %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write index %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write index %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

func (ix *Index) marshal() []byte {
	b := make([]byte, headerSize, 1<<20)
	copy(b, indexMagic)
	binary.LittleEndian.PutUint32(b[8:], indexVersion)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	strs := func(list []string) {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, s := range list {
			str(s)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ix.mods)))
	for _, m := range ix.mods {
		str(m.name)
		str(m.path)
		b = binary.AppendUvarint(b, uint64(len(m.deps)))
		for _, d := range m.deps {
			b = binary.AppendUvarint(b, uint64(d))
		}
		strs(m.pre)
		strs(m.post)
	}
	strs(ix.builtin)
	refs, extra := ix.moduleRefs()
	strs(extra)
	b = binary.AppendUvarint(b, uint64(len(ix.aliases)))
	b = binary.AppendUvarint(b, uint64(len(ix.prefixes)))
	for k, p := range ix.prefixes {
		start, keyed, end := ix.starts[k], ix.keyed[k], ix.starts[k+1]
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = binary.AppendUvarint(b, uint64(keyed-start))
		b = binary.AppendUvarint(b, uint64(end-start))
		for i := start; i < end; i++ {
			b = binary.AppendUvarint(b, uint64(refs[ix.aliases[i].Module]))
			str(ix.aliases[i].Pattern)
			if i < keyed {
				b = append(b, ix.grams[i])
			}
		}
	}
	binary.LittleEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[headerSize:]))
	return b
}

// OpenImage is [Open] for the init: when modules.earlyroot (which
// mkinitramfs always writes) is missing or corrupt, it builds the index
// from depmod's text files only, never from the module files themselves
// (the init's build has no reader of them: tree.go).
func OpenImage(moddir string) (*Index, error) {
	return open(moddir, func(dir string) (*Index, error) { return build(dir, nil) })
}

func open(moddir string, build func(string) (*Index, error)) (*Index, error) {
	p := filepath.Join(moddir, IndexFile)
	ix, err := ReadIndexFile(p)
	if err == nil {
		return ix, nil
	}
	bix, berr := build(moddir)
	if berr != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, berr
		}
		return nil, fmt.Errorf("%w; %w", err, berr)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		bix.problems = append([]error{fmt.Errorf("%w; built the index instead", err)}, bix.problems...)
	}
	return bix, nil
}

// ReadIndexFile reads a compact index written by [Index.WriteFile]. A file
// that is not sound gives an error.
func ReadIndexFile(p string) (*Index, error) {
	data, err := readFileLimit(p, maxIndexFile)
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	ix, err := unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", p, err)
	}
	return ix, nil
}

var errCorrupt = errors.New("corrupt index")

// decoder reads the body of an index file; s shares one allocation so
// strings are not copied one by one. The first error sticks.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if i >= len(d.s) {
			d.fail("truncated number")
			return 0
		}
		c := d.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.fail("number too long")
	return 0
}

// count reads a count of items each at least min bytes long.
func (d *decoder) count(what string, min int) int {
	n := d.uvarint()
	if n > uint64(len(d.s)/min) {
		d.fail("%s count %d exceeds the file", what, n)
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.fail("string of %d bytes exceeds the file", n)
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count("string", 1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func unmarshal(data []byte) (*Index, error) {
	if len(data) < headerSize || string(data[:len(indexMagic)]) != indexMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != indexVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errCorrupt, v, indexVersion)
	}
	if crc := binary.LittleEndian.Uint32(data[12:]); crc != crc32.ChecksumIEEE(data[headerSize:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	// The strings of the index share data, which nothing writes to again.
	body := data[headerSize:]
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty", errCorrupt)
	}
	d := &decoder{s: unsafe.String(&body[0], len(body))}
	ix := &Index{}
	ix.mods = make([]modRec, d.count("module", 7)) // name, path, 3 counts
	var arena []int32
	for i := range ix.mods {
		m := &ix.mods[i]
		m.name, m.path = d.str(), d.str()
		if m.name == "" || !validPath(m.path) || (i > 0 && ix.mods[i-1].name >= m.name) {
			d.fail("module %d: bad or unsorted name or path", i)
		}
		nd := d.count("dependency", 1)
		if cap(arena)-len(arena) < nd {
			arena = make([]int32, 0, max(nd, 4096))
		}
		for range nd {
			dep := d.uvarint()
			if dep >= uint64(len(ix.mods)) || dep == uint64(i) {
				d.fail("module %s: dependency %d out of range", m.name, dep)
			}
			arena = append(arena, int32(dep))
		}
		m.deps = arena[len(arena)-nd : len(arena) : len(arena)]
		m.pre, m.post = d.strs(), d.strs()
	}
	ix.builtin = d.strs()
	for i := 1; i < len(ix.builtin) && d.err == nil; i++ {
		if ix.builtin[i-1] >= ix.builtin[i] {
			d.fail("built-in names not sorted")
		}
	}
	names := make([]string, 0, len(ix.mods)+len(ix.builtin))
	for _, m := range ix.mods {
		names = append(names, m.name)
	}
	names = append(append(names, ix.builtin...), d.strs()...)
	d.aliases(&ix.aliasTable, names)
	if d.err == nil && len(d.s) != 0 {
		d.fail("%d trailing bytes", len(d.s))
	}
	if d.err != nil {
		return nil, d.err
	}
	return ix, nil
}

// validPath reports whether p is a clean relative path inside the module
// directory.
func validPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}

// moduleRefs numbers the module names aliases refer to: modules, then
// built-ins, then the extra names returned (aliases of modules that are
// neither, which a hand-made modules.alias may hold).
func (ix *Index) moduleRefs() (map[string]int, []string) {
	refs := make(map[string]int, len(ix.mods)+len(ix.builtin))
	for i, m := range ix.mods {
		refs[m.name] = i
	}
	for i, n := range ix.builtin {
		if _, ok := refs[n]; !ok {
			refs[n] = len(ix.mods) + i
		}
	}
	var extra []string
	for _, a := range ix.aliases {
		if _, ok := refs[a.Module]; !ok {
			refs[a.Module] = len(ix.mods) + len(ix.builtin) + len(extra)
			extra = append(extra, a.Module)
		}
	}
	return refs, extra
}

// aliases decodes the alias table, checking everything Lookup relies on:
// sorted distinct prefixes, patterns starting with their bucket prefix,
// grams inside literal bytes after it and sorted.
func (d *decoder) aliases(t *aliasTable, names []string) {
	total := d.count("alias", 2)
	nb := d.count("bucket", 4)
	t.prefixes = make([]string, 0, nb)
	t.starts = make([]int32, 0, nb+1)
	t.keyed = make([]int32, 0, nb)
	t.aliases = make([]aliasEntry, 0, total)
	t.grams = make([]uint8, 0, total)
	for k := 0; k < nb && d.err == nil; k++ {
		plen, nkeyed, n := d.uvarint(), d.uvarint(), d.uvarint()
		if n == 0 || nkeyed > n || n > uint64(len(d.s)/2) {
			d.fail("bucket %d: bad counts", k)
			return
		}
		start := len(t.aliases)
		t.starts = append(t.starts, int32(start))
		t.keyed = append(t.keyed, int32(start+int(nkeyed)))
		var prefix string
		for i := 0; i < int(n) && d.err == nil; i++ {
			ref := d.uvarint()
			pat := d.str()
			if ref >= uint64(len(names)) {
				d.fail("alias %q: module %d out of range", pat, ref)
				return
			}
			if i == 0 {
				if plen > uint64(len(pat)) {
					d.fail("bucket %d: prefix longer than pattern", k)
					return
				}
				prefix = pat[:plen]
				if k > 0 && t.prefixes[k-1] >= prefix {
					d.fail("bucket %d: prefixes not sorted", k)
					return
				}
				t.prefixes = append(t.prefixes, prefix)
			} else if !strings.HasPrefix(pat, prefix) {
				d.fail("alias %q: not in bucket %q", pat, prefix)
				return
			}
			g := uint8(0)
			if i < int(nkeyed) {
				if d.s == "" {
					d.fail("truncated gram")
					return
				}
				g, d.s = d.s[0], d.s[1:]
				if g == 0 || int(g)-1 < len(prefix) || int(g)-1+gramLen > len(pat) {
					d.fail("alias %q: bad gram offset %d", pat, g)
					return
				}
			}
			t.aliases = append(t.aliases, aliasEntry{Pattern: pat, Module: names[ref]})
			t.grams = append(t.grams, g)
			if i > 0 && i < int(nkeyed) && t.gram(len(t.aliases)-2) > t.gram(len(t.aliases)-1) {
				d.fail("bucket %q: grams not sorted", prefix)
				return
			}
		}
	}
	if d.err == nil && len(t.aliases) != total {
		d.fail("%d aliases, header says %d", len(t.aliases), total)
	}
	t.starts = append(t.starts, int32(len(t.aliases)))
}
