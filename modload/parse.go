package modload

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits that keep hostile input from exhausting memory.
const (
	maxLine      = 64 << 10  // longest accepted line in a text index
	maxTextFile  = 64 << 20  // largest text index file read
	maxModinfo   = 1 << 20   // largest .modinfo section read
	maxModule    = 256 << 20 // largest decompressed module image
	maxIndexFile = 16 << 20  // largest modules.earlyroot read (far above a full distribution tree's)
)

// aliasEntry is one "alias PATTERN MODULE" fact. Pattern is normalised.
type aliasEntry struct {
	Pattern string
	Module  string
}

// softdep is the soft dependencies of one module.
type softdep struct {
	Pre, Post []string
}

// lines calls fn for each line of r with comments and surrounding space
// removed; empty lines are skipped. Over-long lines are an error.
func lines(r io.Reader, fn func(no int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	no := 0
	for sc.Scan() {
		no++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := fn(no, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", no+1, err)
	}
	return nil
}

// parseAliases reads depmod's modules.alias ("alias PATTERN MODULE").
func parseAliases(r io.Reader) ([]aliasEntry, error) {
	var out []aliasEntry
	err := lines(r, func(no int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("line %d: want \"alias PATTERN MODULE\"", no)
		}
		out = append(out, aliasEntry{Pattern: normalize(f[1]), Module: normName(f[2])})
		return nil
	})
	return out, err
}

// depLine is one modules.dep line: a module path and its dependency paths.
type depLine struct {
	Path string
	Deps []string
}

// parseDep reads depmod's modules.dep ("PATH: DEP DEP ...").
func parseDep(r io.Reader) ([]depLine, error) {
	var out []depLine
	err := lines(r, func(no int, line string) error {
		p, rest, ok := strings.Cut(line, ":")
		p = strings.TrimSpace(p)
		if !ok || p == "" {
			return fmt.Errorf("line %d: want \"PATH: DEPS\"", no)
		}
		d := depLine{Path: p}
		d.Deps = append(d.Deps, strings.Fields(rest)...)
		out = append(out, d)
		return nil
	})
	return out, err
}

// parseSoftdep reads modules.softdep / modprobe.d style lines
// "softdep MODULE pre: A B post: C". Words before any pre: or post: are
// ignored, as modprobe does.
func parseSoftdep(r io.Reader) (map[string]softdep, error) {
	out := map[string]softdep{}
	err := lines(r, func(no int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("line %d: want \"softdep MODULE pre: ... post: ...\"", no)
		}
		name := normName(f[1])
		sd := out[name]
		addSoftdep(&sd, f[2:])
		out[name] = sd
		return nil
	})
	return out, err
}

// addSoftdep appends the pre:/post: words of a softdep value to sd.
func addSoftdep(sd *softdep, words []string) {
	mode := 0
	for _, w := range words {
		switch w {
		case "pre:":
			mode = 1
		case "post:":
			mode = 2
		default:
			if mode == 1 {
				sd.Pre = appendUnique(sd.Pre, w)
			} else if mode == 2 {
				sd.Post = appendUnique(sd.Post, w)
			}
		}
	}
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// parseBuiltin reads modules.builtin (one module path a line) and returns
// the normalised module names.
func parseBuiltin(r io.Reader) ([]string, error) {
	var out []string
	err := lines(r, func(no int, line string) error {
		if strings.ContainsAny(line, " \t") {
			return fmt.Errorf("line %d: want one module path", no)
		}
		name := moduleNameFromPath(line)
		if name == "" {
			return fmt.Errorf("line %d: no module name in %q", no, line)
		}
		out = append(out, name)
		return nil
	})
	return out, err
}

// builtinInfo is what modules.builtin.modinfo says: built-in module names
// and their aliases.
type builtinInfo struct {
	Names   []string
	Aliases []aliasEntry
}

// parseBuiltinModinfo reads modules.builtin.modinfo: NUL-separated
// "module.key=value" records.
func parseBuiltinModinfo(data []byte) (builtinInfo, error) {
	var bi builtinInfo
	seen := map[string]bool{}
	for rec := range bytes.SplitSeq(data, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		kv := string(rec)
		dot := strings.IndexByte(kv, '.')
		eq := strings.IndexByte(kv, '=')
		if dot <= 0 || eq < dot+2 {
			return bi, fmt.Errorf("builtin modinfo record %q: want module.key=value", truncate(kv))
		}
		name := normName(kv[:dot])
		if !seen[name] {
			seen[name] = true
			bi.Names = append(bi.Names, name)
		}
		if kv[dot+1:eq] == "alias" && eq+1 < len(kv) {
			bi.Aliases = append(bi.Aliases, aliasEntry{Pattern: normalize(kv[eq+1:]), Module: name})
		}
	}
	return bi, nil
}

// modinfo is what a module's .modinfo section says.
type modinfo struct {
	Name     string
	Aliases  []string // normalised patterns
	Depends  []string // normalised module names
	Soft     softdep
	Firmware []string // firmware file names, in section order
}

// parseModinfo parses the NUL-separated key=value strings of a .modinfo
// section.
func parseModinfo(data []byte) (modinfo, error) {
	var mi modinfo
	for rec := range bytes.SplitSeq(data, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		key, val, ok := strings.Cut(string(rec), "=")
		if !ok {
			return mi, fmt.Errorf("modinfo record %q: no '='", truncate(string(rec)))
		}
		switch key {
		case "name":
			mi.Name = normName(val)
		case "alias":
			if val != "" {
				mi.Aliases = append(mi.Aliases, normalize(val))
			}
		case "depends":
			for _, d := range strings.Split(val, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.Depends = append(mi.Depends, normName(d))
				}
			}
		case "softdep":
			addSoftdep(&mi.Soft, strings.Fields(val))
		case "firmware":
			if val != "" {
				mi.Firmware = append(mi.Firmware, val)
			}
		}
	}
	return mi, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// moduleNameFromPath turns "kernel/fs/ext4/ext4.ko.xz" into "ext4".
func moduleNameFromPath(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(base, ext) {
			return normName(strings.TrimSuffix(base, ext))
		}
	}
	return ""
}
