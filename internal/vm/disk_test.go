package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed", tool)
		}
	}
}

// blkid runs `blkid -p -o export` on img at byte offset off.
func blkid(t *testing.T, img string, off int64) map[string]string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10), img).CombinedOutput()
	if err != nil {
		t.Fatalf("blkid -p %s @%d: %v: %s", img, off, err, out)
	}
	kv := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func checkKV(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if !strings.EqualFold(got[k], v) {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

func srcTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"hello": "hello world\n", "sub/deeper/file": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("hello", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMakeFS(t *testing.T) {
	needTools(t, "blkid")
	tests := []struct {
		fs    FS
		tool  string
		check func(t *testing.T, img string)
	}{
		{fs: FS{Type: "ext4", UUID: "5c5d3a6e-93b6-4e1c-9b1a-0d2b9e4b1a01", Label: "root4"}, tool: "mke2fs",
			check: func(t *testing.T, img string) { debugfsCat(t, img, "/sub/deeper/file", "x") }},
		{fs: FS{Type: "ext2", UUID: "5c5d3a6e-93b6-4e1c-9b1a-0d2b9e4b1a02", Label: "root2"}, tool: "mke2fs",
			check: func(t *testing.T, img string) { debugfsCat(t, img, "/hello", "hello world\n") }},
		{fs: FS{Type: "xfs", UUID: "5c5d3a6e-93b6-4e1c-9b1a-0d2b9e4b1a03", Label: "rootx"}, tool: "mkfs.xfs",
			check: func(t *testing.T, img string) { xfsLs(t, img, "/sub/deeper", "file") }},
		{fs: FS{Type: "btrfs", UUID: "5c5d3a6e-93b6-4e1c-9b1a-0d2b9e4b1a04", Label: "rootb"}, tool: "mkfs.btrfs"},
		{fs: FS{Type: "vfat", UUID: "1234-ABCD", Label: "BOOT"}, tool: "mkfs.vfat",
			check: func(t *testing.T, img string) { mtype(t, img, "::/sub/deeper/file", "x") }},
		{fs: FS{Type: "f2fs", UUID: "5c5d3a6e-93b6-4e1c-9b1a-0d2b9e4b1a05", Label: "rootf"}, tool: "mkfs.f2fs"},
	}
	for _, tc := range tests {
		t.Run(tc.fs.Type, func(t *testing.T) {
			needTools(t, tc.tool)
			fs := tc.fs
			if fs.Type != "f2fs" {
				fs.SrcDir = srcTree(t)
			}
			img := filepath.Join(t.TempDir(), "fs.img")
			if err := MakeFS(img, fs); err != nil {
				t.Fatal(err)
			}
			checkKV(t, fs.Type, blkid(t, img, 0), map[string]string{"TYPE": fs.Type, "UUID": fs.UUID, "LABEL": fs.Label})
			if tc.check != nil {
				tc.check(t, img)
			}
		})
	}
}

func TestMakeFSErrors(t *testing.T) {
	dir := t.TempDir()
	for _, fs := range []FS{
		{Type: "zfs"},
		{Type: "f2fs", SrcDir: dir},
		{Type: "vfat", UUID: "123"},
	} {
		if err := MakeFS(filepath.Join(dir, "x.img"), fs); err == nil {
			t.Errorf("MakeFS(%+v): no error", fs)
		}
	}
}

func debugfsCat(t *testing.T, img, path, want string) {
	t.Helper()
	needTools(t, "debugfs")
	out, err := exec.Command("debugfs", "-R", "cat "+path, img).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	if string(out) != want {
		t.Errorf("%s contains %q, want %q", path, out, want)
	}
}

func xfsLs(t *testing.T, img, dir, want string) {
	t.Helper()
	needTools(t, "xfs_db")
	out, err := exec.Command("xfs_db", "-r", "-c", "ls "+dir, img).CombinedOutput()
	if err != nil {
		t.Fatalf("xfs_db ls %s: %v: %s", dir, err, out)
	}
	if !strings.Contains(string(out), " "+want+" (good)") {
		t.Errorf("xfs %s lacks %q:\n%s", dir, want, out)
	}
}

func mtype(t *testing.T, img, path, want string) {
	t.Helper()
	cmd := exec.Command("mtype", "-i", img, path)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtype %s: %v", path, err)
	}
	if string(out) != want {
		t.Errorf("%s contains %q, want %q", path, out, want)
	}
}

func TestMakeDiskWholeExt4(t *testing.T) {
	needTools(t, "mke2fs", "blkid")
	img := filepath.Join(t.TempDir(), "disk.img")
	fs := &FS{Type: "ext4", UUID: "0e6f1c39-1f4b-4b8a-a3a1-0c9fb0d1e001", Label: "whole", SrcDir: srcTree(t)}
	if err := MakeDisk(img, Disk{FS: fs}); err != nil {
		t.Fatal(err)
	}
	checkKV(t, "whole disk", blkid(t, img, 0), map[string]string{"TYPE": "ext4", "UUID": fs.UUID, "LABEL": "whole"})
	debugfsCat(t, img, "/hello", "hello world\n")
}

func TestMakeDiskGPT(t *testing.T) {
	needTools(t, "sfdisk", "sgdisk", "blkid", "mke2fs", "mkfs.vfat")
	img := filepath.Join(t.TempDir(), "gpt.img")
	d := Disk{
		Table:  "gpt",
		DiskID: "8A1E3C55-0B7D-4E59-9C1E-7D1A5F2B0001",
		Parts: []Part{
			{FS: &FS{Type: "vfat", UUID: "BEEF-0001", Label: "ESP"}, SizeMB: 34,
				PartUUID: "11111111-2222-4333-8444-555555555501", Name: "esp",
				TypeGUID: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
			{FS: &FS{Type: "ext4", UUID: "0e6f1c39-1f4b-4b8a-a3a1-0c9fb0d1e002", Label: "groot", SrcDir: srcTree(t)},
				PartUUID: "11111111-2222-4333-8444-555555555502", Name: "rootfs"},
		},
	}
	if err := MakeDisk(img, d); err != nil {
		t.Fatal(err)
	}
	checkKV(t, "table", blkid(t, img, 0), map[string]string{"PTTYPE": "gpt", "PTUUID": d.DiskID})
	out, err := exec.Command("sgdisk", "-p", img).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -p: %v: %s", err, out)
	}
	for _, want := range []string{"Disk identifier (GUID): " + d.DiskID, " esp", " rootfs", "EF00", "8300"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sgdisk -p lacks %q:\n%s", want, out)
		}
	}
	for i, p := range d.Parts {
		out, err := exec.Command("sgdisk", "-i", strconv.Itoa(i+1), img).CombinedOutput()
		if err != nil {
			t.Fatalf("sgdisk -i: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "Partition unique GUID: "+p.PartUUID) {
			t.Errorf("partition %d: sgdisk -i lacks PARTUUID %s:\n%s", i+1, p.PartUUID, out)
		}
	}
	// Filesystems at 1 MiB and 1 MiB + 34 MiB.
	checkKV(t, "part 1", blkid(t, img, 1<<20), map[string]string{"TYPE": "vfat", "UUID": "BEEF-0001", "LABEL": "ESP"})
	checkKV(t, "part 2", blkid(t, img, 35<<20), map[string]string{"TYPE": "ext4", "UUID": d.Parts[1].FS.UUID, "LABEL": "groot"})
}

func TestMakeDiskMBRLogical(t *testing.T) {
	needTools(t, "sfdisk", "blkid", "mke2fs")
	img := filepath.Join(t.TempDir(), "mbr.img")
	var parts []Part
	for i := 0; i < 5; i++ {
		parts = append(parts, Part{SizeMB: 8})
	}
	parts[4].FS = &FS{Type: "ext2", UUID: "0e6f1c39-1f4b-4b8a-a3a1-0c9fb0d1e005", Label: "logical5"}
	parts[0].TypeGUID = "c"
	d := Disk{Table: "dos", DiskID: "0xdeadbeef", Parts: parts, Logical: true}
	if err := MakeDisk(img, d); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sfdisk", "-d", img).CombinedOutput()
	if err != nil {
		t.Fatalf("sfdisk -d: %v: %s", err, out)
	}
	dump := string(out)
	for _, want := range []string{
		"label: dos", "label-id: 0xdeadbeef",
		"img1 : start=        2048, size=       16384, type=c",
		"img4 : start=       51200, size=       36864, type=5",
		"img5 : start=       53248, size=       16384, type=83",
		"img6 : start=       71680, size=       16384, type=83",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("sfdisk -d lacks %q:\n%s", want, dump)
		}
	}
	checkKV(t, "table", blkid(t, img, 0), map[string]string{"PTTYPE": "dos", "PTUUID": "deadbeef"})
	checkKV(t, "logical 6", blkid(t, img, 71680*512), map[string]string{"TYPE": "ext2", "LABEL": "logical5"})
}

func TestMakeDiskErrors(t *testing.T) {
	dir := t.TempDir()
	five := make([]Part, 5)
	for _, d := range []Disk{
		{},
		{Table: "gpt"},
		{Table: "apm", Parts: []Part{{}}},
		{Table: "dos", Parts: five},
		{Table: "dos", DiskID: "xyz", Parts: []Part{{}}},
		{Table: "dos", Parts: []Part{{Name: "x"}}},
		{Table: "gpt", Parts: []Part{{Name: `a"b`}}},
		{Table: "gpt", Parts: []Part{{FS: &FS{Type: "ext4", SizeMB: 16}, SizeMB: 8}}},
	} {
		if err := MakeDisk(filepath.Join(dir, "x.img"), d); err == nil {
			t.Errorf("MakeDisk(%+v): no error", d)
		}
	}
}

func TestRootDir(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("#!fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := RootDir(root, bin); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "mnt"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory (%v)", d, err)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "sbin", "init"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("sbin/init: %v %v", fi, err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "tmp")); fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp mode %v lacks sticky bit", fi.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc", "hostname")); len(b) == 0 {
		t.Error("etc/hostname empty")
	}
}

func TestXFSProto(t *testing.T) {
	p, err := xfsProto(srcTree(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/dev/null\n0 0\nd--", " hello ---644 0 0 /", " link l--777 0 0 hello\n", " sub d--755 0 0\n", "  deeper d--755 0 0\n", "\n$\n"} {
		if !strings.Contains(p, want) {
			t.Errorf("proto lacks %q:\n%s", want, p)
		}
	}
}
