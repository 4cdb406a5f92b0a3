package modload

import "strings"

// normalize maps '-' to '_' outside bracket expressions, so that module
// names and aliases compare the way modprobe compares them.
func normalize(s string) string {
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	b := []byte(s)
	inClass := false
	for i := 0; i < len(b); i++ {
		switch {
		case inClass:
			if b[i] == ']' {
				inClass = false
			}
		case b[i] == '\\':
			i++ // keep the escaped byte as it is
		case b[i] == '[':
			inClass = true
			// a ']' right after '[' or '[!' is a literal member
			if i+1 < len(b) && (b[i+1] == '!' || b[i+1] == '^') {
				i++
			}
			if i+1 < len(b) && b[i+1] == ']' {
				i++
			}
		case b[i] == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// normName normalises a module name: '-' becomes '_' everywhere.
func normName(s string) string {
	return strings.ReplaceAll(s, "-", "_")
}

// literalPrefix returns the part of pattern before its first special
// character ('*', '?', '[' or '\').
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, "*?[\\"); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// fnmatch reports whether s matches the shell pattern with fnmatch(3)
// semantics and no flags: '*' matches any run of bytes (including '/'),
// '?' any single byte, '[...]' a byte class with ranges and '!' or '^'
// negation, '\' escapes the next byte. A '[' without its closing ']'
// matches itself. The match runs in O(len(pattern)*len(s)) time at worst.
func fnmatch(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, -1
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, n, valid := matchClass(pattern[p:], s[i]); valid {
					if ok {
						p += n
						i++
						continue
					}
				} else if s[i] == '[' {
					p++
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) {
					if pattern[p+1] == s[i] {
						p += 2
						i++
						continue
					}
				} else if s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// backtrack: let the last '*' swallow one more byte
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches byte c against the bracket expression at the start of
// pat. It returns whether c is in the class, the length of the expression
// and whether the expression is well formed (has a closing ']').
func matchClass(pat string, c byte) (match bool, n int, valid bool) {
	i := 1
	negate := false
	if i < len(pat) && (pat[i] == '!' || pat[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(pat) {
		lo := pat[i]
		if lo == ']' && !first {
			return match != negate, i + 1, true
		}
		first = false
		if lo == '\\' && i+1 < len(pat) {
			i++
			lo = pat[i]
		}
		i++
		hi := lo
		if i+1 < len(pat) && pat[i] == '-' && pat[i+1] != ']' {
			hi = pat[i+1]
			i += 2
			if hi == '\\' && i < len(pat) {
				hi = pat[i]
				i++
			}
		}
		if lo <= c && c <= hi {
			match = true
		}
	}
	return false, 0, false
}
