package md

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/internal/sparse"
)

// builderSets are the md disk sets the builder VM makes with mdadm
// (internal/builder/recipes), with what mdadm --examine printed for them.
var builderSets = []struct {
	recipe  string
	members int
	version string
	uuid    string
	name    string
	level   int
	offset  uint64 // data offset, sectors
	size    uint64 // used size per member, sectors
	layout  uint32
	chunk   uint32
}{
	{"md-raid1-0.90", 2, "0.90", "5eedd000:00004000:80000000:00000008", "", 1, 0, 130944, 0, 0},
	{"md-raid1-1.0", 2, "1.0", "5eedd000:00004000:80000000:00000009", "earlyroot:root", 1, 0, 130944, 0, 0},
	{"md-raid1-1.1", 2, "1.1", "5eedd000:00004000:80000000:0000000a", "earlyroot:root", 1, 2048, 129024, 0, 0},
	{"md-raid1-1.2", 2, "1.2", "5eedd000:00004000:80000000:00000007", "earlyroot:root", 1, 2048, 129024, 0, 0},
	{"md-raid5", 3, "1.2", "5eedd000:00004000:80000000:0000000b", "earlyroot:root", 5, 2048, 129024, 2, 64 << 10},
}

func builderFixture(recipe string, m int) string {
	return filepath.Join("testdata", "builder", recipe+"-m"+string(rune('0'+m))+".json")
}

// TestBuilderDisks reads the superblocks mdadm wrote in the builder VM
// (kept as sparse fixtures: the first 8 KiB and the last 128 KiB of each
// member) and checks them against mdadm --examine.
func TestBuilderDisks(t *testing.T) {
	for _, set := range builderSets {
		var members []Member
		for m := range set.members {
			im, err := sparse.Load(builderFixture(set.recipe, m))
			if err != nil {
				t.Fatal(err)
			}
			sb, err := Read(im, im.Size)
			if err != nil {
				t.Fatalf("%s m%d: %v", set.recipe, m, err)
			}
			if sb.Version != set.version || sb.UUIDString() != set.uuid || sb.Name != set.name || sb.Level != set.level ||
				sb.DataOffset != set.offset || sb.ComponentSize != set.size || sb.Role != m || sb.RaidDisks != set.members ||
				sb.Layout != set.layout || sb.ChunkBytes != set.chunk || !sb.Clean || sb.Unsupported() != nil {
				t.Errorf("%s m%d: %+v", set.recipe, m, sb)
			}
			members = append(members, Member{Device: "m" + string(rune('0'+m)), Dev: "254:0", SB: sb})
		}
		arrays := Group(members)
		if len(arrays) != 1 || !complete(arrays[0]) || arrays[0].Runnable() != nil || len(arrays[0].Left) != 0 {
			t.Errorf("%s: arrays %+v", set.recipe, arrays)
		}
		if set.name != "" {
			if got := DevName(arrays[0].SB, "earlyroot"); got != "root" {
				t.Errorf("%s: DevName %q", set.recipe, got)
			}
		}
	}
}

// TestUpdateBuilderFixtures rewrites testdata/builder from the builder's
// cache: EARLYROOT_UPDATE_FIXTURES=1 go test -run UpdateBuilder ./md
func TestUpdateBuilderFixtures(t *testing.T) {
	if os.Getenv("EARLYROOT_UPDATE_FIXTURES") == "" {
		t.Skip("set EARLYROOT_UPDATE_FIXTURES=1 to rewrite testdata/builder from the builder's disks")
	}
	for _, set := range builderSets {
		for m := range set.members {
			img, err := sparse.BuilderImage(fixture.CacheDir(), set.recipe, "m"+string(rune('0'+m)))
			if err != nil {
				t.Fatal(err)
			}
			im, err := sparse.FromFile(img, [2]int64{0, 8192}, [2]int64{-128 << 10, 0})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join("testdata", "builder"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := im.Save(builderFixture(set.recipe, m)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
