#!/usr/bin/env bash
# fuzz.sh DURATION: runs every Go fuzz target of the module for DURATION each.
# Prints "N passed, N failed" at the end; exits non-zero when a target finds a failure.
set -uo pipefail
dur=${1:-60s}
pass=0 fail=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
	for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
		if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" "$pkg" 2>&1); then
			pass=$((pass + 1))
			echo "fuzz ok   $pkg $target ($dur)"
		else
			fail=$((fail + 1))
			echo "fuzz FAIL $pkg $target"
			echo "$out" | tail -30
		fi
	done
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
