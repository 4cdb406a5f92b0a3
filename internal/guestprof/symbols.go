package guestprof

import (
	"bufio"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Table names code addresses: each symbol covers its address up to the next symbol's.
type Table struct {
	addrs []uint64 // sorted
	names []string
	end   uint64 // the first address past the last symbol
}

type symbol struct {
	addr uint64
	name string
}

func newTable(syms []symbol, end uint64) *Table {
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	t := &Table{end: end}
	for _, s := range syms {
		t.addrs = append(t.addrs, s.addr)
		t.names = append(t.names, s.name)
	}
	return t
}

// Lookup names the symbol holding pc, if the table covers it.
func (t *Table) Lookup(pc uint64) (string, bool) {
	if t == nil || len(t.addrs) == 0 || pc < t.addrs[0] || pc >= t.end {
		return "", false
	}
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > pc }) - 1
	return t.names[i], true
}

// Len is the number of symbols.
func (t *Table) Len() int { return len(t.addrs) }

// kernelTextEnd bounds the last kernel symbol: kallsyms gives no sizes, and module code
// lies above the kernel image, in the module mapping space.
const kernelTextEnd = 0xffffffffc0000000

// ParseKallsyms reads /proc/kallsyms text ("ffffffff81000000 T _text" lines) and keeps
// the text symbols of the kernel itself (not the modules'). Lines that are not symbols,
// such as a console's other output around them, are skipped; a table without any symbol,
// or whose addresses are all zero (kptr_restrict hid them), is an error.
func ParseKallsyms(r io.Reader) (*Table, error) {
	var syms []symbol
	zero := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || len(f[0]) != 16 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		if addr == 0 {
			zero++
			continue
		}
		if addr < kernelTextEnd {
			syms = append(syms, symbol{addr, f[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kallsyms: %w", err)
	}
	if len(syms) == 0 {
		if zero > 0 {
			return nil, fmt.Errorf("kallsyms: %d text symbols, all at address 0 (kptr_restrict)", zero)
		}
		return nil, fmt.Errorf("kallsyms: no text symbols")
	}
	return newTable(syms, kernelTextEnd), nil
}

// GoTable reads the function table of the Go executable at path from its pclntab, which a
// binary built with -ldflags=-s keeps.
func GoTable(path string) (*Table, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("go symbols: %w", err)
	}
	defer f.Close()
	text, pcln := f.Section(".text"), f.Section(".gopclntab")
	if text == nil || pcln == nil {
		return nil, fmt.Errorf("go symbols: %s has no .text or .gopclntab section", path)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, fmt.Errorf("go symbols: %s: %w", path, err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("go symbols: %s: %w", path, err)
	}
	if len(tab.Funcs) == 0 {
		return nil, fmt.Errorf("go symbols: %s: no functions in its pclntab", path)
	}
	syms := make([]symbol, 0, len(tab.Funcs))
	for _, fn := range tab.Funcs {
		syms = append(syms, symbol{fn.Entry, fn.Name})
	}
	return newTable(syms, text.Addr+text.Size), nil
}
