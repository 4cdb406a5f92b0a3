#!/usr/bin/env bash
# fuzz.sh DURATION: runs every Go fuzz target of the module for DURATION each, FUZZ_JOBS
# targets at a time (default: one per CPU, each with one fuzzing worker, so that a short run
# spends its time fuzzing rather than waiting for one target's build at a time).
# Prints each target's result in a fixed order and "N passed, N failed" at the end; exits
# non-zero when a target finds a failure.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27) when a worker is
# starved at the deadline. Such a run is retried once; a second one is reported as a flake,
# not a failure. A real finding always prints "Failing input written to".
set -uo pipefail
dur=${1:-60s}
jobs_max=${FUZZ_JOBS:-$(nproc)}
workers=()
if [ "$jobs_max" -gt 1 ]; then
	workers=(-parallel 1)
fi
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# run_target PKG TARGET: 0 pass, 1 real failure, 2 deadline flake. Output in $out.
run_target() {
	out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$dur" "${workers[@]}" "$1" 2>&1) && return 0
	if grep -q 'context deadline exceeded' <<<"$out" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' <<<"$out"; then
		return 2
	fi
	return 1
}

# fuzz_one PKG TARGET FILE: runs the target (retrying a deadline flake once) and writes its
# result to FILE: the first line "ok", "flake" or "FAIL", then the report.
fuzz_one() {
	run_target "$1" "$2"
	rc=$?
	local retried=""
	if [ "$rc" -eq 2 ]; then
		retried="fuzz retry $1 $2 (deadline race in the Go fuzz coordinator, no failing input)"$'\n'
		run_target "$1" "$2"
		rc=$?
	fi
	case $rc in
	0) printf 'ok\n%sfuzz ok   %s %s (%s)\n' "$retried" "$1" "$2" "$dur" ;;
	2) printf 'flake\n%sfuzz flake %s %s: deadline race twice, no failing input\n' "$retried" "$1" "$2" ;;
	*) printf 'FAIL\n%sfuzz FAIL %s %s\n%s\n' "$retried" "$1" "$2" "$(tail -30 <<<"$out")" ;;
	esac >"$3"
}

n=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
	for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
		while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
			wait -n
		done
		n=$((n + 1))
		fuzz_one "$pkg" "$target" "$results/$n" &
	done
done
wait

pass=0 fail=0 flaky=0
for i in $(seq 1 "$n"); do
	if [ ! -s "$results/$i" ]; then
		fail=$((fail + 1))
		echo "fuzz FAIL: target $i left no result"
		continue
	fi
	case $(head -1 "$results/$i") in
	ok) pass=$((pass + 1)) ;;
	flake) flaky=$((flaky + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
	tail -n +2 "$results/$i"
done
echo "fuzz: $pass passed, $fail failed (and $flaky deadline flakes)"
[ "$fail" -eq 0 ] && [ "$n" -gt 0 ]
