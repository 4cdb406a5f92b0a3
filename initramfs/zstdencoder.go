package initramfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/earlyroot/earlyroot/modload"
)

// zstdLevel is the level the zstd program makes its streams at: its highest regular one.
// The built-in encoder's best level is about the program's 11th. On the generic module set
// of Debian 12's kernel the program at 19 makes the modules 12% smaller (9.7 against 11.0
// MB), and the init's decoder decodes them faster (the whole set natively in 76 against
// 127 ms).
const zstdLevel = 19

// programArchiveWindow is the window of the archives the program makes. The kernel's
// unpacker decodes an archive made with a smaller window faster, for a few KB more:
// measured on a generic image's init archive (7 MB) under QEMU's TCG, 8 boots each, the
// kernel's unpacking took 167 ms with an 8 MiB window, 160 with 1 MiB, 153 with 256 KiB
// (2.04 MB, 42 KB more than with 8 MiB), and 161 ms for the built-in encoder's (2.39 MB).
const programArchiveWindow = 256 << 10

// moduleCacheMaxAge is how long a compressed module stays in the cache unused.
const moduleCacheMaxAge = 60 * 24 * time.Hour

// zstdEncoder makes an image's .ko.zst module files and the zstd archive of its init
// (Config.InitCompression): with the built-in encoder, or with the zstd program
// (Config.ZstdProgram). The
// program is several times slower, so the module files it makes are kept in a cache
// (Config.ModuleCache) keyed by the module's bytes and the program's version. Every
// output of the program, and every module read from the cache, is decoded and compared
// with its input before it goes into an image; a module file must name its decoded size
// (the init sizes its buffer from it).
type zstdEncoder struct {
	program string // the zstd program; "" for the built-in encoder
	id      string // "zstd v1.5.4 -19": the program's name in the cache keys and the summary
	cache   string // the cache directory; "" for none

	// The modules' dictionary (modload.DictFile), when the program trained one.
	dict     string // its file; "" for none
	dictHash string // its SHA-256, in the cache keys
	dec      *modload.ZstdDecoder
}

// newZstdEncoder returns the encoder of cfg's zstd streams, and a warning when the zstd
// program was asked for but cannot be used (the built-in encoder then compresses).
func newZstdEncoder(ctx context.Context, cfg Config) (zstdEncoder, string) {
	var e zstdEncoder
	initArchive := cfg.Compression == None && cfg.InitCompression == Zstd
	if cfg.ZstdProgram == "" || (cfg.ModCompression != Zstd && !initArchive) {
		return e, ""
	}
	version, err := zstdVersion(ctx, cfg.ZstdProgram)
	if err != nil {
		return e, fmt.Sprintf("zstd program: %v; the built-in encoder makes the zstd streams", err)
	}
	e.program, e.cache = cfg.ZstdProgram, cfg.ModuleCache
	e.id = fmt.Sprintf("zstd %s -%d", version, zstdLevel)
	return e, ""
}

// Name is what makes the zstd streams, for the summary: the program with its version and
// level, or "built-in".
func (e zstdEncoder) Name() string {
	if e.program == "" {
		return "built-in"
	}
	return e.id
}

// zstdVersion runs the program's -V and returns the version it prints ("v1.5.4").
func zstdVersion(ctx context.Context, program string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, program, "-V").Output()
	if err != nil {
		return "", fmt.Errorf("%s -V: %w", program, err)
	}
	for _, w := range strings.Fields(string(out)) {
		w = strings.TrimSuffix(w, ",")
		if len(w) > 1 && w[0] == 'v' && strings.Trim(w[1:], "0123456789.") == "" {
			return w, nil
		}
	}
	return "", fmt.Errorf("%s -V: no version in %q", program, strings.TrimSpace(string(out)))
}

// module returns data, a module file, compressed with c.
func (e zstdEncoder) module(ctx context.Context, data []byte, c Compression) ([]byte, error) {
	if c != Zstd || e.program == "" {
		return CompressModule(data, c)
	}
	path := e.cachePath(data)
	if z, err := os.ReadFile(path); err == nil && e.checkModule(z, data) == nil {
		now := time.Now()
		_ = os.Chtimes(path, now, now) // used: not pruned
		return z, nil
	}
	// The module's size goes in the frame header (the init sizes its buffer from it).
	args := []string{"--stream-size=" + strconv.Itoa(len(data))}
	if e.dict != "" {
		args = append(args, "-D", e.dict)
	}
	z, err := e.run(ctx, data, args...)
	if err != nil {
		return nil, err
	}
	if err := e.checkModule(z, data); err != nil {
		return nil, fmt.Errorf("%s: %w", e.id, err)
	}
	e.store(path, z)
	return z, nil
}

// archive returns data, an archive, compressed by the program as NewWriter would, but with
// the window programArchiveWindow: one frame with a checksum, never a single segment (whose
// window would be the whole archive, for the kernel's unpacker to allocate).
func (e zstdEncoder) archive(ctx context.Context, data []byte) ([]byte, error) {
	// From a pipe of unknown size the program writes no single segment frame.
	z, err := e.run(ctx, data, "--zstd=wlog="+strconv.Itoa(bits.Len(programArchiveWindow)-1))
	if err != nil {
		return nil, err
	}
	got, err := decodeZstdStream(z, len(data))
	if err != nil {
		return nil, fmt.Errorf("%s: the archive does not decode: %w", e.id, err)
	}
	if !bytes.Equal(got, data) {
		return nil, fmt.Errorf("%s: the archive does not decode to its bytes", e.id)
	}
	return z, nil
}

// run compresses data with the program and its extra arguments.
func (e zstdEncoder) run(ctx context.Context, data []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.program, append([]string{"-q", "-" + strconv.Itoa(zstdLevel), "-T1", "-c"}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(data), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", e.id, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// decodeZstdStream decodes a zstd stream of at most limit bytes, reading it as the
// kernel's unpacker does, with a window of at most zstdWindow.
func decodeZstdStream(z []byte, limit int) ([]byte, error) {
	zr, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderMaxWindow(zstdWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(zr, int64(limit)+1)); err != nil {
		return nil, err
	}
	if out.Len() > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return out.Bytes(), nil
}

// checkModule checks that z is one zstd frame naming its decoded size that decodes to
// data, with e's dictionary when it has one.
func (e zstdEncoder) checkModule(z, data []byte) error {
	var h zstd.Header
	if err := h.Decode(z); err != nil {
		return fmt.Errorf("frame header: %w", err)
	}
	if !h.HasFCS || h.FrameContentSize != uint64(len(data)) {
		return fmt.Errorf("frame header names no decoded size of %d bytes", len(data))
	}
	var got []byte
	var err error
	if e.dec != nil {
		got, err = e.dec.Decode(z, len(data))
	} else {
		got, err = decompressBytes(z, ".zst", len(data))
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("decodes to other bytes than the module's")
	}
	return nil
}

// cachePath is where the cache keeps data compressed by e, "" without a cache.
func (e zstdEncoder) cachePath(data []byte) string {
	if e.cache == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(e.id))
	h.Write([]byte{0})
	if e.dict != "" {
		h.Write([]byte("dict " + e.dictHash))
		h.Write([]byte{0})
	}
	h.Write(data)
	key := hex.EncodeToString(h.Sum(nil))
	return filepath.Join(e.cache, key[:2], key+".zst")
}

// store puts z in the cache at path; the cache only saves time, so a failure is ignored.
func (e zstdEncoder) store(path string, z []byte) {
	if path == "" {
		return
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, err = f.Write(z)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// pruneCache removes the cache's files that no image used in moduleCacheMaxAge (a module
// taken from the cache has its time set to the time of use), temporary files of a stopped
// build among them.
func (e zstdEncoder) pruneCache(now time.Time) {
	if e.cache == "" {
		return
	}
	_ = filepath.WalkDir(e.cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil && now.Sub(fi.ModTime()) > moduleCacheMaxAge {
			os.Remove(p)
		}
		return nil
	})
}
