package modload

import "strings"

// normalize maps '-' to '_' outside bracket expressions, so that module
// names and aliases compare the way modprobe compares them.
func normalize(s string) string {
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b); {
		n := tokenLen(s[i:])
		if n == 1 && b[i] == '-' {
			b[i] = '_'
		}
		i += n
	}
	return string(b)
}

// normName normalises a module name: '-' becomes '_' everywhere.
func normName(s string) string {
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "-", "_")
}

// isSpecial reports whether c starts a pattern token other than a literal.
func isSpecial(c byte) bool { return c == '*' || c == '?' || c == '[' || c == '\\' }

// literalPrefix returns the part of pattern before its first special
// character ('*', '?', '[' or '\').
func literalPrefix(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if isSpecial(pattern[i]) {
			return pattern[:i]
		}
	}
	return pattern
}

// tokenLen returns the length of the pattern token at the start of p (p
// not empty): a bracket expression, an escaped byte, or one byte. Every
// token but '*' matches exactly one byte.
func tokenLen(p string) int {
	switch p[0] {
	case '\\':
		if len(p) > 1 {
			return 2
		}
	case '[':
		if n := classLen(p); n > 0 {
			return n
		}
	}
	return 1
}

// classLen returns the length of the bracket expression at the start of p,
// or 0 when it has no closing ']' (then '[' is a literal). A ']' first in
// the list (after an optional '!' or '^') is a member; '\' escapes.
func classLen(p string) int {
	i := 1
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		i++
	}
	for first := true; i < len(p); first = false {
		switch {
		case p[i] == ']' && !first:
			return i + 1
		case p[i] == '\\' && i+1 < len(p):
			i += 2
		default:
			i++
		}
	}
	return 0
}

// matchToken reports whether the token tok (see tokenLen; not '*') matches
// byte c.
func matchToken(tok string, c byte) bool {
	switch {
	case tok == "?":
		return true
	case len(tok) == 2 && tok[0] == '\\':
		return tok[1] == c
	case len(tok) > 2 && tok[0] == '[':
		return matchClass(tok, c)
	}
	return tok[0] == c
}

// matchClass matches c against a well-formed bracket expression.
func matchClass(cls string, c byte) bool {
	body := cls[1 : len(cls)-1]
	negate := false
	if body[0] == '!' || body[0] == '^' {
		negate, body = true, body[1:]
	}
	match := false
	for i := 0; i < len(body); {
		lo := body[i]
		if lo == '\\' && i+1 < len(body) {
			i++
			lo = body[i]
		}
		i++
		hi := lo
		if i+1 < len(body) && body[i] == '-' {
			hi = body[i+1]
			i += 2
			if hi == '\\' && i < len(body) {
				hi = body[i]
				i++
			}
		}
		if lo <= c && c <= hi {
			match = true
		}
	}
	return match != negate
}

// fnmatch reports whether s matches pattern with fnmatch(3) semantics and
// no flags: '*' matches any run of bytes ('/' and leading '.' are not
// special), '?' any byte, '[...]' a byte class with ranges and '!' or '^'
// negation, '\' escapes the next byte. A '[' without a closing ']' matches
// itself. POSIX classes such as [:alpha:] are not supported.
//
// The pattern is cut at its stars into chunks; each chunk matches a fixed
// number of bytes, so the chunks can be placed leftmost one after the
// other (with strings.Index for literal chunks), the last one at the end.
func fnmatch(pattern, s string) bool {
	p := pattern
	for p != "" && p[0] != '*' {
		if s == "" {
			return false
		}
		if !isSpecial(p[0]) { // fast path for literal bytes
			if p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
			continue
		}
		n := tokenLen(p)
		if !matchToken(p[:n], s[0]) {
			return false
		}
		p, s = p[n:], s[1:]
	}
	if p == "" {
		return s == ""
	}
	for {
		for p != "" && p[0] == '*' {
			p = p[1:]
		}
		if p == "" {
			return true
		}
		chunk, rest, width, literal := nextChunk(p)
		if width > len(s) {
			return false
		}
		if rest == "" {
			return matchChunk(chunk, s[len(s)-width:], literal)
		}
		i := findChunk(chunk, s, width, literal)
		if i < 0 {
			return false
		}
		p, s = rest, s[i+width:]
	}
}

// nextChunk splits p (not starting with '*') at its next star. width is
// the number of bytes chunk matches; literal is set when chunk is plain
// bytes.
func nextChunk(p string) (chunk, rest string, width int, literal bool) {
	literal = true
	i := 0
	for i < len(p) && p[i] != '*' {
		if isSpecial(p[i]) {
			literal = false
		}
		i += tokenLen(p[i:])
		width++
	}
	return p[:i], p[i:], width, literal
}

// matchChunk reports whether chunk matches all of s (len(s) == width).
func matchChunk(chunk, s string, literal bool) bool {
	if literal {
		return chunk == s
	}
	for i := 0; chunk != ""; i++ {
		if !isSpecial(chunk[0]) {
			if chunk[0] != s[i] {
				return false
			}
			chunk = chunk[1:]
			continue
		}
		n := tokenLen(chunk)
		if !matchToken(chunk[:n], s[i]) {
			return false
		}
		chunk = chunk[n:]
	}
	return true
}

// findChunk returns the leftmost position where chunk matches in s.
func findChunk(chunk, s string, width int, literal bool) int {
	if literal {
		return strings.Index(s, chunk)
	}
	lead := byte(0)
	hasLead := !isSpecial(chunk[0])
	if hasLead {
		lead = chunk[0]
	}
	for i := 0; i+width <= len(s); i++ {
		if hasLead {
			j := strings.IndexByte(s[i:], lead)
			if j < 0 {
				return -1
			}
			if i += j; i+width > len(s) {
				return -1
			}
		}
		if matchChunk(chunk, s[i:i+width], false) {
			return i
		}
	}
	return -1
}
