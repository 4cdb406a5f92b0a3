package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// Disk returns the set of the recipe called name for a test, building it first when the
// cache has none (a builder VM boot under QEMU). Without the test kernel the test is skipped,
// or failed with $EARLYROOT_REQUIRE_KERNEL=1, as fixture.NeedKernel does. In -short mode
// nothing is built: a set not yet made (make disks makes them all) skips the test, or fails
// it with $EARLYROOT_REQUIRE_KERNEL=1.
//
// The images are the cache's own: attach them read-only, or use Copies.
func Disk(t testing.TB, name string) *Set {
	t.Helper()
	r, ok := Lookup(name)
	if !ok {
		t.Fatalf("builder: no recipe %q", name)
	}
	o := Options{Kernel: fixture.NeedKernel(t)}
	if s, ok := Cached(r, o); ok {
		return s
	}
	if testing.Short() {
		msg := fmt.Sprintf("builder: disk set %s is not built yet and -short builds nothing (make disks builds every set)", name)
		if os.Getenv(fixture.RequireKernelEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath(vm.QEMUBinary); err != nil {
		t.Fatalf("builder: disk set %s is not built and cannot be: %v", name, err)
	}
	t.Logf("builder: building disk set %s (a QEMU boot)", name)
	s, err := Build(context.Background(), r, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Copies copies the set's disk images into the test's temporary directory (holes kept) and
// returns their paths, in recipe order, for a guest that may write to them.
func (s *Set) Copies(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for i, src := range s.Disks {
		dst := filepath.Join(dir, s.Recipe.Disks[i].Name+".img")
		if err := copySparse(src, dst); err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
		out = append(out, dst)
	}
	return out
}

// Drives copies the set's disks for a guest that may write (Copies) and returns them as
// virtio-blk drives in recipe order (/dev/vda, /dev/vdb, …), each with its disk's name as
// serial.
func (s *Set) Drives(t testing.TB) []vm.Drive {
	t.Helper()
	var out []vm.Drive
	for i, p := range s.Copies(t) {
		out = append(out, vm.Drive{Path: p, Serial: s.Recipe.Disks[i].Name})
	}
	return out
}

// Unchanged reports which of copies (in recipe order, as Copies returns them) differ from
// the images the builder made: after a read-only boot, none may.
func (s *Set) Unchanged(copies []string) error {
	if len(copies) != len(s.Disks) {
		return fmt.Errorf("%d copies of %d disks", len(copies), len(s.Disks))
	}
	var errs []error
	for i, c := range copies {
		if err := sameFile(s.Disks[i], c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sameFile compares two files and names the first differing byte.
func sameFile(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			i := 0
			for i < min(na, nb) && ba[i] == bb[i] {
				i++
			}
			return fmt.Errorf("%s differs from %s at byte %d", b, a, off+int64(i))
		}
		off += int64(na)
		if erra != nil || errb != nil {
			if (erra == io.EOF || erra == io.ErrUnexpectedEOF) && (errb == io.EOF || errb == io.ErrUnexpectedEOF) {
				return nil
			}
			return errors.Join(erra, errb)
		}
	}
}

func copySparse(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return copyRange(f, 0, fi.Size(), dst)
}
