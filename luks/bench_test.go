package luks

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// benchFormats are the formats the performance row compares: key derivation plus
// keyslot decryption, this package against cryptsetup open --test-passphrase, on one image.
var benchFormats = []struct {
	name string
	args []string
}{
	{"argon2id-64M-t4-p1", []string{"--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-memory", "65536", "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "1"}},
	// cryptsetup lowers the parallelism to the number of online CPUs when it formats.
	{"argon2id-64M-t4-p4", []string{"--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-memory", "65536", "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "4"}},
	{"pbkdf2-sha256-1M", []string{"--type", "luks2", "--pbkdf", "pbkdf2", "--hash", "sha256", "--pbkdf-force-iterations", "1000000"}},
}

// BenchmarkUnlock times Open+Unlock ("earlyroot") and cryptsetup open --test-passphrase
// ("cryptsetup") on the same image, each in a fresh process, as at boot: the earlyroot side
// re-runs this test binary as TestUnlockHelper, so both pay process start and a cold heap
// for the KDF's memory. Reports wall time (ns/op) and the child's CPU time (cpu-ms/op). Run
// it once per format:
//
//	go test -run '^$' -bench Unlock -benchtime 1x ./luks/
func BenchmarkUnlock(b *testing.B) {
	needCryptsetup(b)
	for _, bf := range benchFormats {
		img := format(b, 20, "bench passphrase", bf.args...)
		key := writeKey(b, "bench passphrase")
		self := exec.Command(os.Args[0], "-test.run", "^TestUnlockHelper$")
		self.Env = append(os.Environ(), "EARLYROOT_LUKS_UNLOCK="+img, "EARLYROOT_LUKS_KEY="+key)
		b.Run(bf.name+"/earlyroot", func(b *testing.B) { timeProcess(b, self) })
		b.Run(bf.name+"/cryptsetup", func(b *testing.B) {
			timeProcess(b, exec.Command("cryptsetup", "open", "--test-passphrase", "--key-file", key, img))
		})
	}
}

// timeProcess runs a copy of cmd per iteration and reports its CPU time besides the wall time.
func timeProcess(b *testing.B, cmd *exec.Cmd) {
	var cpu time.Duration
	for b.Loop() {
		c := exec.Command(cmd.Path, cmd.Args[1:]...)
		c.Env = cmd.Env
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", c, err, out)
		}
		cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// TestUnlockHelper is BenchmarkUnlock's child process: it unlocks $EARLYROOT_LUKS_UNLOCK with
// the contents of $EARLYROOT_LUKS_KEY.
func TestUnlockHelper(t *testing.T) {
	img := os.Getenv("EARLYROOT_LUKS_UNLOCK")
	if img == "" {
		t.Skip("helper process of BenchmarkUnlock")
	}
	pass, err := os.ReadFile(os.Getenv("EARLYROOT_LUKS_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	vk, _, err := h.Unlock(pass)
	if err != nil {
		t.Fatal(err)
	}
	vk.Wipe()
}
