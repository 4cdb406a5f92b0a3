package boot

import (
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// A German keyboard types the passphrase at the prompt through the image's keymap. The keys
// are QEMU key events on the emulated PS/2 keyboard, which reach the virtual console
// (console=tty0 makes it /dev/console, where the prompt is; the serial line, which does not
// go through a keymap, still shows the kernel's log). They are the keys a German typist
// presses for builder.Passphrase: the key that is z on a US keyboard for y, and / for -.
// With the image's de keymap they type the passphrase and the volume opens; with the
// kernel's US keymap the same keys type "earlzroot/test/passphrase" and it does not.
func TestKeymap(t *testing.T) {
	german := strings.NewReplacer("y", "z", "z", "y", "-", "/").Replace(builder.Passphrase)
	if german == builder.Passphrase {
		t.Fatalf("the passphrase %q types the same on both layouts: the test could not fail", german)
	}
	s := builder.Disk(t, "luks2-pbkdf2")
	for _, tc := range []struct {
		name   string
		flags  []string // mkinitramfs flags; none: the generic image, without keymap
		keymap string   // the keymap the log names
		want   []string // log lines expected, in order
	}{
		{"de", []string{"-keymap", "de", "-font", "Lat15-Fixed16"}, "de",
			[]string{`keyslot 0 opened`, `switching to /sbin/init`}},
		{"us", nil, "us",
			[]string{`boot failed: .*no keyslot matched the passphrase \(1 tries\)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := tb.generic(t)
			if tc.flags != nil {
				img = tb.image(t, "keymap-"+tc.name, tc.flags...)
			}
			v := bootVM(t, vm.Config{Initrd: img, Drives: s.Drives(t), Monitor: true,
				Append:    luksAppend(s.Recipe, "rd.luks.options=tries=1") + " ro console=ttyS0 console=tty0",
				ExtraArgs: []string{"-device", "VGA"}}) // a VGA text console takes a font
			if tc.flags != nil {
				t.Log(expect(t, v, `console: keymap de loaded \(\d+ tables\)`, bootTimeout))
				t.Log(expect(t, v, `console: font loaded \(256 glyphs of 8x16\)`, bootTimeout))
			}
			expect(t, v, `luks /dev/vda: a passphrase is needed \(keymap `+tc.keymap+`\)`, unlockWait)
			time.Sleep(time.Second) // keys typed before the prompt reads would wait in the tty anyway
			if err := v.TypeUS(german + "\n"); err != nil {
				t.Fatal(err)
			}
			for _, re := range tc.want {
				expect(t, v, re, unlockWait)
			}
			if strings.Contains(v.Output(), "console: keymap de: ") || strings.Contains(v.Output(), "console: font: ") {
				t.Errorf("the console setup failed:\n%s", v.Tail(40))
			}
		})
	}
}
