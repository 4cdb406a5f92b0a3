package boot

import (
	"os"
	"reflect"
	"testing"
)

// ext3UUID and btrfsUUID are the UUIDs of probe/testdata/ext3.img.gz and btrfs.img.gz.
const (
	ext3UUID  = "3e8f1c5a-2222-4b5b-9b0e-0123456789ab"
	btrfsUUID = "6e8f1c5a-6666-4b5b-9b0e-0123456789ab"
)

// newRootWith writes the new root's /etc/fstab and makes its mount points: the fake Mount
// mounts nothing, so the tree under newroot/ is what the boot reads "on the root".
func newRootWith(t *testing.T, f *fakeSystem, fstabText string, dirs ...string) {
	t.Helper()
	write(t, f.path("newroot/etc/fstab"), fstabText)
	for _, d := range dirs {
		must(t, os.MkdirAll(f.path("newroot"+d), 0o755))
	}
}

func TestUsrMounts(t *testing.T) {
	rootMount := func(f *fakeSystem, flags string) string {
		return f.path("dev/vda") + " " + f.path("newroot") + " ext4 " + flags + " "
	}
	tests := []struct {
		name    string
		cmdline string
		fstab   string
		dirs    []string
		disks   [][2]string // coldplugged: name, fixture
		mounts  func(f *fakeSystem) []string
		output  []string
	}{
		{
			name:    "usr by UUID follows ro",
			cmdline: "root=UUID=" + ext4UUID,
			fstab:   "# static\nUUID=" + ext4UUID + " / ext4 errors=remount-ro 0 1\nUUID=" + ext3UUID + " /usr ext3 defaults,noatime 0 2\n/dev/vdz none swap sw 0 0\n",
			dirs:    []string{"/usr"},
			disks:   [][2]string{{"vda", "ext4"}, {"vdb", "ext3"}},
			mounts: func(f *fakeSystem) []string {
				return []string{rootMount(f, "0x1"), f.path("dev/vdb") + " " + f.path("newroot/usr") + " ext3 0x401 "}
			},
			output: []string{"/usr (UUID=" + ext3UUID + ", /etc/fstab line 3): ", "(ext3) mounted on /usr (ro,noatime)", "switching to /sbin/init"},
		},
		{
			name:    "usr rw with the root, probed type",
			cmdline: "root=/dev/vda rw",
			fstab:   "/dev/vdb\t/usr auto defaults\n",
			dirs:    []string{"/usr"},
			disks:   [][2]string{{"vda", "ext4"}, {"vdb", "btrfs"}},
			mounts: func(f *fakeSystem) []string {
				return []string{rootMount(f, "0x0"), f.path("dev/vdb") + " " + f.path("newroot/usr") + " btrfs 0x0 "}
			},
			output: []string{"(btrfs) mounted on /usr (rw)"},
		},
		{
			name:    "mount.usr= wins over fstab",
			cmdline: "root=/dev/vda mount.usr=LABEL=ext3root mount.usrflags=commit=5",
			fstab:   "/dev/vdc /usr xfs defaults\n",
			dirs:    []string{"/usr"},
			disks:   [][2]string{{"vda", "ext4"}, {"vdb", "ext3"}},
			mounts: func(f *fakeSystem) []string {
				return []string{rootMount(f, "0x1"), f.path("dev/vdb") + " " + f.path("newroot/usr") + " ext3 0x1 commit=5"}
			},
			output: []string{"/usr (mount.usr=LABEL=ext3root): ", "(ext3) mounted on /usr (ro,commit=5)"},
		},
		{
			name:    "mount.usrflags= alone: a subvolume of the root",
			cmdline: "root=UUID=" + btrfsUUID + " rootflags=subvol=@ mount.usrflags=subvol=@usr",
			dirs:    []string{"/usr"},
			disks:   [][2]string{{"vda", "btrfs"}},
			mounts: func(f *fakeSystem) []string {
				return []string{
					f.path("dev/vda") + " " + f.path("newroot") + " btrfs 0x1 subvol=@",
					f.path("dev/vda") + " " + f.path("newroot/usr") + " btrfs 0x1 subvol=@usr",
				}
			},
		},
		{
			name:    "x-initrd.mount entries, tmpfs and noauto",
			cmdline: "root=/dev/vda",
			fstab: "/dev/vdb /var ext3 rw,x-initrd.mount 0 2\n" +
				"tmpfs /var/tmp tmpfs x-initrd.mount,mode=1777\n" +
				"/dev/vdc /srv xfs x-initrd.mount,noauto\n" +
				"/dev/vdd /home ext4 defaults\n" +
				"server:/export /net nfs x-initrd.mount,nofail\n" +
				"LABEL=gone /opt ext4 x-initrd.mount,nofail\n",
			dirs:  []string{"/var/tmp", "/srv", "/home", "/net", "/opt"},
			disks: [][2]string{{"vda", "ext4"}, {"vdb", "ext3"}},
			mounts: func(f *fakeSystem) []string {
				return []string{
					rootMount(f, "0x1"),
					f.path("dev/vdb") + " " + f.path("newroot/var") + " ext3 0x0 ",
					"tmpfs " + f.path("newroot/var/tmp") + " tmpfs 0x0 mode=1777",
				}
			},
			output: []string{
				"/net (server:/export, /etc/fstab line 5): only a block device or tmpfs or ramfs can be mounted", "(nofail: the boot goes on)",
				"/opt (LABEL=gone, /etc/fstab line 6) is not there (not waited for) (nofail: the boot goes on)",
			},
		},
		{
			name:    "an fstab that cannot be read",
			cmdline: "root=/dev/vda",
			dirs:    []string{"/etc/fstab/x"},
			disks:   [][2]string{{"vda", "ext4"}},
			mounts:  func(f *fakeSystem) []string { return []string{rootMount(f, "0x1")} },
			output:  []string{"/etc/fstab of the root: ", "its /usr and x-initrd.mount entries are not mounted", "switching to /sbin/init"},
		},
		{
			name:    "no fstab",
			cmdline: "root=/dev/vda",
			disks:   [][2]string{{"vda", "ext4"}},
			mounts:  func(f *fakeSystem) []string { return []string{rootMount(f, "0x1")} },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSystem(t, tc.cmdline)
			if tc.fstab != "" {
				newRootWith(t, f, tc.fstab, tc.dirs...)
			}
			for _, d := range tc.dirs {
				must(t, os.MkdirAll(f.path("newroot"+d), 0o755))
			}
			for _, d := range tc.disks {
				f.coldplug(d[0], d[1])
			}
			run(t, f)
			if f.switched == nil {
				t.Fatalf("no switch_root:\n%s", f.output())
			}
			if want := tc.mounts(f); !reflect.DeepEqual(f.mounts, want) {
				t.Errorf("mounts\n got %q\nwant %q\n%s", f.mounts, want, f.output())
			}
			contains(t, f.output(), tc.output...)
		})
	}
}

// /usr missing stops the boot with the reason; in the rescue shell its disk appears and
// `continue` mounts both. The failed attempt's root mount is undone first.
func TestUsrMissingRescueContinue(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda rd.timeout=1")
	newRootWith(t, f, "UUID="+ext3UUID+" /usr ext3 defaults 0 2\n", "/usr")
	f.coldplug("vda", "ext4")
	f.in.add(func() { f.plug("vdb", "ext3") }, "continue\n")
	b := run(t, f)
	what := "/usr (UUID=" + ext3UUID + ", /etc/fstab line 1)"
	contains(t, f.output(),
		"waiting for "+what,
		"boot failed: "+what+" did not appear within 1s",
		"earlyroot# ",
		"rescue shell: continuing the boot",
		what+": "+f.path("dev/vdb")+" (ext3) mounted on /usr (ro)",
		"switching to /sbin/init",
	)
	if f.switched == nil || b.tries != 2 {
		t.Fatalf("switched %v after %d tries", f.switched != nil, b.tries)
	}
	root := f.path("dev/vda") + " " + f.path("newroot") + " ext4 0x1 "
	want := []string{root, root, f.path("dev/vdb") + " " + f.path("newroot/usr") + " ext3 0x1 "}
	if !reflect.DeepEqual(f.mounts, want) || !reflect.DeepEqual(f.unmounts, []string{f.path("newroot")}) {
		t.Errorf("mounts %q\nunmounts %q", f.mounts, f.unmounts)
	}
}

// A /usr that cannot be mounted is a failure of the boot, not of the real system's: no
// mount point, a layer member, a bad option.
func TestUsrFailures(t *testing.T) {
	tests := []struct {
		name, fstab string
		dirs        []string
		disk        string
		want        string
	}{
		{"no mount point", "/dev/vdb /usr ext3\n", nil, "ext3", "/usr (/dev/vdb, /etc/fstab line 1): no mount point on the root"},
		{"a layer member", "/dev/vdb /usr auto\n", []string{"/usr"}, "md1.2", "holds linux_raid_member (raid), not a filesystem: refusing to mount it"},
		{"an operation as option", "/dev/vdb /usr ext3 bind\n", []string{"/usr"}, "ext3", `options "bind": "bind" is an operation of mount(8)`},
		{"a network share", "srv:/usr /usr nfs\n", []string{"/usr"}, "ext3", "only a block device or tmpfs or ramfs can be mounted by the initramfs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSystem(t, "root=/dev/vda rd.shell=0 panic=-1")
			newRootWith(t, f, tc.fstab, tc.dirs...)
			f.coldplug("vda", "ext4")
			f.coldplug("vdb", tc.disk)
			run(t, f)
			if f.switched != nil {
				t.Fatalf("switched:\n%s", f.output())
			}
			contains(t, f.output(), "boot failed: ", tc.want)
			if len(f.mounts) != 1 {
				t.Errorf("mounts %q, want the root's only", f.mounts)
			}
		})
	}
}

func TestFsTypes(t *testing.T) {
	for in, want := range map[string][]string{"auto": nil, "": nil, "ext4": {"ext4"}, "ext4,,xfs": {"ext4", "xfs"}} {
		if got := fsTypes(in); !reflect.DeepEqual(got, want) {
			t.Errorf("fsTypes(%q) = %q, want %q", in, got, want)
		}
	}
}

// x-systemd.device-timeout= sets how long /usr's device is waited for, instead of the
// root's timeout (30 s here); a value that is no time span is a warning.
func TestUsrDeviceTimeout(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"x-systemd.device-timeout=1s", "did not appear within 1s"},
		{"x-systemd.device-timeout=1500ms,noatime", "did not appear within 1.5s"},
	} {
		t.Run(tc.opts, func(t *testing.T) {
			f := newFakeSystem(t, "root=/dev/vda rd.shell=0 panic=-1")
			newRootWith(t, f, "LABEL=nowhere /usr ext4 "+tc.opts+"\n", "/usr")
			f.coldplug("vda", "ext4")
			run(t, f)
			contains(t, f.output(), "boot failed: /usr (LABEL=nowhere, /etc/fstab line 1) "+tc.want)
		})
	}
	f := newFakeSystem(t, "root=/dev/vda")
	newRootWith(t, f, "/dev/vdb /usr ext3 x-systemd.device-timeout=soon\n", "/usr")
	f.coldplug("vda", "ext4")
	f.coldplug("vdb", "ext3")
	run(t, f)
	contains(t, f.output(), "x-systemd.device-timeout=soon is no time span", "waiting as for the root", "mounted on /usr (ro)")
}
