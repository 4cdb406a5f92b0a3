package luks

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// committed fixtures (testdata/README.md says how cryptsetup made them).
var fixtures = []struct {
	file    string
	size    int64 // the size they were made at
	uuid    string
	key     string // cryptsetup luksDump --dump-volume-key
	version int
	segment Segment
	slot    Keyslot
	summary string
}{
	{
		file: "luks1-essiv.img.gz", size: 4 << 20, version: 1,
		uuid:    "04bc8d20-b151-41d3-b96d-9b9f243bce90",
		key:     "d3f549cdfae7179106cfff116f3c361f985d27afe21747fc49e5526c6134d6d1",
		segment: Segment{Cipher: "aes-cbc-essiv:sha256", KeySize: 32, Offset: 4096, Dynamic: true, SectorSize: 512},
		slot: Keyslot{ID: 0, Type: "luks1", Priority: PriorityNormal, KeySize: 32,
			KDF:        KDF{Type: "pbkdf2", Hash: "sha1", Iterations: 1000},
			AreaOffset: 4096, AreaSize: 128000, AreaCipher: "aes-cbc-essiv:sha256", AreaKeySize: 32,
			Stripes: 4000, AFHash: "sha1"},
		summary: "LUKS1 04bc8d20-b151-41d3-b96d-9b9f243bce90: aes-cbc-essiv:sha256, 256-bit key, 512-byte sectors; keyslots 0 pbkdf2",
	},
	{
		file: "luks2-xts.img.gz", size: 20 << 20, version: 2,
		uuid:    "e278162e-001d-4df1-96e3-3337fe97bdf6",
		key:     "2268a0f9b10e0e2724521090f013ba28585a1cdec0e194146849f9d794587b2a",
		segment: Segment{Cipher: "aes-xts-plain64", KeySize: 32, Offset: 32768, Dynamic: true, SectorSize: 4096},
		slot: Keyslot{ID: 0, Type: "luks2", Priority: PriorityNormal, KeySize: 32,
			KDF:        KDF{Type: "argon2id", Iterations: 4, MemoryKiB: 8192, Threads: 2},
			AreaOffset: 32768, AreaSize: 131072, AreaCipher: "aes-xts-plain64", AreaKeySize: 32,
			Stripes: 4000, AFHash: "sha256"},
		summary: "LUKS2 e278162e-001d-4df1-96e3-3337fe97bdf6: aes-xts-plain64, 256-bit key, 4096-byte sectors; keyslots 0 argon2id",
	},
}

// unpackFixture writes a committed image, extended to its original size, to a temp file.
func unpackFixture(tb testing.TB, name string, size int64) string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	img := filepath.Join(tb.TempDir(), "disk.img")
	if err := os.WriteFile(img, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		tb.Fatal(err)
	}
	return img
}

func TestCommittedFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			h := openImage(t, unpackFixture(t, fx.file, fx.size))
			if h.Version != fx.version || h.UUID() != fx.uuid {
				t.Errorf("version %d uuid %s, want %d %s", h.Version, h.UUID(), fx.version, fx.uuid)
			}
			if got := h.String(); got != fx.summary {
				t.Errorf("String:\n%s\nwant\n%s", got, fx.summary)
			}
			seg, err := h.Segment()
			if err != nil {
				t.Fatal(err)
			}
			if seg.Cipher != fx.segment.Cipher || seg.KeySize != fx.segment.KeySize || seg.Offset != fx.segment.Offset ||
				seg.Dynamic != fx.segment.Dynamic || seg.SectorSize != fx.segment.SectorSize {
				t.Errorf("Segment = %+v, want %+v", seg, fx.segment)
			}
			slots := h.Keyslots()
			if len(slots) != 1 {
				t.Fatalf("%d keyslots, want 1", len(slots))
			}
			got := slots[0]
			if len(got.KDF.Salt) != 32 {
				t.Errorf("salt of %d bytes", len(got.KDF.Salt))
			}
			got.KDF.Salt = nil
			if !reflect.DeepEqual(got, fx.slot) {
				t.Errorf("keyslot = %+v\nwant       %+v", got, fx.slot)
			}
			vk, slot, err := h.Unlock([]byte("earlyroot"))
			if err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			defer vk.Wipe()
			want, _ := hex.DecodeString(fx.key)
			if slot != 0 || !bytes.Equal(vk.Bytes(), want) {
				t.Errorf("Unlock: slot %d, key differs from cryptsetup's: %v", slot, !bytes.Equal(vk.Bytes(), want))
			}
		})
	}
}

// Header.Algorithms lists what the kernel needs for the segment and the keyslots, sorted.
func TestFixtureAlgorithms(t *testing.T) {
	want := map[string][]string{
		"luks1-essiv.img.gz": {"aes", "cbc", "essiv", "sha256"},
		"luks2-xts.img.gz":   {"aes", "xts"},
	}
	for _, fx := range fixtures {
		h := openImage(t, unpackFixture(t, fx.file, fx.size))
		if got := h.Algorithms(); !slices.Equal(got, want[fx.file]) {
			t.Errorf("%s: Algorithms %q, want %q", fx.file, got, want[fx.file])
		}
	}
}

// Header.Prepare binds each transform of the segment and the keyslots once: the bulk
// cipher's skcipher and, for ESSIV, the ecb cipher of the IVs.
func TestFixturePrepare(t *testing.T) {
	want := map[string][]string{
		"luks1-essiv.img.gz": {"cbc(aes)", "ecb(aes)"},
		"luks2-xts.img.gz":   {"xts(aes)"},
	}
	saved := bindTransform
	defer func() { bindTransform = saved }()
	for _, fx := range fixtures {
		var bound []string
		bindTransform = func(name string) { bound = append(bound, name) }
		openImage(t, unpackFixture(t, fx.file, fx.size)).Prepare()
		if !slices.Equal(bound, want[fx.file]) {
			t.Errorf("%s: Prepare bound %q, want %q", fx.file, bound, want[fx.file])
		}
	}
}
