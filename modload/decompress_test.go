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
