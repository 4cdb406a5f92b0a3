package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// Version is the builder's own version, part of every cache key: bump it when a change to
// this package (the guest image, the tools' configuration) changes what a recipe makes.
// The recipe scripts and the guest's /init and lib.sh are hashed by themselves.
const Version = 1

// Head and tail kept of every disk (see Set.Heads): LUKS headers with their whole keyslot
// areas (a LUKS2 header of cryptsetup's default size ends at 16 MiB; cryptsetup refuses a
// smaller file), LVM labels and metadata areas, MD 1.1/1.2 superblocks sit in the head; MD
// 0.90 and 1.0 superblocks in the tail. Both are sparse where the disk is.
const (
	HeadBytes = 16 << 20
	TailBytes = 1 << 20
)

// Console markers of guest/init.sh.
const (
	okMarker   = "EARLYROOT-BUILDER-OK"
	failMarker = "EARLYROOT-BUILDER-FAILED"
)

// buildTimeout bounds one recipe's VM.
const buildTimeout = 15 * time.Minute

// Options say where and with what a set is built. The zero value means: the test kernel
// fixture.FindKernel finds, fixture.CacheDir(), and the test root of vm.RootDir with
// cmd/testinit built from this checkout.
type Options struct {
	Kernel   fixture.Kernel
	CacheDir string
	// RootTar is the test root as a tar archive (see TestRoot); nil builds the default.
	RootTar []byte
	// Console, if set, receives the builder VM's console as it runs.
	Console io.Writer
}

// Set is one built recipe in the cache.
type Set struct {
	Recipe Recipe
	Dir    string   // the cache directory of the set
	Key    string   // the cache key (part of Dir's name)
	Disks  []string // the disk images, in recipe order (/dev/vda, /dev/vdb, …)
	Heads  []string // the first HeadBytes of each disk (or all of it, if smaller)
	Tails  []string // the last TailBytes of each disk
	Log    string   // the builder VM's console log
	Manifest
}

// Manifest records how a set was made; it is manifest.json in the set's directory.
type Manifest struct {
	Recipe        string    `json:"recipe"`
	Key           string    `json:"key"`
	KeyInputs     []string  `json:"key_inputs"`
	KernelRelease string    `json:"kernel_release"`
	Built         time.Time `json:"built"`
	BuildSeconds  float64   `json:"build_seconds"` // all of the build
	VMSeconds     float64   `json:"vm_seconds"`    // QEMU's run (the guest kernel's boot and the recipe)
	Tools         []string  `json:"tools"`         // the host tools' versions
}

// Path returns the image of the disk called name ("" when the recipe has none).
func (s *Set) Path(name string) string {
	for i, d := range s.Recipe.Disks {
		if d.Name == name {
			return s.Disks[i]
		}
	}
	return ""
}

// keyInputs lists what a set's content depends on, one line each; Key hashes them.
func keyInputs(r Recipe, release string, rootTar []byte) []string {
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:8]) }
	in := []string{
		"builder " + strconv.Itoa(Version),
		"kernel " + release,
		"recipe " + r.Name,
		"script " + sum([]byte(r.Script)),
		"init " + sum([]byte(guestInit)),
		"lib " + sum([]byte(guestLib)),
		"lvm.conf " + sum([]byte(lvmConf)),
		"root " + sum(rootTar),
	}
	for _, d := range r.Disks {
		in = append(in, fmt.Sprintf("disk %s %dMiB", d.Name, d.SizeMiB))
	}
	if r.CPUs > 1 {
		in = append(in, fmt.Sprintf("cpus %d", r.CPUs))
	}
	// env.sh: the recipe's facts, and the passphrase and key file the disks are made with.
	return append(in, "env "+sum(envScript(r)))
}

// key is the cache key of a set: 16 hex digits of the SHA-256 of its inputs.
func key(inputs []string) string {
	h := sha256.Sum256([]byte(strings.Join(inputs, "\n")))
	return hex.EncodeToString(h[:8])
}

func (o Options) withDefaults() (Options, error) {
	if o.Kernel.Image == "" {
		k, err := fixture.FindKernel()
		if err != nil {
			return o, err
		}
		o.Kernel = k
	}
	if o.CacheDir == "" {
		o.CacheDir = fixture.CacheDir()
	}
	if o.RootTar == nil {
		t, err := TestRoot()
		if err != nil {
			return o, err
		}
		o.RootTar = t
	}
	return o, nil
}

// Dir returns the cache directory where r's set lives for o (built or not).
func Dir(r Recipe, o Options) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	return setDir(r, o), nil
}

func setDir(r Recipe, o Options) string {
	return filepath.Join(o.CacheDir, "disks", r.Name+"-"+key(keyInputs(r, o.Kernel.Release, o.RootTar)))
}

// Cached returns r's set when it is already in the cache.
func Cached(r Recipe, o Options) (*Set, bool) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, false
	}
	s, err := load(r, setDir(r, o))
	return s, err == nil
}

// Build returns r's set, building it first when the cache has none. Concurrent calls for
// one set (from any process) build it once: the others wait on its lock file.
func Build(ctx context.Context, r Recipe, o Options) (*Set, error) {
	if r.Script == "" || len(r.Disks) == 0 {
		return nil, fmt.Errorf("builder %s: recipe has no script or no disks", r.Name)
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	dir := setDir(r, o)
	if s, err := load(r, dir); err == nil {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	unlock, err := fixture.LockCache(ctx, dir+".lock")
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	defer unlock()
	if s, err := load(r, dir); err == nil {
		return s, nil // built by whoever held the lock
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-"+r.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	defer os.RemoveAll(tmp)
	if err := build(ctx, r, o, tmp); err != nil {
		// The log outlives the failed build, beside where the set would be.
		failed := dir + ".failed.log"
		if os.Rename(filepath.Join(tmp, "build.log"), failed) != nil {
			failed = "none"
		}
		return nil, fmt.Errorf("builder %s: %w (log: %s)", r.Name, err, failed)
	}
	os.Remove(dir + ".failed.log")
	// A directory that load refused (a file missing) is broken: the new set replaces it.
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("builder %s: %w", r.Name, err)
	}
	return load(r, dir)
}

// load opens a built set: its manifest and every file it must have.
func load(r Recipe, dir string) (*Set, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	s := &Set{Recipe: r, Dir: dir, Log: filepath.Join(dir, "build.log")}
	if err := json.Unmarshal(b, &s.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	s.Key = s.Manifest.Key
	for _, d := range r.Disks {
		base := filepath.Join(dir, d.Name)
		s.Disks = append(s.Disks, base+".img")
		s.Heads = append(s.Heads, base+".head")
		s.Tails = append(s.Tails, base+".tail")
	}
	for _, p := range append(append(append([]string{s.Log}, s.Disks...), s.Heads...), s.Tails...) {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	// The set's time says when it was last used, for Prune (a read-only cache keeps its).
	now := time.Now()
	os.Chtimes(dir, now, now)
	return s, nil
}

// build makes r's set in the empty directory dir.
func build(ctx context.Context, r Recipe, o Options, dir string) error {
	start := time.Now()
	var drives []vm.Drive
	for _, d := range r.Disks {
		p := filepath.Join(dir, d.Name+".img")
		if err := vm.CreateSparse(p, int64(d.SizeMiB)<<20); err != nil {
			return err
		}
		drives = append(drives, vm.Drive{Path: p, Serial: d.Name})
	}
	// The test root goes last, read-only, padded to whole sectors.
	rootTar := filepath.Join(dir, "root.tar")
	padded := append(append([]byte(nil), o.RootTar...), make([]byte, (4096-len(o.RootTar)%4096)%4096)...)
	if err := os.WriteFile(rootTar, padded, 0o644); err != nil {
		return err
	}
	drives = append(drives, vm.Drive{Path: rootTar, Serial: "testroot", ReadOnly: true})
	image := filepath.Join(dir, "builder.cpio")
	if err := writeImage(image, o.Kernel, map[string][]byte{
		"env.sh":    envScript(r),
		"recipe.sh": []byte(r.Script),
	}); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "build.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	var console io.Writer = logf
	if o.Console != nil {
		console = io.MultiWriter(logf, o.Console)
	}
	cfg := vm.Config{Kernel: o.Kernel.Image, Initrd: image, Append: "panic=-1 quiet", Drives: drives,
		MemMB: 1024, CPUs: max(1, r.CPUs), Timeout: buildTimeout, Console: console,
		ExtraArgs: []string{"-device", "virtio-rng-pci"}}
	if a, err := vm.Args(cfg); err == nil {
		fmt.Fprintf(logf, "# %s\n", strings.Join(a, " "))
	}
	vmStart := time.Now()
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	verdict := regexp.MustCompile(`^(` + okMarker + `|` + failMarker + `) `)
	line, err := v.Expect(verdict, buildTimeout)
	if err != nil {
		return fmt.Errorf("builder VM: %w; last lines:\n%s", err, v.Tail(30))
	}
	if !strings.HasPrefix(line, okMarker) {
		return fmt.Errorf("builder VM: %s; last lines:\n%s", line, v.Tail(30))
	}
	if err := v.WaitTimeout(time.Minute); err != nil {
		return fmt.Errorf("builder VM did not power off: %w", err)
	}
	vmTime := time.Since(vmStart)
	for _, p := range []string{image, rootTar} {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	for _, d := range r.Disks {
		base := filepath.Join(dir, d.Name)
		if err := keepEnds(base+".img", base+".head", base+".tail"); err != nil {
			return err
		}
	}
	m := Manifest{Recipe: r.Name, KeyInputs: keyInputs(r, o.Kernel.Release, o.RootTar),
		KernelRelease: o.Kernel.Release, Built: time.Now().UTC().Truncate(time.Second),
		BuildSeconds: time.Since(start).Round(100 * time.Millisecond).Seconds(),
		VMSeconds:    vmTime.Round(100 * time.Millisecond).Seconds(), Tools: toolVersions()}
	m.Key = key(m.KeyInputs)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644)
}

// envScript is /env.sh: the recipe's facts and what /init needs, as shell assignments. The
// recipe's disks are /dev/vda, /dev/vdb, …, the test root's tar archive the disk after them.
func envScript(r Recipe) []byte {
	var devs []string
	for i := range r.Disks {
		devs = append(devs, guestDisk(i))
	}
	rootDev := guestDisk(len(r.Disks))
	var b bytes.Buffer
	vars := append(r.env(),
		[2]string{"PASS", Passphrase},
		[2]string{"KEYFILE", "/tmp/keyfile"},
		[2]string{"DISKS", strings.Join(devs, " ")},
		[2]string{"ROOT_TAR", rootDev},
		[2]string{"MODULES", strings.Join(guestPreload, " ")},
	)
	for _, kv := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&b, "printf %%s %s >/tmp/keyfile\n", shellQuote(KeyfileContent))
	return b.Bytes()
}

// guestDisk is the guest's name of the i-th virtio disk attached.
func guestDisk(i int) string { return "/dev/vd" + string(rune('a'+i)) }

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keepEnds copies the first HeadBytes and the last TailBytes of img to head and tail.
func keepEnds(img, head, tail string) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if err := copyRange(f, 0, min(size, HeadBytes), head); err != nil {
		return err
	}
	from := max(0, size-TailBytes)
	return copyRange(f, from, size-from, tail)
}

// copyRange copies n bytes of f from off into a new file dst, leaving holes where the
// source has blocks of zeros.
func copyRange(f *os.File, off, n int64, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := vm.WriteSparse(out, 0, f, off, n); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	if err := out.Truncate(n); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// toolVersions records the host tools that made a set (not part of the key: a Debian
// point release does not change what the recipes make).
func toolVersions() []string {
	var out []string
	for _, c := range [][]string{{"cryptsetup", "--version"}, {"lvm", "version"}, {"mdadm", "--version"},
		{"mke2fs", "-V"}, {"mkfs.btrfs", "--version"}} {
		p, err := hostPath(c[0])
		if err != nil {
			continue
		}
		b, _ := execOutput(p, c[1])
		if line, _, _ := strings.Cut(strings.TrimSpace(b), "\n"); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// pruneAfter is how long a set of another key is kept after it was last made or loaded:
// another checkout sharing the cache (another branch's test root) may be using it.
const pruneAfter = 24 * time.Hour

// Prune removes from the cache the sets of r made with other keys (an older recipe,
// builder, kernel or test root) that nothing made or loaded for pruneAfter, with their lock
// files and failure logs, and the temporary directories of r's builds that were killed
// (older than a build may last), and returns what it removed. The current set is kept.
func Prune(r Recipe, o Options) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	keep := filepath.Base(setDir(r, o))
	stale := regexp.MustCompile(`^` + regexp.QuoteMeta(r.Name) + `-[0-9a-f]{16}(\.lock|\.failed\.log)?$`)
	killed := regexp.MustCompile(`^\.build-` + regexp.QuoteMeta(r.Name) + `-[0-9]+$`)
	ents, err := os.ReadDir(filepath.Join(o.CacheDir, "disks"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		n := e.Name()
		var age time.Duration
		switch {
		case stale.MatchString(n) && !strings.HasPrefix(n, keep):
			age = pruneAfter
		case killed.MatchString(n):
			age = buildTimeout + time.Minute
		default:
			continue
		}
		// A set's lock and log go with it: they are no younger than the set.
		set := filepath.Join(o.CacheDir, "disks", strings.TrimSuffix(strings.TrimSuffix(n, ".lock"), ".failed.log"))
		if fi, err := os.Stat(set); err == nil && time.Since(fi.ModTime()) < age {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < age {
			continue
		}
		if err := os.RemoveAll(filepath.Join(o.CacheDir, "disks", n)); err != nil {
			return removed, err
		}
		removed = append(removed, n)
	}
	return removed, nil
}
