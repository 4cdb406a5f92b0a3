// Package consolefont reads PC Screen Font files (PSF1 and PSF2, the
// formats of kbd's and console-setup's console fonts) and loads them into
// the Linux console with the KDFONTOP and PIO_UNIMAP ioctls.
//
// A font is a bitmap per glyph plus, optionally, a Unicode table telling
// which characters each glyph draws; the kernel takes the bitmaps in one
// request and the table as (character, glyph) pairs in another.
// Character sequences of the table (a base with combining marks) have no
// place in the kernel's map and are dropped.
package consolefont

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits of the console (KD_FONT_OP_SET): at most 512 glyphs of at most
// 32x32 pixels.
const (
	MaxGlyphs = 512
	MaxWidth  = 32
	MaxHeight = 32
)

// ImageFile is where an earlyroot image keeps its console font (a PSF
// file, not compressed), relative to its root.
const ImageFile = "etc/earlyroot/font.psf"

// Font is a console font.
type Font struct {
	Width, Height int
	// Glyphs holds the bitmaps: Count() glyphs of Height rows of
	// (Width+7)/8 bytes each, the leftmost pixel in the top bit.
	Glyphs []byte
	// Unicode lists, for each glyph, the characters it draws; nil when
	// the font has no Unicode table.
	Unicode [][]rune
}

// Pitch is the number of bytes in one row of a glyph.
func (f *Font) Pitch() int { return (f.Width + 7) / 8 }

// Count is the number of glyphs.
func (f *Font) Count() int { return len(f.Glyphs) / (f.Pitch() * f.Height) }

// The two formats' magic numbers and flags.
var (
	psf1Magic = []byte{0x36, 0x04}
	psf2Magic = []byte{0x72, 0xb5, 0x4a, 0x86}
)

const (
	psf1Mode512    = 0x01
	psf1ModeHasTab = 0x02
	psf1ModeSeq    = 0x04
	psf1Separator  = 0xffff
	psf1StartSeq   = 0xfffe

	psf2HasUnicode = 0x01
	psf2Separator  = 0xff
	psf2StartSeq   = 0xfe
	psf2HeaderSize = 32
)

// Parse reads a PSF1 or PSF2 font (not compressed: gunzip a .psf.gz first).
func Parse(data []byte) (*Font, error) {
	switch {
	case len(data) >= 4 && string(data[:4]) == string(psf2Magic):
		return parsePSF2(data)
	case len(data) >= 2 && string(data[:2]) == string(psf1Magic):
		return parsePSF1(data)
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		return nil, errors.New("font: gzip-compressed; decompress it first")
	}
	return nil, errors.New("font: not a PSF1 or PSF2 font (no magic number)")
}

func parsePSF1(data []byte) (*Font, error) {
	if len(data) < 4 {
		return nil, errors.New("font: PSF1 header truncated")
	}
	mode, height := data[2], int(data[3])
	if mode&^(psf1Mode512|psf1ModeHasTab|psf1ModeSeq) != 0 {
		return nil, fmt.Errorf("font: PSF1 mode %#x: unknown bits", mode)
	}
	count := 256
	if mode&psf1Mode512 != 0 {
		count = 512
	}
	f := &Font{Width: 8, Height: height}
	if err := f.check(count); err != nil {
		return nil, err
	}
	rest, err := f.takeGlyphs(data[4:], count)
	if err != nil {
		return nil, err
	}
	if mode&(psf1ModeHasTab|psf1ModeSeq) == 0 {
		return f, nil
	}
	f.Unicode = make([][]rune, count)
	for g := 0; g < count; g++ {
		inSeq := false
		for {
			if len(rest) < 2 {
				return nil, fmt.Errorf("font: PSF1 Unicode table: glyph %d: truncated", g)
			}
			v := binary.LittleEndian.Uint16(rest)
			rest = rest[2:]
			if v == psf1Separator {
				break
			}
			if v == psf1StartSeq {
				inSeq = true
			}
			if !inSeq {
				f.Unicode[g] = append(f.Unicode[g], rune(v))
			}
		}
	}
	return f, nil
}

func parsePSF2(data []byte) (*Font, error) {
	if len(data) < psf2HeaderSize {
		return nil, fmt.Errorf("font: PSF2 header truncated (%d of %d bytes)", len(data), psf2HeaderSize)
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(data[off:]) }
	version, hdr, flags := u32(4), u32(8), u32(12)
	count, charSize, height, width := u32(16), u32(20), u32(24), u32(28)
	if version != 0 {
		return nil, fmt.Errorf("font: PSF2 version %d, want 0", version)
	}
	if hdr < psf2HeaderSize || uint64(hdr) > uint64(len(data)) {
		return nil, fmt.Errorf("font: PSF2 header size %d out of the file's %d bytes", hdr, len(data))
	}
	if width == 0 || width > MaxWidth || height == 0 || height > MaxHeight || count == 0 || count > MaxGlyphs {
		return nil, fmt.Errorf("font: %d glyphs of %dx%d: the console takes 1 to %d glyphs of at most %dx%d",
			count, width, height, MaxGlyphs, MaxWidth, MaxHeight)
	}
	f := &Font{Width: int(width), Height: int(height)}
	if want := uint32(f.Pitch()) * height; charSize != want {
		return nil, fmt.Errorf("font: PSF2 glyph size %d bytes, want %d for %dx%d", charSize, want, width, height)
	}
	rest, err := f.takeGlyphs(data[hdr:], int(count))
	if err != nil {
		return nil, err
	}
	if flags&psf2HasUnicode == 0 {
		return f, nil
	}
	f.Unicode = make([][]rune, count)
	for g := range f.Unicode {
		inSeq := false
		for {
			if len(rest) == 0 {
				return nil, fmt.Errorf("font: PSF2 Unicode table: glyph %d: truncated", g)
			}
			switch rest[0] {
			case psf2Separator:
				rest = rest[1:]
			case psf2StartSeq:
				inSeq, rest = true, rest[1:]
				continue
			default:
				r, n := utf8.DecodeRune(rest)
				if r == utf8.RuneError && n <= 1 {
					return nil, fmt.Errorf("font: PSF2 Unicode table: glyph %d: bad UTF-8 byte %#02x", g, rest[0])
				}
				rest = rest[n:]
				if !inSeq {
					f.Unicode[g] = append(f.Unicode[g], r)
				}
				continue
			}
			break
		}
	}
	return f, nil
}

// check refuses sizes the console cannot show.
func (f *Font) check(count int) error {
	if f.Height == 0 || f.Height > MaxHeight {
		return fmt.Errorf("font: glyph height %d, the console takes 1 to %d", f.Height, MaxHeight)
	}
	if count > MaxGlyphs {
		return fmt.Errorf("font: %d glyphs, the console takes at most %d", count, MaxGlyphs)
	}
	return nil
}

// takeGlyphs copies count glyphs from the start of data and returns the rest.
func (f *Font) takeGlyphs(data []byte, count int) ([]byte, error) {
	size := count * f.Pitch() * f.Height
	if len(data) < size {
		return nil, fmt.Errorf("font: glyphs truncated (%d of %d bytes)", len(data), size)
	}
	f.Glyphs = append([]byte(nil), data[:size]...)
	return data[size:], nil
}

// Glyph returns the bitmap of glyph i.
func (f *Font) Glyph(i int) []byte {
	n := f.Pitch() * f.Height
	return f.Glyphs[i*n : (i+1)*n]
}

// UniPair maps a character to the glyph that draws it (struct unipair).
type UniPair struct{ Unicode, Glyph uint16 }

// UniPairs returns the Unicode table as the kernel takes it: one pair per
// character of each glyph, characters beyond U+FFFF left out (the
// kernel's map holds 16-bit characters).
func (f *Font) UniPairs() []UniPair {
	var ps []UniPair
	for g, rs := range f.Unicode {
		for _, r := range rs {
			if r >= 0 && r <= 0xffff {
				ps = append(ps, UniPair{uint16(r), uint16(g)})
			}
		}
	}
	return ps
}

// kernelPitch is the number of rows per glyph in KD_FONT_OP_SET's buffer.
const kernelPitch = 32

// kernelData lays the glyphs out as KD_FONT_OP_SET takes them: 32 rows of
// Pitch bytes per glyph, the rows below Height zero.
func (f *Font) kernelData() []byte {
	row := f.Pitch()
	out := make([]byte, f.Count()*kernelPitch*row)
	for i := 0; i < f.Count(); i++ {
		copy(out[i*kernelPitch*row:], f.Glyph(i))
	}
	return out
}
