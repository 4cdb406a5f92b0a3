package main

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// archiveBytes writes a newc archive of files (name → content; a name ending in "/" is a
// directory), gzip-compressed when gz is set.
func archiveBytes(t *testing.T, files map[string]string, gz bool) []byte {
	t.Helper()
	a := initramfs.NewArchive()
	for name, data := range files {
		var err error
		if strings.HasSuffix(name, "/") {
			err = a.AddDir(strings.TrimSuffix(name, "/"), 0o755)
		} else {
			err = a.AddBytes(name, 0o644, []byte(data))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := a.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !gz {
		return b.Bytes()
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b.Bytes())
	w.Close()
	return z.Bytes()
}

const kdir = "lib/modules/6.1.0-57-amd64/kernel/"

func tinyImage(t *testing.T, list string) []byte {
	return archiveBytes(t, map[string]string{
		"dev/": "", "proc/": "", "target/": "",
		"init":           "tiny's init",
		"modules":        list,
		"ext4.ko":        "tiny's ext4",
		"virtio_mmio.ko": "tiny's virtio_mmio",
	}, true)
}

func TestFloorFiles(t *testing.T) {
	// The earlyroot image: a plain archive with a compressed module, then one with the
	// uncompressed ones (its init's archive would be compressed; plain reads the same).
	img := append(archiveBytes(t, map[string]string{kdir + "drivers/virtio/virtio_mmio.ko.zst": "zst"}, false),
		archiveBytes(t, map[string]string{"init": "earlyroot", kdir + "fs/ext4/ext4.ko": "our ext4"}, false)...)
	files, carried, err := floorFiles(img, tinyImage(t, "/ext4.ko\n/virtio_mmio.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]vm.InitramfsFile{}
	for _, f := range files {
		got[f.Name] = f
	}
	if f := got["init"]; string(f.Data) != "tiny's init" || f.Mode != 0o755 {
		t.Errorf("init = %q mode %o, want tiny's, 0755", f.Data, f.Mode)
	}
	if want := "/" + kdir + "fs/ext4/ext4.ko\n/virtio_mmio.ko\n"; string(got["modules"].Data) != want {
		t.Errorf("module list = %q, want %q", got["modules"].Data, want)
	}
	if f, ok := got["virtio_mmio.ko"]; !ok || string(f.Data) != "tiny's virtio_mmio" {
		t.Errorf("virtio_mmio.ko = %q (%v), want tiny's copy: the image has it compressed only", f.Data, ok)
	}
	if _, ok := got["ext4.ko"]; ok {
		t.Error("tiny's ext4.ko carried: the image has its own uncompressed")
	}
	if !slices.Equal(carried, []string{"virtio_mmio"}) {
		t.Errorf("carried = %q, want [virtio_mmio]", carried)
	}
	for _, d := range []string{"dev", "proc", "target"} {
		if !got[d].Dir {
			t.Errorf("no directory %s", d)
		}
	}
	if len(files) != 6 {
		t.Errorf("%d files, want 6 (init, modules, virtio_mmio.ko, 3 directories): %v", len(files), files)
	}
}

func TestFloorFilesErrors(t *testing.T) {
	ours := archiveBytes(t, map[string]string{kdir + "fs/ext4/ext4.ko": "x"}, false)
	for _, tc := range []struct {
		name      string
		img, tiny []byte
		want      string
	}{
		{"module twice", archiveBytes(t, map[string]string{kdir + "fs/ext4/ext4.ko": "x", "updates/ext4.ko": "y"}, false),
			tinyImage(t, "/ext4.ko\n"), "ext4.ko twice"},
		{"listed file missing", ours, tinyImage(t, "/ext4.ko\n/nvme.ko\n"), "names /nvme.ko"},
		{"no list", ours, archiveBytes(t, map[string]string{"init": "i"}, true), "no /modules"},
		{"no init", ours, archiveBytes(t, map[string]string{"modules": "/ext4.ko\n"}, true), "no /init"},
		{"not an image", []byte("junk"), tinyImage(t, ""), "earlyroot image"},
	} {
		_, _, err := floorFiles(tc.img, tc.tiny)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
