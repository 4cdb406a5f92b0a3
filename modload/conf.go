package modload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ParseModprobeConf reads modprobe.d configuration: "options NAME p=v ..."
// lines give module parameters (quoted values keep their blanks, quotes
// removed: `p="a b"` gives "p=a b"), "blacklist NAME" lines give the
// blacklist. Module names are normalised ('-' to '_'). Lines starting with
// '#' are comments, a trailing '\' continues a line, other commands
// (alias, softdep, install, ...) are ignored. Malformed lines are skipped
// and reported together in err; everything else is still returned.
func ParseModprobeConf(r io.Reader) (params map[string][]string, blacklist []string, err error) {
	params = map[string][]string{}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var cont strings.Builder
	no := 0
	for sc.Scan() {
		no++
		line := sc.Text()
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`))
			cont.WriteByte(' ')
			if cont.Len() > maxLine {
				return params, blacklist, fmt.Errorf("line %d: continued line too long", no)
			}
			continue
		}
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		words := splitQuoted(line)
		switch words[0] {
		case "options":
			if len(words) < 2 || words[1] == "" {
				errs = append(errs, fmt.Errorf("line %d: options without a module name", no))
				continue
			}
			name := normName(words[1])
			params[name] = append(params[name], words[2:]...)
		case "blacklist":
			if len(words) != 2 || words[1] == "" {
				errs = append(errs, fmt.Errorf("line %d: want \"blacklist NAME\"", no))
				continue
			}
			blacklist = append(blacklist, normName(words[1]))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", no+1, err))
	}
	return params, blacklist, errors.Join(errs...)
}

// splitQuoted splits s at blanks; double quotes group blanks into a word
// and are removed.
func splitQuoted(s string) []string {
	var out []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// ReadModprobeDirs reads the *.conf files of modprobe.d directories given
// in priority order (e.g. /etc/modprobe.d, /run/modprobe.d,
// /lib/modprobe.d): a file name found in an earlier directory hides the
// same name in later ones, as with modprobe, and the files are read in
// lexical order of their names. Missing directories are skipped; the
// problems of unreadable files and malformed lines are joined in err while
// everything readable is returned.
func ReadModprobeDirs(dirs ...string) (params map[string][]string, blacklist []string, err error) {
	files := map[string]string{} // base name -> path
	var errs []error
	for _, dir := range dirs {
		ents, err := listDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, e := range ents {
			if _, seen := files[e.Name()]; !seen && strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
				files[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	params = map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := files[name]
		data, err := readFileLimit(p, maxTextFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps, bl, err := ParseModprobeConf(bytes.NewReader(data))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		for k, v := range ps {
			params[k] = append(params[k], v...)
		}
		blacklist = append(blacklist, bl...)
	}
	return params, blacklist, errors.Join(errs...)
}

// listDir lists dir in the order the file system gives: os.ReadDir would sort it, and
// ReadModprobeDirs sorts the names it keeps itself, and the init links no os.ReadDir.
func listDir(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}
