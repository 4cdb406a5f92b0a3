#!/bin/sh
# debroot build script: makes a Debian root with debootstrap in TARGET.
# Usage: build.sh TARGET SUITE PACKAGES   (PACKAGES comma separated, added to minbase)
# The mirror is the first non-security Debian archive of the host's apt sources (deb822
# .sources files, then sources.list), the only archive these machines reach.
set -eu
target=$1 suite=$2 packages=$3
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\).*/\1/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 || true)
[ -n "$mirror" ] || { echo "debroot: no Debian mirror in /etc/apt" >&2; exit 1; }
echo "debroot: debootstrap $suite from $mirror with $packages"
debootstrap --variant=minbase --include="$packages" "$suite" "$target" "$mirror"
# The packages fetched are not part of the root; apt's lists are kept, so that a test can
# install a local .deb whose dependencies are already there.
rm -f "$target"/var/cache/apt/archives/*.deb
# A root made once and copied for each test: each boot gets a machine-id from the test.
: >"$target/etc/machine-id"
echo debroot >"$target/etc/hostname"
