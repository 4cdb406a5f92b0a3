package modload

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/earlyroot/earlyroot/cmdline"
)

// TestOptionsOneSource feeds the same /proc/cmdline to PID 1's path (package cmdline's Config
// handed to SystemOptions) and to the modprobe personality's (the file read by modprobe), over
// the same modprobe.d files, and checks that both loaders get the same parameter strings and
// blacklist, and the expected ones.
func TestOptionsOneSource(t *testing.T) {
	const conf = "options virtio_blk queue_depth=8 extra=1\nblacklist pcspkr\n"
	cases := []struct {
		name, line string
		params     map[string]string // module -> kernel parameter string
		blacklist  []string          // besides pcspkr from modprobe.d
	}{
		{
			name:   "module parameters",
			line:   `root=/dev/vda ro e1000e.InterruptThrottleRate=3000 mod.flag`,
			params: map[string]string{"e1000e": "InterruptThrottleRate=3000", "mod": "flag"},
		},
		{
			name: "user-space prefixes are not modules",
			line: `rd.luks.uuid=1 rd.lvm=0 systemd.unit=rescue.target earlyroot.log=kmsg udev.log_level=3 rd.driver.pre=x`,
		},
		{
			name:      "the three blacklists, accumulated",
			line:      `module_blacklist=a,b-c modprobe.blacklist=d rd.driver.blacklist=e-f,a`,
			blacklist: []string{"a", "b_c", "d", "e_f"},
		},
		{
			name:      "dash and underscore alike",
			line:      `virtio-blk.queue_depth=64 snd-hda-intel.power_save=1 rd.driver.blacklist=snd-pcsp`,
			params:    map[string]string{"virtio_blk": "queue_depth=64 extra=1", "snd_hda_intel": "power_save=1"},
			blacklist: []string{"snd_pcsp"},
		},
		{
			name:   "last value wins, over modprobe.d and over an earlier word",
			line:   `virtio_blk.queue_depth=32 virtio-blk.queue-depth=16 virtio_blk.extra=2`,
			params: map[string]string{"virtio_blk": "queue-depth=16 extra=2"},
		},
		{
			name:   "quoted values",
			line:   `"e1000e.name=a b" ext4.opt="x y" plain.v="z"`,
			params: map[string]string{"e1000e": `name="a b"`, "ext4": `opt="x y"`, "plain": "v=z"},
		},
		{
			name: "words after -- belong to init",
			line: `quiet -- x.y=z modprobe.blacklist=w`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			moddir := writeTree(t, treeOpts{image: true})
			root := filepath.Clean(filepath.Join(moddir, "..", "..", ".."))
			writeFile(t, filepath.Join(root, "lib", "modprobe.d", "a.conf"), []byte(conf))
			proc := filepath.Join(root, "proc", "cmdline")
			writeFile(t, proc, []byte(c.line+"\n"))

			opt, err := SystemOptions(root, cmdline.Parse(c.line))
			if err != nil {
				t.Fatal(err)
			}
			pid1 := NewLoader(nil, moddir, opt)

			var personality *Loader
			var stderr bytes.Buffer
			modprobe([]string{"modprobe", "-q", "nonesuch"}, modprobeEnv{
				moddir: moddir, root: root, cmdline: proc, stderr: &stderr,
				setup: func(l *Loader) { personality = l },
			})
			if personality == nil {
				t.Fatalf("modprobe made no loader: %s", stderr.String())
			}

			want := map[string]string{"virtio_blk": "queue_depth=8 extra=1"}
			maps.Copy(want, c.params)
			wantBL := append([]string{"pcspkr"}, c.blacklist...)
			slices.Sort(wantBL)
			for who, l := range map[string]*Loader{"pid 1": pid1, "modprobe": personality} {
				if !maps.Equal(l.params, want) {
					t.Errorf("%s: params %q, want %q", who, l.params, want)
				}
				if got := slices.Sorted(maps.Keys(l.blacklist)); !slices.Equal(got, wantBL) {
					t.Errorf("%s: blacklist %q, want %q", who, got, wantBL)
				}
			}
		})
	}
}

func TestConfDirs(t *testing.T) {
	want := []string{"/r/etc/modprobe.d", "/r/run/modprobe.d", "/r/lib/modprobe.d", "/r/usr/lib/modprobe.d"}
	if got := confDirs("/r"); !slices.Equal(got, want) {
		t.Errorf("confDirs = %q, want %q", got, want)
	}
}
