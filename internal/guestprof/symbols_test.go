package guestprof

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const kallsymsFixture = `[    3.1] random console line
0000000000000000 A fixed_percpu_data
ffffffff81000000 T _text
ffffffff81000040 t verify_cpu
ffffffff81149680 T load_module
ffffffff8114b9d0 t __do_sys_finit_module
ffffffff82000000 D some_data
ffffffff8114bb50 T __x64_sys_finit_module
ffffffffc0001000 t virtblk_probe	[virtio_blk]
not an address T x
`

func TestParseKallsyms(t *testing.T) {
	tab, err := ParseKallsyms(strings.NewReader(kallsymsFixture))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 5 {
		t.Errorf("%d symbols, want the 5 kernel text ones", tab.Len())
	}
	n := Names{Kernel: tab}
	for _, tc := range []struct {
		pc   uint64
		want string
	}{
		{0xffffffff81000000, "_text"},
		{0xffffffff8100003f, "_text"},
		{0xffffffff81149700, "load_module"},
		{0xffffffff8114b9d0, "__do_sys_finit_module"},
		{0xffffffff8114bb60, "__x64_sys_finit_module"},
		{0xffffffff80000000, KernelOther},
		{0xffffffffc0001010, KernelModule},
		{0x401000, UserOther},
	} {
		if got := n.Name(tc.pc); got != tc.want {
			t.Errorf("Name(%#x) = %q, want %q", tc.pc, got, tc.want)
		}
	}
}

func TestParseKallsymsErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "no text symbols",
		"0000000000000000 T _text\n":         "kptr_restrict",
		"ffffffffc0001000 t f\t[virtio]\n":   "no text symbols",
		"ffffffff82000000 D only_data\nxx\n": "no text symbols",
	} {
		if _, err := ParseKallsyms(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKallsyms(%q) = %v, want %q", in, err, want)
		}
	}
}

// TestGoTable names this test's own code from the test binary's pclntab.
func TestGoTable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := GoTable(exe)
	if err != nil {
		t.Fatal(err)
	}
	n := Names{Program: tab}
	for _, tc := range []struct {
		fn   any
		want string
	}{
		{TestGoTable, "github.com/earlyroot/earlyroot/internal/guestprof.TestGoTable"},
		{ParseKallsyms, "github.com/earlyroot/earlyroot/internal/guestprof.ParseKallsyms"},
		{strings.Fields, "strings.Fields"},
	} {
		pc, want := uint64(reflect.ValueOf(tc.fn).Pointer()), tc.want
		if got := n.Name(pc + 1); got != want {
			t.Errorf("Name(%#x) = %q, want %q", pc+1, got, want)
		}
	}
	if got := n.Name(0x10); got != UserOther {
		t.Errorf("an address below the text: %q, want %q", got, UserOther)
	}
}

func TestGoTableErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := dir + "/x"
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	for _, p := range []string{dir + "/missing", notELF} {
		if _, err := GoTable(p); err == nil {
			t.Errorf("GoTable(%s) accepted", p)
		}
	}
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add(kallsymsFixture)
	f.Fuzz(func(t *testing.T, in string) {
		tab, err := ParseKallsyms(strings.NewReader(in))
		if err != nil {
			return
		}
		for i := 1; i < tab.Len(); i++ {
			if tab.addrs[i-1] > tab.addrs[i] {
				t.Fatal("unsorted table")
			}
		}
		for _, a := range tab.addrs {
			if name, ok := tab.Lookup(a); !ok || name == "" {
				t.Fatalf("Lookup(%#x) of a symbol's own address failed", a)
			}
		}
	})
}

// TestGoTableStripped reads the functions of a binary built as the init is, without its
// symbol table.
func TestGoTableStripped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program (skipped with -short)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module stripped\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644)
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if f, err := elf.Open(bin); err != nil || f.Section(".symtab") != nil {
		t.Fatalf("the binary is not stripped (%v)", err)
	}
	tab, err := GoTable(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tab.names, "main.main") || !slices.Contains(tab.names, "runtime.schedinit") {
		t.Errorf("%d functions, without main.main or runtime.schedinit", tab.Len())
	}
}
