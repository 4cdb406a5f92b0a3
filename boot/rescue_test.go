package boot

import (
	"strings"
	"testing"
)

func TestWriteColumns(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]string
		want string
	}{
		{"none", nil, ""},
		{"one row", [][]string{{"a", "b"}}, "a  b\n"},
		{"aligned", [][]string{{"  DEVICE", "SIZE", "LABEL"}, {"  /dev/vda1", "1 GiB", "root"}},
			"  DEVICE     SIZE   LABEL\n  /dev/vda1  1 GiB  root\n"},
		{"characters, not bytes", [][]string{{"ä", "x"}, {"ab", "y"}}, "ä   x\nab  y\n"},
		{"the last cell is not padded", [][]string{{"a", "long"}, {"b", "c"}}, "a  long\nb  c\n"},
	} {
		var b strings.Builder
		writeColumns(&b, tc.rows)
		if b.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}
