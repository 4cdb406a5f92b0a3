package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The early microcode archive, as the kernel's x86 microcode loader reads it
// (Documentation/arch/x86/microcode.rst): an uncompressed newc cpio at the
// very start of the initrd holding one file per vendor, each the
// concatenation of that vendor's update files. The kernel looks for it
// before it unpacks anything, then unpacks it into rootfs like any other
// archive and goes on with the (possibly compressed) archive after it.
const (
	microcodeDir = "kernel/x86/microcode"
	intelVendor  = "GenuineIntel"
	amdVendor    = "AuthenticAMD"
)

// CPU identifies the running processor for host-only microcode: the vendor
// and the family, model and stepping that /proc/cpuinfo shows (family and
// model already combined with their extended fields).
type CPU struct {
	Vendor                  string // "GenuineIntel", "AuthenticAMD", ...
	Family, Model, Stepping int
}

func (c CPU) String() string {
	return fmt.Sprintf("%s family %#x model %#x stepping %#x", c.Vendor, c.Family, c.Model, c.Stepping)
}

// maxCPUInfo bounds the part of /proc/cpuinfo that is read: the first
// processor's block comes first.
const maxCPUInfo = 1 << 20

// ReadCPU reads the first processor's identity from a /proc/cpuinfo file.
func ReadCPU(cpuinfo string) (CPU, error) {
	f, err := os.Open(cpuinfo)
	if err != nil {
		return CPU{}, fmt.Errorf("cpu identity: %w", err)
	}
	defer f.Close()
	c, err := ParseCPUInfo(io.LimitReader(f, maxCPUInfo))
	if err != nil {
		return CPU{}, fmt.Errorf("cpu identity from %s: %w", cpuinfo, err)
	}
	return c, nil
}

// ParseCPUInfo parses the first processor block of /proc/cpuinfo text
// ("vendor_id", "cpu family", "model", "stepping"; the numbers decimal).
func ParseCPUInfo(r io.Reader) (CPU, error) {
	var c CPU
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(seen) > 0 {
				break // end of the first processor's block
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var dst *int
		switch key {
		case "vendor_id":
			c.Vendor = val
			seen[key] = true
			continue
		case "cpu family":
			dst = &c.Family
		case "model":
			dst = &c.Model
		case "stepping":
			dst = &c.Stepping
		default:
			continue
		}
		n, err := strconv.ParseUint(val, 10, 16)
		if err != nil {
			return CPU{}, fmt.Errorf("%s %q: not a number", key, val)
		}
		*dst = int(n)
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return CPU{}, err
	}
	for _, k := range []string{"vendor_id", "cpu family", "model", "stepping"} {
		if !seen[k] {
			return CPU{}, fmt.Errorf("no %q line", k)
		}
	}
	return c, nil
}

// Microcode lists the update files of the early archive, relative to the
// firmware directory, in the order they are concatenated.
type Microcode struct {
	Intel []string // intel-ucode/FF-MM-SS
	AMD   []string // amd-ucode/microcode_amd*.bin
}

// Files returns every file of m, Intel's first.
func (m Microcode) Files() []string { return append(slices.Clone(m.Intel), m.AMD...) }

// FindMicrocode lists the microcode update files below fwdir as Debian's
// intel-microcode and amd64-microcode packages (and linux-firmware) lay
// them out: intel-ucode/FF-MM-SS (family, model, stepping in hex) and
// amd-ucode/microcode_amd*.bin (one container per family: microcode_amd.bin
// up to family 14h, microcode_amd_famXXh.bin from 15h on). With cpu nil
// every file is taken (a generic image); else only the running CPU's: its
// vendor's file for its family, model and stepping (Intel), or for its
// family (AMD, whose container holds the patches of every model of the
// family and is matched by the kernel). Missing directories give an empty
// list.
func FindMicrocode(fwdir string, cpu *CPU) (Microcode, error) {
	var m Microcode
	var err error
	if cpu == nil || cpu.Vendor == intelVendor {
		m.Intel, err = listMicrocode(fwdir, "intel-ucode", func(name string) bool {
			if cpu != nil {
				return strings.EqualFold(name, fmt.Sprintf("%02x-%02x-%02x", cpu.Family, cpu.Model, cpu.Stepping))
			}
			return isIntelUcodeName(name)
		})
		if err != nil {
			return m, err
		}
	}
	if cpu == nil || cpu.Vendor == amdVendor {
		m.AMD, err = listMicrocode(fwdir, "amd-ucode", func(name string) bool {
			if cpu != nil {
				return name == amdUcodeName(cpu.Family)
			}
			return strings.HasPrefix(name, "microcode_amd") && strings.HasSuffix(name, ".bin")
		})
	}
	return m, err
}

// amdUcodeName is the container file of an AMD CPU family.
func amdUcodeName(family int) string {
	if family < 0x15 {
		return "microcode_amd.bin"
	}
	return fmt.Sprintf("microcode_amd_fam%02xh.bin", family)
}

// isIntelUcodeName reports whether name is "FF-MM-SS" in hex.
func isIntelUcodeName(name string) bool {
	if len(name) != 8 || name[2] != '-' || name[5] != '-' {
		return false
	}
	for i, c := range []byte(name) {
		if i == 2 || i == 5 {
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// listMicrocode returns the regular files (or links to them) in fwdir/sub
// whose names pass keep, as "sub/name", sorted.
func listMicrocode(fwdir, sub string, keep func(string) bool) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(fwdir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("microcode: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !keep(e.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(fwdir, sub, e.Name()))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			continue
		}
		out = append(out, path.Join(sub, e.Name()))
	}
	slices.Sort(out)
	return out, nil
}

// earlyArchive returns the early microcode archive for m, its vendor files
// staged below stage, or nil when m has no file.
func earlyArchive(fwdir string, m Microcode, stage string, mtime uint64) (*Archive, error) {
	if len(m.Intel)+len(m.AMD) == 0 {
		return nil, nil
	}
	a := NewArchive()
	a.MTime = mtime
	if err := a.AddDir(microcodeDir, 0o755); err != nil {
		return nil, err
	}
	for _, v := range []struct {
		vendor string
		files  []string
	}{{intelVendor, m.Intel}, {amdVendor, m.AMD}} {
		if len(v.files) == 0 {
			continue
		}
		dst := filepath.Join(stage, v.vendor+".bin")
		if err := concatFiles(fwdir, v.files, dst); err != nil {
			return nil, fmt.Errorf("microcode %s: %w", v.vendor, err)
		}
		if err := a.AddFile(path.Join(microcodeDir, v.vendor+".bin"), 0o644, dst); err != nil {
			return nil, fmt.Errorf("microcode: %w", err)
		}
	}
	return a, nil
}

// concatFiles writes the files (relative to dir) one after another to dst.
func concatFiles(dir string, files []string, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, f := range files {
		in, err := os.Open(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			out.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return out.Close()
}

// writeEarly writes the early archive uncompressed, padded with NUL bytes
// to a multiple of 4 so that the next archive starts aligned, and returns
// the bytes written.
func writeEarly(a *Archive, w io.Writer) (int64, error) {
	n, err := writePlain(a, w)
	if err != nil {
		return n, fmt.Errorf("write microcode archive: %w", err)
	}
	return n, nil
}
