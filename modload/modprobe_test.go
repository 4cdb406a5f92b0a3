package modload

import (
	"bytes"
	"golang.org/x/sys/unix"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseModprobeArgs(t *testing.T) {
	cases := []struct {
		args    []string
		want    modprobeFlags
		wantErr string
	}{
		{[]string{"/sbin/modprobe", "-q", "--", "fs-ext4"}, modprobeFlags{quiet: true, names: []string{"fs-ext4"}}, ""},
		{[]string{"modprobe", "-qba", "a", "b"}, modprobeFlags{quiet: true, useBlacklist: true, all: true, names: []string{"a", "b"}}, ""},
		{[]string{"modprobe", "--all", "--quiet", "--use-blacklist", "--verbose", "a"}, modprobeFlags{quiet: true, useBlacklist: true, all: true, verbose: true, names: []string{"a"}}, ""},
		{[]string{"modprobe", "--", "-weird"}, modprobeFlags{names: []string{"-weird"}}, ""},
		{[]string{"modprobe", "-r", "a"}, modprobeFlags{}, "-r (remove) is not supported"},
		{[]string{"modprobe", "--remove", "a"}, modprobeFlags{}, "-r (remove) is not supported"},
		{[]string{"modprobe", "-x"}, modprobeFlags{}, "unknown option -x"},
		{[]string{"modprobe", "--frob"}, modprobeFlags{}, "unknown option --frob"},
		{nil, modprobeFlags{}, ""},
	}
	for _, c := range cases {
		got, err := parseModprobeArgs(c.args)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%v: err %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.quiet != c.want.quiet || got.all != c.want.all || got.useBlacklist != c.want.useBlacklist ||
			got.verbose != c.want.verbose || !slices.Equal(got.names, c.want.names) {
			t.Errorf("%v: got %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
}

type modprobeRun struct {
	code   int
	stderr string
	k      *fakeKernel
}

func runModprobe(t *testing.T, args ...string) modprobeRun {
	t.Helper()
	dir := writeTree(t, treeOpts{image: true})
	root := filepath.Join(dir, "..", "..", "..")
	writeFile(t, filepath.Join(root, "etc", "modprobe.d", "test.conf"), []byte("options virtio_blk queue_depth=8\nblacklist posty\n"))
	writeFile(t, filepath.Join(root, "usr", "lib", "modprobe.d", "x.conf"), []byte("blacklist chain-c\n"))
	writeFile(t, filepath.Join(root, "proc", "cmdline"), []byte("root=/dev/vda virtio_blk.extra=\"x y\" modprobe.blacklist=gzmod\n"))
	k := newFakeKernel()
	var stderr bytes.Buffer
	code := modprobe(args, modprobeEnv{
		moddir:  dir,
		root:    root,
		cmdline: filepath.Join(root, "proc", "cmdline"),
		stderr:  &stderr,
		setup:   k.install,
	})
	return modprobeRun{code, stderr.String(), k}
}

func TestModprobe(t *testing.T) {
	t.Run("kernel request", func(t *testing.T) {
		r := runModprobe(t, "/sbin/modprobe", "-q", "--", "fs-ext4")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		if _, n := r.k.call("ext4"); n != 1 {
			t.Errorf("ext4 not loaded: %v", r.k.names())
		}
	})
	t.Run("params", func(t *testing.T) {
		r := runModprobe(t, "modprobe", "virtio-blk", "foo=1")
		c, _ := r.k.call("virtio_blk")
		if r.code != 0 || c.params != `queue_depth=8 extra="x y" foo=1` {
			t.Errorf("exit %d, params %q, stderr %q", r.code, c.params, r.stderr)
		}
	})
	t.Run("all", func(t *testing.T) {
		r := runModprobe(t, "modprobe", "-a", "chain_a", "test:zst")
		if r.code != 0 || !slices.Equal(r.k.names(), []string{"chain_c", "chain_b", "chain_a", "zstmod"}) {
			t.Errorf("exit %d, loaded %v, stderr %q", r.code, r.k.names(), r.stderr)
		}
	})
	t.Run("not found", func(t *testing.T) {
		r := runModprobe(t, "modprobe", "nonesuch")
		if r.code != 1 || !strings.Contains(r.stderr, "nonesuch not found") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		r = runModprobe(t, "modprobe", "-q", "nonesuch")
		if r.code != 1 || r.stderr != "" {
			t.Errorf("quiet: exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("blacklist", func(t *testing.T) {
		// aliases always honour the blacklist, names only with -b
		r := runModprobe(t, "modprobe", "test:post")
		if _, n := r.k.call("posty"); n != 0 || r.code != 0 {
			t.Errorf("blacklisted alias: exit %d, loaded %v", r.code, r.k.names())
		}
		r = runModprobe(t, "modprobe", "posty")
		if _, n := r.k.call("posty"); n != 1 {
			t.Errorf("explicit name: loaded %v", r.k.names())
		}
		r = runModprobe(t, "modprobe", "-b", "gzmod")
		if _, n := r.k.call("gzmod"); n != 0 || r.code != 0 {
			t.Errorf("-b name from modprobe.blacklist=: exit %d, loaded %v", r.code, r.k.names())
		}
	})
	t.Run("failure", func(t *testing.T) {
		dir := writeTree(t, treeOpts{image: true})
		k := newFakeKernel()
		k.errs["zstmod"] = unix.ENOEXEC
		var stderr bytes.Buffer
		code := modprobe([]string{"modprobe", "zstmod"}, modprobeEnv{moddir: dir, root: t.TempDir(), stderr: &stderr, setup: k.install})
		if code != 1 || !strings.Contains(stderr.String(), "load zstmod: init_module ") || !strings.Contains(stderr.String(), "exec format error") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("remove", func(t *testing.T) {
		r := runModprobe(t, "modprobe", "-r", "ext4")
		if r.code != 1 || !strings.Contains(r.stderr, "not supported") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("builtin", func(t *testing.T) {
		r := runModprobe(t, "modprobe", "-v", "loop")
		if r.code != 0 || len(r.k.names()) != 0 || !strings.Contains(r.stderr, "loop: builtin") {
			t.Errorf("exit %d, loaded %v, stderr %q", r.code, r.k.names(), r.stderr)
		}
	})
}

func TestModprobeMainMissingDir(t *testing.T) {
	var stderr bytes.Buffer
	if code := ModprobeMain([]string{"modprobe", "x"}, filepath.Join(t.TempDir(), "lib/modules/none"), &stderr); code != 1 || stderr.Len() == 0 {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
