package luks

import (
	"fmt"
	"io"
	"time"
)

// UnlockTime opens the LUKS header on r and unlocks it with passphrase, wiping the key, and
// returns how long that took: key derivation, keyslot decryption, AF merge and digest check.
// It is the figure a benchmark compares with cryptsetup open --test-passphrase.
func UnlockTime(r io.ReaderAt, size int64, passphrase []byte) (time.Duration, error) {
	start := time.Now()
	h, err := Open(r, size)
	if err != nil {
		return 0, err
	}
	vk, _, err := h.Unlock(passphrase)
	if err != nil {
		return 0, fmt.Errorf("luks %s: %w", h.UUID(), err)
	}
	d := time.Since(start)
	vk.Wipe()
	return d, nil
}
