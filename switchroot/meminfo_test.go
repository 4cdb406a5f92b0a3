package switchroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemInfo(t *testing.T) {
	shmem, unevictable, err := MemInfo("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if shmem != 8872 || unevictable != 17988 {
		t.Errorf("MemInfo = %d, %d; want 8872, 17988", shmem, unevictable)
	}
	if _, _, err := MemInfo(t.TempDir()); err == nil {
		t.Error("MemInfo without a meminfo file succeeded")
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		shmem, unevict int64
		wantErr        bool
	}{
		{"plain", "MemTotal: 100 kB\nShmem:  12 kB\nUnevictable: 34 kB\n", 12, 34, false},
		{"no unit", "Shmem: 12\nUnevictable: 34", 12, 34, false},
		{"first wins", "Shmem: 1 kB\nUnevictable: 2 kB\nShmem: 9 kB\n", 1, 2, false},
		{"similar keys", "ShmemHugePages: 5 kB\nShmemPmdMapped: 6 kB\nShmem: 7 kB\nUnevictable: 8 kB\n", 7, 8, false},
		{"crlf and junk", "garbage\n\nShmem: 3 kB\nUnevictable: 4 kB\n", 3, 4, false},
		{"missing shmem", "Unevictable: 4 kB\n", 0, 0, true},
		{"missing unevictable", "Shmem: 4 kB\n", 0, 0, true},
		{"empty", "", 0, 0, true},
		{"negative", "Shmem: -4 kB\nUnevictable: 4 kB\n", 0, 0, true},
		{"bad unit", "Shmem: 4 MB\nUnevictable: 4 kB\n", 0, 0, true},
		{"no number", "Shmem: kB\nUnevictable: 4 kB\n", 0, 0, true},
		{"overflow", "Shmem: 99999999999999999999 kB\nUnevictable: 4 kB\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u, err := parseMeminfo([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMeminfo error = %v, wantErr %v", err, tt.wantErr)
			}
			if s != tt.shmem || u != tt.unevict {
				t.Errorf("parseMeminfo = %d, %d; want %d, %d", s, u, tt.shmem, tt.unevict)
			}
		})
	}
}

func FuzzParseMeminfo(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "proc", "meminfo")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("Shmem: 1 kB\nUnevictable: 2 kB\n"))
	f.Add([]byte("Shmem:\nUnevictable: x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, u, err := parseMeminfo(data)
		if err != nil {
			if s != 0 || u != 0 {
				t.Errorf("error %v with values %d, %d", err, s, u)
			}
			return
		}
		if s < 0 || u < 0 {
			t.Errorf("negative values %d, %d", s, u)
		}
	})
}
