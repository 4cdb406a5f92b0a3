package switchroot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// maxMeminfo bounds the bytes read from meminfo (about 1.5 KiB on current kernels).
const maxMeminfo = 64 << 10

// MemInfo returns the Shmem (tmpfs, including an initramfs unpacked into tmpfs) and
// Unevictable (ramfs pages, among others) figures of procDir/meminfo, in kB.
func MemInfo(procDir string) (shmemKB, unevictableKB int64, err error) {
	p := filepath.Join(procDir, "meminfo")
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("meminfo: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMeminfo))
	if err != nil {
		return 0, 0, fmt.Errorf("meminfo: read %s: %w", p, err)
	}
	shmemKB, unevictableKB, err = parseMeminfo(data)
	if err != nil {
		return 0, 0, fmt.Errorf("meminfo: %s: %w", p, err)
	}
	return shmemKB, unevictableKB, nil
}

// parseMeminfo reads the "Shmem:" and "Unevictable:" lines ("Shmem:  1234 kB"). Both must
// be present; the first occurrence of each counts.
func parseMeminfo(data []byte) (shmemKB, unevictableKB int64, err error) {
	var haveShmem, haveUnevictable bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxMeminfo)
	for sc.Scan() {
		key, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		var seen *bool
		switch string(key) {
		case "Shmem":
			dst, seen = &shmemKB, &haveShmem
		case "Unevictable":
			dst, seen = &unevictableKB, &haveUnevictable
		default:
			continue
		}
		if *seen {
			continue
		}
		v, err := parseKB(rest)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		*dst, *seen = v, true
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveShmem || !haveUnevictable {
		return 0, 0, errors.New("no Shmem or Unevictable line")
	}
	return shmemKB, unevictableKB, nil
}

// parseKB parses " 1234 kB" (the unit is optional, as in the kernel's bare counters).
func parseKB(b []byte) (int64, error) {
	f := bytes.Fields(b)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && string(f[1]) != "kB") {
		return 0, fmt.Errorf("malformed value %q", bytes.TrimSpace(b))
	}
	v, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("malformed value %q", f[0])
	}
	return v, nil
}
