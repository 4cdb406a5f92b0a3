package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/earlyroot/earlyroot/internal/vm"
)

var testRoot struct {
	once sync.Once
	tar  []byte
	err  error
}

// TestRoot returns the test root every recipe unpacks into its innermost filesystem, as a
// tar archive: the tree of vm.RootDir with cmd/testinit (built from this checkout, static,
// like vm.BuildStatic builds it) as /sbin/init. Booted through earlyroot, each disk set
// therefore reaches testinit's EARLYROOT-FACTS line. It is built once per process.
func TestRoot() ([]byte, error) {
	testRoot.once.Do(func() {
		dir, err := os.MkdirTemp("", "earlyroot-builder-root-")
		if err != nil {
			testRoot.err = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "testinit")
		if err := vm.BuildStatic("./cmd/testinit", bin); err != nil {
			testRoot.err = err
			return
		}
		tree := filepath.Join(dir, "root")
		if err := vm.RootDir(tree, bin); err != nil {
			testRoot.err = err
			return
		}
		testRoot.tar, testRoot.err = tarTree(tree)
	})
	return testRoot.tar, testRoot.err
}

// execOutput runs a program and returns its combined output.
func execOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	b, err := cmd.CombinedOutput()
	return string(b), err
}
