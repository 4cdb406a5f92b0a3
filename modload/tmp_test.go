package modload

import (
	"testing"
	"fmt"
	"strings"
)

func TestTmpPerAlias(t *testing.T) {
	ix, _ := Build(depmodDir(t))
	for _, a := range benchAliases {
		q := normalize(a)
		var tried []string
		lo, hi := 0, len(ix.prefixes)
		for n := 0; lo < hi; n++ {
			if len(ix.prefixes[lo]) == n {
				tried = append(tried, fmt.Sprintf("%q:%d", ix.prefixes[lo], ix.starts[lo+1]-ix.starts[lo]))
				lo++
			}
			if n == len(q) { break }
			c := q[n]
			for lo < hi && ix.prefixes[lo][n] < c { lo++ }
			h := lo
			for h < hi && ix.prefixes[h][n] == c { h++ }
			hi = h
		}
		fmt.Printf("%-30.30s %s\n", a, strings.Join(tried, " "))
	}
}
