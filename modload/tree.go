//go:build !earlyroot_init

package modload

// This file reads module files themselves: their .modinfo sections (an ELF reader) and
// every compression a kernel tree may hold them in (zstd, xz, gzip), for the index of a
// module tree ([Build], [Open]) and the generator's firmware lists and recompression. The
// init opens the image's prebuilt index ([OpenImage]) and decompresses only the zstd
// modules its kernel cannot, so it is built with the tag earlyroot_init (the Makefile's
// INIT_TAGS), which leaves this file, and the packages only it imports, out of the binary.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ulikunitz/xz"
)

// decompress returns the uncompressed module image from r for the given
// algorithm, refusing images larger than maxModule.
func decompress(algo string, r io.Reader) ([]byte, error) {
	return Decompress(algo, r, maxModule)
}

// Decompress returns the data r holds compressed with algo, named as the
// kernel names it in /sys/module/compression ("zstd", "xz", "gzip"; ""
// for none), refusing more than limit bytes of output (and, for zstd, more
// than the largest module image whatever limit says). It is the one
// decoder of each format: the loader's for module files, and mkinitramfs's
// for the modules and firmware it recompresses.
func Decompress(algo string, r io.Reader, limit int) ([]byte, error) {
	var dr io.Reader
	switch algo {
	case "":
		dr = r
	case "zstd":
		return decompressZstd(r, limit)
	case "xz":
		// The xz decoder reads its input a byte at a time: a file would
		// cost a read(2) per byte.
		if _, ok := r.(io.ByteReader); !ok {
			r = bufio.NewReaderSize(r, 64<<10)
		}
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		dr = xr
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gr.Close()
		dr = gr
	default:
		return nil, fmt.Errorf("unknown compression %q", algo)
	}
	data, err := io.ReadAll(io.LimitReader(dr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(algo, "read"), err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: image larger than %d bytes", nameOr(algo, "read"), limit)
	}
	return data, nil
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readModuleFile returns the uncompressed bytes of the module file p, in any format: a
// tree's module, for the index and the image generator. A zstd file is decoded by dec,
// the decoder of its tree; nil for one without a dictionary.
func readModuleFile(p string, dec *ZstdDecoder) ([]byte, error) {
	if dec != nil && compression(p) == "zstd" {
		return decodeFile(p, func(r io.Reader) ([]byte, error) { return dec.read(r, maxModule) })
	}
	return decodeFile(p, func(r io.Reader) ([]byte, error) { return decompress(compression(p), r) })
}

// readModinfoFile returns the parsed .modinfo section of module file p; dec as for
// readModuleFile.
func readModinfoFile(p string, dec *ZstdDecoder) (modinfo, error) {
	var ra io.ReaderAt
	if compression(p) == "" {
		f, err := os.Open(p)
		if err != nil {
			return modinfo{}, err
		}
		defer f.Close()
		ra = f
	} else {
		data, err := readModuleFile(p, dec)
		if err != nil {
			return modinfo{}, err
		}
		ra = bytes.NewReader(data)
	}
	sec, err := modinfoSection(ra)
	if err != nil {
		return modinfo{}, fmt.Errorf("%s: %w", p, err)
	}
	mi, err := parseModinfo(sec)
	if err != nil {
		return modinfo{}, fmt.Errorf("%s: %w", p, err)
	}
	return mi, nil
}

var errNoModinfo = errors.New("no .modinfo section")

// modinfoSection returns the contents of the .modinfo section of the ELF
// file in r. A malformed file gives an error, never a panic.
func modinfoSection(r io.ReaderAt) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("malformed ELF: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errNoModinfo
	}
	if sec.Type == elf.SHT_NOBITS {
		return nil, errNoModinfo
	}
	if sec.Size > maxModinfo {
		return nil, fmt.Errorf(".modinfo section of %d bytes is too large", sec.Size)
	}
	if sec.Flags&elf.SHF_COMPRESSED != 0 {
		return nil, errors.New("compressed .modinfo section")
	}
	data = make([]byte, sec.Size)
	if _, err := sec.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return data, nil
}

// Build reads the index facts from moddir: depmod's modules.dep,
// modules.alias and modules.softdep when modules.dep and modules.alias are
// present, else the .modinfo section of every module file below moddir;
// modules.builtin and modules.builtin.modinfo in both cases. Module files
// that cannot be read are left out and reported by [Index.Problems].
func Build(moddir string) (*Index, error) { return build(moddir, readModinfoTree) }

// readModinfoTree reads the .modinfo of every module file below moddir
// with a bounded pool of workers.
func readModinfoTree(moddir string) ([]rawMod, []aliasEntry, []error, error) {
	paths, err := moduleFiles(moddir)
	if err != nil {
		return nil, nil, nil, err
	}
	dec, err := OpenZstdDecoder(moddir)
	if err != nil {
		return nil, nil, nil, err
	}
	type out struct {
		mi  modinfo
		err error
	}
	res := make([]out, len(paths))
	workers := min(max(2*runtime.GOMAXPROCS(0), 4), 16, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				mi, err := readModinfoFile(filepath.Join(moddir, paths[i]), dec)
				res[i] = out{mi, err}
			}
		})
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()

	var mods []rawMod
	var aliases []aliasEntry
	var problems []error
	for i, r := range res {
		if r.err != nil {
			problems = append(problems, r.err)
			continue
		}
		name := r.mi.Name
		if name == "" {
			name = moduleNameFromPath(paths[i])
		}
		mods = append(mods, rawMod{name: name, path: paths[i], deps: r.mi.Depends, soft: r.mi.Soft})
		for _, a := range r.mi.Aliases {
			aliases = append(aliases, aliasEntry{Pattern: a, Module: name})
		}
	}
	return mods, aliases, problems, nil
}

// moduleFiles lists the module files below moddir, relative to it, in
// lexical order. Symbolic links to directories are followed (except
// "build" and "source"), with a bound on depth and no directory twice.
func moduleFiles(moddir string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(dir, rel string, depth int) error
	walk = func(dir, rel string, depth int) error {
		if depth > 32 {
			return nil
		}
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			if seen[real] {
				return nil
			}
			seen[real] = true
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			full, r := filepath.Join(dir, e.Name()), filepath.Join(rel, e.Name())
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				if depth == 0 && (e.Name() == "build" || e.Name() == "source") {
					continue
				}
				st, err := os.Stat(full)
				if err != nil {
					continue
				}
				isDir = st.IsDir()
			}
			switch {
			case isDir:
				if err := walk(full, r, depth+1); err != nil {
					return err
				}
			case moduleNameFromPath(e.Name()) != "":
				out = append(out, filepath.ToSlash(r))
			}
		}
		return nil
	}
	if err := walk(moddir, "", 0); err != nil {
		return nil, fmt.Errorf("list modules: %w", err)
	}
	return out, nil
}

// Open returns the index of moddir, read from moddir/modules.earlyroot when
// that file is present and sound, else built with [Build]. A corrupt file
// is reported by [Index.Problems] of the built index.
func Open(moddir string) (*Index, error) { return open(moddir, Build) }

// Firmware returns the firmware file names the module file p declares
// (the "firmware=" entries of its .modinfo section, as modinfo -F firmware
// shows them), in order. p may be compressed (.ko.xz, .ko.zst, .ko.gz).
func Firmware(p string) ([]string, error) {
	mi, err := readModinfoFile(p, nil)
	if err != nil {
		return nil, err
	}
	return mi.Firmware, nil
}
