package sparse

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	full := make([]byte, 8192)
	copy(full[512:], "label")
	copy(full[1024:], "next sector")
	copy(full[7000:], "tail")
	im, err := extract(bytes.NewReader(full), int64(len(full)), [2]int64{0, 4096}, [2]int64{6656, 9000})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Chunks) != 2 || im.Chunks[0].Off != 512 || len(im.Chunks[0].Data) != 1024 {
		t.Fatalf("chunks %+v", im.Chunks)
	}
	path := filepath.Join(t.TempDir(), "x.json")
	if err := im.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(full))
	if n, err := back.ReadAt(got, 0); n != len(full) || err != nil {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if !bytes.Equal(got, full) {
		t.Error("round trip differs")
	}
	p := make([]byte, 100)
	if n, err := back.ReadAt(p, 8150); n != 42 || err != io.EOF {
		t.Errorf("read past the end: %d %v", n, err)
	}
}
