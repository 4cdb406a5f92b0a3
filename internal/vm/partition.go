package vm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// LinuxFSType is the GPT partition type GUID for "Linux filesystem data",
// used when Part.TypeGUID is empty on a GPT disk.
const LinuxFSType = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

// Part describes one partition of a Disk.
type Part struct {
	// FS is written into the partition; nil leaves the partition zeroed.
	FS *FS
	// SizeMB is the partition size in MiB; 0 takes the size of FS (or 8).
	SizeMB int
	// PartUUID is the GPT partition GUID ("" = random). MBR partition
	// UUIDs derive from the disk signature ("SSSSSSSS-NN") and cannot be set.
	PartUUID string
	// Name is the GPT partition name (PARTLABEL). MBR has none.
	Name string
	// TypeGUID is the GPT type GUID (default LinuxFSType) or, on an MBR
	// disk, the hex partition type id (default "83").
	TypeGUID string
}

func (p Part) sizeMB() int {
	switch {
	case p.SizeMB > 0:
		return p.SizeMB
	case p.FS != nil:
		return p.FS.sizeMB()
	default:
		return 8
	}
}

// Disk describes a whole disk image.
type Disk struct {
	// Table is "gpt", "dos", or "" for a whole-disk filesystem (FS).
	Table string
	// DiskID is the GPT disk GUID or the MBR disk signature (8 hex digits,
	// optionally prefixed 0x); "" lets sfdisk choose.
	DiskID string
	// Parts are laid out in order, 1 MiB aligned, starting at 1 MiB.
	Parts []Part
	// FS is the whole-disk filesystem when Table is "".
	FS *FS
	// Logical, on an MBR disk, puts partitions beyond the third into an
	// extended partition (number 4) as logical partitions 5, 6, ...
	// Without it an MBR disk holds at most four partitions.
	Logical bool
}

const (
	sector   = 512
	mib      = 1 << 20
	mibSects = mib / sector
)

// slot is a partition's place on the disk, in sectors.
type slot struct {
	start, size int64
	part        *Part // nil for the extended container
}

// MakeDisk creates (or overwrites) the disk image at path: it writes the
// partition table with sfdisk on the image file, then copies each
// partition's filesystem image in at its offset (sparse, no loop devices).
func MakeDisk(path string, d Disk) error {
	if d.Table == "" {
		if d.FS == nil {
			return fmt.Errorf("make disk %s: no partition table and no filesystem", path)
		}
		return MakeFS(path, *d.FS)
	}
	slots, total, err := layout(d)
	if err != nil {
		return fmt.Errorf("make disk %s: %w", path, err)
	}
	script, err := sfdiskScript(d, slots)
	if err != nil {
		return fmt.Errorf("make disk %s: %w", path, err)
	}
	if err := CreateSparse(path, total*sector); err != nil {
		return fmt.Errorf("make disk %s: %w", path, err)
	}
	if err := runSfdisk(path, script); err != nil {
		return fmt.Errorf("make disk %s: %w", path, err)
	}
	img, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("make disk %s: %w", path, err)
	}
	defer img.Close()
	for i, s := range slots {
		if s.part == nil || s.part.FS == nil {
			continue
		}
		if err := writePartFS(img, path, i, s); err != nil {
			return fmt.Errorf("make disk %s: partition %d: %w", path, i+1, err)
		}
	}
	return img.Close()
}

func writePartFS(img *os.File, path string, i int, s slot) error {
	tmp := fmt.Sprintf("%s.part%d.tmp", path, i+1)
	defer os.Remove(tmp)
	fs := *s.part.FS
	if fs.SizeMB == 0 {
		fs.SizeMB = int(s.size / mibSects)
	}
	if int64(fs.SizeMB)*mibSects > s.size {
		return fmt.Errorf("%s filesystem of %d MiB does not fit in %d MiB", fs.Type, fs.SizeMB, s.size/mibSects)
	}
	if err := MakeFS(tmp, fs); err != nil {
		return err
	}
	return copySparse(img, s.start*sector, s.size*sector, tmp)
}

// layout assigns 1 MiB aligned sectors to each partition (plus the MBR
// extended container) and returns the disk size in sectors.
func layout(d Disk) ([]slot, int64, error) {
	if d.Table != "gpt" && d.Table != "dos" {
		return nil, 0, fmt.Errorf("unknown partition table %q", d.Table)
	}
	if len(d.Parts) == 0 {
		return nil, 0, errors.New("no partitions")
	}
	if d.Table == "dos" && len(d.Parts) > 4 && !d.Logical {
		return nil, 0, fmt.Errorf("%d partitions on an MBR disk need Logical", len(d.Parts))
	}
	var slots []slot
	next := int64(mibSects)
	for i := range d.Parts {
		p := &d.Parts[i]
		if d.Table == "dos" && d.Logical && i == 3 {
			ext := slot{start: next}
			for _, q := range d.Parts[3:] {
				ext.size += mibSects + int64(q.sizeMB())*mibSects
			}
			slots = append(slots, ext)
		}
		if d.Table == "dos" && d.Logical && i >= 3 {
			next += mibSects // room for the EBR
		}
		size := int64(p.sizeMB()) * mibSects
		slots = append(slots, slot{start: next, size: size, part: p})
		next += size
	}
	return slots, next + mibSects, nil // 1 MiB tail for the backup GPT
}

func sfdiskScript(d Disk, slots []slot) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "label: %s\n", d.Table)
	if d.DiskID != "" {
		id := d.DiskID
		if d.Table == "dos" {
			id = "0x" + strings.TrimPrefix(strings.ToLower(id), "0x")
			if _, err := strconv.ParseUint(id[2:], 16, 32); err != nil || len(id) != 10 {
				return "", fmt.Errorf("MBR disk id %q: want 8 hex digits", d.DiskID)
			}
		}
		fmt.Fprintf(&b, "label-id: %s\n", id)
	}
	b.WriteString("unit: sectors\n\n")
	for _, s := range slots {
		line, err := sfdiskLine(d.Table, s)
		if err != nil {
			return "", err
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

func sfdiskLine(table string, s slot) (string, error) {
	if s.part == nil {
		return fmt.Sprintf("start=%d, size=%d, type=5\n", s.start, s.size), nil
	}
	p := s.part
	line := fmt.Sprintf("start=%d, size=%d", s.start, s.size)
	if table == "dos" {
		if p.PartUUID != "" || p.Name != "" {
			return "", errors.New("MBR partitions cannot have a PartUUID or Name")
		}
		t := p.TypeGUID
		if t == "" {
			t = "83"
		}
		return line + ", type=" + t + "\n", nil
	}
	t := p.TypeGUID
	if t == "" {
		t = LinuxFSType
	}
	line += ", type=" + t
	if p.PartUUID != "" {
		line += ", uuid=" + p.PartUUID
	}
	if p.Name != "" {
		if strings.ContainsAny(p.Name, "\"\n") {
			return "", fmt.Errorf("partition name %q: quotes and newlines not supported", p.Name)
		}
		line += ", name=\"" + p.Name + "\""
	}
	return line + "\n", nil
}

func runSfdisk(path, script string) error {
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", path)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sfdisk: %w: %s\nscript:\n%s", err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// RootDir lays out a minimal root tree in dir for a test root filesystem:
// /sbin/init (a copy of initBinary, normally cmd/testinit), the empty
// mount points /proc /sys /dev /run /tmp /mnt, and /etc/hostname.
func RootDir(dir string, initBinary string) error {
	for _, d := range []string{"sbin", "proc", "sys", "dev", "run", "tmp", "mnt", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("root dir %s: %w", dir, err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky); err != nil {
		return fmt.Errorf("root dir %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("earlyroot-test\n"), 0o644); err != nil {
		return fmt.Errorf("root dir %s: %w", dir, err)
	}
	if initBinary == "" {
		return nil
	}
	data, err := os.ReadFile(initBinary)
	if err != nil {
		return fmt.Errorf("root dir %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sbin", "init"), data, 0o755); err != nil {
		return fmt.Errorf("root dir %s: %w", dir, err)
	}
	return nil
}
