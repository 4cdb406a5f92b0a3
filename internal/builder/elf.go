package builder

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// libDirs are where the host's shared libraries are looked for, in the dynamic loader's
// order on Debian (multiarch first). RPATH and RUNPATH are not followed: Debian's packaged
// binaries carry none.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// SharedObjects is sharedObjects in the host's library directories: what a guest needs
// beside the host programs bins, from the path in the guest to the host file.
func SharedObjects(bins ...string) (map[string]string, error) { return sharedObjects(bins, libDirs) }

// sharedObjects returns what the dynamically linked programs bins need at run time: the
// program interpreter each names (PT_INTERP) and every library in their DT_NEEDED lists,
// recursively, found in dirs. The map goes from the path in the guest (the path where the
// object was found, without the leading "/") to the host file. A static program needs
// nothing; a library found nowhere is an error naming it and who needs it.
func sharedObjects(bins, dirs []string) (map[string]string, error) {
	out := map[string]string{}
	seen := map[string]bool{}
	queue := append([]string(nil), bins...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		interp, needed, err := elfNeeds(p)
		if err != nil {
			return nil, err
		}
		if interp != "" {
			out[strings.TrimPrefix(interp, "/")] = interp
		}
		for _, lib := range needed {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			found := findLib(lib, dirs)
			if found == "" {
				return nil, fmt.Errorf("%s needs %s: not found in %s", p, lib, strings.Join(dirs, ":"))
			}
			out[strings.TrimPrefix(found, "/")] = found
			queue = append(queue, found)
		}
	}
	return out, nil
}

// elfNeeds reads an ELF file's interpreter and DT_NEEDED entries.
func elfNeeds(p string) (interp string, needed []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, fmt.Errorf("shared libraries of %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		if prog.Filesz > 4096 {
			return "", nil, fmt.Errorf("shared libraries of %s: interpreter path of %d bytes", p, prog.Filesz)
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("shared libraries of %s: interpreter: %w", p, err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("shared libraries of %s: %w", p, err)
	}
	sort.Strings(needed)
	return interp, needed, nil
}

func findLib(name string, dirs []string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
