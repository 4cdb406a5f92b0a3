package luks

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// toAny converts a parsed value to what encoding/json's Unmarshal into an
// any gives (numbers as their text), for comparison.
func toAny(v jsonValue) any {
	switch v.kind {
	case jsonBool:
		return v.text == "true"
	case jsonNumber:
		return json.Number(v.text)
	case jsonString:
		return v.text
	case jsonArray:
		out := []any{}
		for _, e := range v.items {
			out = append(out, toAny(e))
		}
		return out
	case jsonObject:
		out := map[string]any{}
		for _, m := range v.members {
			out[m.key] = toAny(m.value)
		}
		return out
	}
	return nil
}

// stdAny is encoding/json's reading of b, numbers kept as text.
func stdAny(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func TestParseJSON(t *testing.T) {
	cases := []struct {
		in   string
		want any    // as encoding/json reads it
		err  string // or the error
	}{
		{in: ` {"a" : [1, -0.5e+3, true, false, null, "x"], "b": {}} `,
			want: map[string]any{"a": []any{json.Number("1"), json.Number("-0.5e+3"), true, false, nil, "x"}, "b": map[string]any{}}},
		{in: `"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, want: "\"\\/\b\f\n\r\t\u00e9\U0001F600"},
		{in: `"\ud800x\udc00"`, want: "\uFFFDx\uFFFD"},
		{in: `{"k":1,"k":2}`, want: map[string]any{"k": json.Number("2")}},
		{in: `[]`, want: []any{}},
		{in: ``, err: "unexpected end"},
		{in: `{`, err: "unexpected end"},
		{in: `{"a":1,}`, err: "want a member name"},
		{in: `[1,]`, err: "unexpected ']'"},
		{in: `[1 2]`, err: "want ',' or ']'"},
		{in: `01`, err: "data after the top-level value"},
		{in: `1.`, err: "bad number"},
		{in: `-`, err: "bad number"},
		{in: `1e`, err: "bad number"},
		{in: `"a` + "\n" + `"`, err: "control character"},
		{in: `"\x"`, err: `bad escape \x`},
		{in: `"\u12G4"`, err: `bad \u escape`},
		{in: `"abc`, err: "unterminated string"},
		{in: `tru`, err: "unexpected 't'"},
		{in: `{} {}`, err: "data after the top-level value"},
		{in: strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2), err: "nested too deeply"},
	}
	for _, c := range cases {
		v, err := parseJSON([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseJSON(%q): err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseJSON(%q): %v", c.in, err)
			continue
		}
		if got := toAny(v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseJSON(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestJSONAccessors(t *testing.T) {
	v, err := parseJSON([]byte(`{"n":-3,"big":9223372036854775808,"f":1.5,"s":"x","l":["a",null],"bad":["a",1],"z":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := v.member("n").int("n"); n != -3 || err != nil {
		t.Errorf("n = %d, %v", n, err)
	}
	if _, err := v.member("big").integer("big"); err == nil || !strings.Contains(err.Error(), "big: 9223372036854775808 is not a 64-bit integer") {
		t.Errorf("big: %v", err)
	}
	if _, err := v.member("f").int("f"); err == nil {
		t.Error("f: a fraction read as an integer")
	}
	if _, err := v.member("s").int("s"); err == nil || err.Error() != "s: want a number, got a string" {
		t.Errorf("s as int: %v", err)
	}
	if l, err := v.member("l").strings("l"); err != nil || !reflect.DeepEqual(l, []string{"a", ""}) {
		t.Errorf("l = %q, %v", l, err)
	}
	if _, err := v.member("bad").strings("bad"); err == nil || err.Error() != "bad[1]: want a string, got a number" {
		t.Errorf("bad: %v", err)
	}
	for _, k := range []string{"z", "absent"} {
		if s, err := v.member(k).str(k); s != "" || err != nil {
			t.Errorf("%s: %q, %v", k, s, err)
		}
		if m, err := v.member(k).object(k); m != nil || err != nil {
			t.Errorf("%s: %v, %v", k, m, err)
		}
	}
}

// FuzzParseJSON checks the parser against encoding/json: the same texts are
// accepted (nesting beyond maxJSONDepth aside), with the same values.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(baseJSON))
	for _, s := range []string{`{"a":[1,2.5e-3,"\u00e9\ud83d\ude00"]}`, `"\ud800"`, `[[[]]]`, `-0`, `{"a":1,"a":{}}`, " \t\n1 "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b)
		want, stdErr := stdAny(b)
		if errors.Is(err, errJSONDepth) {
			return
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("parseJSON(%q): err %v; encoding/json: %v", b, err, stdErr)
		}
		if err != nil || !utf8.Valid(b) {
			return // encoding/json replaces invalid UTF-8; this parser keeps the bytes
		}
		if got := toAny(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("parseJSON(%q) = %#v; encoding/json: %#v", b, got, want)
		}
	})
}
