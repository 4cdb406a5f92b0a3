package boot

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/consolefont"
	"github.com/earlyroot/earlyroot/keymap"
)

// consoleFiles puts a keymap named name (table 0: KEY_Y gives z) and, with font, a PSF font
// in the fake image.
func consoleFiles(t *testing.T, f *fakeSystem, name string, km []byte, font bool) {
	t.Helper()
	if km == nil {
		var k keymap.Keymap
		k.Tables[0] = &[keymap.NumKeys]uint16{21: 0x0b7a}
		var err error
		km, err = k.MarshalBinary()
		must(t, err)
	}
	write(t, f.path(keymap.ImageFile), string(km))
	write(t, f.path(keymap.ImageNameFile), name+"\n")
	if font {
		psf := append([]byte{0x36, 0x04, 0, 8}, make([]byte, 256*8)...)
		write(t, f.path(consolefont.ImageFile), string(psf))
	}
}

// consoleLoads records what the boot loaded into the console, failing as told.
type consoleLoads struct {
	mu             sync.Mutex
	keymaps        []*keymap.Keymap
	fonts          []*consolefont.Font
	keyErr, fonErr error
	delay          time.Duration // a slow console: the load returns after this long
}

func (c *consoleLoads) hook(sys *System) {
	sys.LoadKeymap = func(k *keymap.Keymap) error {
		time.Sleep(c.delay)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.keymaps = append(c.keymaps, k)
		return c.keyErr
	}
	sys.LoadFont = func(f *consolefont.Font) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fonts = append(c.fonts, f)
		return c.fonErr
	}
}

// The image's keymap and font are loaded before the passphrase prompt, which names the
// keymap; a keymap or font the kernel refuses, or a damaged file, is a warning and the
// prompt names the keymap in force.
func TestConsoleKeymapBeforePrompt(t *testing.T) {
	for _, tc := range []struct {
		name           string
		km             []byte // nil: a good keymap
		font           bool
		keyErr, fonErr error
		prompt         string // the keymap the prompt names
		logs           []string
		loads          int // keymaps handed to the kernel
	}{
		{name: "loaded", font: true, prompt: "de", loads: 1,
			logs: []string{"console: keymap de loaded (1 tables)", "console: font loaded (256 glyphs of 8x8)", "luks " + "%DEV%" + ": a passphrase is needed (keymap de)"}},
		{name: "no console", keyErr: &keymap.LoadError{Refused: 1, First: unix.ENOTTY}, prompt: "us", loads: 1,
			logs: []string{"<4>earlyroot: console: keymap de: keymap: KDSKBENT: 1 of 1 entries refused"}},
		{name: "partly refused", keyErr: &keymap.LoadError{Set: 100, Refused: 28, First: unix.EINVAL}, prompt: "de", loads: 1,
			logs: []string{"<4>earlyroot: console: keymap de: keymap: KDSKBENT: 28 of 128 entries refused"}},
		{name: "damaged keymap", km: []byte("bkeymap\x01"), prompt: "us",
			logs: []string{"<4>earlyroot: console: keymap de: keymap: truncated table flags"}},
		{name: "font refused", font: true, fonErr: errors.New("/dev/tty0: font: KDFONTOP: invalid argument"), prompt: "de", loads: 1,
			logs: []string{"<4>earlyroot: console: font: /dev/tty0: font: KDFONTOP: invalid argument"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, sys := luksSystem(t, "root=UUID="+ext4UUID)
			consoleFiles(t, f, "de", tc.km, tc.font)
			loads := &consoleLoads{keyErr: tc.keyErr, fonErr: tc.fonErr, delay: 200 * time.Millisecond}
			loads.hook(&sys)
			var loadedAtPrompt int
			f.in.add(func() {
				loads.mu.Lock()
				loadedAtPrompt = len(loads.keymaps)
				loads.mu.Unlock()
			}, luksPass+"\n")
			runSys(sys)
			out := f.output()
			contains(t, out, "Passphrase for "+f.path("dev/vda")+" (luks-"+luksUUID+") [keymap: "+tc.prompt+"]: ", "switching to /sbin/init")
			for _, l := range tc.logs {
				contains(t, out, strings.ReplaceAll(l, "%DEV%", f.path("dev/vda")))
			}
			if len(loads.keymaps) != tc.loads || loadedAtPrompt != tc.loads {
				t.Errorf("%d keymaps loaded, %d before the prompt; want %d", len(loads.keymaps), loadedAtPrompt, tc.loads)
			}
			if tc.loads > 0 && loads.keymaps[0].Tables[0][21] != 0x0b7a {
				t.Errorf("the keymap loaded is not the image's")
			}
			if tc.font && (len(loads.fonts) != 1 || loads.fonts[0].Height != 8) {
				t.Errorf("fonts loaded: %d", len(loads.fonts))
			}
		})
	}
}

// Without console files nothing is loaded and the prompt names the kernel's keymap; the
// rescue shell waits for the keymap too.
func TestConsoleNone(t *testing.T) {
	f, _, sys := luksSystem(t, "root=UUID="+ext4UUID)
	loads := &consoleLoads{}
	loads.hook(&sys)
	f.in.add(luksPass + "\n")
	runSys(sys)
	contains(t, f.output(), "[keymap: us]: ")
	if len(loads.keymaps)+len(loads.fonts) != 0 {
		t.Errorf("loaded %d keymaps, %d fonts from an image without", len(loads.keymaps), len(loads.fonts))
	}
	if _, err := os.Stat(f.path(keymap.ImageFile)); err == nil {
		t.Fatal("the fake image has a keymap")
	}
}

func TestConsoleBeforeRescueShell(t *testing.T) {
	f := newFakeSystem(t, "rd.break=pre-mount root=UUID="+ext4UUID)
	f.coldplug("vda", "ext4")
	consoleFiles(t, f, "de", nil, false)
	sys := f.system()
	loads := &consoleLoads{delay: 200 * time.Millisecond}
	loads.hook(&sys)
	var atShell int
	f.in.add(func() {
		loads.mu.Lock()
		atShell = len(loads.keymaps)
		loads.mu.Unlock()
	}, "continue\n")
	New(sys).Run()
	if f.switched == nil {
		t.Errorf("no switch_root after continue:\n%s", f.output())
	}
	if atShell != 1 {
		t.Errorf("%d keymaps loaded when the shell read its first line, want 1", atShell)
	}
}
