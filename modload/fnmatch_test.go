package modload

import (
	"testing"
)

// refMatch is a plain recursive fnmatch used to check the real one. It is
// exponential in the number of stars, so callers keep patterns small.
func refMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	if s == "" {
		return false
	}
	n := tokenLen(p)
	return matchToken(p[:n], s[0]) && refMatch(p[n:], s[1:])
}

var fnmatchCases = []struct {
	pattern, s string
	want       bool
}{
	{"", "", true},
	{"", "a", false},
	{"a", "", false},
	{"*", "", true},
	{"*", "anything/with/slashes", true},
	{"a*b", "ab", true},
	{"a*b", "a/x/b", true},
	{"a*b", "a/x/bc", false},
	{"a?c", "abc", true},
	{"a?c", "ac", false},
	{"a[bc]d", "acd", true},
	{"a[!bc]d", "acd", false},
	{"a[!bc]d", "aXd", true},
	{"a[^bc]d", "aXd", true},
	{"a[a-c]d", "abd", true},
	{"a[a-c]d", "aed", false},
	{"a[]]b", "a]b", true},
	{"a[!]]b", "a]b", false},
	{"a[!]]b", "axb", true},
	{"a[", "a[", true},
	{"a[b", "a[b", true},
	{"a[b", "ab", false},
	{`a\*b`, "a*b", true},
	{`a\*b`, "axb", false},
	{`a\`, `a\`, true},
	{"[*]", "*", true},
	{"[*]", "x", false},
	{"*[0-9]", "abc7", true},
	{"*[0-9]", "abc", false},
	{"pci:v00008086d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", true},
	{"pci:v00008086d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i02", false},
	{"cpu:type:x86,ven*fam*mod*:feature:*0094*", "cpu:type:x86,ven0000fam0006mod003D:feature:,0001,0094,0095", true},
	{"cpu:type:x86,ven*fam*mod*:feature:*0094*", "cpu:type:x86,ven0000fam0006mod003D:feature:,0001,0095", false},
	{"acpi*:PNP0C09:*", "acpi:PNP0C09:", true},
	{"acpi*:PNP0C09:*", "acpi:PNP0C0A:PNP0C09:", true},
	{"acpi*:PNP0C09:*", "acpi:PNP0C0:", false},
	{"*ab*ab", "abab", true},
	{"*ab*ab", "aba", false},
	{"a**b", "ab", true},
	{"*?", "", false},
	{"*?", "x", true},
	{"*a?", "xab", true},
	{"*a?", "xba", false},
}

func TestFnmatch(t *testing.T) {
	for _, c := range fnmatchCases {
		if got := fnmatch(c.pattern, c.s); got != c.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
		if got := refMatch(c.pattern, c.s); got != c.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"fs-ext4", "fs_ext4"},
		{"a-[a-z]-b", "a_[a-z]_b"},
		{"a[-]-", "a[-]_"},
		{`a\-b`, `a\-b`},
		{"a[b-", "a[b_"},
	} {
		if got := normalize(c.in); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzFnmatch(f *testing.F) {
	for _, c := range fnmatchCases {
		f.Add(c.pattern, c.s)
	}
	for _, a := range benchAliases {
		f.Add("*"+a[len(a)/2:], a)
	}
	f.Add("acpi*:PNP0C09:*", "acpi:PNP0303:")
	f.Add("usb:v*p*d*dc*dsc*dp*ic03isc01ip01in*", "usb:v1D6Bp0002d0601dc09dsc00dp03ic09isc00ip00in00")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := fnmatch(pattern, s)
		stars := 0
		for i := 0; i < len(pattern); i++ {
			if pattern[i] == '*' {
				stars++
			}
		}
		if stars > 4 || len(s) > 64 {
			return // the reference is exponential in stars
		}
		if want := refMatch(pattern, s); got != want {
			t.Fatalf("fnmatch(%q, %q) = %v, reference says %v", pattern, s, got, want)
		}
	})
}
