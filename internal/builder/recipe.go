package builder

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// Passphrase opens every LUKS volume the recipes make (luks2-keyslot3: keyslot 3 only;
// luks2-keyfile: keyslot 1, beside the key file in keyslot 0).
const Passphrase = "earlyroot-test-passphrase"

// OtherPassphrases are in keyslots 0, 1 and 2 of luks2-keyslot3: none of them is Passphrase.
var OtherPassphrases = []string{"other-0", "other-1", "other-2"}

// KeyfileContent is the key file of luks2-keyfile (keyslot 0), also stored as /luks.key on
// that recipe's key disk. No newline: cryptsetup uses a key file's bytes as they are.
const KeyfileContent = "earlyroot-test-keyfile-0123456789abcdef-fedcba9876543210-end"

// KeyfileName is where the key disk of luks2-keyfile holds KeyfileContent.
const KeyfileName = "/luks.key"

// MarkerFile is the file every recipe writes into the root filesystem it makes, holding the
// recipe's name and a newline.
const MarkerFile = "/earlyroot-recipe"

// DiskSpec is one blank disk a recipe starts from.
type DiskSpec struct {
	Name    string // file name without ".img"; the role of the disk ("luks", "m0", "pv1")
	SizeMiB int
}

// Recipe is one layered disk layout and the facts a boot test needs about it. The facts are
// passed to the guest (RootUUID as ROOT_UUID, and so on), so they are the one source of the
// values the disks hold.
type Recipe struct {
	Name  string
	Disks []DiskSpec // attached in order as /dev/vda, /dev/vdb, …
	// CPUs of the builder VM (0 means 1). cryptsetup gives argon2 no more lanes than there
	// are CPUs online.
	CPUs int

	FSType    string // the root filesystem: "ext4" or "btrfs"
	RootUUID  string // its UUID (root=UUID=…)
	RootLabel string // its label
	LUKSUUID  string // the LUKS volume's UUID, if there is one
	MDUUID    string // the MD array's UUID, if there is one (as given to mdadm --uuid)
	VG, LV    string // the volume group and the root LV, if on LVM
	SwapUUID  string // the swap LV's swap UUID (lvm-on-luks)
	SwapLabel string
	KeyUUID   string // the key disk's ext4 UUID (luks2-keyfile)
	KeyLabel  string

	// Script is the shell script the guest runs (recipes/NAME.sh); its leading comment says
	// what the disks hold.
	Script string
}

//go:embed recipes/*.sh
var recipeFS embed.FS

// Doc returns the leading comment of r's script: what the disks hold.
func (r Recipe) Doc() string {
	var lines []string
	for _, l := range strings.Split(r.Script, "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(l, "#")))
	}
	return strings.Join(lines, " ")
}

// env returns the variables the recipe's script sees, sorted by name.
func (r Recipe) env() [][2]string {
	all := map[string]string{
		"RECIPE": r.Name, "ROOT_UUID": r.RootUUID, "ROOT_LABEL": r.RootLabel,
		"LUKS_UUID": r.LUKSUUID, "MD_UUID": r.MDUUID, "VG": r.VG, "LV": r.LV,
		"SWAP_UUID": r.SwapUUID, "SWAP_LABEL": r.SwapLabel, "KEY_UUID": r.KeyUUID, "KEY_LABEL": r.KeyLabel,
	}
	var out [][2]string
	for k, v := range all {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// uuid derives a recipe's fixed UUIDs: kind tells what the UUID is for, id the recipe.
func uuid(kind string, id int) string {
	return fmt.Sprintf("5eed%s-0000-4000-8000-%012x", kind, id)
}

// recipe fills the facts of a recipe from its id and its layers.
func recipe(id int, name string, fs string, layers string, disks ...DiskSpec) Recipe {
	r := Recipe{Name: name, Disks: disks, FSType: fs,
		RootUUID: uuid("f500", id), RootLabel: fmt.Sprintf("root%02d", id)}
	if b, err := recipeFS.ReadFile("recipes/" + name + ".sh"); err == nil {
		r.Script = string(b) // a missing script fails TestRecipesComplete and Build
	}
	if strings.Contains(layers, "luks") {
		r.LUKSUUID = uuid("c000", id)
	}
	if strings.Contains(layers, "md") {
		r.MDUUID = uuid("d000", id)
	}
	if strings.Contains(layers, "lvm") {
		r.VG, r.LV = fmt.Sprintf("earlyvg%02d", id), "root"
	}
	if strings.Contains(layers, "swap") {
		r.SwapUUID, r.SwapLabel = uuid("5000", id), fmt.Sprintf("swap%02d", id)
	}
	if strings.Contains(layers, "keydisk") {
		r.KeyUUID, r.KeyLabel = uuid("cef0", id), fmt.Sprintf("keys%02d", id)
	}
	return r
}

func withCPUs(n int, r Recipe) Recipe {
	r.CPUs = n
	return r
}

func disks(prefix string, n, sizeMiB int) []DiskSpec {
	out := make([]DiskSpec, n)
	for i := range out {
		out[i] = DiskSpec{Name: fmt.Sprintf("%s%d", prefix, i), SizeMiB: sizeMiB}
	}
	return out
}

// recipes is the catalogue; ids are never reused, so a recipe's UUIDs never change.
var recipes = []Recipe{
	withCPUs(4, recipe(1, "luks2-argon2id", "ext4", "luks", DiskSpec{"luks", 64})),
	recipe(2, "luks2-pbkdf2", "ext4", "luks", DiskSpec{"luks", 64}),
	recipe(3, "luks1", "ext4", "luks", DiskSpec{"luks", 64}),
	recipe(4, "luks2-serpent", "ext4", "luks", DiskSpec{"luks", 64}),
	recipe(5, "luks2-keyslot3", "ext4", "luks", DiskSpec{"luks", 64}),
	recipe(6, "luks2-keyfile", "ext4", "luks keydisk", DiskSpec{"luks", 64}, DiskSpec{"keys", 16}),
	recipe(7, "md-raid1-1.2", "ext4", "md", disks("m", 2, 64)...),
	recipe(8, "md-raid1-0.90", "ext4", "md", disks("m", 2, 64)...),
	recipe(9, "md-raid1-1.0", "ext4", "md", disks("m", 2, 64)...),
	recipe(10, "md-raid1-1.1", "ext4", "md", disks("m", 2, 64)...),
	recipe(11, "md-raid5", "ext4", "md", disks("m", 3, 64)...),
	recipe(12, "lvm-linear", "ext4", "lvm", DiskSpec{"pv0", 64}),
	recipe(13, "lvm-striped", "ext4", "lvm", disks("pv", 2, 64)...),
	recipe(14, "lvm-thin", "ext4", "lvm", DiskSpec{"pv0", 128}),
	recipe(15, "lvm-raid1", "ext4", "lvm", disks("pv", 2, 64)...),
	recipe(16, "lvm-snapshot", "ext4", "lvm", DiskSpec{"pv0", 96}),
	recipe(17, "lvm-on-luks", "ext4", "luks lvm swap", DiskSpec{"luks", 128}),
	recipe(18, "luks-on-md", "ext4", "luks md", disks("m", 2, 64)...),
	recipe(19, "lvm-on-md", "ext4", "lvm md", disks("m", 2, 64)...),
	recipe(20, "btrfs-raid1", "btrfs", "", disks("d", 2, 128)...),
	recipe(21, "luks2-integrity", "ext4", "luks", DiskSpec{"luks", 64}),
	recipe(22, "lvm-usr", "ext4", "lvm", DiskSpec{"pv0", 96}),
}

// Recipes returns every recipe, in catalogue order.
func Recipes() []Recipe {
	return append([]Recipe(nil), recipes...)
}

// Lookup returns the recipe called name.
func Lookup(name string) (Recipe, bool) {
	for _, r := range recipes {
		if r.Name == name {
			return r, true
		}
	}
	return Recipe{}, false
}
