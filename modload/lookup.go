package modload

import (
	"math/bits"
	"slices"
	"sort"
	"strings"
)

// The alias table. Patterns are grouped into buckets by their literal
// prefix (the bytes before the first wildcard), and the buckets are sorted
// by prefix. A lookup walks the sorted prefixes one byte of the modalias
// at a time, narrowing the range of prefixes that still agree with it, so
// it only visits the buckets whose prefix is a prefix of the modalias.
//
// Some prefixes are shared by many patterns ("acpi*:PNP0C09:*" has prefix
// "acpi", "of:N*T*Cfoo" has "of:N"). In such a big bucket every pattern
// that has one gets a key gram: gramLen literal bytes that any match must
// contain after the prefix, chosen to be rare within the bucket. Keyed
// patterns come first in the bucket, sorted by gram, and a lookup only
// tries those whose gram occurs in the modalias (a binary search per
// position), then the few unkeyed ones.
const (
	gramLen   = 4
	bigBucket = 16  // buckets with more patterns get key grams
	maxGramAt = 254 // gram offsets are stored in a byte, plus one
)

type aliasTable struct {
	aliases  []aliasEntry // bucket after bucket
	grams    []uint8      // per alias: 1 + offset of its key gram in Pattern, 0 for none
	prefixes []string     // bucket prefixes, sorted, distinct
	starts   []int32      // bucket i is aliases[starts[i]:starts[i+1]]
	keyed    []int32      // aliases[starts[i]:keyed[i]] have grams, sorted by gram
}

// gram returns the key gram of alias i.
func (t *aliasTable) gram(i int) string {
	off := int(t.grams[i]) - 1
	return t.aliases[i].Pattern[off : off+gramLen]
}

// setAliases builds the table from alias facts in any order.
func (t *aliasTable) setAliases(aliases []aliasEntry) {
	type keyed struct {
		prefix string
		gram   uint8
		aliasEntry
	}
	ks := make([]keyed, len(aliases))
	for i, a := range aliases {
		ks[i] = keyed{prefix: literalPrefix(a.Pattern), aliasEntry: a}
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := &ks[i], &ks[j]
		if a.prefix != b.prefix {
			return a.prefix < b.prefix
		}
		if a.Pattern != b.Pattern {
			return a.Pattern < b.Pattern
		}
		return a.Module < b.Module
	})
	ks = slices.Compact(ks)
	*t = aliasTable{aliases: make([]aliasEntry, 0, len(ks)), grams: make([]uint8, 0, len(ks))}
	for start := 0; start < len(ks); {
		end := start + 1
		for end < len(ks) && ks[end].prefix == ks[start].prefix {
			end++
		}
		b := ks[start:end]
		nkeyed := 0
		if len(b) > bigBucket {
			pats := make([]string, len(b))
			for i := range b {
				pats[i] = b[i].Pattern
			}
			for i, g := range chooseGrams(pats, len(b[0].prefix)) {
				b[i].gram = g
				if g != 0 {
					nkeyed++
				}
			}
			gramOf := func(k *keyed) string { return k.Pattern[k.gram-1 : int(k.gram)-1+gramLen] }
			sort.SliceStable(b, func(i, j int) bool {
				x, y := &b[i], &b[j]
				if x.gram == 0 || y.gram == 0 { // keyed first
					return x.gram != 0 && y.gram == 0
				}
				return gramOf(x) < gramOf(y)
			})
		}
		t.prefixes = append(t.prefixes, b[0].prefix)
		t.starts = append(t.starts, int32(len(t.aliases)))
		t.keyed = append(t.keyed, int32(len(t.aliases)+nkeyed))
		for _, k := range b {
			t.aliases = append(t.aliases, k.aliasEntry)
			t.grams = append(t.grams, k.gram)
		}
		start = end
	}
	t.starts = append(t.starts, int32(len(t.aliases)))
}

// chooseGrams picks for each pattern of a bucket (whose literal prefix is
// plen bytes long) the rarest gram of its literal runs after the prefix,
// as 1 + offset, or 0 when it has none.
func chooseGrams(pats []string, plen int) []uint8 {
	cands := make([][]int, len(pats))
	freq := map[string]int{}
	for i, p := range pats {
		seen := map[string]bool{}
		for _, off := range gramOffsets(p, plen) {
			if g := p[off : off+gramLen]; !seen[g] {
				seen[g] = true
				freq[g]++
				cands[i] = append(cands[i], off)
			}
		}
	}
	out := make([]uint8, len(pats))
	for i, p := range pats {
		best := -1
		for _, off := range cands[i] {
			if best < 0 || freq[p[off:off+gramLen]] < freq[p[best:best+gramLen]] {
				best = off
			}
		}
		if best >= 0 {
			out[i] = uint8(best + 1)
		}
	}
	return out
}

// gramOffsets returns the offsets of every gramLen-byte window made only
// of literal bytes in pattern after its first plen bytes.
func gramOffsets(pattern string, plen int) []int {
	var out []int
	run := 0 // length of the literal run ending before i
	for i := plen; i < len(pattern); {
		n := tokenLen(pattern[i:])
		if n != 1 || isSpecial(pattern[i]) {
			run = 0
			i += n
			continue
		}
		run++
		i++
		if start := i - gramLen; run >= gramLen && start <= maxGramAt-1 {
			out = append(out, start)
		}
	}
	return out
}

// match calls fn for the module of every alias matching the normalised
// query q (possibly more than once for the same module).
func (t *aliasTable) match(q string, fn func(module string)) {
	lo, hi := 0, len(t.prefixes)
	for n := 0; lo < hi; n++ {
		if len(t.prefixes[lo]) == n { // exactly q[:n], the least of the range
			t.scan(lo, q, fn)
			lo++
		}
		if n == len(q) || lo >= hi {
			return
		}
		if hi-lo <= 8 {
			// all remaining prefixes start with q[:n]: test them directly
			for b := lo; b < hi; b++ {
				if strings.HasPrefix(q, t.prefixes[b]) {
					t.scan(b, q, fn)
				}
			}
			return
		}
		c := q[n]
		i, j := lo, hi
		for i < j { // first prefix with byte n >= c
			m := int(uint(i+j) >> 1)
			if t.prefixes[m][n] < c {
				i = m + 1
			} else {
				j = m
			}
		}
		lo = i
		j = hi
		for i < j { // first prefix with byte n > c
			m := int(uint(i+j) >> 1)
			if t.prefixes[m][n] <= c {
				i = m + 1
			} else {
				j = m
			}
		}
		hi = i
	}
}

// scan tries the patterns of bucket b against q.
func (t *aliasTable) scan(b int, q string, fn func(module string)) {
	n := len(t.prefixes[b])
	start, keyed, end := int(t.starts[b]), int(t.keyed[b]), int(t.starts[b+1])
	// Equal patterns of several modules sit next to each other: match once.
	lastPat, lastOK := "", false
	try := func(i int) {
		if p := t.aliases[i].Pattern; p != lastPat || lastPat == "" {
			lastPat, lastOK = p, fnmatch(p[n:], q[n:])
		}
		if lastOK {
			fn(t.aliases[i].Module)
		}
	}
	// A gram probe costs a binary search per position of q. When there are
	// few keyed patterns for the length of q, checking each one's gram
	// with strings.Contains is cheaper.
	if k := keyed - start; k > 0 && (len(q)-n)*bits.Len(uint(k)) > 4*k {
		lastGram, found := "", false
		for i := start; i < keyed; i++ {
			if g := t.gram(i); g != lastGram {
				lastGram, found = g, strings.Contains(q[n:], g)
			}
			if found {
				try(i)
			}
		}
	} else if k > 0 {
		for j := n; j+gramLen <= len(q); j++ {
			g := q[j : j+gramLen]
			lo, hi := start, keyed
			for lo < hi {
				m := int(uint(lo+hi) >> 1)
				if t.gram(m) < g {
					lo = m + 1
				} else {
					hi = m
				}
			}
			for i := lo; i < keyed && t.gram(i) == g; i++ {
				try(i)
			}
		}
	}
	for i := keyed; i < end; i++ {
		try(i)
	}
}

// Lookup returns the names of every module (built-in ones included) with an
// alias pattern matching modalias, sorted, or nil.
func (ix *Index) Lookup(modalias string) []string {
	var out []string
	ix.match(normalize(modalias), func(m string) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	})
	slices.Sort(out)
	return out
}

// aliasedModules returns the modules with an alias pattern that starts with prefix.
func (ix *Index) aliasedModules(prefix string) map[string]bool {
	out := map[string]bool{}
	for _, a := range ix.aliases {
		if strings.HasPrefix(a.Pattern, prefix) {
			out[a.Module] = true
		}
	}
	return out
}

// lookupLinear is Lookup trying every pattern, for tests and benchmarks.
func (ix *Index) lookupLinear(modalias string) []string {
	q := normalize(modalias)
	var out []string
	for _, a := range ix.aliases {
		if fnmatch(a.Pattern, q) && !slices.Contains(out, a.Module) {
			out = append(out, a.Module)
		}
	}
	slices.Sort(out)
	return out
}
