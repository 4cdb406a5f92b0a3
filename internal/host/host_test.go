package host

import (
	"strings"
	"testing"
)

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{32 << 20, "32.0 MiB"}, {13316915, "12.7 MiB"}, {5 << 40, "5.0 TiB"}, {1 << 62, "4.0 EiB"},
	} {
		if got := Size(tt.n); got != tt.want {
			t.Errorf("Size(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestKernelRelease(t *testing.T) {
	r, err := KernelRelease()
	if err != nil || r == "" || strings.ContainsRune(r, 0) {
		t.Errorf("KernelRelease() = %q, %v", r, err)
	}
}
