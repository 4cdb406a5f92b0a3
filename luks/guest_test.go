package luks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// TestGuestAFALG runs this package's AF_ALG tests inside a QEMU guest on the Debian test
// kernel, whose crypto API has AF_ALG and loads cipher modules on demand (request_module →
// busybox modprobe): the kernel cipher path, ESSIV, the committed fixtures decrypted by the
// kernel, and images that the host's cryptsetup, copied into the guest, makes there with
// ciphers a host kernel may lack (serpent, twofish). Hosts without AF_ALG cannot test that
// path themselves.
//
// It is an external test (package luks_test): internal/builder imports initramfs, which
// imports luks.
func TestGuestAFALG(t *testing.T) {
	if os.Getenv("EARLYROOT_BOOT") != "1" || testing.Short() {
		t.Skip("QEMU test: runs with EARLYROOT_BOOT=1 and without -short")
	}
	if os.Getenv("EARLYROOT_LUKS_GUEST") == "1" {
		t.Skip("already inside the guest")
	}
	k := vm.NeedKernel(t)
	work := t.TempDir()
	bin := filepath.Join(work, "luks.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	files := []vm.InitramfsFile{
		{Name: "sbin/modprobe", Link: "/bin/busybox"},
		{Name: "luks/luks.test", Src: bin, Mode: 0o755},
	}
	committed, err := filepath.Glob(filepath.Join("testdata", "*.img.gz"))
	if err != nil || len(committed) == 0 {
		t.Fatalf("no committed fixtures in testdata (%v)", err)
	}
	for _, p := range committed {
		files = append(files, vm.InitramfsFile{Name: "luks/" + filepath.ToSlash(p), Src: p})
	}
	files = append(files, cryptoModules(t, k)...)
	files = append(files, cryptsetupFiles(t)...)
	lines := vm.RunBusybox(t, k, vm.BusyboxGuest{Files: files, Script: guestScript},
		vm.Config{Append: "panic=-1 quiet", MemMB: 512}, "LUKS-GUEST", 5*time.Minute)
	out := strings.Join(lines, "\n")
	for _, want := range []string{"--- PASS: TestKernelCipher", "--- PASS: TestCommittedFixtures", "--- PASS: TestKernelCiphersOnDemand",
		"--- PASS: TestUnlockFormats/luks1_serpent-xts", "--- PASS: TestUnlockFormats/luks1_twofish-xts",
		"--- PASS: TestUnlockFormats/luks2_serpent", "--- PASS: TestUnlockFormats/luks1_aes-cbc-essiv",
		"--- PASS: TestUnlockFormats/luks1_aes-cbc-plain64", "--- PASS: TestUnlockFormats/luks2_essiv"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
}

// guestScript runs the tests in the guest, its output prefixed for RunBusybox. AF_ALG itself
// loads on demand too: socket() requests "net-pf-38", bind() "algif-skcipher".
const guestScript = `mkdir -p /run/cryptsetup
cd /luks
if EARLYROOT_LUKS_GUEST=1 ./luks.test -test.v -test.run 'TestKernelCipher|TestCommittedFixtures|TestKernelCiphersOnDemand|TestUnlockFormats/(luks1_serpent|luks1_twofish|luks2_serpent|luks1_aes-cbc|luks2_essiv)' >/tmp/out 2>&1
then verdict=PASS
else verdict="FAIL rc=$?"
fi
sed 's/^/LUKS-GUEST /' /tmp/out
echo "LUKS-GUEST $verdict"
poweroff -f
`

// cryptoModules returns the test kernel's crypto modules and a modules.dep for them, so that
// the guest's busybox modprobe can answer the kernel's "crypto-…" requests.
func cryptoModules(t *testing.T, k fixture.Kernel) []vm.InitramfsFile {
	t.Helper()
	base := t.TempDir()
	md := filepath.Join(base, "lib", "modules", k.Release)
	var files []vm.InitramfsFile
	for _, dir := range []string{"kernel/crypto", "kernel/arch/x86/crypto", "kernel/lib/crypto"} {
		ents, _ := os.ReadDir(filepath.Join(k.ModDir, dir))
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".ko") {
				continue
			}
			rel := filepath.Join(dir, e.Name())
			if err := os.MkdirAll(filepath.Join(md, dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(k.ModDir, rel), filepath.Join(md, rel)); err != nil {
				t.Fatal(err)
			}
			files = append(files, vm.InitramfsFile{Name: "lib/modules/" + k.Release + "/" + rel, Src: filepath.Join(k.ModDir, rel)})
		}
	}
	for _, f := range []string{"modules.builtin", "modules.order"} {
		if err := os.Symlink(filepath.Join(k.ModDir, f), filepath.Join(md, f)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("depmod", "-b", base, k.Release).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	}
	for _, f := range []string{"modules.dep", "modules.alias", "modules.symbols", "modules.builtin"} {
		files = append(files, vm.InitramfsFile{Name: "lib/modules/" + k.Release + "/" + f, Src: filepath.Join(md, f)})
	}
	return files
}

// cryptsetupFiles puts the host's cryptsetup and its shared libraries into the guest, where
// the kernel has the ciphers (serpent, twofish) it needs to make fixtures this host cannot.
func cryptsetupFiles(t *testing.T) []vm.InitramfsFile {
	t.Helper()
	bin, err := exec.LookPath("cryptsetup")
	if err != nil {
		t.Skip("cryptsetup not on PATH (make deps installs cryptsetup-bin)")
	}
	libs, err := builder.SharedObjects(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := []vm.InitramfsFile{{Name: "sbin/cryptsetup", Src: bin, Mode: 0o755}}
	for dst, src := range libs {
		files = append(files, vm.InitramfsFile{Name: dst, Src: src, Mode: 0o755})
	}
	return files
}
