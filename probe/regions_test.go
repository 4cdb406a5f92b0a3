package probe

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

func TestRegions(t *testing.T) {
	const k, m = 1 << 10, 1 << 20
	for _, c := range []struct {
		size int64
		want []Region
	}{
		{0, nil},
		{4 * k, []Region{{0, 4 * k}}},
		// head and tail overlap on a small device: one region
		{200 * k, []Region{{0, 200 * k}}},
		{600 * k, []Region{{0, 136 * k}, {256 * k, 4 * k}, {472 * k, 128 * k}}},
		{1 << 30, []Region{{0, 136 * k}, {256 * k, 4 * k}, {512 * k, 4 * k}, {1 * m, 4 * k}, {2 * m, 4 * k},
			{4 * m, 4 * k}, {1<<30 - 128*k, 128 * k}}},
	} {
		if got := Regions(c.size); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Regions(%d) = %v, want %v", c.size, got, c.want)
		}
	}
}

// readLog records the reads made through it.
type readLog struct {
	r     io.ReaderAt
	reads []Region
}

func (l *readLog) ReadAt(p []byte, off int64) (int, error) {
	l.reads = append(l.reads, Region{off, int64(len(p))})
	return l.r.ReadAt(p, off)
}

// TestRegionsCoverReads checks that every read Probe and ProbeTable make on the fixtures
// lies inside Regions, but for the boot records of a DOS table's logical partitions, which
// are found by following the chain on the disk (one sector each, anywhere). A prober that
// reads somewhere new fails here until Regions names the place.
func TestRegionsCoverReads(t *testing.T) {
	for _, f := range loadFixtures(t) {
		chained := func(rd Region) bool { return f.name == "dos" && rd.Len == 512 && rd.Off%512 == 0 }
		// as it is, and at the start of a larger device, where the head is not also the tail
		for _, size := range []int64{int64(len(f.data)), 64 << 20} {
			l := &readLog{r: zeroPadded{bytes.NewReader(f.data)}}
			Probe(l, size)
			ProbeTable(l, size, 512)
			ProbeTable(l, size, 4096)
			regions := Regions(size)
			for _, rd := range l.reads {
				if !covered(regions, rd) && !chained(rd) {
					t.Errorf("%s (%d bytes): read of %d bytes at %d is outside %v", f.name, size, rd.Len, rd.Off, regions)
				}
			}
		}
	}
}

// zeroPadded reads as zeros past the end of its data.
type zeroPadded struct{ r *bytes.Reader }

func (z zeroPadded) ReadAt(p []byte, off int64) (int, error) {
	n, _ := z.r.ReadAt(p, off)
	clear(p[n:])
	return len(p), nil
}

func covered(regions []Region, rd Region) bool {
	for _, r := range regions {
		if rd.Off >= r.Off && rd.Off+rd.Len <= r.Off+r.Len {
			return true
		}
	}
	return false
}
