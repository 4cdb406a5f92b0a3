package initramfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/sparse"
	"github.com/earlyroot/earlyroot/md"
)

// The builder's arrays, as mdadm --detail --scan prints them: A (metadata 1.2, on vda and
// vdb) and B (0.90, whose UUID md reads in the host's byte order, on vdc and vdd).
const (
	arrayA = "ARRAY /dev/md/root metadata=1.2 UUID=5eedd000:00004000:80000000:00000007 name=earlyroot:root"
	arrayB = "ARRAY /dev/md126 metadata=0.90 UUID=5eedd000:00004000:80000000:00000008"
)

// mdHost lays out a host with arrays A (md127: an LV dm-0 on it, a partition md127p1)
// and B (md126), an array md125 whose member cannot be read, and a plain disk vde1. The
// members are the superblock fixtures mdadm wrote in the builder VM.
// sysfs and dev are the host's /sys and /dev, which may hold other things already.
func mdHost(t *testing.T, sysfs, dev string) {
	t.Helper()
	writeTree(t, sysfs, map[string]string{
		"block/md127/md/level":          "raid1\n",
		"block/md127/slaves/vda/x":      "",
		"block/md127/slaves/vdb/x":      "",
		"block/md127/md127p1/partition": "1\n",
		"block/md126/md/level":          "raid1\n",
		"block/md126/slaves/vdc/x":      "",
		"block/md126/slaves/vdd/x":      "",
		"block/md125/md/level":          "raid1\n",
		"block/md125/slaves/vdz/x":      "",
		"block/dm-0/dm/name":            "vg-root\n",
		"block/dm-0/slaves/md127/x":     "",
		"block/dm-2/dm/name":            "vg2-root\n",
		"block/dm-2/slaves/md126p1/x":   "",
		"block/md126/md126p1/partition": "1\n",
		"block/vde/vde1/partition":      "1\n",
	})
	must(t, os.MkdirAll(filepath.Join(sysfs, "class", "block"), 0o755))
	must(t, os.Symlink("../../block/md127/md127p1", filepath.Join(sysfs, "class", "block", "md127p1")))
	must(t, os.Symlink("../../block/vde/vde1", filepath.Join(sysfs, "class", "block", "vde1")))
	must(t, os.Symlink("../../block/md126/md126p1", filepath.Join(sysfs, "class", "block", "md126p1")))
	writeTree(t, dev, map[string]string{"md127": "", "md126": "", "md125": "", "dm-0": ""})
	must(t, os.MkdirAll(filepath.Join(dev, "md"), 0o755))
	must(t, os.Symlink("../md127", filepath.Join(dev, "md", "root")))
	for name, fixture := range map[string]string{
		"vda": "md-raid1-1.2-m0", "vdb": "md-raid1-1.2-m1", "vdc": "md-raid1-0.90-m0", "vdd": "md-raid1-0.90-m1",
	} {
		writeSparse(t, filepath.Join("..", "md", "testdata", "builder", fixture+".json"), filepath.Join(dev, name))
	}
}

// writeSparse writes the sparse image fixture as a (sparse) file of its full size.
func writeSparse(t *testing.T, fixture, path string) {
	t.Helper()
	im, err := sparse.Load(fixture)
	must(t, err)
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(im.Size))
	for _, c := range im.Chunks {
		_, err := f.WriteAt(c.Data, c.Off)
		must(t, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostMDConf(t *testing.T) {
	sysfs, dev := filepath.Join(t.TempDir(), "sys"), t.TempDir()
	mdHost(t, sysfs, dev)
	full := "# mdadm.conf\nHOMEHOST <system>\nMAILADDR root\n" + arrayA + "\n" + arrayB + "\n"
	for _, tc := range []struct {
		name, conf string
		srcs       []string // the devices of the root, /usr, …
		want       string   // the image's mdadm.conf
		warn       string   // part of the one warning expected
	}{
		{name: "array", conf: full, srcs: []string{"/dev/md127"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "md link", conf: full, srcs: []string{"/dev/md/root"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "lv on md", conf: full, srcs: []string{"/dev/mapper/vg-root"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "dm node", conf: full, srcs: []string{"/dev/dm-0"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "partition", conf: full, srcs: []string{"/dev/md127p1"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "0.90", conf: full, srcs: []string{"/dev/md126"}, want: "HOMEHOST <system>\n" + arrayB + "\n"},
		{name: "lv on a partition of md", conf: full, srcs: []string{"/dev/mapper/vg2-root"}, want: "HOMEHOST <system>\n" + arrayB + "\n"},
		{name: "by name", conf: "ARRAY /dev/md/root name=earlyroot:root\nARRAY /dev/md/x name=earlyroot:x\n", srcs: []string{"/dev/md127"},
			want: "ARRAY /dev/md/root name=earlyroot:root\n"},
		{name: "continuation", conf: "ARRAY /dev/md/root metadata=1.2\n  UUID=5eedd000:00004000:80000000:00000007\n" + arrayB + "\n",
			srcs: []string{"/dev/md127"}, want: "ARRAY /dev/md/root metadata=1.2 UUID=5eedd000:00004000:80000000:00000007\n"},
		{name: "not on md", conf: full, srcs: []string{"/dev/vde1"}},
		{name: "no file", srcs: []string{"/dev/md127"}},
		{name: "no arrays", conf: "MAILADDR root\n", srcs: []string{"/dev/md127"}},
		{name: "root array unlisted", conf: arrayB + "\n", srcs: []string{"/dev/md/root"}, warn: "lists no ARRAY for md127 (UUID 5eedd000:00004000:80000000:00000007)"},
		{name: "unreadable member", conf: full, srcs: []string{"/dev/md125"}, warn: "md125: open " + filepath.Join(dev, "vdz")},
		// The arrays under /usr (and x-initrd.mount filesystems) count too: each once, in the file's order.
		{name: "root and /usr", conf: full, srcs: []string{"/dev/md127", "/dev/md126"}, want: "HOMEHOST <system>\n" + arrayA + "\n" + arrayB + "\n"},
		{name: "/usr first", conf: full, srcs: []string{"/dev/vde1", "/dev/mapper/vg2-root", "/dev/md/root"}, want: "HOMEHOST <system>\n" + arrayA + "\n" + arrayB + "\n"},
		{name: "/usr on md, root not", conf: full, srcs: []string{"/dev/vde1", "/dev/md126p1"}, want: "HOMEHOST <system>\n" + arrayB + "\n"},
		{name: "same array twice", conf: full, srcs: []string{"/dev/md/root", "/dev/mapper/vg-root", "/dev/md127p1"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "virtual /usr", conf: full, srcs: []string{"/dev/md127", "tmpfs"}, want: "HOMEHOST <system>\n" + arrayA + "\n"},
		{name: "none", conf: full},
		{name: "/usr array unlisted", conf: arrayA + "\n", srcs: []string{"/dev/md127", "/dev/md126"},
			warn: "lists no ARRAY for md126 (UUID 5eedd000:00004000:80000000:00000008), which holds /dev/md126;"},
		{name: "bad file", conf: "ARRAY /dev/md0 uuid=12:34\n", srcs: []string{"/dev/md127"}, warn: "mdadm.conf: mdadm.conf line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mdadm.conf")
			if tc.conf != "" {
				must(t, os.WriteFile(path, []byte(tc.conf), 0o644))
			}
			got, warnings, err := HostMDConf(path, sysfs, dev, tc.srcs...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("image mdadm.conf:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.warn == "" && len(warnings) > 0 || tc.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.warn)) {
				t.Errorf("warnings %q, want one with %q", warnings, tc.warn)
			}
			if got == "" {
				return
			}
			// The image's file wants the arrays of srcs and no other.
			c, err := md.ParseConf(got)
			must(t, err)
			for _, member := range []string{"vda", "vdc"} {
				sb, err := readSuperblock(filepath.Join(dev, member))
				must(t, err)
				listed := strings.Contains(tc.want, sb.UUIDString()) || sb.Name != "" && strings.Contains(tc.want, "name="+sb.Name)
				if c.Wants(sb) != listed {
					t.Errorf("the image wants %s's array (%s): %v, want %v", member, sb.UUIDString(), c.Wants(sb), listed)
				}
			}
		})
	}
	// An unreadable file is an error; a missing one is none.
	if _, _, err := HostMDConf(dev, sysfs, dev, "/dev/md127"); err == nil {
		t.Error("no error for a directory as mdadm.conf")
	}
}

// A host-only image of a root on MD holds the root's ARRAY lines of the host's mdadm.conf
// (and those of /usr's and the x-initrd.mount filesystems' arrays) at etc/mdadm/mdadm.conf,
// where the init reads them; an extra file of that name wins.
func TestBuildHostMDConf(t *testing.T) {
	cfg := hostConfig(t)
	// The fixture machine's devices, plus the arrays.
	cfg.DevDir = t.TempDir()
	mdHost(t, cfg.SysFS, cfg.DevDir)
	cfg.MDAdmConf = filepath.Join(t.TempDir(), "mdadm.conf")
	must(t, os.WriteFile(cfg.MDAdmConf, []byte("DEVICE partitions\n"+arrayA+"\n"+arrayB+"\n"), 0o644))
	must(t, os.WriteFile(cfg.Mounts, []byte("/dev/md/root / ext4 rw 0 0\n"), 0o644))
	image, res := build(t, cfg)
	recs := readRecords(t, image)
	r, ok := recs[md.ConfPaths[0]]
	if !ok {
		t.Fatalf("no %s in the image; warnings %q", md.ConfPaths[0], res.Warnings)
	}
	if got := string(content(t, r)); got != arrayA+"\n" {
		t.Errorf("%s holds %q, want the root array's line", md.ConfPaths[0], got)
	}

	// The arrays, and the filesystem modules, of /usr and of the host's x-initrd.mount
	// filesystems go in too; the host's fstab (none: nothing) says which are x-initrd.mount.
	for _, tc := range []struct {
		name, mounts, fstab string
		conf                string // the image's mdadm.conf
		want, unwant        []string
	}{
		{name: "/usr on md, xfs", mounts: "/dev/md126 /usr xfs rw 0 0\n", conf: arrayA + "\n" + arrayB + "\n", want: []string{"xfs"}},
		{name: "x-initrd.mount", mounts: "/dev/mapper/vg2-root /srv btrfs rw 0 0\n", fstab: "/dev/vg2/root /srv btrfs defaults,x-initrd.mount 0 2\n",
			conf: arrayA + "\n" + arrayB + "\n", want: []string{"btrfs", "dm_mod"}},
		{name: "not marked", mounts: "/dev/mapper/vg2-root /srv btrfs rw 0 0\n", fstab: "/dev/vg2/root /srv btrfs defaults 0 2\n",
			conf: arrayA + "\n", unwant: []string{"btrfs", "dm_mod"}},
		{name: "no host fstab", mounts: "/dev/mapper/vg2-root /srv btrfs rw 0 0\n", conf: arrayA + "\n", unwant: []string{"btrfs", "dm_mod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.HostRoot = t.TempDir()
			if tc.fstab != "" {
				writeTree(t, cfg.HostRoot, map[string]string{"etc/fstab": tc.fstab})
			}
			cfg.Mounts = filepath.Join(t.TempDir(), "mounts")
			must(t, os.WriteFile(cfg.Mounts, []byte("/dev/md127 / ext4 rw 0 0\n"+tc.mounts), 0o644))
			image, res := build(t, cfg)
			if got := string(content(t, readRecords(t, image)[md.ConfPaths[0]])); got != tc.conf {
				t.Errorf("%s holds %q, want %q; warnings %q", md.ConfPaths[0], got, tc.conf, res.Warnings)
			}
			for _, m := range append([]string{"ext4", "md_mod", "raid1"}, tc.want...) {
				if !slices.Contains(res.Modules, m) {
					t.Errorf("modules lack %s: %q", m, res.Modules)
				}
			}
			for _, m := range tc.unwant {
				if slices.Contains(res.Modules, m) {
					t.Errorf("modules hold %s: %q", m, res.Modules)
				}
			}
		})
	}

	// A named mdadm.conf that is not there (a typo) is a warning, and no file in the image.
	named := cfg.MDAdmConf
	cfg.MDAdmConf = filepath.Join(t.TempDir(), "typo.conf")
	image, res = build(t, cfg)
	if _, ok := readRecords(t, image)[md.ConfPaths[0]]; ok {
		t.Errorf("a missing -mdadmconf: %s in the image", md.ConfPaths[0])
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "typo.conf does not exist") {
		t.Errorf("a missing -mdadmconf: warnings %q lack it", res.Warnings)
	}
	cfg.MDAdmConf = named

	extra := filepath.Join(t.TempDir(), "mine.conf")
	must(t, os.WriteFile(extra, []byte(arrayB+"\n"), 0o644))
	cfg.Files = []File{{Src: extra, Dst: "/" + md.ConfPaths[0]}}
	image, _ = build(t, cfg)
	if got := string(content(t, readRecords(t, image)[md.ConfPaths[0]])); got != arrayB+"\n" {
		t.Errorf("with -file %s: %q, want the extra file's", md.ConfPaths[0], got)
	}
}
