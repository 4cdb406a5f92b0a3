package boot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/modload"
	"github.com/earlyroot/earlyroot/uevent"
)

// run boots on f to the end (a switch, a reboot or a hang) and returns the boot.
func run(t *testing.T, f *fakeSystem) *Boot {
	t.Helper()
	b := New(f.system())
	b.Run()
	// A fake Reboot or Switch returns where the real one would not: join the workers
	// (probes, links, module loads) still writing into the test's tree.
	b.work.Wait()
	return b
}

// waitForFile waits up to 5 s for path to exist.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := os.Lstat(path); err == nil {
			return
		}
	}
	t.Errorf("%s did not appear", path)
}

// contains checks that text holds every want, in order.
func contains(t *testing.T, text string, want ...string) {
	t.Helper()
	rest := text
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("output lacks %q (in this order):\n%s", w, text)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestBootSwitches(t *testing.T) {
	f := newFakeSystem(t, "root=UUID="+ext4UUID+" rootflags=noatime,commit=5 init=/bin/myinit -- single x=1")
	f.coldplug("vda", "ext4")
	b := run(t, f)
	if f.switched == nil {
		t.Fatalf("no switch_root:\n%s", f.output())
	}
	want := f.path("dev/vda") + " " + f.path("newroot") + " ext4 0x401 commit=5" // MS_RDONLY|MS_NOATIME
	if !reflect.DeepEqual(f.mounts, []string{want}) {
		t.Errorf("mounts %q, want %q", f.mounts, want)
	}
	opt := f.switched
	if opt.NewRoot != f.path("newroot") || opt.Init != "/bin/myinit" || !reflect.DeepEqual(opt.Args, []string{"single", "x=1"}) {
		t.Errorf("switch_root options: newroot %q init %q args %q", opt.NewRoot, opt.Init, opt.Args)
	}
	if !reflect.DeepEqual(opt.DeleteWith, []string{DeleterName}) || !slicesHas(opt.Env, "TERM=linux") || !slicesHasPrefix(opt.Env, "PATH=") {
		t.Errorf("switch_root options: delete with %q, env %q", opt.DeleteWith, opt.Env)
	}
	if log, err := os.ReadFile(f.path("run/initramfs/earlyroot.log")); err != nil || !bytes.Contains(log, []byte("switching to /sbin/init")) {
		t.Errorf("saved log: %v\n%s", err, log)
	}
	if _, err := os.Lstat(f.path("run/earlyroot")); !os.IsNotExist(err) {
		t.Errorf("the modprobe helper link is still there before switch_root: %v", err)
	}
	if b.tries != 1 || len(f.reboots) != 0 || len(f.unmounts) != 0 {
		t.Errorf("tries %d, reboots %v, unmounts %v", b.tries, f.reboots, f.unmounts)
	}
}

// A network root (the forms dracut and initramfs-tools read) stops the boot at once with
// what it names, instead of a wait for a block device that never comes, and nothing is
// mounted. (Whether the diagnosis lists the disk depends on whether its probe, a worker,
// has finished by then, so the test does not ask.)
func TestNetworkRootRefused(t *testing.T) {
	f := newFakeSystem(t, "root=nfs:10.0.0.1:/srv/root rd.timeout=1")
	f.coldplug("vda", "ext4")
	f.in.add("poweroff\n")
	b := run(t, f)
	contains(t, f.output(),
		`boot failed: root=nfs:10.0.0.1:/srv/root: device specification "nfs:10.0.0.1:/srv/root" names an NFS share: earlyroot mounts roots on local block devices only`,
		"the boot stopped: root=nfs:10.0.0.1:/srv/root",
		"(root wait: 1s)",
	)
	if strings.Contains(f.output(), "waiting up to") || len(f.mounts) != 0 || f.switched != nil || b.tries != 1 {
		t.Errorf("waited or mounted: tries %d, mounts %q, switched %v\n%s", b.tries, f.mounts, f.switched != nil, f.output())
	}
}

// The root is missing; in the rescue shell the disk appears, `wait` finds it, and
// `continue` boots from it.
func TestRootMissingRescueContinue(t *testing.T) {
	f := newFakeSystem(t, "root=UUID="+ext4UUID+" rd.timeout=1")
	f.in.add(
		func() {
			if len(f.mounts) != 0 || f.switched != nil {
				t.Errorf("in the shell: mounts %q, switched %v", f.mounts, f.switched != nil)
			}
			f.plug("vda", "ext4")
		},
		"wait UUID="+ext4UUID+"\n",
		"continue\n",
	)
	b := run(t, f)
	contains(t, f.output(),
		"boot failed: root device root=UUID="+ext4UUID+" did not appear within 1s",
		"the boot stopped: root device",
		"block devices: none seen",
		"earlyroot# ",
		f.path("dev/vda")+`: LABEL="root fs" UUID="`+ext4UUID+`" TYPE="ext4"`,
		"rescue shell: continuing the boot",
		"switching to /sbin/init",
	)
	if f.switched == nil || b.tries != 2 || len(f.mounts) != 1 {
		t.Errorf("switched %v after %d tries, mounts %q", f.switched != nil, b.tries, f.mounts)
	}
}

// A worker that panics while the root is being mounted ends that attempt at once, with the
// panic as the reason; the mount is undone.
func TestWorkerPanicDuringMount(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	var b *Boot
	f.onMount = func(string, string) error {
		b.goSafe(func() { panic("boom in a worker") })
		b.work.Wait() // the worker is done, its panic reported
		return nil
	}
	f.in.add("poweroff\n")
	b = New(f.system())
	b.Run()
	if f.switched != nil {
		t.Fatal("switched root after a worker panicked")
	}
	contains(t, f.output(),
		"boot failed: internal error in a worker (recovered panic): boom in a worker",
		"the boot stopped: internal error in a worker (recovered panic): boom in a worker",
	)
	if b.tries != 1 || !reflect.DeepEqual(f.unmounts, []string{f.path("newroot")}) ||
		!reflect.DeepEqual(f.reboots, []int{unix.LINUX_REBOOT_CMD_POWER_OFF}) {
		t.Errorf("tries %d, unmounts %q, reboots %#x", b.tries, f.unmounts, f.reboots)
	}
}

// A layer member named by path is never mounted, not even when rootfstype= names a
// filesystem: an LVM PV and an unopened LUKS volume are refused before any mount(2).
func TestLayerMemberNeverMounted(t *testing.T) {
	for _, img := range []string{"lvm2", "luks2"} {
		t.Run(img, func(t *testing.T) {
			f := newFakeSystem(t, "root=/dev/vda rootfstype=ext4 rd.timeout=5")
			f.coldplug("vda", img)
			f.in.add("poweroff\n")
			run(t, f)
			for _, m := range f.mounts {
				if strings.Contains(m, f.path("newroot")) {
					t.Errorf("mounted the %s member: %s", img, m)
				}
			}
			if f.switched != nil {
				t.Fatal("switched root onto a layer member")
			}
			contains(t, f.output(), "root "+f.path("dev")+"/vda holds", "not a filesystem: refusing to mount it")
		})
	}
}

// A panic in a worker between attempts fails the next attempt at once, instead of waiting
// in a channel for a later wait.
func TestWorkerPanicBetweenAttempts(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	var b *Boot
	f.onMount = func(string, string) error { return unix.EINVAL }
	f.in.add(
		func() {
			b.goSafe(func() { panic("late boom") })
			b.work.Wait()
			f.onMount = nil
		},
		"continue\n",
		"continue\n",
	)
	b = New(f.system())
	b.Run()
	contains(t, f.output(),
		"boot failed: mount "+f.path("dev/vda"),
		"boot failed: internal error in a worker (recovered panic): late boom",
		"switching to /sbin/init",
	)
	if b.tries != 3 || len(f.mounts) != 2 {
		t.Errorf("tries %d, mounts %q", b.tries, f.mounts)
	}
}

func TestBreak(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		mounted bool // when the shell runs
		shell   bool // a shell ran
	}{
		{"pre-mount", "rd.break=pre-mount", false, true},
		{"pre-switch", "rd.break=pre-switch", true, true},
		{"bare rd.break is pre-switch", "rd.break", true, true},
		{"no shell: going on", "rd.break=pre-mount rd.shell=0", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSystem(t, `root=/dev/disk/by-label/root\x20fs rd.timeout=5 `+tt.cmdline)
			f.coldplug("vda", "ext4")
			ran := false
			f.in.add(
				func() {
					ran = true
					if got := len(f.mounts) == 1; got != tt.mounted || f.switched != nil {
						t.Errorf("in the shell: mounted %v, want %v; switched %v", got, tt.mounted, f.switched != nil)
					}
				},
				"continue\n",
			)
			run(t, f)
			if ran != tt.shell {
				t.Errorf("shell ran: %v, want %v\n%s", ran, tt.shell, f.output())
			}
			if f.switched == nil || len(f.mounts) != 1 {
				t.Errorf("after continue: switched %v, mounts %q", f.switched != nil, f.mounts)
			}
		})
	}
}

func TestNoShell(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		reboots []int
		sleeps  []time.Duration
		hung    bool
	}{
		{"default: reboot after 30 s", "rd.shell=0", []int{unix.LINUX_REBOOT_CMD_RESTART}, []time.Duration{30 * time.Second}, false},
		{"poweroff after panic=5", "rd.shell=0 rd.emergency=poweroff panic=5", []int{unix.LINUX_REBOOT_CMD_POWER_OFF}, []time.Duration{5 * time.Second}, false},
		{"halt at once with panic=-1", "rd.shell=0 rd.emergency=halt panic=-1", []int{unix.LINUX_REBOOT_CMD_HALT}, nil, false},
		{"panic=0 waits forever", "rd.shell=0 rd.emergency=poweroff panic=0", nil, nil, true},
		{"bad rd.emergency: reboot", "rd.shell=0 rd.emergency=explode panic=1", []int{unix.LINUX_REBOOT_CMD_RESTART}, []time.Duration{time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSystem(t, tt.cmdline) // no root=: the attempt fails at once
			f.in.add("poweroff\n")            // must not be read: there is no shell
			run(t, f)
			if !reflect.DeepEqual(f.reboots, tt.reboots) || !reflect.DeepEqual(f.sleeps, tt.sleeps) || f.hung != tt.hung {
				t.Errorf("reboots %#x sleeps %v hung %v; want %#x %v %v", f.reboots, f.sleeps, f.hung, tt.reboots, tt.sleeps, tt.hung)
			}
			out := f.output()
			contains(t, out, "the boot stopped: no root= on the kernel command line")
			if strings.Contains(out, "earlyroot# ") {
				t.Errorf("a prompt with rd.shell=0:\n%s", out)
			}
		})
	}
}

// Every command of the rescue shell, the init's and the shell's own, typed at the real
// interpreter after a failed boot.
func TestRescueCommands(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"blkid", []string{`/dev/vda: LABEL="root fs" UUID="` + ext4UUID + `" TYPE="ext4"`}},
		{"lsmod", []string{"virtio_blk               20480\next4                     1011712\n"}},
		{"modprobe ahci", []string{"ahci: no-module\n", "earlyroot: modprobe: not loaded: ahci"}},
		{"modprobe", []string{"earlyroot: modprobe: usage: modprobe NAME"}},
		{"wait UUID=" + ext4UUID, []string{`/dev/vda: LABEL="root fs" UUID="` + ext4UUID + `"`}},
		{`wait "LABEL=root fs"`, []string{`/dev/vda: LABEL="root fs"`}},
		{"wait", []string{"earlyroot: wait: usage: wait SPEC"}},
		{"wait a=b/c", []string{"earlyroot: wait: device specification \"a=b/c\": not understood"}},
		{"log", []string{"earlyroot starting (kernel 6.1.0-test)", "boot failed: mount /dev/vda"}},
		{"help", []string{"cat file...", "continue", "from init: blkid dmtable log lsmod modprobe unlock wait"}},
		{"echo -n a b", []string{"earlyroot# a bearlyroot# "}},
		{"cmdline", []string{"root=/dev/vda rd.timeout=9\n"}},
		{"cat PROC/filesystems", []string{"nodev\tproc\n\text4\n"}},
		{"ls PROC/sys", []string{"kernel\n"}},
		{"mkdir -p ROOT/mnt/x", []string{"earlyroot# earlyroot# "}},
		{"ls ROOT/dev/disk/by-uuid", []string{ext4UUID + "\n"}},
		{"mount", []string{"proc /proc proc rw 0 0\n"}},
		{"mount -t ext4 -o ro,noatime,data=journal /dev/vda ROOT/mnt", []string{"MOUNT /dev/vda ROOT/mnt ext4 0x401 data=journal"}},
		{"mount -o rbind /a /b", []string{"MOUNT /a /b  0x5000 "}},
		{"umount -l ROOT/mnt", []string{"UNMOUNT ROOT/mnt"}},
		{"dmesg", []string{"[    5.140900] virtio_blk virtio1: [vda] 2048 512-byte logical blocks\n"}},
		{"exit", []string{"earlyroot: exit: use continue, reboot or poweroff"}},
		{"frobnicate", []string{"earlyroot: frobnicate: unknown command"}},
	}
	for _, tt := range tests {
		t.Run(strings.Fields(tt.in + " .")[0]+"/"+tt.in, func(t *testing.T) {
			// The root is found (so the registry has it) but does not mount: the shell.
			f := newFakeSystem(t, "root=/dev/vda rd.timeout=9")
			f.coldplug("vda", "ext4")
			fix := strings.NewReplacer("PROC", f.path("proc"), "ROOT", f.root)
			// The links are made just after the probe that wakes the root's wait: let the
			// worker finish them before the first command, as the seconds before a real
			// prompt do.
			link := f.path("dev/disk/by-uuid/" + ext4UUID)
			f.in.add(func() { waitForFile(t, link) }, fix.Replace(tt.in)+"\n", "poweroff\n")
			f.onMount = func(source, target string) error {
				if target == f.path("newroot") {
					return unix.EINVAL
				}
				f.out.Write([]byte("MOUNT " + f.mounts[len(f.mounts)-1] + "\n"))
				return nil
			}
			run(t, f)
			out := strings.ReplaceAll(f.output(), f.path("dev")+"/", "/dev/")
			if len(f.unmounts) > 0 {
				out += "UNMOUNT " + strings.Join(f.unmounts, " ")
			}
			for _, w := range tt.want {
				contains(t, out, fix.Replace(w))
			}
		})
	}
}

// modprobe of a module the image was made without says so, and how to get it.
func TestRescueModprobeLeftOut(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda rd.timeout=9")
	writeLeftOut(t, f.path("lib/modules/6.1.0-test"), "alias pci:v00009005d00008000sv*sd*bc*sc*i* aic79xx\n")
	f.coldplug("vda", "ext4")
	f.onMount = func(string, string) error { return unix.EINVAL }
	f.in.add("modprobe aic79xx ahci\n", "poweroff\n")
	run(t, f)
	out := f.output()
	contains(t, out, "aic79xx: no-module\n", "  aic79xx was left out of this image: mkinitramfs -modules aic79xx (or -legacyhba) adds it\n",
		"ahci: no-module\n", "earlyroot: modprobe: not loaded: aic79xx ahci")
	if strings.Contains(out, "ahci was left out") {
		t.Errorf("ahci, which the list does not name, is said to be left out:\n%s", out)
	}
}

func TestInitArgsAndEnv(t *testing.T) {
	if got := initEnv([]string{"TERM=linux"}); !reflect.DeepEqual(got[:1], []string{"TERM=linux"}) || !slicesHasPrefix(got, "PATH=") {
		t.Errorf("initEnv added no PATH: %q", got)
	}
	if got := initEnv([]string{"PATH=/x"}); !reflect.DeepEqual(got, []string{"PATH=/x"}) {
		t.Errorf("initEnv replaced the kernel's PATH: %q", got)
	}
}

func slicesHas(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func slicesHasPrefix(s []string, p string) bool {
	for _, x := range s {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func TestBlockDevice(t *testing.T) {
	f := newFakeSystem(t, "")
	b := New(f.system())
	devpath := "/devices/pci0000:00/0000:00:03.0/virtio0/block/vda/vda2"
	write(t, f.path("sys"+devpath+"/size"), "2048\n")
	ev, err := uevent.Parse([]byte("add@" + devpath + "\x00ACTION=add\x00" +
		"DEVPATH=" + devpath + "\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=2\x00" +
		"DEVNAME=vda2\x00DEVTYPE=partition\x00PARTN=2\x00SEQNUM=1\x00"))
	if err != nil {
		t.Fatal(err)
	}
	d := b.blockDevice(ev)
	want := devices.Device{Name: "vda2", Path: f.path("dev/vda2"), Major: 254, Minor: 2, Type: "partition", PartN: 2, Parent: "vda", Size: 2048 * 512}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("blockDevice = %+v, want %+v", d, want)
	}
}

func TestDiagnose(t *testing.T) {
	f := newFakeSystem(t, "")
	b := New(f.system())
	b.cfg = cmdline.Parse("root=LABEL=missing rd.timeout=7")
	b.reg = devices.NewRegistry(t.TempDir())
	b.loader = modload.NewLoader(nil, t.TempDir(), modload.Options{})
	b.loader.LoadAlias("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
	b.loader.LoadAlias("cpu:type:x86,ven0000fam0006mod003F:feature:,0000")
	var out bytes.Buffer
	b.diagnose(&out, "root device root=LABEL=missing did not appear within 7s")
	text := out.String()
	contains(t, text,
		"the boot stopped: root device root=LABEL=missing did not appear within 7s",
		`root="LABEL=missing"`,
		"(root wait: 7s)",
		"block devices: none seen",
		"pci:v00001AF4d00001001",
		"continue",
	)
	if strings.Contains(text, "cpu:type") {
		t.Errorf("diagnosis lists a cpu modalias as a device without a module:\n%s", text)
	}
}

// writeLeftOut writes the list of the modules an image left out (modload.LeftOutFile) to
// moddir, as mkinitramfs does: text compressed with zstd.
func writeLeftOut(t *testing.T, moddir, text string) {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(moddir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(moddir, modload.LeftOutFile), enc.EncodeAll([]byte(text), nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The rescue shell names the module an image was made without that would drive a
// controller it saw (modload.LeftOutFile), and says when that list is unreadable.
func TestDiagnoseLeftOut(t *testing.T) {
	const adaptec = "pci:v00009005d00008000sv00009005sd00000000bc01sc00i00"
	const unknown = "pci:v0000ABCDd00001234sv00000000sd00000000bc01sc04i00"
	cases := []struct {
		name, file string
		want       []string
		wantNot    []string
	}{
		{"named", "alias pci:v00009005d00008000sv*sd*bc*sc*i* aic79xx\nalias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n",
			[]string{"  " + adaptec + ": aic79xx, left out of this image\n", "  " + unknown + "\n", "-legacyhba"}, []string{"usb_storage"}},
		{"none named", "alias pci:v00001000d*sv*sd*bc*sc*i* megaraid\n",
			[]string{"  " + adaptec + "\n", "  " + unknown + "\n"}, []string{"left out", "-legacyhba"}},
		{"no list", "", []string{"  " + adaptec + "\n"}, []string{"left out", "-legacyhba"}},
		{"unreadable list", "options aic79xx x=1\n",
			[]string{"(the list of the modules left out of this image: parse ", "line 1", "  " + adaptec + "\n"}, []string{"-legacyhba"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSystem(t, "")
			b := New(f.system())
			b.cfg = cmdline.Parse("root=LABEL=missing")
			b.reg = devices.NewRegistry(t.TempDir())
			b.moddir = t.TempDir()
			if c.file != "" {
				writeLeftOut(t, b.moddir, c.file)
			}
			b.loader = modload.NewLoader(nil, b.moddir, modload.Options{})
			b.loader.LoadAlias(adaptec)
			b.loader.LoadAlias(unknown)
			var out bytes.Buffer
			b.diagnose(&out, "root device root=LABEL=missing did not appear")
			text := out.String()
			contains(t, text, append([]string{"storage-bus devices with no module in this image (2):\n"}, c.want...)...)
			for _, s := range c.wantNot {
				if strings.Contains(text, s) {
					t.Errorf("diagnosis has %q:\n%s", s, text)
				}
			}
		})
	}
}

func TestDiagnoseDevices(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	f.onMount = func(string, string) error { return unix.EINVAL }
	f.in.add("poweroff\n")
	run(t, f)
	contains(t, f.output(), "block devices:", "DEVICE", "SIZE", f.path("dev/vda"), " KiB", "ext4", ext4UUID, "root fs")
}

// A setup cut short by a panic still leaves the rescue path what it needs.
func TestEnsureStateAfterFailedSetup(t *testing.T) {
	f := newFakeSystem(t, "")
	b := New(f.system())
	b.ensureState()
	if !b.cfg.Shell || b.cfg.Emergency != "reboot" {
		t.Errorf("defaults not applied: shell=%v emergency=%q", b.cfg.Shell, b.cfg.Emergency)
	}
	var out bytes.Buffer
	b.diagnose(&out, "internal error (recovered panic): boom")
	contains(t, out.String(), "boom", "block devices: none seen")
}

// A panic in setup itself leads to the shell, and `continue` still boots.
func TestSetupPanic(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	sys := f.system()
	calls := 0
	sys.KernelRelease = func() (string, error) {
		calls++
		if calls == 1 {
			panic("uname broke")
		}
		return "6.1.0-test", nil
	}
	f.in.add("continue\n")
	New(sys).Run()
	contains(t, f.output(), "the boot stopped: internal error (recovered panic): uname broke", "switching to /sbin/init")
	if f.switched == nil {
		t.Error("no switch after continue")
	}
}

func TestModprobeLink(t *testing.T) {
	f := newFakeSystem(t, "")
	f.in.add(func() {
		target, err := os.Readlink(f.path("run/earlyroot/modprobe"))
		if err != nil || target != "/init" {
			t.Errorf("in the shell, the modprobe helper link: %q, %v", target, err)
		}
	}, "poweroff\n")
	run(t, f)
	if _, err := os.Stat(filepath.Join(f.root, "run/initramfs/earlyroot.log")); err != nil {
		t.Errorf("log not saved for the shell: %v", err)
	}
}

// Before switch_root the helper link and its directory are gone (/run moves into the real
// root), and the summary gives PID 1's peak memory and CPU time.
func TestSwitchSummary(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	run(t, f)
	if f.switched == nil {
		t.Fatalf("no switch:\n%s", f.output())
	}
	for _, p := range []string{"run/earlyroot/modprobe", "run/earlyroot"} {
		if _, err := os.Lstat(f.path(p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s at the switch: %v, want it removed", p, err)
		}
	}
	m := regexp.MustCompile(`peak memory of PID 1: ([0-9]+) kB; cpu time since /init started: user [0-9]+ ms, sys [0-9]+ ms`).FindStringSubmatch(f.output())
	if m == nil || m[1] == "0" {
		t.Errorf("no memory and cpu line, or a zero peak:\n%s", f.output())
	}
}

// The breakdown line before switch_root has its fields in order, with the root's times
// in the order they happened.
func TestBreakdownLine(t *testing.T) {
	f := newFakeSystem(t, "root=/dev/vda")
	f.coldplug("vda", "ext4")
	run(t, f)
	log, err := os.ReadFile(f.path("run/initramfs/earlyroot.log"))
	must(t, err)
	// The fake discovery cannot tell when coldplug is complete: no coldplug= field.
	m := regexp.MustCompile(`breakdown: main_at=[0-9.]+ discovery=([0-9.]+) root=([0-9.]+) probe_ms=[0-9.]+ ` +
		`found=([0-9.]+) fs_ms=[0-9.]+ mount_ms=[0-9.]+ switch=([0-9.]+) modules=0 finit_ms=0.0\n`).FindSubmatch(log)
	if m == nil {
		t.Fatalf("no breakdown line, or not as expected:\n%s", log)
	}
	var prev float64
	for i, name := range []string{"discovery", "root", "found", "switch"} {
		v, err := strconv.ParseFloat(string(m[i+1]), 64)
		must(t, err)
		if v < prev {
			t.Errorf("breakdown: %s=%v is before the step ahead of it (%v)", name, v, prev)
		}
		prev = v
	}
}
