package luks

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fixturePrefix returns the first n bytes of a committed image (a fuzz seed).
func fixturePrefix(tb testing.TB, name string, n int) []byte {
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
	b := make([]byte, n)
	if _, err := io.ReadFull(zr, b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// exercise calls every accessor of a parsed header, as the boot would.
func exercise(h *Header) {
	_, _ = h.Segment()
	_ = h.Keyslots()
	_ = h.Tokens()
	_ = h.DMUUID("root")
	_ = h.KeyDescription()
}

func FuzzLUKS1Header(f *testing.F) {
	f.Add(fixturePrefix(f, "luks1-essiv.img.gz", luks1HeaderSize), int64(4<<20))
	f.Add(make([]byte, luks1HeaderSize), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := parseLUKS1(b, size)
		if err != nil {
			return
		}
		exercise(h)
		for _, ks := range h.Keyslots() {
			if ks.AreaSize < uint64(ks.KeySize*ks.Stripes) {
				t.Fatalf("keyslot %d: area %d smaller than its key material", ks.ID, ks.AreaSize)
			}
		}
	})
}

// FuzzLUKS2Header fuzzes one header copy: binary header and JSON area. The harness fixes the
// checksum up (the fuzzer cannot), so mutations reach the JSON and its checks.
func FuzzLUKS2Header(f *testing.F) {
	f.Add(fixturePrefix(f, "luks2-xts.img.gz", 16384), false)
	f.Add(fixturePrefix(f, "luks2-xts.img.gz", 16384), true)
	f.Fuzz(func(t *testing.T, b []byte, fixSum bool) {
		if fixSum && len(b) >= binHeaderSize {
			n := min(len(b), 16384)
			clear(b[csumOffset : csumOffset+csumSize])
			sum := sha256.Sum256(b[:n])
			copy(b[csumOffset:], sum[:])
		}
		bh, err := checkCopy(b, 0)
		if err != nil {
			return
		}
		h := &Header{Version: 2}
		if err := bh.meta.fill(h, bh.hdrSize, 64<<20); err != nil {
			return
		}
		exercise(h)
	})
}

func FuzzMetadata(f *testing.F) {
	f.Add([]byte(baseJSON))
	f.Add(bytes.TrimRight(fixturePrefix(f, "luks2-xts.img.gz", 16384)[binHeaderSize:], "\x00"))
	f.Fuzz(func(t *testing.T, text []byte) {
		h, err := headerFromJSON(string(text))
		if err != nil {
			return
		}
		exercise(h)
		seg, err := h.Segment()
		if err == nil && (seg.KeySize < 1 || seg.SectorSize < 512) {
			t.Fatalf("Segment %+v accepted", seg)
		}
	})
}

// FuzzOpen runs Open over a whole (small) device image.
func FuzzOpen(f *testing.F) {
	f.Add(fixturePrefix(f, "luks2-xts.img.gz", 40000))
	f.Add(fixturePrefix(f, "luks1-essiv.img.gz", 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		exercise(h)
	})
}
