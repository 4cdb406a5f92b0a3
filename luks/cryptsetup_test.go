package luks

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Fixtures are made by cryptsetup at test time, never by this package. The KDF costs are
// kept small so a fixture takes well under a second.

// needCryptsetup skips the test, visibly, when cryptsetup is not installed.
func needCryptsetup(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		tb.Skip("cryptsetup not on PATH (make deps installs cryptsetup-bin); skipping a test that needs its fixtures")
	}
}

// needCipher skips when neither the kernel (AF_ALG) nor, on a host without AF_ALG, the
// tests' Go stand-in can decrypt with the cipher spec: cryptsetup cannot make it either.
func needCipher(tb testing.TB, spec string, keySize int) {
	tb.Helper()
	cs, err := parseCipher(spec)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := newSectorCipher(cs, make([]byte, keySize))
	var ce *CipherError
	if errors.As(err, &ce) {
		tb.Skipf("cannot decrypt %s on this host: %v", spec, err)
	}
	if err != nil {
		tb.Fatalf("probe %s: %v", spec, err)
	}
	c.Close()
}

// cheap KDF settings for fixtures.
var (
	fastPBKDF2  = []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	fastArgon2  = []string{"--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "1"}
	fastArgon2i = []string{"--pbkdf", "argon2i", "--pbkdf-memory", "16384", "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "2"}
)

// run runs cryptsetup and fails the test with its output on error.
func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command("cryptsetup", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("cryptsetup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeKey writes a passphrase into a key file and returns its path.
func writeKey(tb testing.TB, pass string) string {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "key")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteString(pass); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return f.Name()
}

// format creates a sparse image of sizeMiB and runs luksFormat on it with pass in keyslot
// given by the args (0 by default).
func format(tb testing.TB, sizeMiB int64, pass string, args ...string) string {
	tb.Helper()
	img := filepath.Join(tb.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(img, sizeMiB<<20); err != nil {
		tb.Fatal(err)
	}
	a := append([]string{"luksFormat", "--batch-mode", "--key-file", writeKey(tb, pass)}, args...)
	run(tb, append(a, img)...)
	return img
}

// addKey adds newPass to img in keyslot slot, authorised by pass.
func addKey(tb testing.TB, img, pass, newPass, slot string, args ...string) {
	tb.Helper()
	a := append([]string{"luksAddKey", "--batch-mode", "--key-file", writeKey(tb, pass), "--key-slot", slot}, args...)
	run(tb, append(a, img, writeKey(tb, newPass))...)
}

var mkDump = regexp.MustCompile(`(?s)MK dump:\s*((?:[0-9a-f]{2}\s+)+)`)

// volumeKey is cryptsetup's own view of the volume key (luksDump --dump-volume-key).
func volumeKey(tb testing.TB, img, pass string) []byte {
	tb.Helper()
	out := run(tb, "luksDump", "--dump-volume-key", "--batch-mode", "--key-file", writeKey(tb, pass), img)
	m := mkDump.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("no MK dump in luksDump output")
	}
	key, err := hex.DecodeString(strings.Join(strings.Fields(m[1]), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

var slotUnlocked = regexp.MustCompile(`Key slot (\d+) unlocked`)

// testPassphrase is cryptsetup's answer: the keyslot it opens with pass, or -1.
func testPassphrase(tb testing.TB, img, pass string) string {
	tb.Helper()
	out, err := exec.Command("cryptsetup", "open", "--test-passphrase", "-v", "--key-file", writeKey(tb, pass), img).CombinedOutput()
	if err != nil {
		return "-1"
	}
	m := slotUnlocked.FindSubmatch(out)
	if m == nil {
		tb.Fatalf("cryptsetup open --test-passphrase: no slot in %q", out)
	}
	return string(m[1])
}

// openImage opens img with this package.
func openImage(tb testing.TB, img string) *Header {
	tb.Helper()
	f, err := os.Open(img)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	h, err := Open(f, st.Size())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return h
}

// checkUnlock unlocks img with pass and compares the key and slot with cryptsetup's.
func checkUnlock(t *testing.T, h *Header, img, pass string) int {
	t.Helper()
	vk, slot, err := h.Unlock([]byte(pass))
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	defer vk.Wipe()
	if want := volumeKey(t, img, pass); !bytes.Equal(vk.Bytes(), want) {
		t.Fatalf("volume key differs from cryptsetup's (%d vs %d bytes)", vk.Len(), len(want))
	}
	if want := testPassphrase(t, img, pass); want != strconv.Itoa(slot) {
		t.Fatalf("Unlock used keyslot %d, cryptsetup open --test-passphrase keyslot %s", slot, want)
	}
	return slot
}
