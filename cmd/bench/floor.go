package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// floorBases are the earlyroot images that get a measured floor (floorImage).
var floorBases = []string{"generic", "host-only"}

// floorName is the measured floor's image of the earlyroot image base: "floor-generic".
func floorName(base string) string { return "floor-" + base }

// floorImage is the earlyroot image base with tiny-initramfs's init appended: the kernel
// unpacks base's archives and a small plain one holding tiny's /init, a C program that
// inserts the root's named modules and mounts it, with its module list pointed at base's own
// uncompressed module files (floorFiles). It costs the kernel what base does (the same bytes
// to unpack, the same modules to insert), without earlyroot's own work: the Go runtime,
// discovery, decompressing the modules. Appending tiny's whole image instead would add its
// own copies of the modules, which the kernel unpacks too, and make the floor that much
// higher. ok is false without both images.
func (e *benchEnv) floorImage(imgs []image, base string) (image, bool, error) {
	var basePath, tiny string
	for _, im := range imgs {
		switch im.name {
		case base:
			basePath = im.path
		case tinyPeer:
			tiny = im.path
		}
	}
	name := floorName(base)
	if basePath == "" || tiny == "" {
		fmt.Fprintf(e.log, "bench: no %s: it needs the %s and %s images\n", name, base, tinyPeer)
		return image{}, false, nil
	}
	g, err := os.ReadFile(basePath)
	if err != nil {
		return image{}, false, err
	}
	t, err := os.ReadFile(tiny)
	if err != nil {
		return image{}, false, err
	}
	files, carried, err := floorFiles(g, t)
	if err != nil {
		return image{}, false, fmt.Errorf("%s: %w", name, err)
	}
	// The kernel reads an archive header only at a 4-byte offset, and skips zeros.
	data, err := vm.AppendInitramfs(append(g, make([]byte, (4-len(g)%4)%4)...), files)
	if err != nil {
		return image{}, false, fmt.Errorf("%s: %w", name, err)
	}
	desc := "measured floor: the " + base + " image with tiny-initramfs's /init appended (C, inserts " +
		strings.Join(namedModules, ",") + " from the image's own uncompressed files, mounts), which replaces earlyroot's: " +
		"the kernel's cost of the " + base + " image's bytes and modules, without earlyroot's own work"
	if len(carried) > 0 {
		desc += "; tiny's own " + strings.Join(carried, ", ") + " carried beside it (not uncompressed in the image)"
	}
	im := image{name: name, kind: KindFloor, path: e.path("images", name+".img"), desc: desc}
	if err := os.WriteFile(im.path, data, 0o644); err != nil {
		return image{}, false, err
	}
	fmt.Fprintf(e.log, "bench: built %s\n", im.path)
	return im, true, nil
}

// tinyModuleList is where tiny-initramfs's init reads the modules to insert: one absolute
// path in its image per line, in load order.
const tinyModuleList = "modules"

// maxTinyFile bounds a file read from tiny-initramfs's image.
const maxTinyFile = 64 << 20

// floorFiles are the files of the archive a measured floor appends to the earlyroot image
// img: tiny-initramfs's (image tiny) /init and directories, and its module list with each
// module pointed at img's uncompressed file of the same name, so that tiny's init inserts
// the bytes the kernel unpacked from img. A module img does not carry uncompressed (tiny's
// init cannot insert a .ko.zst) comes from tiny's image; carried names those.
func floorFiles(img, tiny []byte) (files []vm.InitramfsFile, carried []string, err error) {
	ours, err := initramfs.ImageRecords(img)
	if err != nil {
		return nil, nil, fmt.Errorf("earlyroot image: %w", err)
	}
	theirs, err := initramfs.ImageRecords(tiny)
	if err != nil {
		return nil, nil, fmt.Errorf("tiny-initramfs image: %w", err)
	}
	plain, err := plainModules(ours)
	if err != nil {
		return nil, nil, err
	}
	list, ok := theirs[tinyModuleList]
	if !ok {
		return nil, nil, fmt.Errorf("tiny-initramfs image has no /%s", tinyModuleList)
	}
	data, err := recordData(list)
	if err != nil {
		return nil, nil, err
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		p := strings.TrimPrefix(strings.TrimSpace(line), "/")
		if p == "" {
			continue
		}
		if at, ok := plain[path.Base(p)]; ok {
			lines = append(lines, "/"+at)
			continue
		}
		r, ok := theirs[p]
		if !ok {
			return nil, nil, fmt.Errorf("tiny-initramfs's /%s names /%s, which its image lacks", tinyModuleList, p)
		}
		b, err := recordData(r)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, vm.InitramfsFile{Name: p, Data: b})
		carried = append(carried, strings.TrimSuffix(path.Base(p), ".ko"))
		lines = append(lines, "/"+p)
	}
	init, ok := theirs["init"]
	if !ok {
		return nil, nil, fmt.Errorf("tiny-initramfs image has no /init")
	}
	b, err := recordData(init)
	if err != nil {
		return nil, nil, err
	}
	files = append(files,
		vm.InitramfsFile{Name: "init", Data: b, Mode: 0o755},
		vm.InitramfsFile{Name: tinyModuleList, Data: []byte(strings.Join(lines, "\n") + "\n")})
	var dirs []string
	for name, r := range theirs {
		if r.Mode&cpio.S_IFMT == cpio.S_IFDIR && name != "." {
			dirs = append(dirs, name)
		}
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		files = append(files, vm.InitramfsFile{Name: d, Dir: true})
	}
	return files, carried, nil
}

// plainModules maps each uncompressed module file's name ("ext4.ko") in an image's records
// to its path. Two files of one name are an error: which one tiny's init inserted would be
// a guess.
func plainModules(recs map[string]cpio.Record) (map[string]string, error) {
	out := map[string]string{}
	for name, r := range recs {
		if r.Mode&cpio.S_IFMT != cpio.S_IFREG || !strings.HasSuffix(name, ".ko") {
			continue
		}
		base := path.Base(name)
		if other, dup := out[base]; dup {
			return nil, fmt.Errorf("earlyroot image has %s twice (%s, %s)", base, other, name)
		}
		out[base] = name
	}
	return out, nil
}

// recordData is a regular file's content.
func recordData(r cpio.Record) ([]byte, error) {
	if r.Mode&cpio.S_IFMT != cpio.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file", r.Name)
	}
	if r.FileSize > maxTinyFile {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", r.Name, r.FileSize, maxTinyFile)
	}
	return io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
}
