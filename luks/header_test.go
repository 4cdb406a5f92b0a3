package luks

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// patch overwrites part of an image (to damage a header copy the way a bad disk would).
func patch(tb testing.TB, img string, off int64, data []byte) {
	tb.Helper()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		tb.Fatal(err)
	}
}

func readAt(tb testing.TB, img string, off, n int64) []byte {
	tb.Helper()
	f, err := os.Open(img)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	return b
}

// unlockMatches unlocks h and compares with a key cryptsetup reported earlier.
func unlockMatches(t *testing.T, h *Header, pass string, want []byte) {
	t.Helper()
	vk, _, err := h.Unlock([]byte(pass))
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	defer vk.Wipe()
	if !bytes.Equal(vk.Bytes(), want) {
		t.Fatal("volume key differs from cryptsetup's")
	}
}

func luks2Image(t *testing.T, extra ...string) string {
	return format(t, 20, "pw", append(append([]string{"--type", "luks2"}, fastPBKDF2...), extra...)...)
}

func TestHeaderCopies(t *testing.T) {
	needCryptsetup(t)
	tests := []struct {
		name          string
		damage        func(t *testing.T, img string)
		wantSecondary bool
		wantErr       string
	}{
		{"intact", func(*testing.T, string) {}, false, ""},
		{"primary JSON damaged", func(t *testing.T, img string) { patch(t, img, 4096+20, []byte("X")) }, true, ""},
		{"primary binary header zeroed", func(t *testing.T, img string) { patch(t, img, 0, make([]byte, 4096)) }, true, ""},
		{"primary checksum damaged", func(t *testing.T, img string) { patch(t, img, 448, []byte{0xff, 0xee}) }, true, ""},
		{"both damaged", func(t *testing.T, img string) {
			patch(t, img, 4096+20, []byte("X"))
			patch(t, img, 16384+4096+20, []byte("X"))
		}, false, "no valid header: primary: sha256 checksum mismatch; secondary: at 16384: sha256 checksum mismatch"},
		{"both zeroed", func(t *testing.T, img string) {
			patch(t, img, 0, make([]byte, 4096))
			patch(t, img, 16384, make([]byte, 4096))
		}, false, ErrNotLUKS.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := luks2Image(t)
			want := volumeKey(t, img, "pw")
			tt.damage(t, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := Open(f, 20<<20)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if h.Secondary != tt.wantSecondary {
				t.Errorf("Secondary = %v, want %v", h.Secondary, tt.wantSecondary)
			}
			unlockMatches(t, h, "pw", want)
		})
	}
}

// TestHigherSeqidWins: an intact but older primary loses to the newer secondary.
func TestHigherSeqidWins(t *testing.T) {
	needCryptsetup(t)
	img := luks2Image(t, "--label", "old")
	oldPrimary := readAt(t, img, 0, 16384)
	run(t, "config", "--label", "new", img)
	h := openImage(t, img)
	if h.Label != "new" || h.Secondary {
		t.Fatalf("after relabel: label %q secondary %v", h.Label, h.Secondary)
	}
	seq := h.Seqid
	patch(t, img, 0, oldPrimary)
	h = openImage(t, img)
	if h.Label != "new" || !h.Secondary || h.Seqid != seq {
		t.Errorf("label %q secondary %v seqid %d, want new, true, %d", h.Label, h.Secondary, h.Seqid, seq)
	}
}

func TestTokens(t *testing.T) {
	needCryptsetup(t)
	img := luks2Image(t)
	want := volumeKey(t, img, "pw")
	tok := `{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"AAAA","tpm2-pcrs":[7],"tpm2-pcr-bank":"sha256",` +
		`"tpm2-policy-hash":"` + strings.Repeat("0", 64) + `","tpm2-pin":false}`
	path := writeKey(t, tok)
	run(t, "token", "import", "--token-id", "3", "--json-file", path, img)
	h := openImage(t, img)
	toks := h.Tokens()
	if len(toks) != 1 || toks[0].ID != 3 || toks[0].Type != "systemd-tpm2" || len(toks[0].Keyslots) != 1 || toks[0].Keyslots[0] != 0 {
		t.Fatalf("Tokens = %+v", toks)
	}
	if got, want := h.String(), "; keyslots 0 pbkdf2; tokens 3 systemd-tpm2 (keyslots 0)"; !strings.HasSuffix(got, want) {
		t.Errorf("String = %q, want suffix %q", got, want)
	}
	unlockMatches(t, h, "pw", want)
}

func TestReencryptionUnsupported(t *testing.T) {
	needCryptsetup(t)
	img := luks2Image(t)
	run(t, append([]string{"reencrypt", "--init-only", "--batch-mode", "--key-file", writeKey(t, "pw")}, append(fastPBKDF2, img)...)...)
	h := openImage(t, img)
	_, err := h.Segment()
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "unsupported: reencryption in progress") {
		t.Fatalf("Segment: err = %v, want unsupported reencryption", err)
	}
	if s := h.String(); !strings.Contains(s, ": unsupported: reencryption in progress") || !strings.Contains(s, "reencrypt") {
		t.Errorf("String = %q", s)
	}
}

func TestIdentity(t *testing.T) {
	needCryptsetup(t)
	for _, typ := range []string{"luks1", "luks2"} {
		t.Run(typ, func(t *testing.T) {
			args := append([]string{"--type", typ}, fastPBKDF2...)
			if typ == "luks2" {
				args = append(args, "--label", "cryptroot", "--subsystem", "sys")
			}
			img := format(t, 20, "pw", args...)
			uuid := strings.TrimSpace(run(t, "luksUUID", img))
			h := openImage(t, img)
			if h.UUID() != uuid {
				t.Errorf("UUID %q, cryptsetup says %q", h.UUID(), uuid)
			}
			n := strings.ToUpper(typ)
			if got, want := h.DMUUID("root"), "CRYPT-"+n+"-"+strings.ReplaceAll(uuid, "-", "")+"-root"; got != want {
				t.Errorf("DMUUID = %q, want %q", got, want)
			}
			if got, want := h.KeyDescription(), "cryptsetup:"+uuid+"-d0"; got != want {
				t.Errorf("KeyDescription = %q, want %q", got, want)
			}
			if typ == "luks2" && (h.Label != "cryptroot" || h.Subsystem != "sys") {
				t.Errorf("label %q subsystem %q", h.Label, h.Subsystem)
			}
		})
	}
}

func TestNotLUKS(t *testing.T) {
	for _, size := range []int64{100, 4096, 1 << 20} {
		_, err := Open(bytes.NewReader(make([]byte, size)), size)
		if !errors.Is(err, ErrNotLUKS) {
			t.Errorf("%d zero bytes: err = %v, want ErrNotLUKS", size, err)
		}
	}
}
