package luks

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the CPU time (user+system) this process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
// ("cryptsetup") on the same image. Run it once per format:
//
//	go test -run '^$' -bench Unlock -benchtime 1x ./luks/
func BenchmarkUnlock(b *testing.B) {
	needCryptsetup(b)
	for _, bf := range benchFormats {
		img := format(b, 20, "bench passphrase", bf.args...)
		key := writeKey(b, "bench passphrase")
		b.Run(bf.name+"/earlyroot", func(b *testing.B) {
			f, err := os.Open(img)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var cpu time.Duration
			for b.Loop() {
				before := cpuTime(b)
				if _, err := UnlockTime(f, 20<<20, []byte("bench passphrase")); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime(b) - before
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
		b.Run(bf.name+"/cryptsetup", func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command("cryptsetup", "open", "--test-passphrase", "--key-file", key, img)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
