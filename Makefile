# earlyroot — build, test, demo, bench.
#
#   make build   static init + host tools into build/
#   make test    installs what it needs (apt packages, the test kernel), unit tests, QEMU boot tests
#   make disks   builds the layered test disks (LUKS, LVM, MD, btrfs) in a builder VM, cached
#   make debroot makes the Debian 12 root of the distro tests with debootstrap, cached
#   make demo    builds everything and boots a sample root disk under QEMU
#   make bench   boot-time benchmark (cmd/bench; BENCH_PEERS=1 adds initramfs-tools and dracut, the
#                image generation time against initramfs-tools on Debian 12's and 13's trees, and
#                systemd's figures for the three on the Debian 12 root (-distro N, -distro-only);
#                BENCH_ARGS passes flags, e.g. -compare-init OLD/init, or -profile N for a sampled
#                profile of the init stage), not part of make test
#   make fuzz    runs every fuzz target for FUZZTIME (default 60s)

SHELL     := /bin/bash
GO        ?= go
BUILD     := build
# Kernels, builder-made disks and other slow-to-make inputs live outside the checkout, keyed by
# what made them, so a fresh clone (CI's) reuses them.
XDG_CACHE_HOME ?= $(HOME)/.cache
CACHE     ?= $(XDG_CACHE_HOME)/earlyroot
export EARLYROOT_CACHE := $(CACHE)
GOFLAGS_STATIC := CGO_ENABLED=0
LDFLAGS   := -s -w -buildid=
# The init's own packages are compiled without inlining (the standard library and the runtime
# keep theirs): the binary is 130 KB smaller, and most of its code runs once per boot, where
# under TCG, as on a cold CPU cache, less code to run is faster (README, Benchmark).
INIT_GCFLAGS := -gcflags=github.com/earlyroot/earlyroot/...=-l
# earlyroot_init leaves out what only the host tools use of package modload: the readers of
# module files themselves (ELF .modinfo, xz and gzip; modload/tree.go). A plain go build of
# ./init works too, only larger.
INIT_TAGS := -tags earlyroot_init
APT_PKGS  := qemu-system-x86 qemu-utils e2fsprogs xfsprogs btrfs-progs dosfstools mtools gdisk fdisk \
             f2fs-tools squashfs-tools erofs-utils xorriso cpio zstd xz-utils lz4 kmod file util-linux \
             busybox-static cryptsetup-bin lvm2 mdadm python3 kbd console-data console-setup debootstrap \
             gcc libc6-dev
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.6.1
FUZZTIME  ?= 60s
TESTFUZZTIME ?= 3s
BOOT_PARALLEL ?= 2
# Builder VMs (cmd/mkdisks) run at the same time by make disks.
DISKS_JOBS ?= 2

.PHONY: install deb all build deps kernel disks debroot lint unit boot test demo bench fuzz fuzz-short clean

all: build

build:
	@mkdir -p $(BUILD)
	$(GOFLAGS_STATIC) $(GO) build -trimpath $(INIT_TAGS) $(INIT_GCFLAGS) -ldflags '$(LDFLAGS)' -o $(BUILD)/init ./init
	$(GOFLAGS_STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/testinit ./cmd/testinit
	$(GOFLAGS_STATIC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/dmcheck ./cmd/dmcheck
	$(GO) build -trimpath -o $(BUILD)/mkinitramfs ./cmd/mkinitramfs
	$(GO) build -trimpath -o $(BUILD)/bootvm ./cmd/bootvm

# deps installs the Debian packages the tests and the demo use (only what is missing).
deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# kernel fetches the test kernels: Debian 12's (the default) and Debian 13's (merged /usr,
# modules .ko.xz decompressed by the kernel).
kernel: deps
	@scripts/fetch-kernel.sh $(CACHE)/kernel >/dev/null
	@SUITE=trixie scripts/fetch-kernel.sh $(CACHE)/kernel >/dev/null

# disks: the layered test disks, made by cryptsetup, lvm, mdadm and mkfs in a builder VM
# (internal/builder); cached in $(CACHE)/disks by everything that made them, so only the first
# run, or a change to a recipe, the builder, the kernel or cmd/testinit, pays for the boots.
disks: deps kernel
	$(GO) run ./cmd/mkdisks -j $(DISKS_JOBS)

# debroot: the Debian 12 root the distro tests boot (internal/debroot), made by debootstrap from
# the apt mirror and cached in $(CACHE)/debroot-KEY, so only the first run pays for it.
debroot: deps
	$(GO) test -count=1 -timeout 30m -run '^TestBookwormRoot$$' ./internal/debroot/

# unit: fast tests, no VM boots (-short); lint first. Each test runs once: those of every
# package PID 1 links under Go's race detector, the rest (the host tools) without it. The init
# runs goroutines side by side (uevents, coldplug, module loads, probes, the passphrase
# prompt), and a data race there can crash PID 1 or lose an event on one boot in many. The
# race detector needs cgo (gcc and libc6-dev, in APT_PKGS); the init itself stays static and
# cgo-free. The tests that read the Debian test kernel's module tree fail, not skip, when it
# is missing.
INIT_PKGS = $$($(GO) list $(INIT_TAGS) -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./init | grep '^github.com/earlyroot/earlyroot/')
unit: deps lint
	EARLYROOT_REQUIRE_KERNEL=1 CGO_ENABLED=1 $(GO) test -race -count=1 -short $(INIT_PKGS)
	EARLYROOT_REQUIRE_KERNEL=1 $(GO) test -count=1 -short $$($(GO) list ./... | grep -v -x -F "$(INIT_PKGS)")

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) run $(STATICCHECK) ./...

fuzz-short:
	@scripts/fuzz.sh $(TESTFUZZTIME)

fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

boot: build kernel deb
	EARLYROOT_BOOT=1 EARLYROOT_REQUIRE_KERNEL=1 $(GO) test -count=1 -timeout 40m -p 1 -parallel $(BOOT_PARALLEL) -v ./internal/vm/ ./cmd/dmcheck/ ./cmd/layercheck/ ./luks/ ./tests/boot/ ./tests/distro/ 2>&1 | tee $(BUILD)/boot-test.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|earlyroot-test:' ; exit $${PIPESTATUS[0]}

test: deps kernel build disks debroot unit fuzz-short boot

demo: deps kernel build
	$(GO) run ./cmd/demo -build $(BUILD) -kernel-dir $$(scripts/fetch-kernel.sh $(CACHE)/kernel)

# BENCH_PEERS=1 also needs the peer generators (initramfs-tools and dracut-core live side by side).
PEER_PKGS := initramfs-tools dracut-core tiny-initramfs-core

bench: deps kernel build
	@if [ "$(BENCH_PEERS)" = 1 ]; then $(MAKE) --no-print-directory deps APT_PKGS="$(PEER_PKGS)"; fi
	$(GO) run ./cmd/bench -build $(BUILD) -kernel-dir $$(scripts/fetch-kernel.sh $(CACHE)/kernel) \
		-kernel2-dir $$(SUITE=trixie scripts/fetch-kernel.sh $(CACHE)/kernel) -out $(BUILD)/bench $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)

# install puts the binaries and the kernel hooks under DESTDIR: /usr/lib/earlyroot/{init,mkinitramfs}
# (the generator finds the init beside itself), /usr/sbin/earlyroot-mkinitramfs, Debian's
# /etc/kernel/post{inst,rm}.d hooks and the kernel-install plugin.
DESTDIR ?=
LIBDIR  := /usr/lib/earlyroot
install: build
	install -D -m 755 $(BUILD)/init $(DESTDIR)$(LIBDIR)/init
	install -D -m 755 $(BUILD)/mkinitramfs $(DESTDIR)$(LIBDIR)/mkinitramfs
	install -d $(DESTDIR)/usr/sbin
	ln -sf ../lib/earlyroot/mkinitramfs $(DESTDIR)/usr/sbin/earlyroot-mkinitramfs
	install -D -m 755 packaging/kernel/postinst.d/zz-earlyroot $(DESTDIR)/etc/kernel/postinst.d/zz-earlyroot
	install -D -m 755 packaging/kernel/postrm.d/zz-earlyroot $(DESTDIR)/etc/kernel/postrm.d/zz-earlyroot
	install -D -m 755 packaging/kernel-install/50-earlyroot.install $(DESTDIR)/usr/lib/kernel/install.d/50-earlyroot.install
	install -d $(DESTDIR)/etc/earlyroot/earlyroot.conf.d

# deb builds build/earlyroot_VERSION_amd64.deb with dpkg-deb (VERSION from the commit), the only
# one there (tests/distro installs it).
DEB_VERSION ?= 0~git$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
deb: build
	rm -rf $(BUILD)/deb $(BUILD)/earlyroot_*.deb && $(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BUILD)/deb
	install -d $(BUILD)/deb/DEBIAN
	sed 's/@VERSION@/$(DEB_VERSION)/' packaging/debian/control.in >$(BUILD)/deb/DEBIAN/control
	install -m 755 packaging/debian/postinst $(BUILD)/deb/DEBIAN/postinst
	install -m 755 packaging/debian/postrm $(BUILD)/deb/DEBIAN/postrm
	printf '%s\n' /etc/kernel/postinst.d/zz-earlyroot /etc/kernel/postrm.d/zz-earlyroot >$(BUILD)/deb/DEBIAN/conffiles
	dpkg-deb --root-owner-group --build $(BUILD)/deb $(BUILD)/earlyroot_$(DEB_VERSION)_amd64.deb
