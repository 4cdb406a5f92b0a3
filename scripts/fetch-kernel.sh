#!/usr/bin/env bash
# fetch-kernel.sh: download Debian's unsigned amd64 kernel package and unpack it into the cache.
# Usage: scripts/fetch-kernel.sh [CACHE_DIR]
#   KABI=6.1.0-NN-amd64   picks the version (default: what linux-image-amd64 depends on)
#   SUITE=trixie          takes the kernel of another suite of the mirror in
#                         /etc/apt/sources.list.d/, read with a private apt configuration
#                         under CACHE_DIR/apt-SUITE (the host's apt setup is not touched)
# Prints the unpacked directory. A no-op when the cache already holds it. The default
# suite's ABI is recorded in CACHE_DIR/current, another suite's in CACHE_DIR/current-SUITE.
# The package itself is kept in CACHE_DIR/debs/ (the .deb test installs it in a chroot).
set -euo pipefail
cache=${1:-${EARLYROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/earlyroot}/kernel}
suite=${SUITE:-}
abi=${KABI:-}
current=$cache/current${suite:+-$suite}
mkdir -p "$cache"

apt_opts=()
if [ -n "$suite" ]; then
	aptdir=$cache/apt-$suite
	mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial"
	uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
	[ -n "$uri" ] || uri=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\).*/\1/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1)
	[ -n "$uri" ] || { echo "fetch-kernel: no Debian mirror found in /etc/apt" >&2; exit 1; }
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >"$aptdir/sources.list"
	apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir" -o "Dir::Cache::archives=$aptdir/archives"
		-o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
fi

resolve_abi() {
	apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1
	true
}

if [ -z "$abi" ]; then
	if [ -f "$current" ]; then
		abi=$(cat "$current")
	else
		abi=$(resolve_abi)
		if [ -z "$abi" ]; then
			apt-get "${apt_opts[@]}" update -qq >&2
			abi=$(resolve_abi)
		fi
	fi
fi
[ -n "$abi" ] || { echo "fetch-kernel: cannot resolve the kernel ABI from linux-image-amd64${suite:+ in $suite}" >&2; exit 1; }
dir=$cache/$abi
debs=$cache/debs
pkg=linux-image-$abi-unsigned
have_deb() { compgen -G "$debs/${pkg}_*.deb" >/dev/null; }
if [ -f "$dir/.complete" ] && have_deb; then
	echo "$abi" >"$current"
	echo "$dir"
	exit 0
fi
# In the cache, so that the package is renamed into debs/ whole.
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && apt-get "${apt_opts[@]}" download "$pkg" >&2 ) || {
	apt-get "${apt_opts[@]}" update -qq >&2
	( cd "$tmp" && apt-get "${apt_opts[@]}" download "$pkg" >&2 )
}
if [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$tmp"/linux-image-*.deb "$dir"
	touch "$dir/.complete"
fi
mkdir -p "$debs"
rm -f "$debs/${pkg}"_*.deb
mv "$tmp"/linux-image-*.deb "$debs/"
echo "$abi" >"$current"
echo "$dir"
