package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	testfixture "github.com/earlyroot/earlyroot/internal/fixture"
)

// fixture is one image from testdata (see testdata/mkfixtures.sh).
type fixture struct {
	name  string
	data  []byte
	blkid map[string]string // expected `blkid -p -o export` values
	table *sfdiskTable      // expected partition table, if any
}

type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// fixtureCache holds the decompressed fixtures, loaded once per test binary.
var fixtureCache struct {
	once sync.Once
	fs   []fixture
	err  error
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	fixtureCache.once.Do(func() { fixtureCache.fs, fixtureCache.err = readFixtures() })
	if fixtureCache.err != nil {
		tb.Fatal(fixtureCache.err)
	}
	return fixtureCache.fs
}

func readFixtures() ([]fixture, error) {
	paths, err := filepath.Glob("testdata/*.img.gz")
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no fixtures: %v", err)
	}
	var fs []fixture
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".img.gz")
		f := fixture{name: name}
		if f.data, err = testfixture.Gunzip(p); err != nil {
			return nil, err
		}
		if f.blkid, err = readExport("testdata/" + name + ".blkid"); err != nil {
			return nil, err
		}
		if js, err := os.ReadFile("testdata/" + name + ".sfdisk.json"); err == nil {
			f.table = new(sfdiskTable)
			if err := json.Unmarshal(js, f.table); err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// readExport parses `blkid -o export` output (values backslash-escaped).
func readExport(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		var u strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			u.WriteByte(v[i])
		}
		m[k] = u.String()
	}
	return m, nil
}

// layerOf is the Layer expected of each blkid TYPE that is a stacking layer's member.
var layerOf = map[string]string{"crypto_LUKS": LayerLUKS, "LVM2_member": LayerLVM2, "linux_raid_member": LayerMD}

func TestProbeFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		if f.table != nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			got, err := Probe(bytes.NewReader(f.data), int64(len(f.data)))
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			for _, c := range []struct{ key, got string }{
				{"TYPE", got.Type}, {"UUID", got.UUID}, {"UUID_SUB", got.SubUUID}, {"LABEL", got.Label},
				{"VERSION", got.Version}, {"USAGE", got.Usage},
			} {
				if want := f.blkid[c.key]; c.got != want {
					t.Errorf("%s = %q, blkid says %q", c.key, c.got, want)
				}
			}
			if want := f.blkid["TYPE"] == "swsuspend"; got.Hibernated != want {
				t.Errorf("Hibernated = %v, want %v", got.Hibernated, want)
			}
			if want := layerOf[f.blkid["TYPE"]]; got.Layer != want {
				t.Errorf("Layer = %q, want %q", got.Layer, want)
			}
		})
	}
}

func TestProbeTableFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		if f.table == nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			pt := f.table.PartitionTable
			got, err := ProbeTable(bytes.NewReader(f.data), int64(len(f.data)), pt.SectorSize)
			if err != nil {
				t.Fatalf("ProbeTable: %v", err)
			}
			if got.Kind != f.blkid["PTTYPE"] || got.UUID != f.blkid["PTUUID"] {
				t.Errorf("table %s %q, blkid says %s %q", got.Kind, got.UUID, f.blkid["PTTYPE"], f.blkid["PTUUID"])
			}
			if len(got.Partitions) != len(pt.Partitions) {
				t.Fatalf("%d partitions, sfdisk says %d: %+v", len(got.Partitions), len(pt.Partitions), got.Partitions)
			}
			ss := int64(pt.SectorSize)
			for i, w := range pt.Partitions {
				g := got.Partitions[i]
				num := nodeNumber(w.Node)
				want := Partition{Number: num, Start: w.Start * ss, Size: w.Size * ss, UUID: strings.ToLower(w.UUID), Name: w.Name, Type: strings.ToLower(w.Type)}
				if pt.Label == "dos" {
					want.Type = "0x" + w.Type
					want.UUID = fmt.Sprintf("%s-%02x", f.blkid["PTUUID"], num)
				}
				if g != want {
					t.Errorf("partition %d:\n got %+v\nwant %+v", i, g, want)
				}
			}
		})
	}
}

// nodeNumber returns the trailing number of a partition node name.
func nodeNumber(node string) int {
	i := len(node)
	for i > 0 && node[i-1] >= '0' && node[i-1] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(node[i:])
	return n
}
