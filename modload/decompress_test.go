package modload

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecompressZstd(t *testing.T) {
	plain := bytes.Repeat([]byte("\x7fELF module text "), 50000)
	good := compress(t, "zstd", plain)
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"whole frame", good, ""},
		{"empty", nil, ""},
		{"garbage", []byte("not zstd at all"), "zstd: "},
		{"truncated", good[:len(good)/2], "zstd: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decompress("zstd", bytes.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.in != nil && !bytes.Equal(got, plain) {
				t.Errorf("decompressed %d bytes, want the %d of the original", len(got), len(plain))
			}
		})
	}
}

func FuzzDecompressZstd(f *testing.F) {
	f.Add(compress(f, "zstd", []byte("\x7fELF")))
	f.Add([]byte("\x28\xb5\x2f\xfd"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if data, err := decompress("zstd", bytes.NewReader(in)); err == nil && len(data) > maxModule {
			t.Fatalf("%d bytes accepted", len(data))
		}
	})
}

// countingFile is an io.Reader that is not an io.ByteReader, as an *os.File
// is not, and counts its Read calls (each a read(2) on a file).
type countingFile struct {
	r     *bytes.Reader
	calls int
}

func (c *countingFile) Read(p []byte) (int, error) {
	c.calls++
	return c.r.Read(p)
}

// The xz decoder asks its input for a byte at a time; reading a module file
// must not cost a read(2) per compressed byte (a tree of .ko.xz modules took
// tens of seconds of system time that way).
func TestDecompressXZReadsInBlocks(t *testing.T) {
	plain := bytes.Repeat([]byte("\x7fELF module text, not very compressible 0123456789"), 20000)
	for i := range plain {
		plain[i] ^= byte(i * 131 >> 3)
	}
	z := compress(t, "xz", plain)
	in := &countingFile{r: bytes.NewReader(z)}
	got, err := decompress("xz", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("decompressed %d bytes, want the %d of the original", len(got), len(plain))
	}
	if max := len(z)/(32<<10) + 4; in.calls > max {
		t.Errorf("%d reads for %d compressed bytes, want at most %d", in.calls, len(z), max)
	}
}
