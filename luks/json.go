package luks

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The LUKS2 metadata is JSON (RFC 8259). This file holds the package's own
// reader of it: a strict parser into a small tree, and typed accessors that
// name the member at fault. It replaces encoding/json, whose reflection
// cost the init binary more than the whole of this package.

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

var jsonKindNames = [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}

func (k jsonKind) String() string { return jsonKindNames[k] }

// jsonValue is one parsed JSON value.
type jsonValue struct {
	kind    jsonKind
	text    string       // string contents (unescaped), number text, or "true"/"false"
	items   []jsonValue  // array elements
	members []jsonMember // object members in document order
}

type jsonMember struct {
	key   string
	value jsonValue
}

// maxJSONDepth bounds nesting; LUKS2 metadata nests five levels deep.
const maxJSONDepth = 32

var errJSONDepth = errors.New("JSON nested too deeply")

// parseJSON parses one JSON text: a value between optional white space.
func parseJSON(b []byte) (jsonValue, error) {
	p := jsonParser{b: b}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return jsonValue{}, err
	}
	p.space()
	if p.i != len(p.b) {
		return jsonValue{}, p.errorf("data after the top-level value")
	}
	return v, nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (jsonValue, error) {
	if depth > maxJSONDepth {
		return jsonValue{}, errJSONDepth
	}
	if p.i >= len(p.b) {
		return jsonValue{}, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return jsonValue{kind: jsonString, text: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range []struct {
		word string
		v    jsonValue
	}{{"true", jsonValue{kind: jsonBool, text: "true"}}, {"false", jsonValue{kind: jsonBool, text: "false"}}, {"null", jsonValue{}}} {
		if len(p.b)-p.i >= len(lit.word) && string(p.b[p.i:p.i+len(lit.word)]) == lit.word {
			p.i += len(lit.word)
			return lit.v, nil
		}
	}
	return jsonValue{}, p.errorf("unexpected %q", p.b[p.i])
}

func (p *jsonParser) object(depth int) (jsonValue, error) {
	v := jsonValue{kind: jsonObject}
	p.i++ // '{'
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		if p.i >= len(p.b) {
			return jsonValue{}, p.errorf("unexpected end")
		}
		if p.b[p.i] != '"' {
			return jsonValue{}, p.errorf("want a member name")
		}
		key, err := p.str()
		if err != nil {
			return jsonValue{}, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return jsonValue{}, p.errorf("want ':' after member %q", key)
		}
		p.i++
		p.space()
		m, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		v.members = append(v.members, jsonMember{key, m})
		if done, err := p.next('}'); err != nil || done {
			return v, err
		}
	}
}

func (p *jsonParser) array(depth int) (jsonValue, error) {
	v := jsonValue{kind: jsonArray}
	p.i++ // '['
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		v.items = append(v.items, e)
		if done, err := p.next(']'); err != nil || done {
			return v, err
		}
	}
}

// next consumes the ',' between elements or the closing byte, reporting
// whether it was the closing one.
func (p *jsonParser) next(closing byte) (bool, error) {
	p.space()
	if p.i >= len(p.b) {
		return false, p.errorf("unexpected end")
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.errorf("want ',' or %q", closing)
}

// number checks the JSON number grammar and keeps its text.
func (p *jsonParser) number() (jsonValue, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return jsonValue{}, p.errorf("bad number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return jsonValue{}, p.errorf("bad number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return jsonValue{}, p.errorf("bad number")
		}
	}
	return jsonValue{kind: jsonNumber, text: string(p.b[start:p.i])}, nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// str reads a string at p.i (on its opening quote) and returns it unescaped;
// an escaped lone surrogate becomes U+FFFD, as encoding/json makes it.
func (p *jsonParser) str() (string, error) {
	p.i++ // '"'
	var out []byte
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			if out == nil {
				s := string(p.b[start:p.i])
				p.i++
				return s, nil
			}
			out = append(out, p.b[start:p.i]...)
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c != '\\':
			p.i++
			continue
		}
		out = append(out, p.b[start:p.i]...)
		if p.i+1 >= len(p.b) {
			return "", p.errorf("unexpected end")
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("bad \\u escape")
			}
			if r >= 0xD800 && r < 0xDC00 {
				// a high surrogate: combined with a following low one, else U+FFFD
				save := p.i
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					if lo, ok := p.hex4(); ok && lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					} else {
						p.i, r = save, utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", p.errorf("bad escape \\%c", e)
		}
		start = p.i
	}
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}

// Typed access. Each accessor takes the member's name for its errors; a
// member that is absent or null gives the zero value, as in encoding/json.

// member returns the last member named key (later duplicates win, as in
// encoding/json), or a null value.
func (v jsonValue) member(key string) jsonValue {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].key == key {
			return v.members[i].value
		}
	}
	return jsonValue{}
}

func (v jsonValue) want(name string, k jsonKind) error {
	if v.kind != k {
		return fmt.Errorf("%s: want %s, got %s", name, k, v.kind)
	}
	return nil
}

// object returns the members of an object, keyed by name (the last
// duplicate wins); nil for null.
func (v jsonValue) object(name string) (map[string]jsonValue, error) {
	if v.kind == jsonNull {
		return nil, nil
	}
	if err := v.want(name, jsonObject); err != nil {
		return nil, err
	}
	m := make(map[string]jsonValue, len(v.members))
	for _, mb := range v.members {
		m[mb.key] = mb.value
	}
	return m, nil
}

func (v jsonValue) str(name string) (string, error) {
	if v.kind == jsonNull {
		return "", nil
	}
	return v.text, v.want(name, jsonString)
}

// integer returns a number that is an integer within [math.MinInt64,
// math.MaxInt64]; a fraction or exponent is an error.
func (v jsonValue) integer(name string) (int64, error) {
	if v.kind == jsonNull {
		return 0, nil
	}
	if err := v.want(name, jsonNumber); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s is not a 64-bit integer", name, truncate([]byte(v.text)))
	}
	return n, nil
}

// int returns an integer that fits an int.
func (v jsonValue) int(name string) (int, error) {
	n, err := v.integer(name)
	if err != nil {
		return 0, err
	}
	if int64(int(n)) != n {
		return 0, fmt.Errorf("%s: %d out of range", name, n)
	}
	return int(n), nil
}

func (v jsonValue) strings(name string) ([]string, error) {
	if v.kind == jsonNull {
		return nil, nil
	}
	if err := v.want(name, jsonArray); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(v.items))
	for i, e := range v.items {
		s, err := e.str(fmt.Sprintf("%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
