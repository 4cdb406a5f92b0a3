package modload

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// makeELF returns a minimal ELF64 relocatable file whose only content is a
// .modinfo section holding modinfo.
func makeELF(modinfo []byte) []byte {
	const ehsize, shentsize = 64, 64
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	modOff := ehsize
	strOff := modOff + len(modinfo)
	shOff := (strOff + len(shstr) + 7) &^ 7
	b := make([]byte, shOff+3*shentsize)
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le := binary.LittleEndian
	le.PutUint16(b[16:], 1)  // ET_REL
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[40:], uint64(shOff))
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[58:], shentsize)
	le.PutUint16(b[60:], 3) // sections: null, .modinfo, .shstrtab
	le.PutUint16(b[62:], 2) // section name table index
	copy(b[modOff:], modinfo)
	copy(b[strOff:], shstr)
	sh := func(i int, name, typ uint32, off, size int) {
		s := b[shOff+i*shentsize:]
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
	}
	sh(1, 1, 1 /* SHT_PROGBITS */, modOff, len(modinfo))
	sh(2, 10, 3 /* SHT_STRTAB */, strOff, len(shstr))
	return b
}

// fixMod is one synthetic module of the test tree.
type fixMod struct {
	path    string
	name    string
	aliases []string
	depends []string
	softdep []string // softdep= values
}

var fixture = []fixMod{
	{path: "kernel/lib/crc16.ko", name: "crc16"},
	{path: "kernel/fs/mbcache.ko", name: "mbcache"},
	{path: "kernel/fs/jbd2/jbd2.ko", name: "jbd2", softdep: []string{"pre: crypto-crc32c"}},
	{path: "kernel/fs/ext4/ext4.ko", name: "ext4", aliases: []string{"fs-ext4", "fs-ext3", "fs-ext2"},
		depends: []string{"crc16", "mbcache", "jbd2"}, softdep: []string{"pre: crypto-crc32c"}},
	{path: "kernel/arch/x86/crypto/crc32c-intel.ko", name: "crc32c_intel",
		aliases: []string{"crypto-crc32c-intel", "crc32c-intel", "crypto-crc32c", "crc32c", "cpu:type:x86,ven*fam*mod*:feature:*0094*"}},
	{path: "kernel/crypto/crc32c_generic.ko", name: "crc32c_generic",
		aliases: []string{"crypto-crc32c-generic", "crc32c-generic", "crypto-crc32c", "crc32c"}},
	{path: "kernel/drivers/virtio/virtio_ring.ko", name: "virtio_ring"},
	{path: "kernel/drivers/virtio/virtio.ko", name: "virtio", depends: []string{"virtio_ring"}},
	{path: "kernel/drivers/virtio/virtio_pci.ko", name: "virtio_pci", aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"},
		depends: []string{"virtio", "virtio_ring"}},
	{path: "kernel/drivers/block/virtio_blk.ko", name: "virtio_blk", aliases: []string{"virtio:d00000002v*"},
		depends: []string{"virtio", "virtio_ring"}},
	{path: "kernel/test/chain-a.ko", name: "chain_a", depends: []string{"chain_b"}},
	{path: "kernel/test/chain-b.ko", name: "chain_b", depends: []string{"chain-c"}},
	{path: "kernel/test/chain-c.ko", name: "chain_c"},
	{path: "kernel/test/chain-d.ko", name: "chain_d", aliases: []string{"test:chain:*"}, depends: []string{"chain_a", "chain_c"}},
	{path: "kernel/test/posty.ko", name: "posty", aliases: []string{"test:post"}, softdep: []string{"post: chain_c"}},
	{path: "kernel/test/globby.ko", name: "globby", aliases: []string{"test:[a-c]x?y*", "test:[!a-c]z", "test:q\\*"}},
	{path: "kernel/test/dash-name.ko", name: "dash_name", aliases: []string{"test:dash-alias"}},
	{path: "kernel/test/xzmod.ko.xz", name: "xzmod", aliases: []string{"test:xz"}},
	{path: "kernel/test/zstmod.ko.zst", name: "zstmod", aliases: []string{"test:zst"}, depends: []string{"chain_c"}},
	{path: "kernel/test/gzmod.ko.gz", name: "gzmod", aliases: []string{"test:gz"}},
}

const fixtureBuiltin = "kernel/drivers/block/loop.ko\nkernel/fs/binfmt_misc.ko\n"

var fixtureBuiltinModinfo = "loop.alias=block-major-7-*\x00loop.alias=devname:loop-control\x00loop.file=drivers/block/loop\x00" +
	"binfmt_misc.alias=fs-binfmt_misc\x00unix.alias=net-pf-1\x00"

// modinfoBytes returns the .modinfo content of m.
func (m fixMod) modinfoBytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "license=GPL\x00description=test %s\x00", m.name)
	for _, a := range m.aliases {
		fmt.Fprintf(&b, "alias=%s\x00", a)
	}
	for _, s := range m.softdep {
		fmt.Fprintf(&b, "softdep=%s\x00", s)
	}
	fmt.Fprintf(&b, "depends=%s\x00retpoline=Y\x00intree=Y\x00name=%s\x00vermagic=6.1.0 SMP mod_unload modversions \x00", strings.Join(m.depends, ","), m.name)
	return b.Bytes()
}

// compress returns data compressed with algo ("xz", "zstd", "gzip").
func compress(t testing.TB, algo string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch algo {
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("compress: unknown %q", algo)
	}
	return b.Bytes()
}

type treeOpts struct {
	text    bool // also write depmod's text files
	corrupt bool // add a module file that is not ELF
	image   bool // also write modules.earlyroot, as mkinitramfs lays out an image
}

// writeTree writes the fixture module tree into a new directory and
// returns it.
func writeTree(t testing.TB, o treeOpts) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lib", "modules", "6.1.0-test")
	for _, m := range fixture {
		data := makeELF(m.modinfoBytes())
		if algo := compression(m.path); algo != "" {
			data = compress(t, algo, data)
		}
		writeFile(t, filepath.Join(dir, m.path), data)
	}
	writeFile(t, filepath.Join(dir, "modules.builtin"), []byte(fixtureBuiltin))
	writeFile(t, filepath.Join(dir, "modules.builtin.modinfo"), []byte(fixtureBuiltinModinfo))
	if o.corrupt {
		writeFile(t, filepath.Join(dir, "kernel/test/broken.ko"), []byte("\x7fELF\x02\x01\x01 this is not a module"))
	}
	if o.text {
		writeDepmodFiles(t, dir)
	}
	if o.image {
		ix, err := Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.WriteFile(filepath.Join(dir, IndexFile)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeDepmodFiles writes modules.dep, modules.alias and modules.softdep
// for the fixture the way depmod lays them out.
func writeDepmodFiles(t testing.TB, dir string) {
	t.Helper()
	byName := map[string]fixMod{}
	for _, m := range fixture {
		byName[m.name] = m
	}
	var closure func(name string, seen map[string]bool)
	closure = func(name string, seen map[string]bool) {
		for _, d := range byName[name].depends {
			d = normName(d)
			if !seen[d] {
				seen[d] = true
				closure(d, seen)
			}
		}
	}
	var dep, alias, soft strings.Builder
	alias.WriteString("# Aliases extracted from modules themselves.\n")
	soft.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, m := range fixture {
		seen := map[string]bool{}
		closure(m.name, seen)
		var paths []string
		for d := range seen {
			paths = append(paths, byName[d].path)
		}
		slices.Sort(paths)
		slices.Reverse(paths) // the order must not matter
		fmt.Fprintf(&dep, "%s:", m.path)
		for _, p := range paths {
			fmt.Fprintf(&dep, " %s", p)
		}
		dep.WriteString("\n")
		for _, a := range m.aliases {
			fmt.Fprintf(&alias, "alias %s %s\n", a, m.name)
		}
		for _, s := range m.softdep {
			fmt.Fprintf(&soft, "softdep %s %s\n", m.name, s)
		}
	}
	writeFile(t, filepath.Join(dir, "modules.dep"), []byte(dep.String()))
	writeFile(t, filepath.Join(dir, "modules.alias"), []byte(alias.String()))
	writeFile(t, filepath.Join(dir, "modules.softdep"), []byte(soft.String()))
}
