package modload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
			if len(words) < 2 {
				errs = append(errs, fmt.Errorf("line %d: options without a module name", no))
				continue
			}
			name := normName(words[1])
			for _, p := range words[2:] {
				params[name] = append(params[name], p)
			}
		case "blacklist":
			if len(words) != 2 {
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

// cmdlineModules extracts module options from a kernel command line:
// "mod.param=val" parameters and the modprobe.blacklist= and
// module_blacklist= comma lists.
func cmdlineModules(line string) (params map[string][]string, blacklist []string) {
	params = map[string][]string{}
	for _, w := range splitQuoted(line) {
		if w == "--" {
			break
		}
		key, val, hasVal := strings.Cut(w, "=")
		if hasVal && (key == "modprobe.blacklist" || key == "module_blacklist") {
			for _, b := range strings.Split(val, ",") {
				if b != "" {
					blacklist = append(blacklist, normName(b))
				}
			}
			continue
		}
		mod, param, ok := strings.Cut(key, ".")
		if !ok || mod == "" || param == "" {
			continue
		}
		p := param
		if hasVal {
			p += "=" + val
		}
		params[normName(mod)] = append(params[normName(mod)], p)
	}
	return params, blacklist
}
