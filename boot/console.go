package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/askpass"
	"github.com/earlyroot/earlyroot/consolefont"
	"github.com/earlyroot/earlyroot/keymap"
)

// consoleState is the image's console keymap and font. They are loaded in the background
// from setup on (a keymap is thousands of ioctls); whatever reads the keyboard (a passphrase
// prompt, the rescue shell) waits for them first.
type consoleState struct {
	ready  chan struct{} // closed once the keymap and font are loaded, or failed to
	keymap string        // the keymap in force once ready
}

// startConsole starts loading the image's keymap and font (keymap.ImageFile,
// consolefont.ImageFile below ModRoot). A failure is a warning: the console keeps the
// kernel's keymap and font.
func (b *Boot) startConsole() {
	b.console = consoleState{ready: make(chan struct{}), keymap: askpass.DefaultKeymap}
	b.goSafe(func() {
		defer close(b.console.ready)
		if name, ok := b.loadKeymap(); ok {
			b.console.keymap = name
		}
		b.loadFont()
	})
}

// keymapName waits until the console is set up and returns the name of its keymap.
func (b *Boot) keymapName() string {
	if b.console.ready == nil { // setup did not get that far
		return askpass.DefaultKeymap
	}
	<-b.console.ready
	return b.console.keymap
}

// loadKeymap loads the image's keymap, if it has one, and reports its name and whether it
// is in force.
func (b *Boot) loadKeymap() (string, bool) {
	data, err := os.ReadFile(filepath.Join(b.sys.ModRoot, keymap.ImageFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	nameData, _ := os.ReadFile(filepath.Join(b.sys.ModRoot, keymap.ImageNameFile))
	name := strings.TrimSpace(string(nameData))
	if name == "" {
		name = "unnamed"
	}
	if err != nil {
		b.log.Warnf("console: keymap %s: %v", name, err)
		return "", false
	}
	k, err := keymap.Parse(data)
	if err != nil {
		b.log.Warnf("console: keymap %s: %v", name, err)
		return "", false
	}
	start := b.sys.Now()
	if err := b.sys.LoadKeymap(k); err != nil {
		b.log.Warnf("console: keymap %s: %v", name, err)
		// Only a keymap of which nothing was set leaves the kernel's in force.
		var le *keymap.LoadError
		return name, errors.As(err, &le) && le.Set > 0
	}
	b.log.Infof("console: keymap %s loaded (%d tables) in %v", name, k.Count(), b.sys.Now().Sub(start).Round(time.Millisecond))
	return name, true
}

// loadFont loads the image's console font, if it has one.
func (b *Boot) loadFont() {
	data, err := os.ReadFile(filepath.Join(b.sys.ModRoot, consolefont.ImageFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f *consolefont.Font
	if err == nil {
		f, err = consolefont.Parse(data)
	}
	if err == nil {
		err = b.sys.LoadFont(f)
	}
	if err != nil {
		b.log.Warnf("console: font: %v", err)
		return
	}
	b.log.Infof("console: font loaded (%d glyphs of %dx%d)", f.Count(), f.Width, f.Height)
}

// consoleDevice is the virtual console the keymap and font are loaded through: the one in
// the foreground. The keymap is shared by every console.
const consoleDevice = "/dev/tty0"

// onConsole runs load on an open consoleDevice.
func onConsole(load func(fd int) error) error {
	fd, err := unix.Open(consoleDevice, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", consoleDevice, err)
	}
	defer unix.Close(fd)
	if err := load(fd); err != nil {
		return fmt.Errorf("%s: %w", consoleDevice, err)
	}
	return nil
}
