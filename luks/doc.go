// Package luks reads LUKS1 and LUKS2 headers and recovers the volume key from a keyslot, so
// that PID 1 can open an encrypted root without cryptsetup.
//
// The formats are those of cryptsetup's published "LUKS1 On-Disk Format" and "LUKS2 On-Disk
// Format" specifications. A header is only ever read: nothing here writes to a device.
//
// Keyslot material is decrypted by the kernel's own ciphers through AF_ALG (algif_skcipher),
// as cryptsetup does, so every cipher dm-crypt can use for the volume also works for its
// keyslots and no cipher is implemented in Go. The kernel loads what is missing by itself,
// through modprobe: "net-pf-38" (af_alg) on the first socket, "algif-skcipher" on the first
// bind, "crypto-<algorithm>" for the cipher, its mode and ESSIV's hash. When it cannot, Unlock
// reports an "unsupported cipher" error naming the kernel algorithm.
//
// The intended sequence for a caller is:
//
//	h, err := luks.Open(dev, size)      // parse and check the header
//	seg, err := h.Segment()             // refuse unsupported layouts before asking anything
//	vk, slot, err := h.Unlock(pass)     // derive, decrypt, merge, verify
//	defer vk.Wipe()
//
// Passphrases stay with the caller; the volume key, derived keys and the decrypted key
// material are zeroed as soon as they are no longer needed, as far as Go allows (the Argon2
// implementation's working memory, and the HMAC and hash states of PBKDF2 and the AF
// diffusion, are out of reach). No error string contains key bytes.
package luks
