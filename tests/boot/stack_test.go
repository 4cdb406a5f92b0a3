package boot

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// stackBoot boots the builder's disk set name (writable copies, in recipe order) with the
// command line cmdline, waits for the real init's facts and checks that the root is a
// device matching source (the array or LV, never a member) with the recipe's filesystem.
// Every copy must come out of the read-only boot bit-identical: no layer writes a
// superblock or metadata.
func stackBoot(t *testing.T, name, cmdline string, source *regexp.Regexp) (*vm.VM, vm.Facts) {
	t.Helper()
	s := builder.Disk(t, name)
	drives := s.Drives(t)
	v := bootVM(t, vm.Config{Append: cmdline, Drives: drives})
	f := facts(t, v)
	bootedOn(t, f, "", s.Recipe.FSType)
	if !source.MatchString(f.RootSource) {
		t.Errorf("root source %q, want %s", f.RootSource, source)
	}
	exited(t, v, factsTimeout)
	unchanged(t, s, drives)
	return v, f
}

// unchanged checks that the copies of s's disks the VM booted, now that it has exited, are
// bit-identical to the builder's images: a read-only boot writes no header, superblock or
// metadata.
func unchanged(t *testing.T, s *builder.Set, drives []vm.Drive) {
	t.Helper()
	var paths []string
	for _, d := range drives {
		paths = append(paths, d.Path)
	}
	if err := s.Unchanged(paths); err != nil {
		t.Errorf("after a read-only boot: %v", err)
	}
}

// mdSource is an md array, never one of its members (/dev/vdX).
var mdSource = regexp.MustCompile(`^/dev/md\d+$`)

// RAID1 over two disks, every superblock version, by root=UUID= of the filesystem inside:
// with 0.90 and 1.0 each member also shows that filesystem at its start, and only the array
// may be mounted. md starts arrays auto-read-only, so the members stay unchanged.
func TestMDRAID1(t *testing.T) {
	for _, name := range []string{"md-raid1-1.2", "md-raid1-0.90", "md-raid1-1.0", "md-raid1-1.1"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, _ := builder.Lookup(name)
			v, _ := stackBoot(t, name, "root=UUID="+r.RootUUID+" ro", mdSource)
			if out := v.Output(); regexp.MustCompile(`DEGRADED`).MatchString(out) {
				t.Errorf("a complete array started degraded:\n%s", out)
			}
			// md_mod asks for the level's personality whenever it runs an array, loaded
			// or not: the init runs the array, its personality loaded, with the kernel's
			// module requests off, and starts no helper.
			noModprobeStarts(t, v)
		})
	}
}

// RAID5 over three disks.
func TestMDRAID5(t *testing.T) {
	t.Parallel()
	r, _ := builder.Lookup("md-raid5")
	v, _ := stackBoot(t, "md-raid5", "root=UUID="+r.RootUUID+" ro", mdSource)
	noModprobeStarts(t, v)
}

// A RAID1 with one of its two disks missing starts degraded once rd.retry= seconds pass
// without the other, with a warning, and boots; the remaining member is left unchanged.
func TestMDDegraded(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "md-raid1-1.2")
	drives := s.Drives(t)[1:]
	before := fileSum(t, s.Disks[1])
	start := time.Now()
	v := bootVM(t, vm.Config{Append: "root=UUID=" + s.Recipe.RootUUID + " ro rd.retry=3", Drives: drives})
	expect(t, v, `STARTED DEGRADED as /dev/md\d+`, factsTimeout)
	f := facts(t, v)
	bootedOn(t, f, "", "ext4")
	if !mdSource.MatchString(f.RootSource) {
		t.Errorf("root source %q, want an md array", f.RootSource)
	}
	t.Logf("degraded boot to the facts line in %v", time.Since(start).Round(time.Second))
	exited(t, v, factsTimeout)
	if fileSum(t, drives[0].Path) != before {
		t.Errorf("the member changed during a read-only degraded boot")
	}
}

// LVM: the root LV by /dev/VG/LV (linear, striped over two PVs, thin, raid1 mirrored over
// two PVs), and an LV inside an MD array by UUID= of its filesystem (every LV of the
// complete VG is activated). The tables are loaded from the metadata without writing it:
// after a read-only boot every PV is unchanged. No boot starts the modprobe helper.
func TestLVM(t *testing.T) {
	dmSource := regexp.MustCompile(`^/dev/dm-\d+$`)
	for _, tc := range []struct{ name, root string }{
		{"lvm-linear", ""},
		{"lvm-striped", ""},
		{"lvm-thin", ""},
		{"lvm-raid1", ""},
		{"lvm-on-md", "uuid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := builder.Lookup(tc.name)
			root := "/dev/" + r.VG + "/" + r.LV
			if tc.root == "uuid" {
				root = "UUID=" + r.RootUUID
			}
			v, _ := stackBoot(t, tc.name, "root="+root+" ro", dmSource)
			noModprobeStarts(t, v) // the raid1 LV's and lvm-on-md's array's runs included
		})
	}
}

// /usr on an LV of its own, which the root's /etc/fstab names by its path, with the real
// init on it: root= names only the root LV, so the boot activates the usr LV when it reads
// the fstab, and mounts it read-only with the root.
func TestLVMUsr(t *testing.T) {
	t.Parallel()
	r, _ := builder.Lookup("lvm-usr")
	v, f := stackBoot(t, "lvm-usr", "root=/dev/"+r.VG+"/"+r.LV+" ro", regexp.MustCompile(`^/dev/dm-\d+$`))
	if !strings.Contains(" "+f.Extra["mounts"]+" ", " /usr:ext4 ") {
		t.Errorf("mounts handed over: %s, want /usr:ext4", f.Extra["mounts"])
	}
	want := regexp.MustCompile(`earlyroot: lvm: vg ` + r.VG + `: activated .*\busr\b[\s\S]*earlyroot: /usr \(/dev/` + r.VG + `/usr, /etc/fstab line 2\): /dev/dm-\d+ \(ext4\) mounted on /usr \(ro\)`)
	if !want.MatchString(v.Output()) {
		t.Errorf("no activation and mount of the usr LV in the log (%s):\n%s", want, v.Output())
	}
}

// btrfs raid1 over two disks, by the filesystem's UUID: mounted once both members are
// registered with the kernel, and left unchanged by the read-only boot.
func TestBtrfsRAID1(t *testing.T) {
	t.Parallel()
	r, _ := builder.Lookup("btrfs-raid1")
	v, _ := stackBoot(t, "btrfs-raid1", "root=UUID="+r.RootUUID+" ro", regexp.MustCompile(`^/dev/vd[ab]$`))
	if !regexp.MustCompile(`btrfs: /dev/vd[ab] is device 2 of 2`).MatchString(v.Output()) {
		t.Errorf("the second member was not registered before the mount:\n%s", v.Output())
	}
}

// LUKS on an MD raid1: the array starts, its device is probed, found to be a LUKS volume
// and unlocked with the passphrase typed at the prompt; the root is the dm-crypt device, and
// the disks come out of the read-only boot unchanged.
func TestLUKSOnMD(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "luks-on-md")
	drives := s.Drives(t)
	v := bootVM(t, vm.Config{Append: "root=UUID=" + s.Recipe.RootUUID + " ro", Drives: drives})
	expect(t, v, `Passphrase for /dev/md\d+ \(`, unlockWait)
	send(t, v, builder.Passphrase)
	f := facts(t, v)
	bootedOn(t, f, "", "ext4")
	if !regexp.MustCompile(`^/dev/dm-\d+$`).MatchString(f.RootSource) {
		t.Errorf("root source %q, want the dm-crypt device", f.RootSource)
	}
	exited(t, v, factsTimeout)
	unchanged(t, s, drives)
}

// LVM on LUKS with a root and a swap LV, as Debian's "guided, encrypted LVM" lays it out,
// booted with resume= on the swap LV: the passphrase typed at the prompt opens the PV, the
// root is the root LV, the swap LV is activated too and probed as the resume device, and
// without a hibernation image in it the boot goes on. resume= by the LV's path, and by the
// swap's UUID (Debian's form) while root= names the root LV. Nothing is written to any
// disk, the swap included.
func TestLVMOnLUKS(t *testing.T) {
	r, _ := builder.Lookup("lvm-on-luks")
	dmSource := regexp.MustCompile(`^/dev/dm-\d+$`)
	for _, tc := range []struct{ name, resume string }{
		{"resume-path", "/dev/" + r.VG + "/swap"},
		{"resume-uuid", "UUID=" + r.SwapUUID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := builder.Disk(t, "lvm-on-luks")
			drives := s.Drives(t)
			root := "/dev/mapper/" + r.VG + "-" + r.LV
			v := bootVM(t, vm.Config{Append: "root=" + root + " resume=" + tc.resume + " ro", Drives: drives})
			expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
			send(t, v, builder.Passphrase)
			f := facts(t, v)
			bootedOn(t, f, "", "ext4")
			if !dmSource.MatchString(f.RootSource) {
				t.Errorf("root source %q, want the root LV's dm device", f.RootSource)
			}
			out := v.Output()
			for _, re := range []string{
				`lvm: vg ` + r.VG + `: activated .*\bswap\b`,
				regexp.QuoteMeta("resume="+tc.resume+": ") + `/dev/dm-\d+ holds no hibernation image; normal boot`,
			} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("the console lacks %q:\n%s", re, out)
				}
			}
			if rootLine := regexp.MustCompile(regexp.QuoteMeta("root="+root) + ` is (/dev/dm-\d+)`).FindStringSubmatch(out); rootLine != nil && rootLine[1] != f.RootSource {
				t.Errorf("root= resolved to %s, but %s is mounted", rootLine[1], f.RootSource)
			}
			exited(t, v, factsTimeout)
			unchanged(t, s, drives)
		})
	}
}

// rd.md=0 assembles nothing: the root inside the array never appears and the boot stops in
// the rescue shell after rd.timeout=, with the members unmounted. rd.md.uuid= assembles the
// array it names and no other: with two raid1 sets attached (metadata 1.2 and 1.0), the
// root in the 1.2 array boots and the 1.0 array's members are left alone.
func TestMDOptions(t *testing.T) {
	t.Run("rd.md=0", func(t *testing.T) {
		t.Parallel()
		s := builder.Disk(t, "md-raid1-1.2")
		v := bootVM(t, vm.Config{Append: "root=UUID=" + s.Recipe.RootUUID + " ro rd.md=0 rd.timeout=5", Drives: s.Drives(t)})
		expect(t, v, `did not appear within 5s`, promptWait)
		expect(t, v, `earlyroot# `, 20*time.Second)
		if out := v.Output(); regexp.MustCompile(`md: started|new_dev|STARTED DEGRADED`).MatchString(out) {
			t.Errorf("rd.md=0 and an array was started:\n%s", out)
		}
	})
	t.Run("rd.md.uuid=", func(t *testing.T) {
		t.Parallel()
		a, b := builder.Disk(t, "md-raid1-1.2"), builder.Disk(t, "md-raid1-1.0")
		drives := append(a.Drives(t), b.Drives(t)...)
		v := bootVM(t, vm.Config{Append: "root=UUID=" + a.Recipe.RootUUID + " ro rd.md.uuid=" + a.Recipe.MDUUID, Drives: drives})
		f := facts(t, v)
		bootedOn(t, f, "", "ext4")
		if !mdSource.MatchString(f.RootSource) {
			t.Errorf("root source %q, want the 1.2 array", f.RootSource)
		}
		out := v.Output()
		if n := len(regexp.MustCompile(`md: started`).FindAllString(out, -1)); n != 1 {
			t.Errorf("%d arrays started, want the one rd.md.uuid= names:\n%s", n, out)
		}
		if n := len(regexp.MustCompile(`member of \S+, which rd.md.uuid= does not list`).FindAllString(out, -1)); n < 2 {
			t.Errorf("%d members of the other array said to be unlisted, want both:\n%s", n, out)
		}
		exited(t, v, factsTimeout)
		unchanged(t, a, drives[:2])
		unchanged(t, b, drives[2:])
	})
}

// rd.lvm.lv= activates only the LVs it names, rd.lvm.vg= every LV of the VG, and rd.lvm=0
// none (the root never appears: rescue shell), on the LVM-on-LUKS set's root and swap LVs,
// with root= naming the root filesystem by UUID (which alone would activate every LV).
func TestLVMOptions(t *testing.T) {
	r, _ := builder.Lookup("lvm-on-luks")
	for _, tc := range []struct {
		name, append, activated string // activated: the console's list, "" for none
	}{
		{"rd.lvm.lv=", "rd.lvm.lv=" + r.VG + "/" + r.LV, r.LV},
		{"rd.lvm.vg=", "rd.lvm.vg=" + r.VG, r.LV + ", swap"},
		{"rd.lvm=0", "rd.lvm=0 rd.timeout=10", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := builder.Disk(t, "lvm-on-luks")
			v := bootVM(t, vm.Config{Append: "root=UUID=" + r.RootUUID + " ro " + tc.append, Drives: s.Drives(t)})
			expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
			send(t, v, builder.Passphrase)
			if tc.activated == "" {
				expect(t, v, `did not appear within 10s`, promptWait)
				expect(t, v, `earlyroot# `, 20*time.Second)
				if out := v.Output(); strings.Contains(out, "lvm: vg "+r.VG+": activated") {
					t.Errorf("rd.lvm=0 and LVs were activated:\n%s", out)
				}
				return
			}
			f := facts(t, v)
			bootedOn(t, f, "", "ext4")
			want := "lvm: vg " + r.VG + ": activated " + tc.activated + "\r?\n"
			if out := v.Output(); !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("the console lacks %q:\n%s", want, out)
			}
		})
	}
}
