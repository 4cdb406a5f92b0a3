package initramfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/earlyroot/earlyroot/modload"
)

// The modules' zstd dictionary (modload.DictFile). Compressed one by one, so that the init
// decodes only those it loads, the modules each repeat what they have in common (ELF
// layout, symbol and section names, the kernel's boilerplate); a dictionary trained on the
// image's own modules holds it once. Measured on the generic set of Debian 12's kernel (270
// modules the init decodes, 44 MB), at the program's level 19: 9.71 MB without a
// dictionary; with one of 112 KiB 8.83 MB, 256 KiB 8.58 MB, 512 KiB (the trainer made 428)
// 8.73 MB, each plus the dictionary. Only the zstd program trains one: the built-in
// trainer (klauspost's dict package) fails on this much input.
const (
	// dictMax is the largest dictionary trained.
	dictMax = 256 << 10
	// dictSampleRatio: the trainer wants at least this many times the dictionary's size
	// of samples (zstd's documentation), so a smaller module set gets a smaller dictionary.
	dictSampleRatio = 100
	// dictMin is the smallest dictionary worth its place: with less input there is none.
	dictMin = 16 << 10
)

// trainDict returns enc with a dictionary that the zstd program trains, into dictFile, on
// the modules the jobs compress, when asked (Config.ModuleDict) and it makes their files:
// with Compression zstd, the program, and a kernel not known to decompress zstd modules
// itself (which it does without a dictionary). It first writes each such module uncompressed into samples, the
// program's input, and points the job at it. A training that fails is a warning: the
// modules are compressed without a dictionary.
func trainDict(ctx context.Context, cfg Config, enc zstdEncoder, loading moduleLoading, jobs []stageJob, samples, dictFile string) (zstdEncoder, string, error) {
	if !cfg.ModuleDict || cfg.ModCompression != Zstd || enc.program == "" || loading.kernelTakes(zstdSuffix) {
		return enc, "", nil
	}
	var idx []int
	for i, j := range jobs {
		if j.compress {
			idx = append(idx, i)
		}
	}
	if err := os.MkdirAll(samples, 0o755); err != nil {
		return enc, "", fmt.Errorf("dictionary samples: %w", err)
	}
	files := make([]string, len(idx))
	sums := make([][sha256.Size]byte, len(idx))
	sizes := make([]int, len(idx))
	err := inParallel(ctx, len(idx), func(k int) error {
		j := &jobs[idx[k]]
		data, err := readStaged(*j)
		if err != nil {
			return err
		}
		files[k] = filepath.Join(samples, strconv.Itoa(k)+".ko")
		if err := os.WriteFile(files[k], data, 0o644); err != nil {
			return fmt.Errorf("dictionary samples: %w", err)
		}
		j.src, j.decompress = files[k], ""
		sums[k], sizes[k] = sha256.Sum256(data), len(data)
		return nil
	})
	if err != nil {
		return enc, "", err
	}
	total := 0
	for _, n := range sizes {
		total += n
	}
	size := min(dictMax, total/dictSampleRatio)
	if size < dictMin {
		return enc, "", nil
	}
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	sum := h.Sum(nil)
	if err := enc.train(ctx, files, size, dictID(sum), dictFile); err != nil {
		return enc, fmt.Sprintf("zstd dictionary: %v; the modules are compressed without one", err), nil
	}
	enc, err = enc.withDict(dictFile)
	return enc, "", err
}

// dictID derives the dictionary's ID from its samples, so that the same modules make the
// same dictionary (reproducible images, and the module cache's entries stay valid). IDs
// below 32768 are reserved, and zstd's format keeps 2^31 and above for future use.
func dictID(sum []byte) uint32 {
	return 1<<15 + binary.BigEndian.Uint32(sum)%(1<<31-1<<15)
}

// train has the program train a dictionary of at most size bytes with the given ID on the
// sample files, into out.
func (e zstdEncoder) train(ctx context.Context, files []string, size int, id uint32, out string) error {
	args := append([]string{"--train", "-q", "--maxdict=" + strconv.Itoa(size), "--dictID=" + strconv.FormatUint(uint64(id), 10), "-o", out}, files...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, e.program, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s --train: %w: %s", e.program, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// withDict returns e compressing with the dictionary in file, checking each output with
// the init's decoder of that dictionary.
func (e zstdEncoder) withDict(file string) (zstdEncoder, error) {
	dict, err := os.ReadFile(file)
	if err != nil {
		return e, fmt.Errorf("zstd dictionary: %w", err)
	}
	dec, err := modload.NewZstdDecoder(dict)
	if err != nil {
		return e, fmt.Errorf("the zstd program's dictionary: %w", err)
	}
	sum := sha256.Sum256(dict)
	e.dict, e.dictHash, e.dec = file, hex.EncodeToString(sum[:]), dec
	return e, nil
}

// readStaged returns the uncompressed bytes of the job's module.
func readStaged(j stageJob) ([]byte, error) {
	data, err := os.ReadFile(j.src)
	if err != nil {
		return nil, fmt.Errorf("stage module: %w", err)
	}
	if j.decompress != "" {
		if data, err = decompressBytes(data, j.decompress, maxModuleFile); err != nil {
			return nil, fmt.Errorf("stage module %s: %w", j.name, err)
		}
	}
	return data, nil
}
