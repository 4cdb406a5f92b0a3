package lvm

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the type of a metadata value.
type Kind int

// Value kinds.
const (
	String Kind = iota
	Int
	Float
	Array
)

// Value is a value in LVM text metadata: a string, a number or an array
// of them.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Items []Value
}

// Field is "key = value".
type Field struct {
	Key   string
	Value Value
}

// Section is "name { … }": fields and subsections, in file order.
type Section struct {
	Name     string
	Fields   []Field
	Sections []*Section
}

// maxDepth bounds section nesting (real metadata nests four deep).
const maxDepth = 32

// ParseText parses LVM2 text metadata (the format of the metadata area
// and of /etc/lvm/backup): sections "name { … }", fields "key = value",
// double-quoted strings with backslash escapes, integers, arrays
// "[a, b]" and "#" comments. The text is the top-level section, named "".
func ParseText(text []byte) (*Section, error) {
	p := &parser{s: string(text), line: 1}
	root := &Section{}
	if err := p.body(root, 0); err != nil {
		return nil, err
	}
	if p.pos < len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.pos])
	}
	return root, nil
}

type parser struct {
	s    string
	pos  int
	line int
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("lvm metadata line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// skip passes white space and comments.
func (p *parser) skip() {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			p.pos++
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isIdent(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '=', '{', '}', '[', ']', ',', '"', '#':
		return false
	}
	return c > ' ' && c < 0x7f
}

// body parses fields and sections up to a closing brace (depth > 0) or
// the end of the text.
func (p *parser) body(sec *Section, depth int) error {
	if depth > maxDepth {
		return p.errf("sections nested too deep")
	}
	for {
		p.skip()
		if p.pos >= len(p.s) {
			if depth > 0 {
				return p.errf("missing '}' closing %q", sec.Name)
			}
			return nil
		}
		if p.s[p.pos] == '}' {
			if depth == 0 {
				return p.errf("unexpected '}'")
			}
			p.pos++
			return nil
		}
		start := p.pos
		for p.pos < len(p.s) && isIdent(p.s[p.pos]) {
			p.pos++
		}
		name := p.s[start:p.pos]
		if name == "" {
			return p.errf("expected a name, found %q", p.s[p.pos])
		}
		p.skip()
		if p.pos >= len(p.s) {
			return p.errf("%q: unexpected end", name)
		}
		switch p.s[p.pos] {
		case '{':
			p.pos++
			sub := &Section{Name: name}
			if err := p.body(sub, depth+1); err != nil {
				return err
			}
			sec.Sections = append(sec.Sections, sub)
		case '=':
			p.pos++
			v, err := p.value(true)
			if err != nil {
				return fmt.Errorf("%w (in %q)", err, name)
			}
			sec.Fields = append(sec.Fields, Field{name, v})
		default:
			return p.errf("%q: expected '=' or '{', found %q", name, p.s[p.pos])
		}
	}
}

func (p *parser) value(arrayOK bool) (Value, error) {
	p.skip()
	if p.pos >= len(p.s) {
		return Value{}, p.errf("missing value")
	}
	switch c := p.s[p.pos]; {
	case c == '"':
		return p.str()
	case c == '[' && arrayOK:
		return p.array()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return Value{}, p.errf("unexpected %q where a value should be", c)
	}
}

func (p *parser) str() (Value, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '"':
			return Value{Kind: String, Str: b.String()}, nil
		case '\\':
			if p.pos >= len(p.s) {
				return Value{}, p.errf("string ends in a backslash")
			}
			c = p.s[p.pos]
			p.pos++
		case '\n':
			p.line++
		}
		b.WriteByte(c)
	}
	return Value{}, p.errf("unterminated string")
}

func (p *parser) number() (Value, error) {
	start := p.pos
	for p.pos < len(p.s) && strings.IndexByte("+-.0123456789eE", p.s[p.pos]) >= 0 {
		p.pos++
	}
	tok := p.s[start:p.pos]
	for p.pos < len(p.s) && isIdent(p.s[p.pos]) {
		p.pos++ // "1x" is one bad token, not "1" then "x"
	}
	if p.pos > start+len(tok) {
		return Value{}, p.errf("bad number %q", p.s[start:p.pos])
	}
	if i, err := strconv.ParseInt(tok, 10, 64); err == nil {
		return Value{Kind: Int, Int: i}, nil
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil && strings.ContainsAny(tok, ".eE") {
		return Value{Kind: Float, Float: f}, nil
	}
	return Value{}, p.errf("bad number %q", tok)
}

func (p *parser) array() (Value, error) {
	p.pos++ // '['
	v := Value{Kind: Array}
	for {
		p.skip()
		if p.pos >= len(p.s) {
			return Value{}, p.errf("unterminated array")
		}
		if p.s[p.pos] == ']' {
			p.pos++
			return v, nil
		}
		if len(v.Items) > 0 {
			if p.s[p.pos] != ',' {
				return Value{}, p.errf("expected ',' or ']' in array, found %q", p.s[p.pos])
			}
			p.pos++
		}
		item, err := p.value(false)
		if err != nil {
			return Value{}, err
		}
		v.Items = append(v.Items, item)
	}
}

// Section returns the first subsection called name, or nil.
func (s *Section) Section(name string) *Section {
	for _, sub := range s.Sections {
		if sub.Name == name {
			return sub
		}
	}
	return nil
}

// Get returns the first field called key.
func (s *Section) Get(key string) (Value, bool) {
	for _, f := range s.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return Value{}, false
}

// Str returns a string field.
func (s *Section) Str(key string) (string, error) {
	v, ok := s.Get(key)
	switch {
	case !ok:
		return "", fmt.Errorf("%s: missing %q", s.Name, key)
	case v.Kind != String:
		return "", fmt.Errorf("%s: %q is not a string", s.Name, key)
	}
	return v.Str, nil
}

// Uint returns a non-negative integer field.
func (s *Section) Uint(key string) (uint64, error) {
	v, ok := s.Get(key)
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: missing %q", s.Name, key)
	case v.Kind != Int || v.Int < 0:
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", s.Name, key)
	}
	return uint64(v.Int), nil
}

// UintOr returns an optional non-negative integer field, def when absent.
func (s *Section) UintOr(key string, def uint64) (uint64, error) {
	if _, ok := s.Get(key); !ok {
		return def, nil
	}
	return s.Uint(key)
}

// Strings returns an array of strings (a missing field is empty).
func (s *Section) Strings(key string) ([]string, error) {
	v, ok := s.Get(key)
	if !ok {
		return nil, nil
	}
	if v.Kind != Array {
		return nil, fmt.Errorf("%s: %q is not an array", s.Name, key)
	}
	out := make([]string, len(v.Items))
	for i, it := range v.Items {
		if it.Kind != String {
			return nil, fmt.Errorf("%s: %q item %d is not a string", s.Name, key, i)
		}
		out[i] = it.Str
	}
	return out, nil
}
