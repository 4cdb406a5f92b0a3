package consolefont

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// glyphOf returns the glyph that draws r.
func glyphOf(f *Font, r rune) int {
	for g, rs := range f.Unicode {
		if slices.Contains(rs, r) {
			return g
		}
	}
	return -1
}

func TestParseFixtures(t *testing.T) {
	for _, tc := range []struct {
		file                 string
		width, height, count int
	}{
		{"Lat15-Fixed16.psf.gz", 8, 16, 256},
		{"Lat15-TerminusBold32x16.psf.gz", 16, 32, 256},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Parse(fixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if f.Width != tc.width || f.Height != tc.height || f.Count() != tc.count {
				t.Fatalf("%d glyphs of %dx%d, want %d of %dx%d", f.Count(), f.Width, f.Height, tc.count, tc.width, tc.height)
			}
			if len(f.Unicode) != tc.count {
				t.Fatalf("Unicode table of %d glyphs", len(f.Unicode))
			}
			// A space is blank, an A is not, and a Latin-15 font draws €.
			space, a := glyphOf(f, ' '), glyphOf(f, 'A')
			if space < 0 || a < 0 || glyphOf(f, '€') < 0 {
				t.Fatalf("glyphs of ' ' %d, 'A' %d, '€' %d", space, a, glyphOf(f, '€'))
			}
			if bytes.ContainsFunc(f.Glyph(space), func(r rune) bool { return r != 0 }) {
				t.Errorf("the space glyph has pixels")
			}
			if !bytes.ContainsFunc(f.Glyph(a), func(r rune) bool { return r != 0 }) {
				t.Errorf("the A glyph is blank")
			}
			pairs := f.UniPairs()
			if !slices.Contains(pairs, UniPair{'A', uint16(a)}) {
				t.Errorf("UniPairs lack (A, %d)", a)
			}
			kd := f.kernelData()
			if len(kd) != tc.count*32*f.Pitch() {
				t.Fatalf("kernel data %d bytes", len(kd))
			}
			if got := kd[a*32*f.Pitch():][:len(f.Glyph(a))]; !bytes.Equal(got, f.Glyph(a)) {
				t.Errorf("kernel data of glyph A differs from the glyph")
			}
		})
	}
}

// psf2 builds a PSF2 font of count glyphs of w x h with the given table.
func psf2(w, h, count uint32, table []byte) []byte {
	hdr := make([]byte, 32)
	copy(hdr, psf2Magic)
	flags := uint32(0)
	if table != nil {
		flags = psf2HasUnicode
	}
	for i, v := range []uint32{0, 32, flags, count, (w + 7) / 8 * h, h, w} {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], v)
	}
	glyphs := make([]byte, int(count*((w+7)/8)*h))
	return append(append(hdr, glyphs...), table...)
}

func TestParseTables(t *testing.T) {
	// Glyph 0: 'a' and 'á', then a sequence (dropped); glyph 1: '€' and an
	// astral character (kept in Unicode, left out of UniPairs).
	table := []byte("aá\xfeа\u0301\xff€😀\xff")
	f, err := Parse(psf2(8, 8, 2, table))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]rune{{'a', 'á'}, {'€', '😀'}}
	if !slices.EqualFunc(f.Unicode, want, slices.Equal) {
		t.Errorf("Unicode = %q, want %q", f.Unicode, want)
	}
	if got := f.UniPairs(); !slices.Equal(got, []UniPair{{'a', 0}, {'á', 0}, {'€', 1}}) {
		t.Errorf("UniPairs = %v", got)
	}
	// PSF1: 256 glyphs of 8x4, glyph 0 'x' then a sequence, the others empty.
	p1 := append([]byte{0x36, 0x04, psf1ModeHasTab, 4}, make([]byte, 256*4)...)
	p1 = binary.LittleEndian.AppendUint16(p1, 'x')
	p1 = binary.LittleEndian.AppendUint16(p1, psf1StartSeq)
	p1 = binary.LittleEndian.AppendUint16(p1, 'y')
	p1 = binary.LittleEndian.AppendUint16(p1, psf1Separator)
	for i := 1; i < 256; i++ {
		p1 = binary.LittleEndian.AppendUint16(p1, psf1Separator)
	}
	f, err = Parse(p1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Count() != 256 || !slices.Equal(f.Unicode[0], []rune{'x'}) || f.Unicode[1] != nil {
		t.Errorf("PSF1: %d glyphs, table %q %q", f.Count(), f.Unicode[0], f.Unicode[1])
	}
}

func TestParseErrors(t *testing.T) {
	good := psf2(8, 16, 2, []byte("a\xffb\xff"))
	mod := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a PSF1 or PSF2 font"},
		{"gzip", []byte{0x1f, 0x8b, 8}, "gzip-compressed"},
		{"psf1 header", []byte{0x36, 0x04, 0}, "PSF1 header truncated"},
		{"psf1 mode", []byte{0x36, 0x04, 0x10, 16}, "mode 0x10: unknown bits"},
		{"psf1 height 0", []byte{0x36, 0x04, 0, 0}, "glyph height 0"},
		{"psf1 glyphs", []byte{0x36, 0x04, 0, 16, 1, 2}, "glyphs truncated (2 of 4096 bytes)"},
		{"psf1 table", append([]byte{0x36, 0x04, psf1ModeHasTab, 1}, make([]byte, 257)...), "PSF1 Unicode table: glyph 0: truncated"},
		{"psf2 header", good[:20], "PSF2 header truncated"},
		{"psf2 version", mod(4, 1), "PSF2 version 1"},
		{"psf2 header size", mod(8, 1<<20), "header size 1048576 out of the file's"},
		{"psf2 too many", mod(16, 513), "513 glyphs of 8x16"},
		{"psf2 too wide", mod(28, 33), "2 glyphs of 33x16"},
		{"psf2 glyph size", mod(20, 15), "glyph size 15 bytes, want 16"},
		{"psf2 glyphs", good[:40], "glyphs truncated (8 of 32 bytes)"},
		{"psf2 table", good[:len(good)-1], "PSF2 Unicode table: glyph 1: truncated"},
		{"psf2 utf8", psf2(8, 1, 1, []byte("\x80\xff")), "bad UTF-8 byte 0x80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, %v; want an error with %q", f != nil, err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(fixture(f, "Lat15-Fixed16.psf.gz"))
	f.Add(psf2(8, 16, 2, []byte("a\xfeb\xffc\xff")))
	f.Fuzz(func(t *testing.T, data []byte) {
		font, err := Parse(data)
		if err != nil {
			return
		}
		if font.Count() < 1 || font.Count() > MaxGlyphs || font.Width > MaxWidth || font.Height > MaxHeight {
			t.Fatalf("accepted %d glyphs of %dx%d", font.Count(), font.Width, font.Height)
		}
		if font.Unicode != nil && len(font.Unicode) != font.Count() {
			t.Fatalf("table of %d glyphs for %d", len(font.Unicode), font.Count())
		}
		_ = font.kernelData()
		_ = font.UniPairs()
	})
}
