package lvm

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseText(t *testing.T) {
	text := `# comment
top = "a \"quoted\" \\ string"	# trailing comment
n = -1
f = 1.5
list = [ "x", 2 ,"y" ]
empty = []
sec {
	inner-name.x+y {
		k = 0
	}
}
`
	root, err := ParseText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := &Section{
		Fields: []Field{
			{"top", Value{Kind: String, Str: `a "quoted" \ string`}},
			{"n", Value{Kind: Int, Int: -1}},
			{"f", Value{Kind: Float, Float: 1.5}},
			{"list", Value{Kind: Array, Items: []Value{{Kind: String, Str: "x"}, {Kind: Int, Int: 2}, {Kind: String, Str: "y"}}}},
			{"empty", Value{Kind: Array}},
		},
		Sections: []*Section{{Name: "sec", Sections: []*Section{{Name: "inner-name.x+y", Fields: []Field{{"k", Value{Kind: Int}}}}}}},
	}
	if !reflect.DeepEqual(root, want) {
		t.Errorf("got %#v\nwant %#v", root, want)
	}
}

func TestParseTextErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{`a = "open`, "unterminated string"},
		{`a = "x\`, "backslash"},
		{"s {\n a = 1\n", "missing '}'"},
		{"}", "unexpected '}'"},
		{"a = 1x", "bad number"},
		{"a = 99999999999999999999", "bad number"},
		{"a = [1, [2]]", "where a value should be"},
		{"a = [1 2]", "expected ',' or ']'"},
		{"a = [1", "unterminated array"},
		{"a = [1,", "missing value"},
		{"a 1", "expected '=' or '{'"},
		{"a =", "missing value"},
		{"= 1", "expected a name"},
		{"\n\na = {", "line 3"},
		{strings.Repeat("a {", 40) + strings.Repeat("}", 40), "nested too deep"},
	}
	for _, tt := range tests {
		_, err := ParseText([]byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.text, err, tt.want)
		}
	}
}
