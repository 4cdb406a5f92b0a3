package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkedPackages builds the init as the Makefile does (with its build tag;
// without -s, so the symbol table stays) and checks that packages the init has
// no use for are not linked in: every image carries this binary, and each of
// them used to come in through a dependency (the index builder's ELF reader and
// xz and gzip decoders, the LUKS2 metadata's reflection-based decoding, the
// rescue shell's os/exec and text/tabwriter, a reflect.DeepEqual, os.ReadDir's sort of
// directory entries, 7 KB for three listings that needed no order). regexp is
// not on the list: go-udev's netlink package, the project's uevent connection,
// brings it with its matcher.
func TestLinkedPackages(t *testing.T) {
	// Not skipped with -short: make unit (CI's) runs -short, and this is the only
	// test that sees what the init links. The build takes a few seconds.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the init with")
	}
	out := filepath.Join(t.TempDir(), "init")
	cmd := exec.Command(gobin, "build", "-trimpath", "-tags", "earlyroot_init", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"debug/elf.", "debug/dwarf.", "compress/flate.", "github.com/ulikunitz/xz", "encoding/json.", "os/exec.", "text/tabwriter.", "reflect.deepValueEqual", "os.ReadDir"}
	found := map[string]string{}
	for _, s := range syms {
		for _, p := range forbidden {
			if strings.HasPrefix(s.Name, p) && found[p] == "" {
				found[p] = s.Name
			}
		}
	}
	for p, sym := range found {
		t.Errorf("the init links %s (e.g. %s)", strings.TrimSuffix(p, "."), sym)
	}
}
