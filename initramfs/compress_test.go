package initramfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// testPayload is compressible but not trivial, and larger than one lz4
// legacy block (8 MiB) so multi-block streams are covered; the slower
// formats are tested on a prefix.
func testPayload() []byte {
	r := rand.New(rand.NewSource(1))
	words := []string{"virtio", "blk", "ext4", "module", "\x00\x00\x00\x00", "alias=pci:v*"}
	var b bytes.Buffer
	for b.Len() < 9<<20 {
		b.WriteString(words[r.Intn(len(words))])
		b.WriteByte(byte(r.Intn(256)))
	}
	return b.Bytes()
}

func compress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := NewWriter(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decompress(t *testing.T, c Compression, z []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch c {
	case None:
		return z
	case Gzip:
		r, err = gzip.NewReader(bytes.NewReader(z))
	case Zstd:
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(z))
		if err == nil {
			defer d.Close()
		}
		r = d
	case XZ:
		r, err = xz.NewReader(bytes.NewReader(z))
	case LZ4:
		r = lz4.NewReader(bytes.NewReader(z))
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: decompress: %v", c, err)
	}
	return out
}

// toolTest is the external command that checks a stream, if installed.
var toolTest = map[Compression][]string{
	Gzip: {"gzip", "-t"},
	Zstd: {"zstd", "-q", "-t"},
	XZ:   {"xz", "-t"},
	LZ4:  {"lz4", "-q", "-t"},
}

func TestCompressionRoundTrip(t *testing.T) {
	full := testPayload()
	for _, c := range []Compression{None, Gzip, Zstd, XZ, LZ4} {
		t.Run(string(c), func(t *testing.T) {
			data := full
			if c != LZ4 {
				data = full[:1<<20]
			}
			z := compress(t, c, data)
			if z2 := compress(t, c, data); !bytes.Equal(z, z2) {
				t.Error("not deterministic")
			}
			if got := decompress(t, c, z); !bytes.Equal(got, data) {
				t.Error("round trip differs")
			}
			checkFormat(t, c, z)
			argv := toolTest[c]
			if argv == nil {
				return
			}
			if _, err := exec.LookPath(argv[0]); err != nil {
				t.Skipf("%s not installed", argv[0])
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdin = bytes.NewReader(z)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%v: %v\n%s", argv, err, out)
			}
		})
	}
}

// checkFormat checks the properties the kernel's decompressors need.
func checkFormat(t *testing.T, c Compression, z []byte) {
	t.Helper()
	switch c {
	case LZ4:
		if len(z) < 4 || binary.LittleEndian.Uint32(z) != 0x184C2102 {
			t.Errorf("lz4: not the legacy format (magic % x)", z[:4])
		}
	case XZ:
		// Stream header: 6 magic bytes, then flags 0x00 and the check ID.
		if len(z) < 8 || z[7] != 0x01 {
			t.Errorf("xz: check type %#x, want CRC32 (0x01)", z[7])
		}
	case Zstd:
		// Frame header descriptor: bit 5 is Single_Segment_flag.
		if len(z) < 5 || binary.LittleEndian.Uint32(z) != 0xFD2FB528 {
			t.Fatalf("zstd: bad magic")
		}
		if z[4]&0x20 != 0 {
			t.Error("zstd: single-segment frame (window = whole content)")
		}
		if wl := 10 + int(z[5]>>3); wl > 23 {
			t.Errorf("zstd: window log %d, want <= 23", wl)
		}
	}
}

func TestCompressModule(t *testing.T) {
	data := testPayload()[:200000]
	for _, c := range []Compression{Gzip, Zstd, XZ} {
		z, err := CompressModule(data, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := decompress(t, c, z); !bytes.Equal(got, data) {
			t.Errorf("%s: round trip differs", c)
		}
		checkFormat(t, c, z)
	}
	if _, err := CompressModule(data, LZ4); err == nil {
		t.Error("lz4 module compression accepted")
	}
}

func TestParseCompression(t *testing.T) {
	cases := []struct {
		in   string
		want Compression
		ok   bool
	}{
		{"", None, true}, {"none", None, true}, {"zstd", Zstd, true}, {"zst", Zstd, true},
		{"gzip", Gzip, true}, {"gz", Gzip, true}, {"xz", XZ, true}, {"lz4", LZ4, true},
		{"bzip2", "", false}, {"ZSTD", "", false},
	}
	for _, c := range cases {
		got, err := ParseCompression(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseCompression(%q) = %q, %v", c.in, got, err)
		}
	}
	suffixes := map[Compression]string{None: "", XZ: ".xz", Zstd: ".zst", Gzip: ".gz"}
	for c, want := range suffixes {
		if got, err := c.ModuleSuffix(); err != nil || got != want {
			t.Errorf("%s.ModuleSuffix() = %q, %v", c, got, err)
		}
	}
	if _, err := LZ4.ModuleSuffix(); err == nil {
		t.Error("lz4 has a module suffix")
	}
}
