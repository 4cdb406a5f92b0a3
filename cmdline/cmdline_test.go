package cmdline

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// realLines are command lines seen on real systems, used as fuzz seeds.
var realLines = []string{
	"BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=3b1e2c1a-8c4d-4f3e-9a57-2d1c0e6f7a11 ro quiet\n",
	"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-6.8.9-300.fc40.x86_64 root=/dev/mapper/fedora-root ro rd.lvm.lv=fedora/root rhgb quiet",
	"initrd=\\initramfs-linux.img root=PARTUUID=0a1b2c3d-01 rw rootfstype=ext4 loglevel=3 quiet",
	"console=ttyS0,115200n8 root=/dev/vda1 rootwait panic=-1 earlyroot.log=both rd.debug",
	`root="LABEL=my root" rootflags=subvol=@ rootflags=compress=zstd rw -- single foo=bar`,
	"root=ZFS=rpool/ROOT/debian boot=zfs zfs.zfs_arc_max=1073741824 nvme_core.default_ps_max_latency_us=0",
	"rd.break=pre-mount rd.shell=0 rd.emergency=poweroff rd.timeout=0 modprobe.blacklist=nouveau,radeon",
	`quiet splash vt.handoff=7 ext4.foo="a b" virtio-blk.queue_depth=64 rootwait=10`,
	`"a b"=c "unterminated = x`,
	`root=/dev/sda2 resume=UUID=1234 init=/lib/systemd/systemd systemd.unit=rescue.target emergency S`,
}

func TestParse(t *testing.T) {
	def := Parse("")
	tests := []struct {
		name string
		line string
		want func(c *Config) // mutates a default Config into the expected one
	}{
		{"empty", "", func(c *Config) {}},
		{"spaces", " \t\n ", func(c *Config) {}},
		{"root", "root=/dev/vda1", func(c *Config) { c.Root = "/dev/vda1" }},
		{"root quoted value", `root="LABEL=my root"`, func(c *Config) { c.Root = "LABEL=my root" }},
		{"root quoted word", `"root=LABEL=my root"`, func(c *Config) { c.Root = "LABEL=my root" }},
		{"root last wins", "root=/dev/a root=/dev/b", func(c *Config) { c.Root = "/dev/b" }},
		{"root missing value", "root", func(c *Config) { c.Problems = []string{"root: missing value, ignored"} }},
		{"root empty", "root=", func(c *Config) {}},
		{"rootfstype", "rootfstype=ext4,,xfs", func(c *Config) { c.RootFSTypes = []string{"ext4", "xfs"} }},
		{"rootfstype last wins", "rootfstype=ext4 rootfstype=btrfs", func(c *Config) { c.RootFSTypes = []string{"btrfs"} }},
		{"rootflags joined", "rootflags=subvol=@ rootflags= rootflags=compress=zstd", func(c *Config) { c.RootFlags = "subvol=@,compress=zstd" }},
		{"rw", "rw", func(c *Config) { c.ReadWrite = true }},
		{"ro rw ro", "ro rw ro", func(c *Config) {}},
		{"rw last", "ro rw", func(c *Config) { c.ReadWrite = true }},
		{"rootwait", "rootwait", func(c *Config) { c.RootWait = true }},
		{"rootwait=10", "rootwait=10", func(c *Config) { c.RootWait, c.RootWaitFor = true, 10*time.Second }},
		{"rootwait=0", "rootwait rootwait=0", func(c *Config) {}},
		{"rootwait=bad", "rootwait=abc", func(c *Config) {
			c.RootWait = true
			c.Problems = []string{"rootwait=abc: not a number of seconds, waiting forever"}
		}},
		{"rootwait=N then bare", "rootwait=5 rootwait", func(c *Config) { c.RootWait = true }},
		{"rootdelay", "rootdelay=3", func(c *Config) { c.RootDelay = 3 * time.Second }},
		{"rootdelay bad", "rootdelay=3 rootdelay=abc", func(c *Config) {
			c.RootDelay = 3 * time.Second
			c.Problems = []string{"rootdelay=abc: not a number of seconds, using 3s"}
		}},
		{"rootdelay negative", "rootdelay=-1", func(c *Config) {
			c.Problems = []string{"rootdelay=-1: not a number of seconds, using 0s"}
		}},
		{"rootdelay huge", "rootdelay=99999999999999999999", func(c *Config) {
			c.Problems = []string{"rootdelay=99999999999999999999: not a number of seconds, using 0s"}
		}},
		{"rd.timeout", "rd.timeout=60", func(c *Config) { c.Timeout, c.TimeoutSet = 60*time.Second, true }},
		{"rd.timeout=0", "rd.timeout=0", func(c *Config) { c.Timeout, c.TimeoutSet = 0, true }},
		{"rd.timeout bad", "rd.timeout=x", func(c *Config) {
			c.Problems = []string{"rd.timeout=x: not a number of seconds, using 30s"}
		}},
		{"init", "init=/bin/sh", func(c *Config) { c.Init = "/bin/sh" }},
		{"init args after --", "init=/sbin/init -- single foo=bar root=/x --", func(c *Config) {
			c.Init = "/sbin/init"
			c.InitArgs = []string{"single", "foo=bar", "root=/x", "--"}
		}},
		{"quoted -- is --", `"--" a`, func(c *Config) { c.InitArgs = []string{"a"} }},
		{"-- with value is not --", "--=x a", func(c *Config) { c.InitArgs = []string{"a"} }},
		{"bare words to init", "single 1 emergency s S splash", func(c *Config) {
			c.InitArgs = []string{"single", "1", "emergency", "s", "S", "splash"}
		}},
		{"known bare not to init", "quiet ro rw rootwait debug rd.debug rd.break", func(c *Config) {
			c.Quiet, c.ReadWrite, c.RootWait, c.Debug, c.Break = true, true, true, true, "pre-switch"
		}},
		{"modules_load", "modules_load=a,b rd.modules_load=b,c rd.driver.pre=d modules-load=e", func(c *Config) {
			c.ModulesLoad = []string{"a", "b", "c", "d", "e"}
		}},
		{"blacklist", "module_blacklist=nouveau modprobe.blacklist=a-b,c rd.driver.blacklist=d,nouveau", func(c *Config) {
			c.Blacklist = []string{"nouveau", "a_b", "c", "d"}
		}},
		{"modparams", `virtio-blk.queue_depth=64 ext4.foo="a b" mod.flag mod.x=`, func(c *Config) {
			c.ModParams = map[string][]string{
				"virtio_blk": {"queue_depth=64"},
				"ext4":       {`foo="a b"`},
				"mod":        {"flag", "x="},
			}
		}},
		{"modparams quoted word", `"ext4.foo=a b"`, func(c *Config) {
			c.ModParams = map[string][]string{"ext4": {`foo="a b"`}}
		}},
		{"namespaces not modparams", "systemd.unit=x rd.lvm.lv=a udev.log_level=3 earlyroot.foo=1 modprobe.x=y vconsole.keymap=us", func(c *Config) { c.LVM.LVs = []string{"a"} }},
		{"bad module names ignored", `.x=1 x.=1 a/b.c=1 "a b".c=1`, func(c *Config) {}},
		{"resume", "resume=UUID=1 resume=/dev/sda2", func(c *Config) { c.Resume = "/dev/sda2" }},
		{"mount.usr", "mount.usr=UUID=1 mount.usr=LABEL=usr mount.usrfstype=ext4,xfs mount.usrflags=noatime mount.usrflags=commit=5", func(c *Config) {
			c.Usr, c.UsrFSTypes, c.UsrFlags = "LABEL=usr", []string{"ext4", "xfs"}, "commit=5"
		}},
		{"mount.usr bare", "mount.usr mount.other=1", func(c *Config) { c.Problems = []string{"mount.usr: missing value, ignored"} }},
		{"rd.break values", "rd.break=pre-mount", func(c *Config) { c.Break = "pre-mount" }},
		{"rd.break empty", "rd.break=", func(c *Config) { c.Break = "pre-switch" }},
		{"rd.break dracut hook", "rd.break=pre-udev", func(c *Config) {
			c.Break = "pre-mount"
			c.Problems = []string{"rd.break=pre-udev: unsupported break point, using pre-mount"}
		}},
		{"rd.break garbage", "rd.break=xyz", func(c *Config) {
			c.Break = "pre-switch"
			c.Problems = []string{"rd.break=xyz: unsupported break point, using pre-switch"}
		}},
		{"rd.shell=0", "rd.shell=0", func(c *Config) { c.Shell = false }},
		{"rd.shell=0 then bare", "rd.shell=0 rd.shell", func(c *Config) {}},
		{"rd.shell bad", "rd.shell=0 rd.shell=maybe", func(c *Config) {
			c.Shell = false
			c.Problems = []string{"rd.shell=maybe: not a boolean, using 0"}
		}},
		{"rd.emergency", "rd.emergency=poweroff", func(c *Config) { c.Emergency = "poweroff" }},
		{"rd.emergency bad", "rd.emergency=explode", func(c *Config) {
			c.Problems = []string{"rd.emergency=explode: not reboot, poweroff or halt, using reboot"}
		}},
		{"loglevel", "loglevel=7", func(c *Config) {}},
		{"loglevel bad", "loglevel=7 loglevel=99", func(c *Config) {
			c.Problems = []string{"loglevel=99: not a log level 0-15, ignored"}
		}},
		{"panic", "panic=10", func(c *Config) { c.Panic, c.PanicSet = 10*time.Second, true }},
		{"panic negative", "panic=-1", func(c *Config) { c.Panic, c.PanicSet = -time.Second, true }},
		{"panic bad", "panic=soon", func(c *Config) {
			c.Problems = []string{"panic=soon: not a number of seconds, using 0s"}
		}},
		{"rd.debug=0", "rd.debug rd.debug=0", func(c *Config) {}},
		{"earlyroot.log", "earlyroot.log=kmsg", func(c *Config) { c.LogTarget = "kmsg" }},
		{"earlyroot.log bad", "earlyroot.log=file", func(c *Config) {
			c.Problems = []string{"earlyroot.log=file: not console, kmsg or both, using both"}
		}},
		{"unknown ignored", "console=ttyS0 foo=bar BOOT_IMAGE=/vmlinuz", func(c *Config) {}},
		{"a b=c", `"a b"=c`, func(c *Config) {}},
		{"unterminated quote", `root="abc def quiet`, func(c *Config) { c.Root = "abc def quiet" }},
		{"tabs newlines", "root=/dev/a\tquiet\nrw\n", func(c *Config) { c.Root, c.Quiet, c.ReadWrite = "/dev/a", true, true }},
		{"dash underscore keys", "rd.modules-load=x module-blacklist=y", func(c *Config) {
			c.ModulesLoad, c.Blacklist = []string{"x"}, []string{"y"}
		}},
		{"real debian", realLines[0], func(c *Config) {
			c.Root, c.Quiet = "UUID=3b1e2c1a-8c4d-4f3e-9a57-2d1c0e6f7a11", true
		}},
		{"real fedora", realLines[1], func(c *Config) {
			c.Root, c.Quiet = "/dev/mapper/fedora-root", true
			c.InitArgs = []string{"rhgb"}
			c.LVM.LVs = []string{"fedora/root"}
		}},
		{"real combined", realLines[4], func(c *Config) {
			c.Root, c.RootFlags, c.ReadWrite = "LABEL=my root", "subvol=@,compress=zstd", true
			c.InitArgs = []string{"single", "foo=bar"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := def
			want.Problems = nil
			tt.want(&want)
			got := Parse(tt.line)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got  %+v\n want %+v", tt.line, got, want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Parse("")
	if c.ReadWrite || !c.Shell || c.Emergency != "reboot" ||
		c.LogTarget != "both" || c.Timeout != 30*time.Second || c.TimeoutSet {
		t.Errorf("bad defaults: %+v", c)
	}
}

func TestRootTimeout(t *testing.T) {
	tests := []struct {
		line    string
		d       time.Duration
		forever bool
	}{
		{"", 30 * time.Second, false},
		{"rootwait", 0, true},
		{"rootwait rd.timeout=5", 0, true},
		{"rootwait=7 rd.timeout=5", 7 * time.Second, false},
		{"rootwait=0", 30 * time.Second, false},
		{"rootwait=0 rd.timeout=5", 5 * time.Second, false},
		{"rd.timeout=5", 5 * time.Second, false},
		{"rd.timeout=0", 0, true},
		{"rootwait=bad", 0, true},
		{"rd.timeout=bad", 30 * time.Second, false},
	}
	for _, tt := range tests {
		d, forever := Parse(tt.line).RootTimeout()
		if d != tt.d || forever != tt.forever {
			t.Errorf("%q: RootTimeout() = %v, %v; want %v, %v", tt.line, d, forever, tt.d, tt.forever)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"a b  c", []string{"a", "b", "c"}},
		{`root="LABEL=my root" x`, []string{"root=LABEL=my root", "x"}},
		{`"root=LABEL=my root" x`, []string{"root=LABEL=my root", "x"}},
		{`foo="a b"`, []string{"foo=a b"}},
		{`foo=a"b c"d e`, []string{`foo=a"b c"d`, "e"}},
		{`"a b"=c`, []string{`a b"=c`}},
		{`"quoted word" z`, []string{"quoted word", "z"}},
		{`"`, []string{""}},
		{`""`, []string{""}},
		{`x="`, []string{"x="}},
		{`x=""`, []string{"x="}},
		{`"x="`, []string{"x="}},
		{`=a=b`, []string{"=a=b"}},
		{`"unterminated rest of line`, []string{"unterminated rest of line"}},
		{`a="b c`, []string{"a=b c"}},
		{"a\x00b", []string{"a", "b"}},
		{"-- a", []string{"--", "a"}},
	}
	for _, tt := range tests {
		if got := Split(tt.line); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	got := Params(`a "b=c d" e= =f`)
	want := []Param{
		{Name: "a"},
		{Name: "b", Value: "c d", HasValue: true},
		{Name: "e", HasValue: true},
		{Name: "=f"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Params = %+v, want %+v", got, want)
	}
}

func TestLongValues(t *testing.T) {
	long := strings.Repeat("x", 4096)
	c := Parse("root=" + long + ` ext4.p="` + long + ` y" rootflags=` + long)
	if c.Root != long || c.RootFlags != long {
		t.Errorf("long values not kept")
	}
	if got := c.ModParams["ext4"]; len(got) != 1 || got[0] != `p="`+long+` y"` {
		t.Errorf("long modparam: %.40q", got)
	}
	Parse(strings.Repeat(`"=`, 4096))
	Parse(strings.Repeat("a.b=c,", 4096))
}

func FuzzParse(f *testing.F) {
	for _, l := range realLines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c := Parse(line)
		if c.Break != "" && c.Break != "pre-mount" && c.Break != "pre-switch" {
			t.Fatalf("bad Break %q", c.Break)
		}
		switch c.Emergency {
		case "reboot", "poweroff", "halt":
		default:
			t.Fatalf("bad Emergency %q", c.Emergency)
		}
		switch c.LogTarget {
		case "console", "kmsg", "both":
		default:
			t.Fatalf("bad LogTarget %q", c.LogTarget)
		}
		if c.RootDelay < 0 || c.RootWaitFor < 0 || c.Timeout < 0 {
			t.Fatalf("out of range value: %+v", c)
		}
		for mod := range c.ModParams {
			if mod == "" || strings.Contains(mod, "-") {
				t.Fatalf("bad module name %q", mod)
			}
		}
		c.RootTimeout()
	})
}

func FuzzSplit(f *testing.F) {
	for _, l := range realLines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words := Split(line)
		ps := Params(line)
		if len(words) != len(ps) {
			t.Fatalf("Split and Params disagree: %d vs %d", len(words), len(ps))
		}
		total := 0
		for _, w := range words {
			total += len(w)
		}
		if total > len(line) {
			t.Fatalf("words longer than input: %d > %d", total, len(line))
		}
		// Unquoted words without '"' survive a join/split round trip.
		var plain []string
		for _, w := range words {
			if w != "" && !strings.ContainsAny(w, "\" \t\n\v\f\r\x00") && !strings.HasPrefix(w, "=") {
				plain = append(plain, w)
			}
		}
		if again := Split(strings.Join(plain, " ")); len(plain) > 0 && !reflect.DeepEqual(again, plain) {
			t.Fatalf("round trip %q -> %q", plain, again)
		}
	})
}

func TestBareValueKeys(t *testing.T) {
	c := Parse("rd.timeout rd.emergency earlyroot.log init")
	if len(c.Problems) != 4 || c.InitArgs != nil {
		t.Errorf("problems %q, init args %q", c.Problems, c.InitArgs)
	}
	if c.Problems[0] != "rd.timeout: missing value, ignored" {
		t.Errorf("problem %q", c.Problems[0])
	}
}

func TestManyItems(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		b.WriteString("modules_load=a,b,c rd.driver.blacklist=x-y ")
	}
	c := Parse(b.String())
	if !reflect.DeepEqual(c.ModulesLoad, []string{"a", "b", "c"}) || !reflect.DeepEqual(c.Blacklist, []string{"x_y"}) {
		t.Errorf("got %q %q", c.ModulesLoad, c.Blacklist)
	}
}

func TestPanicDelay(t *testing.T) {
	const def = 30 * time.Second
	tests := []struct {
		line    string
		want    time.Duration
		forever bool
	}{
		{"", def, false},
		{"panic=10", 10 * time.Second, false},
		{"panic=0", 0, true},
		{"panic=-1", 0, false},
		{"panic=-30", 0, false},
		{"panic=soon", def, false},
		{"panic=5 panic=0", 0, true},
	}
	for _, tt := range tests {
		d, forever := Parse(tt.line).PanicDelay(def)
		if d != tt.want || forever != tt.forever {
			t.Errorf("%q: PanicDelay = %v, %v; want %v, %v", tt.line, d, forever, tt.want, tt.forever)
		}
	}
}
