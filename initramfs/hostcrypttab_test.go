package initramfs

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// UUIDs of the LUKS headers committed in ../luks/testdata (made by cryptsetup).
const (
	luks2XTSUUID   = "e278162e-001d-4df1-96e3-3337fe97bdf6" // luks2-xts: aes-xts-plain64
	luks1EssivUUID = "04bc8d20-b151-41d3-b96d-9b9f243bce90" // luks1-essiv: aes-cbc-essiv:sha256
)

// hostFixture is a machine with LVM on LUKS2 as its root (vg-root on cryptroot on vda3), /usr
// on LUKS1 (cryptusr on vdc1, named by PARTUUID in crypttab), encrypted swap as the resume
// device (plain dm-crypt on vdb1), a plain disk vdd1, and vde1 (LUKS1, not open) to attach
// in the initramfs by LABEL=early.
func hostFixture(t *testing.T) Host {
	t.Helper()
	dir := t.TempDir()
	h := Host{SysFS: filepath.Join(dir, "sys"), Mounts: filepath.Join(dir, "mounts"),
		Cmdline: filepath.Join(dir, "cmdline"), Dev: filepath.Join(dir, "dev"), Root: filepath.Join(dir, "root")}
	type dmDev struct{ kname, name, uuid, slave string }
	for _, d := range []dmDev{
		{"dm-0", "cryptroot", "CRYPT-LUKS2-" + strings.ReplaceAll(luks2XTSUUID, "-", "") + "-cryptroot", "vda3"},
		{"dm-1", "vg-root", "LVM-abcdef", "dm-0"},
		{"dm-2", "cryptswap", "CRYPT-PLAIN-cryptswap", "vdb1"},
		{"dm-3", "cryptusr", "CRYPT-LUKS1-" + strings.ReplaceAll(luks1EssivUUID, "-", "") + "-cryptusr", "vdc1"},
	} {
		writeTree(t, h.SysFS, map[string]string{
			"block/" + d.kname + "/dm/name":           d.name + "\n",
			"block/" + d.kname + "/dm/uuid":           d.uuid + "\n",
			"block/" + d.kname + "/slaves/" + d.slave: "",
		})
		symlink(t, "../../block/"+d.kname, filepath.Join(h.SysFS, "class/block", d.kname))
	}
	for _, p := range []string{"vda/vda3", "vdb/vdb1", "vdc/vdc1", "vdd/vdd1"} {
		writeTree(t, h.SysFS, map[string]string{"block/" + p + "/partition": "1\n"})
		symlink(t, "../../block/"+p, filepath.Join(h.SysFS, "class/block", filepath.Base(p)))
	}
	symlink(t, "../../block/dm-2", filepath.Join(h.SysFS, "dev/block/253:2"))
	// Sizes as cryptsetup made them (../luks/testdata/README.md).
	gunzip(t, "../luks/testdata/luks2-xts.img.gz", filepath.Join(h.Dev, "vda3"), 20<<20)
	gunzip(t, "../luks/testdata/luks1-essiv.img.gz", filepath.Join(h.Dev, "vdc1"), 4<<20)
	gunzip(t, "../luks/testdata/luks1-essiv.img.gz", filepath.Join(h.Dev, "vde1"), 4<<20) // LABEL=early
	writeTree(t, h.Dev, map[string]string{"vdb1": "", "vdd1": "", "dm-0": "", "dm-1": "", "dm-2": "", "dm-3": ""})
	for link, target := range map[string]string{
		"mapper/vg-root":               "../dm-1",
		"disk/by-uuid/" + luks2XTSUUID: "../../vda3",
		"disk/by-partuuid/0badc0de-03": "../../vda3",
		"disk/by-partuuid/0badc0de-04": "../../vdc1",
		"disk/by-uuid/5a5a-swap":       "../../dm-2",
		"disk/by-label/early":          "../../vde1",
	} {
		symlink(t, target, filepath.Join(h.Dev, link))
	}
	writeTree(t, h.Root, map[string]string{
		"etc/keys/root.key": "root key",
		"etc/keys/data.key": "data key",
		"etc/keys/dir/x":    "",
	})
	return h
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// gunzip writes the decompressed src to dst (a LUKS header image as a device node) and
// extends it to size.
func gunzip(t *testing.T, src, dst string, size int64) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, filepath.Dir(dst), map[string]string{filepath.Base(dst): string(data)})
	if err := os.Truncate(dst, size); err != nil {
		t.Fatal(err)
	}
}

// withDM is the module list of a machine with encrypted devices: device mapper, dm-crypt and
// AF_ALG, and the crypto aliases given.
func withDM(crypto ...string) []string {
	return sortedCopy(append([]string{"dm_mod", "dm_crypt", "af_alg", "algif_skcipher"}, crypto...))
}

const fixtureCrypttab = `# <name> <device> <key> <options>
cryptroot  UUID=` + luks2XTSUUID + ` /etc/keys/root.key luks,discard
usr        /dev/disk/by-partuuid/0badc0de-04 none luks
cryptswap  /dev/vdb1 /dev/urandom swap,cipher=aes-xts-plain64,size=256
data       UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee /etc/keys/data.key luks
early      LABEL=early - luks,x-initrd.attach
deb        PARTUUID=12345678-01 /etc/keys/missing.key luks,initramfs
dirkey     PARTUUID=12345678-02 /etc/keys/dir luks,initramfs
onkey      PARTUUID=12345678-03 /k.bin:LABEL=keys luks,initramfs
broken
`

// plainCrypttab names the root's and /usr's encrypted devices of the fixture and marks no
// line for the initramfs.
const plainCrypttab = "cryptroot UUID=" + luks2XTSUUID + " /etc/keys/root.key luks\nusr /dev/disk/by-partuuid/0badc0de-04 none luks\n"

func TestFindHostCrypt(t *testing.T) {
	tests := []struct {
		name      string
		mounts    string
		cmdline   string
		crypttab  string // "" = none
		fstab     string // the host's /etc/fstab; "" = none
		devices   []string
		modules   []string
		entries   []string // Carried()
		keyfiles  []string
		warnings  []string // substrings, each of some warning
		noWarning bool
	}{
		{
			name:     "lvm on luks root, luks /usr, encrypted resume",
			mounts:   "/dev/mapper/vg-root / ext4 rw 0 0\n/dev/mapper/cryptusr /usr ext4 rw 0 0\n",
			cmdline:  "BOOT_IMAGE=/vmlinuz root=/dev/mapper/vg-root resume=UUID=5a5a-swap quiet\n",
			crypttab: fixtureCrypttab,
			devices: []string{"cryptroot on /dev/vda3 " + luks2XTSUUID, "cryptusr on /dev/vdc1 " + luks1EssivUUID, "cryptswap on /dev/vdb1 ",
				"early on /dev/disk/by-label/early " + luks1EssivUUID, "deb on /dev/disk/by-partuuid/12345678-01 ",
				"dirkey on /dev/disk/by-partuuid/12345678-02 ", "onkey on /dev/disk/by-partuuid/12345678-03 "},
			modules: withDM(FallbackCrypto...), // for the plain swap, whose cipher has no header
			entries: []string{"cryptroot (UUID=" + luks2XTSUUID + ", key /etc/keys/root.key)", "usr (/dev/disk/by-partuuid/0badc0de-04)",
				"cryptswap (/dev/vdb1)", "early (LABEL=early)", "deb (PARTUUID=12345678-01)", "dirkey (PARTUUID=12345678-02)",
				"onkey (PARTUUID=12345678-03)"},
			keyfiles: []string{"/etc/keys/root.key"},
			warnings: []string{"/etc/crypttab:10: 1 fields", "deb: key file /etc/keys/missing.key", "dirkey: key file /etc/keys/dir: not a regular file"},
		},
		{
			name:      "root by device number path, no crypttab",
			mounts:    "/dev/dm-1 / xfs rw 0 0\n",
			cmdline:   "resume=253:2",
			devices:   []string{"cryptroot on /dev/vda3 " + luks2XTSUUID, "cryptswap on /dev/vdb1 "},
			modules:   withDM(FallbackCrypto...),
			noWarning: true,
		},
		{
			name:      "luks /usr only: its LUKS1 header's algorithms",
			mounts:    "/dev/vdd1 / ext4 rw 0 0\n/dev/mapper/cryptusr /usr ext4 rw 0 0\n",
			devices:   []string{"cryptusr on /dev/vdc1 " + luks1EssivUUID},
			modules:   withDM("crypto-aes", "crypto-cbc", "crypto-essiv", "crypto-sha256"),
			noWarning: true,
		},
		{
			name:      "luks x-initrd.mount filesystem",
			mounts:    "/dev/vdd1 / ext4 rw 0 0\n/dev/mapper/cryptusr /srv/data xfs rw 0 0\n",
			crypttab:  plainCrypttab,
			fstab:     "/dev/vdd1 / ext4 defaults 0 1\nPARTUUID=0badc0de-04 /srv/data/ xfs defaults,x-initrd.mount 0 2\n",
			devices:   []string{"cryptusr on /dev/vdc1 " + luks1EssivUUID},
			modules:   withDM("crypto-aes", "crypto-cbc", "crypto-essiv", "crypto-sha256"),
			entries:   []string{"usr (/dev/disk/by-partuuid/0badc0de-04)"},
			noWarning: true,
		},
		{
			name:      "encrypted filesystem not marked x-initrd.mount",
			mounts:    "/dev/vdd1 / ext4 rw 0 0\n/dev/mapper/cryptusr /srv/data xfs rw 0 0\n",
			crypttab:  plainCrypttab,
			fstab:     "/dev/vdd1 / ext4 defaults 0 1\nPARTUUID=0badc0de-04 /srv/data xfs defaults 0 2\n",
			noWarning: true,
		},
		{
			name:      "no host fstab: the root and /usr only",
			mounts:    "/dev/vdd1 / ext4 rw 0 0\n/dev/mapper/cryptusr /srv/data xfs rw 0 0\n",
			crypttab:  plainCrypttab,
			noWarning: true,
		},
		{
			name:      "plain root: only the lines marked for the initramfs",
			mounts:    "/dev/vdd1 / ext4 rw 0 0\n",
			cmdline:   "root=/dev/vdd1",
			crypttab:  "cryptroot UUID=" + luks2XTSUUID + " /etc/keys/root.key luks\nearly LABEL=early /etc/keys/data.key x-initrd.attach\n",
			devices:   []string{"early on /dev/disk/by-label/early " + luks1EssivUUID},
			modules:   withDM("crypto-aes", "crypto-cbc", "crypto-essiv", "crypto-sha256"),
			entries:   []string{"early (LABEL=early, key /etc/keys/data.key)"},
			keyfiles:  []string{"/etc/keys/data.key"},
			noWarning: true,
		},
		{
			name:      "matched by the mapping name alone",
			mounts:    "/dev/mapper/vg-root / ext4 rw 0 0\n",
			crypttab:  "cryptroot /dev/disk/by-id/renamed none luks\nother /dev/vda3x none\n",
			devices:   []string{"cryptroot on /dev/vda3 " + luks2XTSUUID},
			modules:   withDM("crypto-aes", "crypto-xts"),
			entries:   []string{"cryptroot (/dev/disk/by-id/renamed)"},
			noWarning: true, // no cmdline file: nothing to resume from
		},
		{
			name:     "matched by the partition's PARTUUID",
			mounts:   "/dev/mapper/vg-root / ext4 rw 0 0\n",
			cmdline:  "resume=/dev/disk/by-uuid/nope",
			crypttab: "root_crypt PARTUUID=0BADC0DE-03 none luks\n",
			devices:  []string{"cryptroot on /dev/vda3 " + luks2XTSUUID},
			modules:  withDM("crypto-aes", "crypto-xts"),
			entries:  []string{"root_crypt (PARTUUID=0BADC0DE-03)"},
			warnings: []string{"resume=/dev/disk/by-uuid/nope: no such device"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hostFixture(t)
			writeTree(t, filepath.Dir(h.Mounts), map[string]string{filepath.Base(h.Mounts): "rootfs / rootfs rw 0 0\n" + tt.mounts})
			if tt.cmdline != "" {
				writeTree(t, filepath.Dir(h.Cmdline), map[string]string{filepath.Base(h.Cmdline): tt.cmdline})
			}
			if tt.crypttab != "" {
				writeTree(t, h.Root, map[string]string{"etc/crypttab": tt.crypttab})
			}
			if tt.fstab != "" {
				writeTree(t, h.Root, map[string]string{"etc/fstab": tt.fstab})
			}
			c, err := FindHostCrypt(h)
			if err != nil {
				t.Fatal(err)
			}
			var devs []string
			for _, d := range c.Devices {
				devs = append(devs, d.Name+" on "+d.Backing+" "+d.UUID)
			}
			check := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s:\n got %q\nwant %q", what, got, want)
				}
			}
			check("devices", devs, tt.devices)
			check("modules", c.Modules(), tt.modules)
			check("carried", c.Carried(), tt.entries)
			var keys []string
			for _, k := range c.Keyfiles {
				keys = append(keys, k.Dst)
				if k.Src != filepath.Join(h.Root, k.Dst) {
					t.Errorf("key file %s read from %s, want it below the host root", k.Dst, k.Src)
				}
			}
			check("key files", keys, tt.keyfiles)
			for _, w := range tt.warnings {
				if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning with %q in %q", w, c.Warnings)
				}
			}
			if tt.noWarning && len(c.Warnings) > 0 {
				t.Errorf("warnings %q", c.Warnings)
			}
			// The image's crypttab is the carried lines as the host wrote them, in order.
			var lines []string
			for _, e := range c.Entries {
				lines = append(lines, strings.Split(tt.crypttab, "\n")[e.Line-1])
			}
			want := ""
			if len(lines) > 0 {
				want = strings.Join(lines, "\n") + "\n"
			}
			if string(c.Crypttab) != want {
				t.Errorf("crypttab:\n%s\nwant\n%s", c.Crypttab, want)
			}
		})
	}
}

// An unreadable LUKS header is a warning naming the device; a crypttab that cannot be read
// (a directory here) fails the build.
func TestFindHostCryptErrors(t *testing.T) {
	h := hostFixture(t)
	writeTree(t, filepath.Dir(h.Mounts), map[string]string{filepath.Base(h.Mounts): "/dev/mapper/vg-root / ext4 rw 0 0\n"})
	if err := os.WriteFile(filepath.Join(h.Dev, "vda3"), []byte("not a LUKS header"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := FindHostCrypt(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Devices) != 1 || c.Devices[0].UUID != "" || !slices.Equal(c.Modules(), withDM(FallbackCrypto...)) {
		t.Errorf("devices %+v, modules %q: want cryptroot without header facts", c.Devices, c.Modules())
	}
	if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.HasPrefix(s, "/dev/vda3 (cryptroot): LUKS header: ") }) {
		t.Errorf("warnings %q lack the header's", c.Warnings)
	}
	if err := os.MkdirAll(filepath.Join(h.Root, "etc/crypttab"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindHostCrypt(h); err == nil || !strings.Contains(err.Error(), "host crypttab") {
		t.Errorf("unreadable crypttab: err = %v", err)
	}
}

// A host-only image of the fixture machine carries the selected crypttab lines and the root's
// key file (owner-readable only, and so is the image file), and the crypto modules of the
// LUKS headers under the root: the cipher's own, or the usual set when a header cannot be
// read.
func TestBuildHostCrypt(t *testing.T) {
	tests := []struct {
		name         string
		header       bool // vda3 holds the LUKS2 aes-xts header (else garbage)
		want, unwant []string
	}{
		{"header read", true, []string{"xts", "dm_crypt", "algif_skcipher"}, []string{"essiv", "serpent_generic", "twofish_generic"}},
		{"header unreadable", false, []string{"xts", "essiv", "dm_crypt"}, []string{"serpent_generic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hostFixture(t)
			if !tt.header {
				if err := os.WriteFile(filepath.Join(h.Dev, "vda3"), []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			writeTree(t, h.SysFS, map[string]string{"devices/virtual/x/modalias": aliasUnmatched + "\n"})
			writeTree(t, filepath.Dir(h.Mounts), map[string]string{filepath.Base(h.Mounts): "/dev/mapper/vg-root / ext4 rw 0 0\n"})
			writeTree(t, h.Root, map[string]string{"etc/crypttab": "cryptroot UUID=" + luks2XTSUUID + " /etc/keys/root.key luks\n" +
				"data UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee /etc/keys/data.key luks\n"})
			cfg := hostConfig(t)
			cfg.SysFS, cfg.Mounts, cfg.DevDir, cfg.HostRoot, cfg.HostCmdline = h.SysFS, h.Mounts, h.Dev, h.Root, h.Cmdline
			out := filepath.Join(t.TempDir(), "initrd.img")
			res, err := WriteFile(cfg, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.want {
				if !slices.Contains(res.Modules, m) {
					t.Errorf("modules lack %s: %q", m, res.Modules)
				}
			}
			for _, m := range tt.unwant {
				if slices.Contains(res.Modules, m) {
					t.Errorf("modules hold %s: %q", m, res.Modules)
				}
			}
			if !slices.ContainsFunc(res.Modules, func(m string) bool { return strings.HasPrefix(m, "aes") }) {
				t.Errorf("no aes module in %q", res.Modules)
			}
			if want := []string{"cryptroot (UUID=" + luks2XTSUUID + ", key /etc/keys/root.key)"}; !slices.Equal(res.Crypttab, want) {
				t.Errorf("Result.Crypttab %q, want %q", res.Crypttab, want)
			}
			if want := []string{"/etc/keys/root.key"}; !slices.Equal(res.Keyfiles, want) {
				t.Errorf("Result.Keyfiles %q, want %q", res.Keyfiles, want)
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("image holding a key: mode %v (%v), want 0600", fi.Mode(), err)
			}
			img, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			recs := readRecords(t, img)
			if got := string(content(t, recs["etc/crypttab"])); got != "cryptroot UUID="+luks2XTSUUID+" /etc/keys/root.key luks\n" {
				t.Errorf("etc/crypttab:\n%s", got)
			}
			if r := recs["etc/keys/root.key"]; string(content(t, r)) != "root key" || r.Mode&0o7777 != 0o400 {
				t.Errorf("etc/keys/root.key: %v", r.Info)
			}
			if _, ok := recs["etc/keys/data.key"]; ok {
				t.Error("the key of a device not under the root is in the image")
			}
		})
	}
}
