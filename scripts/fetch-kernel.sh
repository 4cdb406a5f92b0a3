#!/usr/bin/env bash
# fetch-kernel.sh: download Debian's unsigned amd64 kernel package and unpack it into the cache.
# Usage: scripts/fetch-kernel.sh [CACHE_DIR]   (KABI=6.1.0-NN-amd64 overrides the version)
# Prints the unpacked directory. A no-op when the cache already holds it.
set -euo pipefail
cache=${1:-${EARLYROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/earlyroot}/kernel}
abi=${KABI:-}
if [ -z "$abi" ]; then
	if [ -f "$cache/current" ]; then
		abi=$(cat "$cache/current")
	else
		abi=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1)
		if [ -z "$abi" ]; then
			apt-get update -qq >&2
			abi=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1)
		fi
	fi
fi
[ -n "$abi" ] || { echo "fetch-kernel: cannot resolve the kernel ABI from linux-image-amd64" >&2; exit 1; }
dir=$cache/$abi
if [ -f "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && apt-get download "linux-image-$abi-unsigned" >&2 ) || {
	apt-get update -qq >&2
	( cd "$tmp" && apt-get download "linux-image-$abi-unsigned" >&2 )
}
rm -rf "$dir"
mkdir -p "$dir"
dpkg -x "$tmp"/linux-image-*.deb "$dir"
touch "$dir/.complete"
echo "$abi" >"$cache/current"
echo "$dir"
