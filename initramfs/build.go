package initramfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/earlyroot/earlyroot/modload"
)

// DefaultVersion is the VERSION_ID written to /etc/initrd-release when
// Config.Version is empty.
const DefaultVersion = "0.1"

// File is an extra host file to put in the image.
type File struct {
	Src string // host path
	Dst string // path in the image; "" means Src's absolute path
}

// ParseFile parses a -file argument "SRC[:DST]".
func ParseFile(s string) (File, error) {
	src, dst, _ := strings.Cut(s, ":")
	if src == "" {
		return File{}, fmt.Errorf("-file %q: empty source", s)
	}
	if dst == "" {
		abs, err := filepath.Abs(src)
		if err != nil {
			return File{}, fmt.Errorf("-file %q: %w", s, err)
		}
		dst = abs
	}
	if !strings.HasPrefix(dst, "/") {
		dst = "/" + dst
	}
	return File{Src: src, Dst: dst}, nil
}

// Config describes one image.
type Config struct {
	KernelVersion string // e.g. "6.1.0-56-amd64"; required
	ModDir        string // the module tree of that kernel; required
	Init          string // the init binary; required

	Compression    Compression // whole archive; "" means none
	ModCompression Compression // each module file; "" means none
	// RootFSHint names the filesystem type of the root the image is for (see
	// modload.RootFSHintPath): "auto" takes the type of / in Mounts (the system making the
	// image, as a kernel hook makes it), "" or "none" writes no hint. A hint whose modules
	// the image does not carry is dropped (with a warning unless it came from "auto").
	RootFSHint string
	// InitCompression, when Compression is none, splits the image: the files that are
	// compressed already (modules, firmware) go in a plain archive, which the kernel only
	// copies, and the init with every other file in a second archive compressed with this;
	// "" or none writes one plain archive. See ReadSegments.
	InitCompression Compression
	// Unpack names modules (names or aliases) a generic split image expects to load at most
	// boots, such as a virtual machine's disk drivers: with what they need, it carries them
	// uncompressed in its compressed archive, beside the hinted root filesystem's (see
	// unpackedModules). A host-only image carries all of its modules so.
	Unpack []string
	// ZstdProgram is the zstd program that makes the .ko.zst module files and the zstd
	// archive of the init (InitCompression) (see zstdEncoder); "" has the built-in encoder
	// make them.
	ZstdProgram string
	// ModuleCache is the directory where the module files the zstd program makes are kept
	// for the next image, keyed by the module's bytes and the program's version; "" keeps
	// none.
	ModuleCache string

	HostOnly bool // select this machine's modules instead of the generic set
	// LegacyHBAs adds to a generic image the legacy host adapters the generic set leaves
	// out (LegacySelection); a host-only image has them when the machine does.
	LegacyHBAs bool
	SysFS      string // sysfs root for HostOnly; default "/sys"
	Mounts     string // /proc/mounts for HostOnly; default "/proc/mounts"
	// HostRoot, DevDir and HostCmdline are where HostOnly reads the host's files: /etc/crypttab,
	// the key files it names, /etc/fstab (its x-initrd.mount entries, see HostMounts) and
	// mdadm.conf below HostRoot (default "/"); LUKS headers, MD members' superblocks and
	// /dev/disk links in DevDir (default "/dev"); the kernel command line's resume= in
	// HostCmdline (default "/proc/cmdline"). See FindHostCrypt and HostMDConf.
	HostRoot, DevDir, HostCmdline string
	// MDAdmConf is the host's mdadm.conf for HostOnly (see HostMDConf); default: the first of
	// md.ConfPaths below HostRoot that exists.
	MDAdmConf string

	// Microcode prepends the early microcode archive (see FindMicrocode):
	// every update file below FirmwareDir for a generic image, the running
	// CPU's (read from CPUInfo) for a host-only one.
	Microcode bool
	// Firmware adds the firmware files the included modules name.
	Firmware bool
	// ModuleDict has the zstd program (ZstdProgram) train a dictionary on the modules it
	// compresses, and compress them with it (see trainDict).
	ModuleDict   bool
	FirmwareDir  string // firmware root; default "/lib/firmware"
	CPUInfo      string // /proc/cpuinfo for host-only microcode; default "/proc/cpuinfo"
	KernelConfig string // the kernel's .config (which compressed firmware and modules it loads, see ReadKernelConfig); default: found by kernelConfigPath; none: compressed firmware goes in decompressed, compressed modules as they are

	// Console is the console keymap and font to put in the image (none
	// when empty); see SystemConsole for the system's own.
	Console Console

	Modules []string // extra modules (names or aliases such as "fs-ext4")
	Omit    []string // modules to leave out, with every module that depends on them
	Files   []File   // extra files

	MTime   uint64 // mtime of every entry (0, or SOURCE_DATE_EPOCH)
	Version string // VERSION_ID of /etc/initrd-release; default DefaultVersion
	TempDir string // where to stage the module tree; default os.TempDir()

	// Index is an optional prebuilt modload index of ModDir (modload.Build),
	// to save rebuilding it when many images are made from one tree.
	Index *modload.Index

	// cryptModules are the crypto-* aliases of the host's LUKS headers (hostCryptFor).
	cryptModules []string
}

// Result summarises a built image.
type Result struct {
	KernelVersion    string
	Modules          []string // selected module names, sorted
	ModuleBytes      int64    // their size in the module tree
	ModuleImageBytes int64    // their size in the image (after ModCompression), with their dictionary
	ArchiveBytes     int64    // uncompressed size of the main cpio archive
	ImageBytes       int64    // bytes written (early archive, then the main one after Compression)
	EarlyBytes       int64    // size of the early microcode archive, 0 when there is none
	Microcode        []string // microcode files in the early archive, relative to FirmwareDir
	CPU              *CPU     // the CPU host-only microcode was chosen for
	Firmware         []string // firmware files in the image, relative to /lib/firmware
	Keymap           string   // the keymap's name (Console.KeymapName), "" without one
	Font             string   // the console font (Console.Font), "" without one
	Compression      Compression
	ModCompression   Compression
	ZstdEncoder      string      // what made the zstd streams: "built-in" or the zstd program (zstdEncoder.Name)
	ZstdDict         int         // the size of the modules' zstd dictionary (modload.DictFile), 0 for none
	InitCompression  Compression // the init's archive (Config.InitCompression), None for one archive
	RootFSHint       string      // the hint written (Config.RootFSHint), "" for none
	Unpacked         []string    // modules in the init's archive uncompressed (see unpackedModules), sorted
	LeftOut          []string    // the generic and legacy sets' modules the image leaves out (modload.LeftOutFile), sorted
	Crypttab         []string    // host-only: the host's crypttab lines carried (HostCrypt.Carried)
	Keyfiles         []string    // host-only: key files carried, by their path in the image
	Entries          []Entry     // every archive entry, in archive order
	Warnings         []string    // non-fatal problems, such as unreadable module files in the tree
}

// Build builds the image described by cfg and writes it to w.
func Build(cfg Config, w io.Writer) (Result, error) {
	return BuildContext(context.Background(), cfg, w)
}

// BuildContext is Build that gives up with ctx's error when ctx is done
// (checked between modules and on every write).
func BuildContext(ctx context.Context, cfg Config, w io.Writer) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	res := Result{KernelVersion: cfg.KernelVersion, Compression: cfg.Compression, ModCompression: cfg.ModCompression}
	mods, err := ScanModules(cfg.ModDir)
	if err != nil {
		return res, err
	}
	stage, err := os.MkdirTemp(cfg.TempDir, "mkinitramfs-stage-")
	if err != nil {
		return res, fmt.Errorf("stage module tree: %w", err)
	}
	defer os.RemoveAll(stage)
	if cfg.Index == nil {
		if cfg.Index, err = treeIndex(ctx, cfg.ModDir, cfg.KernelVersion, stage); err != nil {
			return res, err
		}
	}
	crypt, err := hostCryptFor(&cfg)
	if err != nil {
		return res, err
	}
	names, warnings, err := selectModules(cfg, mods)
	res.Warnings = append(crypt.Warnings, warnings...)
	if err != nil {
		return res, err
	}
	hint, warning := rootFSHint(cfg, names)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	res.RootFSHint = hint
	loading, fl, unpack, err := kernelSupport(cfg)
	if err != nil {
		return res, err
	}
	if err := checkUnpack(&cfg, &res, unpack); err != nil {
		return res, err
	}
	if err := loading.check(cfg.ModCompression, cfg.KernelConfig); err != nil {
		return res, err
	}
	if cfg.Compression == None {
		res.InitCompression = cfg.InitCompression
	}
	res.Unpacked = unpackedModules(cfg, hint, names)
	enc, warning := newZstdEncoder(ctx, cfg)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	res.ZstdEncoder = enc.Name()
	defer enc.pruneCache(time.Now())
	st, err := stageModules(ctx, cfg, enc, loading, mods, names, setOf(res.Unpacked), filepath.Join(stage, "modules"))
	if err != nil {
		return res, err
	}
	res.Warnings = append(res.Warnings, st.warnings...)
	res.ZstdDict = st.dictBytes
	res.LeftOut = st.leftOut
	fw, err := firmwareFor(ctx, cfg, fl, mods, names, filepath.Join(stage, "firmware"))
	if err != nil {
		return res, err
	}
	res.Warnings = append(res.Warnings, fw.warnings...)
	early, err := microcodeFor(cfg, &res, filepath.Join(stage, "microcode"))
	if err != nil {
		return res, err
	}
	con, warnings, err := buildConsole(ctx, cfg.Console)
	res.Warnings = append(res.Warnings, warnings...)
	if err != nil {
		return res, err
	}
	if con.keymap != nil {
		res.Keymap = cfg.Console.KeymapName()
	}
	if con.font != nil {
		res.Font = cfg.Console.Font
	}
	a, err := layout(cfg, st, fw, con)
	if err != nil {
		return res, err
	}
	if hint != "" {
		if err := a.AddBytes(modload.RootFSHintPath, 0o644, []byte(hint+"\n")); err != nil {
			return res, err
		}
	}
	if err := addHostMDConf(cfg, a, &res); err != nil {
		return res, err
	}
	if err := crypt.addTo(a, &res); err != nil {
		return res, err
	}
	res.Modules, res.ModuleBytes, res.ModuleImageBytes = names, st.srcBytes, st.imgBytes
	for _, f := range fw.files {
		res.Firmware = append(res.Firmware, f.rel)
	}
	res.Entries = a.Entries()
	cw := ctxWriter{ctx, w}
	if early != nil {
		if res.EarlyBytes, err = writeEarly(early, cw); err != nil {
			return res, err
		}
	}
	res.ArchiveBytes, res.ImageBytes, err = writeMain(ctx, a, cw, cfg, enc)
	res.ImageBytes += res.EarlyBytes
	return res, err
}

// writeMain writes the image's archive, or with cfg.InitCompression its two archives (see
// Config.InitCompression), and returns the cpio bytes and the bytes written to w.
func writeMain(ctx context.Context, a *Archive, w io.Writer, cfg Config, enc zstdEncoder) (int64, int64, error) {
	if cfg.Compression != None || cfg.InitCompression == None {
		// One archive: the Go encoder's 8 MiB window finds the matches between modules
		// that the program's smaller one (programArchiveWindow) would miss.
		return writeCompressed(ctx, a, w, cfg.Compression, zstdEncoder{})
	}
	compressed := a.splitCompressed()
	var plain int64
	if len(compressed.entries) > 0 {
		var err error
		if plain, err = writePlain(compressed, w); err != nil {
			return plain, plain, fmt.Errorf("write the archive of compressed files: %w", err)
		}
	}
	n, m, err := writeCompressed(ctx, a, w, cfg.InitCompression, enc)
	return plain + n, plain + m, err
}

// writePlain writes a as a plain newc archive padded to a multiple of 4 bytes, so that
// another archive can follow (the kernel reads a newc header only at such an offset).
func writePlain(a *Archive, w io.Writer) (int64, error) {
	n, err := a.WriteTo(w)
	if err != nil {
		return n, err
	}
	if pad := (4 - n%4) % 4; pad > 0 {
		m, err := w.Write(make([]byte, pad))
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// firmwareFor stages the firmware of the selected modules when cfg asks for it.
func firmwareFor(ctx context.Context, cfg Config, fl FirmwareLoading, mods []ModuleFile, names []string, stage string) (stagedFirmware, error) {
	if !cfg.Firmware {
		return stagedFirmware{}, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var modNames, paths []string
	for _, m := range mods {
		if want[m.Name] {
			modNames = append(modNames, m.Name)
			paths = append(paths, filepath.Join(cfg.ModDir, filepath.FromSlash(m.Path)))
		}
	}
	return stageFirmware(ctx, cfg.FirmwareDir, cfg.KernelVersion, fl, modNames, paths, stage)
}

// microcodeFor builds the early microcode archive when cfg asks for it and
// microcode is found; it records what went in in res.
func microcodeFor(cfg Config, res *Result, stage string) (*Archive, error) {
	if !cfg.Microcode {
		return nil, nil
	}
	var cpu *CPU
	if cfg.HostOnly {
		c, err := ReadCPU(cfg.CPUInfo)
		if err != nil {
			return nil, fmt.Errorf("host-only microcode: %w", err)
		}
		cpu, res.CPU = &c, &c
	}
	m, err := FindMicrocode(cfg.FirmwareDir, cpu)
	if err != nil {
		return nil, err
	}
	res.Microcode = m.Files()
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("stage microcode: %w", err)
	}
	return earlyArchive(cfg.FirmwareDir, m, stage, cfg.MTime)
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.KernelVersion == "" {
		return cfg, errors.New("no kernel version")
	}
	if cfg.ModDir == "" {
		return cfg, errors.New("no module directory")
	}
	if cfg.Init == "" {
		return cfg, errors.New("no init binary")
	}
	if fi, err := os.Stat(cfg.Init); err != nil {
		return cfg, fmt.Errorf("init binary: %w", err)
	} else if !fi.Mode().IsRegular() {
		return cfg, fmt.Errorf("init binary %s: not a regular file", cfg.Init)
	}
	if fi, err := os.Stat(cfg.ModDir); err != nil {
		return cfg, fmt.Errorf("module tree for %s: %w", cfg.KernelVersion, err)
	} else if !fi.IsDir() {
		return cfg, fmt.Errorf("module tree %s: not a directory", cfg.ModDir)
	}
	if cfg.Compression == "" {
		cfg.Compression = None
	}
	if _, err := ParseCompression(string(cfg.Compression)); err != nil {
		return cfg, err
	}
	if cfg.ModCompression == "" {
		cfg.ModCompression = None
	}
	if _, err := ParseRootFSHint(cfg.RootFSHint); err != nil {
		return cfg, err
	}
	c, err := ParseInitCompression(string(cfg.InitCompression))
	if err != nil {
		return cfg, err
	}
	cfg.InitCompression = c
	if _, err := cfg.ModCompression.ModuleSuffix(); err != nil {
		return cfg, err
	}
	if cfg.SysFS == "" {
		cfg.SysFS = "/sys"
	}
	if cfg.Mounts == "" {
		cfg.Mounts = "/proc/mounts"
	}
	if cfg.DevDir == "" {
		cfg.DevDir = "/dev"
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.FirmwareDir == "" {
		cfg.FirmwareDir = "/lib/firmware"
	}
	if cfg.CPUInfo == "" {
		cfg.CPUInfo = "/proc/cpuinfo"
	}
	if cfg.KernelConfig == "" {
		cfg.KernelConfig = kernelConfigPath(cfg.ModDir, cfg.KernelVersion)
	}
	for _, f := range cfg.Files {
		if f.Src == "" || f.Dst == "" {
			return cfg, fmt.Errorf("extra file %q→%q: empty path", f.Src, f.Dst)
		}
	}
	return cfg, nil
}

// WriteFile builds the image and writes it to out atomically: a temporary
// file in out's directory is synced and renamed over out only when
// everything succeeded, so a failed run leaves the previous image (if any)
// untouched and never a partial one.
func WriteFile(cfg Config, out string) (Result, error) {
	return WriteFileContext(context.Background(), cfg, out)
}

// WriteFileContext is WriteFile that gives up when ctx is done (on SIGINT,
// say), leaving no temporary file behind.
func WriteFileContext(ctx context.Context, cfg Config, out string) (Result, error) {
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return Result{}, fmt.Errorf("output %s: is a directory", out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return Result{}, fmt.Errorf("output %s: %w", out, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	res, err := BuildContext(ctx, cfg, bw)
	if err != nil {
		return res, err
	}
	if err := bw.Flush(); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	mode := os.FileMode(0o644)
	if len(res.Keyfiles) > 0 {
		mode = 0o600 // the image holds keys: readable by its owner only
	}
	if err := tmp.Chmod(mode); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	// The data reaches the disk before the rename makes it the image, so a
	// crash never leaves a renamed but empty or partial file.
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	ok = true
	// And the rename itself: sync the directory that holds the new entry.
	if err := syncDir(filepath.Dir(out)); err != nil {
		return res, fmt.Errorf("output %s: %w", out, err)
	}
	return res, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctxWriter fails writes once its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// writeCompressed writes a to w through the compressor c (zstd by enc's program when it
// has one) and returns the cpio size and the bytes written to w.
func writeCompressed(ctx context.Context, a *Archive, w io.Writer, c Compression, enc zstdEncoder) (int64, int64, error) {
	if c == Zstd && enc.program != "" {
		var buf bytes.Buffer
		n, err := a.WriteTo(&buf)
		if err != nil {
			return n, 0, fmt.Errorf("write archive: %w", err)
		}
		z, err := enc.archive(ctx, buf.Bytes())
		if err != nil {
			return n, 0, fmt.Errorf("write archive: %w", err)
		}
		m, err := w.Write(z)
		if err != nil {
			return n, int64(m), fmt.Errorf("write archive: %w", err)
		}
		return n, int64(m), nil
	}
	cw := &countWriter{w: w}
	zw, err := NewWriter(cw, c)
	if err != nil {
		return 0, 0, err
	}
	n, err := a.WriteTo(zw)
	if err != nil {
		return n, cw.n, fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return n, cw.n, fmt.Errorf("write archive (%s): %w", c, err)
	}
	return n, cw.n, nil
}

// layout puts everything but the compression together.
func layout(cfg Config, st staged, fw stagedFirmware, con consoleFiles) (*Archive, error) {
	a := NewArchive()
	a.MTime = cfg.MTime
	for _, d := range []string{"proc", "sys", "dev", "run", "newroot", "etc", "lib", "sbin"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := a.AddDir("tmp", 0o1777); err != nil {
		return nil, err
	}
	steps := []error{
		a.AddFile("init", 0o755, cfg.Init),
		a.AddSymlink("sbin/modprobe", modload.ModprobeTarget), // → /init once the init runs
		a.AddCharDev("dev/console", 0o600, 5, 1),
		a.AddCharDev("dev/null", 0o666, 1, 3),
		a.AddBytes("etc/initrd-release", 0o644, initrdRelease(cfg)),
		a.AddSymlink("etc/os-release", "initrd-release"),
	}
	if err := errors.Join(steps...); err != nil {
		return nil, fmt.Errorf("image layout: %w", err)
	}
	if err := addConsole(a, con); err != nil {
		return nil, fmt.Errorf("image layout: %w", err)
	}
	modRoot := path.Join("lib/modules", cfg.KernelVersion)
	if err := a.AddDir(modRoot, 0o755); err != nil {
		return nil, err
	}
	for _, f := range st.files {
		if err := a.AddFile(path.Join(modRoot, f.rel), 0o644, f.src); err != nil {
			return nil, fmt.Errorf("image layout: %w", err)
		}
	}
	for _, f := range fw.files {
		if err := a.AddFile(path.Join(firmwareImageDir, f.rel), 0o644, f.src); err != nil {
			return nil, fmt.Errorf("image layout: %w", err)
		}
	}
	for _, f := range cfg.Files {
		if a.Has(f.Dst) {
			return nil, fmt.Errorf("extra file %s: %s is already in the image", f.Src, f.Dst)
		}
		if err := a.AddFile(f.Dst, 0, f.Src); err != nil {
			return nil, fmt.Errorf("extra file: %w", err)
		}
	}
	return a, nil
}

// initrdRelease renders /etc/initrd-release in os-release format.
func initrdRelease(cfg Config) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "NAME=earlyroot\nID=earlyroot\nVERSION_ID=%s\n", osReleaseQuote(cfg.Version))
	fmt.Fprintf(&b, "PRETTY_NAME=%s\n", osReleaseQuote(fmt.Sprintf("earlyroot %s initramfs (Linux %s)", cfg.Version, cfg.KernelVersion)))
	fmt.Fprintf(&b, "VARIANT=initrd\nVARIANT_ID=initrd\n")
	return []byte(b.String())
}

func osReleaseQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-", c)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`", "\n", " ")
	return `"` + r.Replace(s) + `"`
}

// sortedCopy returns s sorted and de-duplicated, leaving s unchanged.
func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// ParseRootFSHint checks a RootFSHint value: "", "auto", "none" or a filesystem type (one
// lower-case word, as the kernel's fs-<type> module aliases name them).
func ParseRootFSHint(s string) (string, error) {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" || len(s) > 32 {
		return "", fmt.Errorf("root filesystem hint %q: want auto, none or a filesystem type", s)
	}
	return s, nil
}

// ParseInitCompression is ParseCompression for Config.InitCompression, which takes no lz4:
// ReadSegments (and so the tests and tools that read an image) reads no lz4 archive.
func ParseInitCompression(s string) (Compression, error) {
	c, err := ParseCompression(s)
	if err == nil && c == LZ4 {
		err = fmt.Errorf("init archive compression lz4: want zstd, gzip, xz or none")
	}
	return c, err
}

// rootFSHint resolves cfg.RootFSHint against the selected modules: the filesystem type to
// write, "" for none, and a warning for a named type the image cannot load.
func rootFSHint(cfg Config, names []string) (hint, warning string) {
	fstype := cfg.RootFSHint
	switch fstype {
	case "", "none":
		return "", ""
	case "auto":
		m, err := RootMount(cfg.Mounts)
		if err != nil {
			return "", ""
		}
		fstype = m.FSType
	}
	var mods []string
	if cfg.Index != nil {
		mods = cfg.Index.Lookup("fs-" + fstype)
	}
	for _, m := range mods {
		if slices.Contains(names, m) {
			return fstype, ""
		}
	}
	if cfg.RootFSHint == "auto" {
		return "", "" // built in, or a root no image mounts (overlay in a container): no hint
	}
	return "", fmt.Sprintf("root filesystem hint %q: the image carries no module for it; no hint written", fstype)
}

// unpackedModules are the modules a split image (Config.InitCompression) carries
// uncompressed in its compressed init archive rather than each compressed in the plain one:
// those it expects to load at every boot, all of a host-only image's and, in a generic one,
// the hinted root filesystem's and Config.Unpack's, with what they need. The kernel then
// unpacks them with the archive before /init runs, which takes a fraction of the time the
// init takes to decode each module file (Go against the kernel's zstd) or the kernel to
// decompress it in finit_module (xz), and the image is about as large. The other modules of
// a generic image stay compressed one by one: most of them never load, and the kernel would
// otherwise unpack them all at every boot.
func unpackedModules(cfg Config, hint string, names []string) []string {
	if cfg.Compression != None || cfg.InitCompression == None {
		return nil
	}
	if cfg.HostOnly {
		return slices.Clone(names)
	}
	wanted := slices.Clone(cfg.Unpack)
	if hint != "" {
		wanted = append(wanted, "fs-"+hint)
	}
	if len(wanted) == 0 || cfg.Index == nil {
		return nil
	}
	var out []string
	for _, m := range cfg.Index.Closure(wanted) {
		if slices.Contains(names, m) {
			out = append(out, m)
		}
	}
	return out
}

func setOf(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// checkUnpack holds the archive compressions against what the kernel's unpacker reads, when
// its .config is known (unpack non-nil): a whole-archive compression it cannot read is an
// error; an init archive compression it cannot read falls back to one plain archive, with a
// warning, since the image boots either way.
func checkUnpack(cfg *Config, res *Result, unpack map[Compression]bool) error {
	if unpack == nil {
		return nil
	}
	if c := cfg.Compression; c != None && !unpack[c] {
		return fmt.Errorf("compression %s: the kernel's unpacker does not read it (%s lacks CONFIG_RD_%s)", c, cfg.KernelConfig, strings.ToUpper(string(c)))
	}
	if c := cfg.InitCompression; cfg.Compression == None && c != None && !unpack[c] {
		res.Warnings = append(res.Warnings, fmt.Sprintf("init archive compression %s: %s lacks CONFIG_RD_%s; writing one plain archive", c, cfg.KernelConfig, strings.ToUpper(string(c))))
		cfg.InitCompression = None
	}
	return nil
}
