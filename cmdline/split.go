package cmdline

import "strings"

// Param is one word of a kernel command line, split the way the kernel's
// next_arg() does it.
type Param struct {
	Name     string // text before the first '=' (whole word when HasValue is false)
	Value    string // text after the first '=', surrounding quotes removed
	HasValue bool   // the word contained '=' (after its first byte)
}

// String joins the parameter back together the way the kernel hands it to
// init ("name=value", quotes already removed).
func (p Param) String() string {
	if !p.HasValue {
		return p.Name
	}
	return p.Name + "=" + p.Value
}

// isSpace reports whether b separates words. Only ASCII whitespace counts
// (the kernel also treats Latin-1 0xA0 as a space, which would break UTF-8
// text); NUL is treated as a space so that NUL-separated input is usable.
func isSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0:
		return true
	}
	return false
}

func skipSpaces(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

// Params splits line into parameters exactly like the kernel's next_arg():
//
//   - words are separated by whitespace outside double quotes;
//   - a word starting with '"' has that quote and a final '"' removed;
//   - the name ends at the first '=' (an '=' as the very first byte does not
//     count, as in the kernel);
//   - a value starting with '"' has that quote and a final '"' removed;
//   - quotes anywhere else are kept; an unterminated quote runs to the end.
func Params(line string) []Param {
	var out []Param
	rest := skipSpaces(line)
	for rest != "" {
		var p Param
		p, rest = nextParam(rest)
		out = append(out, p)
	}
	return out
}

// nextParam parses one word from s (which starts with a non-space byte) and
// returns it with the remaining text, leading spaces skipped.
func nextParam(s string) (Param, string) {
	quoted := false
	if s[0] == '"' {
		s = s[1:]
		quoted = true
	}
	inQuote := quoted
	equals := 0 // 0 means "no '='", as in the kernel
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if isSpace(c) && !inQuote {
			break
		}
		if equals == 0 && c == '=' {
			equals = i
		}
		if c == '"' {
			inQuote = !inQuote
		}
	}
	word := s[:i]
	rest := skipSpaces(s[i:])

	// lastQuote tracks whether the word's final byte is still a '"' that
	// has not been consumed by the value-quote rule.
	lastQuote := i > 0 && word[i-1] == '"'
	var p Param
	if equals == 0 {
		p.Name = word
		if quoted && lastQuote {
			p.Name = word[:i-1]
		}
		return p, rest
	}
	p.HasValue = true
	p.Name = word[:equals]
	val := word[equals+1:]
	if strings.HasPrefix(val, `"`) {
		val = val[1:]
		if lastQuote && val != "" {
			val = val[:len(val)-1]
		}
		lastQuote = false
	}
	if quoted && lastQuote && val != "" {
		val = val[:len(val)-1]
	}
	p.Value = val
	return p, rest
}

// Split splits a kernel command line into words with the kernel's quoting
// rules (see Params) and returns each as "name" or "name=value" with the
// quotes removed, which is how the kernel passes them to init.
func Split(line string) []string {
	ps := Params(line)
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
