package modload

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLeftOutAliases(t *testing.T) {
	ix, err := Build(writeTree(t, treeOpts{}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ix.WriteStorageAliases(&buf, []string{"virtio-pci", "globby", "ext4", "nonesuch"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if f := strings.Fields(line); len(f) != 3 || f[0] != "alias" || f[2] != "virtio_pci" {
			t.Errorf("line %q: want a storage alias of virtio_pci (globby's are on no storage bus, ext4's no bus)", line)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, LeftOutFile)
	if err := os.WriteFile(p, compress(t, "zstd", buf.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	left, err := ReadLeftOut(dir)
	if err != nil {
		t.Fatal(err)
	}
	for alias, want := range map[string][]string{
		"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00": {"virtio_pci"},
		"test:bxzyanything":         nil, // not a storage bus
		"virtio:d00000002v00001AF4": nil, // virtio_blk's: not written
		"fs-ext4":                   nil, // not a bus
	} {
		if got := left.Lookup(alias); !slices.Equal(got, want) {
			t.Errorf("Lookup(%q) = %q, want %q", alias, got, want)
		}
	}
	for name, want := range map[string]bool{"virtio_pci": true, "virtio-pci": true, "globby": false, "ext4": false} {
		if got := left.Aliased(name); got != want {
			t.Errorf("Aliased(%q) = %v, want %v", name, got, want)
		}
	}
	if got := left.Modules(); len(got) != 0 {
		t.Errorf("the left-out index has modules to load: %q", got)
	}

	if err := os.WriteFile(p, compress(t, "zstd", []byte("alias pci:v* virtio_pci\noptions x y=1\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLeftOut(dir); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a line that is no alias: err = %v, want its line number", err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLeftOut(dir); err == nil || !strings.Contains(err.Error(), "decompress") {
		t.Errorf("a list that is not zstd: err = %v", err)
	}
	if none, err := ReadLeftOut(t.TempDir()); err != nil || none.Lookup("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00") != nil {
		t.Errorf("a tree without the file: %v, %v; want an empty index", none, err)
	}
}
