package initramfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const intelCPUInfo = `processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 142
model name	: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
stepping	: 10
microcode	: 0xf4

processor	: 1
vendor_id	: GenuineIntel
cpu family	: 6
model		: 158
stepping	: 13
`

func TestParseCPUInfo(t *testing.T) {
	cases := []struct {
		name, in string
		want     CPU
		err      string
	}{
		{"intel, first processor", intelCPUInfo, CPU{"GenuineIntel", 6, 142, 10}, ""},
		{"amd", "vendor_id : AuthenticAMD\ncpu family : 25\nmodel : 1\nstepping : 1\nflags : fpu\n", CPU{"AuthenticAMD", 25, 1, 1}, ""},
		{"leading blank lines", "\n\nvendor_id: X\ncpu family: 1\nmodel: 2\nstepping: 3\n", CPU{"X", 1, 2, 3}, ""},
		{"no stepping", "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 1\n", CPU{}, `no "stepping" line`},
		{"stepping unknown", "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 1\nstepping : unknown\n", CPU{}, `stepping "unknown": not a number`},
		{"hex model", "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 0x8e\nstepping : 1\n", CPU{}, "not a number"},
		{"empty", "", CPU{}, `no "vendor_id" line`},
		{"arm", "processor : 0\nBogoMIPS : 48.00\nCPU implementer : 0x41\n", CPU{}, `no "vendor_id" line`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCPUInfo(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add(intelCPUInfo)
	f.Add("vendor_id:\ncpu family: 99999999999\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCPUInfo(strings.NewReader(s))
		if err == nil && (c.Family < 0 || c.Model < 0 || c.Stepping < 0 || c.Family > 0xffff) {
			t.Errorf("ParseCPUInfo(%q) = %+v", s, c)
		}
	})
}

// fixtureUcode lays out synthetic microcode as Debian's intel-microcode and
// amd64-microcode packages do, with files that must be ignored beside them.
func fixtureUcode(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"intel-ucode/06-8e-0a":                   "intel 06-8e-0a\n",
		"intel-ucode/06-8e-0b":                   "intel 06-8e-0b\n",
		"intel-ucode/06-9e-0d":                   "intel 06-9e-0d\n",
		"intel-ucode/06-8e-0a.initramfs":         "not an update\n",
		"intel-ucode/list":                       "not an update\n",
		"intel-ucode/06-55-04":                   "", // empty: skipped
		"amd-ucode/microcode_amd.bin":            "amd 10h-14h\n",
		"amd-ucode/microcode_amd_fam17h.bin":     "amd 17h\n",
		"amd-ucode/microcode_amd_fam19h.bin":     "amd 19h\n",
		"amd-ucode/microcode_amd_fam17h.bin.asc": "signature\n",
		"amd-ucode/README":                       "readme\n",
	})
	return dir
}

func TestFindMicrocode(t *testing.T) {
	fw := fixtureUcode(t)
	cases := []struct {
		name string
		cpu  *CPU
		want Microcode
	}{
		{"generic", nil, Microcode{
			Intel: []string{"intel-ucode/06-8e-0a", "intel-ucode/06-8e-0b", "intel-ucode/06-9e-0d"},
			AMD:   []string{"amd-ucode/microcode_amd.bin", "amd-ucode/microcode_amd_fam17h.bin", "amd-ucode/microcode_amd_fam19h.bin"},
		}},
		{"intel host", &CPU{"GenuineIntel", 6, 0x8e, 0x0a}, Microcode{Intel: []string{"intel-ucode/06-8e-0a"}}},
		{"intel host without update", &CPU{"GenuineIntel", 6, 0x8e, 0x0c}, Microcode{}},
		{"amd family 17h", &CPU{"AuthenticAMD", 0x17, 0x31, 0}, Microcode{AMD: []string{"amd-ucode/microcode_amd_fam17h.bin"}}},
		{"amd family 10h", &CPU{"AuthenticAMD", 0x10, 2, 3}, Microcode{AMD: []string{"amd-ucode/microcode_amd.bin"}}},
		{"amd family 1ah", &CPU{"AuthenticAMD", 0x1a, 2, 1}, Microcode{}},
		{"other vendor", &CPU{"CentaurHauls", 6, 0x8e, 0x0a}, Microcode{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FindMicrocode(fw, c.cpu)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Intel, c.want.Intel) || !slices.Equal(got.AMD, c.want.AMD) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	got, err := FindMicrocode(t.TempDir(), nil)
	if err != nil || len(got.Files()) != 0 {
		t.Errorf("empty firmware dir: %+v, %v", got, err)
	}
}

// splitEarly checks the early archive at the start of img (res.EarlyBytes
// long, 4-byte aligned, NUL padding after its trailer) and returns its
// records and the rest of the image.
func splitEarly(t *testing.T, img []byte, res Result) (map[string][]byte, []byte) {
	t.Helper()
	n := res.EarlyBytes
	if n == 0 || n%4 != 0 || n > int64(len(img)) {
		t.Fatalf("early archive of %d bytes in a %d byte image", n, len(img))
	}
	early := img[:n]
	if !bytes.HasPrefix(early, []byte("070701")) {
		t.Fatalf("image does not start with a newc header: %q", early[:6])
	}
	end := bytes.LastIndex(early, []byte("TRAILER!!!\x00"))
	if end < 0 {
		t.Fatal("no trailer in the early archive")
	}
	if tail := early[end+len("TRAILER!!!\x00"):]; len(bytes.Trim(tail, "\x00")) != 0 {
		t.Errorf("non-NUL bytes after the early trailer: %q", tail)
	}
	recs := readRecords(t, early)
	files := map[string][]byte{}
	for name, r := range recs {
		if r.Mode&0o170000 == 0o100000 {
			files[name] = content(t, r)
		}
	}
	return files, img[n:]
}

func TestBuildMicrocode(t *testing.T) {
	fw := fixtureUcode(t)
	cpuinfo := filepath.Join(t.TempDir(), "cpuinfo")
	if err := os.WriteFile(cpuinfo, []byte(intelCPUInfo), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, comp := range []Compression{None, Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			cfg := hostConfig(t)
			cfg.Microcode, cfg.FirmwareDir, cfg.CPUInfo, cfg.Compression = true, fw, cpuinfo, comp
			img, res := build(t, cfg)
			if !slices.Equal(res.Microcode, []string{"intel-ucode/06-8e-0a"}) {
				t.Errorf("Result.Microcode %q", res.Microcode)
			}
			if res.CPU == nil || *res.CPU != (CPU{"GenuineIntel", 6, 142, 10}) {
				t.Errorf("Result.CPU %v", res.CPU)
			}
			files, rest := splitEarly(t, img, res)
			want := map[string]string{"kernel/x86/microcode/GenuineIntel.bin": "intel 06-8e-0a\n"}
			if len(files) != len(want) {
				t.Errorf("early archive files: %q", files)
			}
			for name, c := range want {
				if string(files[name]) != c {
					t.Errorf("%s = %q, want %q", name, files[name], c)
				}
			}
			main := rest
			if comp == Zstd {
				d, _ := zstd.NewReader(nil)
				defer d.Close()
				var err error
				if main, err = d.DecodeAll(rest, nil); err != nil {
					t.Fatalf("main archive after the early one: %v", err)
				}
			}
			if int64(len(main)) != res.ArchiveBytes {
				t.Errorf("main archive %d bytes, Result says %d", len(main), res.ArchiveBytes)
			}
			if _, ok := readRecords(t, main)["init"]; !ok {
				t.Error("main archive lacks init")
			}
		})
	}

	// No microcode for the CPU, or none asked for: no early archive at all.
	cfg := hostConfig(t)
	cfg.Microcode, cfg.FirmwareDir, cfg.CPUInfo = true, t.TempDir(), cpuinfo
	img, res := build(t, cfg)
	if res.EarlyBytes != 0 || len(res.Microcode) != 0 {
		t.Errorf("no microcode found: early %d bytes, %q", res.EarlyBytes, res.Microcode)
	}
	if _, ok := readRecords(t, img)["init"]; !ok {
		t.Error("without microcode the image does not start with the main archive")
	}
	cfg.CPUInfo = filepath.Join(t.TempDir(), "missing")
	if _, err := Build(cfg, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "host-only microcode") {
		t.Errorf("missing cpuinfo: %v", err)
	}
}

func TestEarlyArchiveGeneric(t *testing.T) {
	fw := fixtureUcode(t)
	m, err := FindMicrocode(fw, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := earlyArchive(fw, m, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := writeEarly(a, &buf)
	if err != nil || n != int64(buf.Len()) || n%4 != 0 {
		t.Fatalf("writeEarly: %d bytes, %d written, %v", n, buf.Len(), err)
	}
	files, _ := splitEarly(t, buf.Bytes(), Result{EarlyBytes: n})
	want := map[string]string{
		"kernel/x86/microcode/GenuineIntel.bin": "intel 06-8e-0a\nintel 06-8e-0b\nintel 06-9e-0d\n",
		"kernel/x86/microcode/AuthenticAMD.bin": "amd 10h-14h\namd 17h\namd 19h\n",
	}
	if len(files) != len(want) {
		t.Errorf("files %q", files)
	}
	for name, c := range want {
		if string(files[name]) != c {
			t.Errorf("%s = %q, want %q", name, files[name], c)
		}
	}
	recs := readRecords(t, buf.Bytes())
	for _, d := range []string{"kernel", "kernel/x86", "kernel/x86/microcode"} {
		if r, ok := recs[d]; !ok || r.Mode&0o170000 != 0o040000 {
			t.Errorf("no directory %s", d)
		}
	}
}
