package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// unlockWait is how long a passphrase prompt may take to appear, and a key derivation under
// TCG to finish.
const unlockWait = 120 * time.Second

// A LUKS root made by cryptsetup opens through the generic image: the passphrase typed at
// the console (or a key file on another disk), dm-crypt with the key in the keyring, and the
// root found inside by its filesystem UUID or its /dev/mapper name. The boot is read-only,
// and leaves the disks (the LUKS header above all) unchanged.
func TestLUKS(t *testing.T) {
	cases := []struct {
		name   string
		recipe string
		append string // after root=UUID=<the filesystem inside> unless it has a root=
		typed  []string
		expect []string // console lines expected on the way
		module string   // a module the kernel asked for on demand
		qemu   []string // further QEMU arguments
		before []string // console lines that must come before the passphrase is typed
		// helper: the kernel may start the modprobe helper (serpent's SSE2 implementation is
		// wrapped by cryptd and simd, which the init does not load ahead); for aes-xts the
		// init loads every module and builds the transforms with the requests off.
		helper bool
	}{
		{name: "luks2-argon2id", recipe: "luks2-argon2id", typed: []string{builder.Passphrase},
			expect: []string{`keyslot 0 opened`, `opened as /dev/mapper/luks-`}},
		{name: "wrong-then-right", recipe: "luks2-pbkdf2", typed: []string{"not-the-passphrase", builder.Passphrase},
			expect: []string{`no keyslot matched the passphrase; 2 of 3 tries left`, `keyslot 0 opened`}},
		{name: "luks1", recipe: "luks1", typed: []string{builder.Passphrase}},
		{name: "keyslot3", recipe: "luks2-keyslot3", typed: []string{builder.Passphrase},
			expect: []string{`keyslot 3 opened`}},
		{name: "serpent", recipe: "luks2-serpent", typed: []string{builder.Passphrase}, module: "serpent_generic", helper: true},
		{name: "keyfile-on-disk", recipe: "luks2-keyfile", append: "rd.luks.key=" + builder.KeyfileName + ":UUID={KEY_UUID}",
			expect: []string{`unlocked with the key file`, `keyslot 0 opened`}},
		{name: "mapper-name", recipe: "luks2-pbkdf2", append: "rd.luks.name={LUKS_UUID}=cryptroot root=/dev/mapper/cryptroot",
			typed: []string{builder.Passphrase}, expect: []string{`opened as /dev/mapper/cryptroot`, `root=/dev/mapper/cryptroot is /dev/dm-0`}},
		// A USB keyboard gets its drivers while the prompt waits (the generic image carries
		// them): the passphrase of a desktop's encrypted root is typed on one. hid_generic
		// binds the keyboard's HID device, which usbhid makes.
		{name: "usb-keyboard", recipe: "luks2-pbkdf2", append: "rd.debug", typed: []string{builder.Passphrase},
			qemu:   []string{"-device", "qemu-xhci,id=xhci", "-device", "usb-kbd,bus=xhci.0"},
			before: []string{`loaded hid_generic \(hid:b0003g0001`}, module: "usbhid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := builder.Disk(t, tc.recipe)
			drives := s.Drives(t)
			v := bootVM(t, vm.Config{Drives: drives, Append: luksAppend(s.Recipe, tc.append) + " ro", ExtraArgs: tc.qemu})
			for _, pass := range tc.typed {
				expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
				for _, re := range tc.before {
					expect(t, v, re, unlockWait)
				}
				send(t, v, pass)
			}
			f := facts(t, v)
			bootedOn(t, f, "/dev/dm-0", "ext4")
			for _, pass := range tc.typed {
				if strings.Contains(v.Output(), pass) { // rd.debug included (usb-keyboard)
					t.Errorf("the console shows the typed passphrase %q", pass)
				}
			}
			if !tc.helper {
				noModprobeStarts(t, v)
			}
			if tc.module != "" && !hasOption(f.Extra["modules"], tc.module) {
				t.Errorf("modules loaded %q lack %s", f.Extra["modules"], tc.module)
			}
			for _, re := range tc.expect {
				if !regexp.MustCompile(re).MatchString(v.Output()) {
					t.Errorf("the console lacks %q", re)
				}
			}
			exited(t, v, factsTimeout)
			unchanged(t, s, drives)
		})
	}
}

// Three wrong passphrases end in the rescue shell with the reason; `unlock` there opens the
// device, whose table holds the keyring reference and the discard flag but no key, and
// `continue` boots.
func TestLUKSRescueUnlock(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "luks2-pbkdf2")
	v := bootVM(t, vm.Config{Drives: s.Drives(t), Append: luksAppend(s.Recipe, "rd.luks.options=discard")})
	for i := 0; i < 3; i++ {
		expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
		send(t, v, "wrong-"+string(rune('a'+i)))
	}
	expect(t, v, `the boot stopped: .*no keyslot matched the passphrase \(3 tries\)`, unlockWait)
	expect(t, v, `/dev/vda UUID=`+s.Recipe.LUKSUUID+`: failed: no keyslot matched`, 20*time.Second)
	expect(t, v, `earlyroot# `, 20*time.Second)
	send(t, v, "unlock /dev/vda cryptroot")
	expect(t, v, `Passphrase for /dev/vda \(cryptroot\)`, 20*time.Second)
	send(t, v, builder.Passphrase)
	expect(t, v, `(^|# )/dev/vda opened as /dev/mapper/cryptroot \(/dev/dm-0\)`, unlockWait)

	send(t, v, "dmtable")
	line := expect(t, v, `(^|# )cryptroot: 0 \d+ crypt `, 20*time.Second)
	key := regexp.MustCompile(`crypt aes-xts-plain64 :64:logon:cryptsetup:` + s.Recipe.LUKSUUID + `-d0 0 \d+:\d+ \d+ \d+ (.* )?allow_discards`)
	if !key.MatchString(line) {
		t.Errorf("table %q: want the keyring reference and allow_discards (%s)", line, key)
	}
	if regexp.MustCompile(`[0-9a-f]{64}`).MatchString(line) {
		t.Errorf("table %q holds something like a key", line)
	}
	send(t, v, "cat /sys/block/dm-0/queue/discard_max_bytes")
	expect(t, v, `(^|# )[1-9]\d*\s*$`, 20*time.Second)
	send(t, v, "continue")
	bootedOn(t, facts(t, v), "/dev/dm-0", "ext4")
}

// A key file put in the image with mkinitramfs -file opens the volume (rd.luks.key= naming its
// path in the image) with no prompt and no key disk attached.
func TestLUKSKeyfileInImage(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "luks2-keyfile")
	drives := s.Drives(t)
	key := filepath.Join(t.TempDir(), "luks.key")
	if err := os.WriteFile(key, []byte(builder.KeyfileContent), 0o400); err != nil {
		t.Fatal(err)
	}
	const inImage = "/etc/keys/root.key"
	img := tb.image(t, "keyfile-in-image", "-file", key+":"+inImage)
	// The LUKS volume only: the key disk stays out.
	v := bootVM(t, vm.Config{Drives: drives[:1], Initrd: img, Append: luksAppend(s.Recipe, "rd.luks.key="+inImage) + " ro"})
	unlockedByKey(t, v, s, drives, `unlocked with the key file`, `keyslot 0 opened`)
}

// unlockedByKey checks a boot that needs no passphrase: the root is the filesystem in the
// LUKS volume, the console shows each of logs, no passphrase was asked for, and the disks
// are as the builder made them.
func unlockedByKey(t *testing.T, v *vm.VM, s *builder.Set, drives []vm.Drive, logs ...string) {
	t.Helper()
	bootedOn(t, facts(t, v), "/dev/dm-0", "ext4")
	for _, re := range logs {
		if !regexp.MustCompile(re).MatchString(v.Output()) {
			t.Errorf("the console lacks %q", re)
		}
	}
	if strings.Contains(v.Output(), "Passphrase for") {
		t.Errorf("a passphrase was asked for although the image holds the key")
	}
	exited(t, v, factsTimeout)
	unchanged(t, s, drives)
}

// A host-only image built on a (recorded) machine whose /etc/crypttab marks the volume
// x-initrd.attach with a key file carries that line and the key file, and the crypto modules
// the volume's LUKS header names (read through -devdir's /dev/disk/by-uuid link): the volume
// opens under the crypttab's name, with the key, without a prompt.
func TestLUKSHostOnlyCrypttab(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "luks2-keyfile")
	drives := s.Drives(t)
	dir := t.TempDir()
	for p, content := range map[string]string{
		"sys/devices/pci0000:00/0000:00:04.0/modalias":         "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n",
		"sys/devices/pci0000:00/0000:00:04.0/virtio1/modalias": "virtio:d00000002v00001AF4\n",
		"mounts":                 "/dev/vdz1 / ext4 rw 0 0\n",
		"root/etc/crypttab":      "cryptroot UUID=" + s.Recipe.LUKSUUID + " /etc/keys/root.key luks,x-initrd.attach\n",
		"root/etc/keys/root.key": builder.KeyfileContent,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "dev/disk/by-uuid", s.Recipe.LUKSUUID)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(drives[0].Path, link); err != nil {
		t.Fatal(err)
	}
	img := tb.image(t, "hostonly-crypttab", "-hostonly", "-microcode=false", "-sysfs", filepath.Join(dir, "sys"),
		"-mounts", filepath.Join(dir, "mounts"), "-root", filepath.Join(dir, "root"), "-devdir", filepath.Join(dir, "dev"),
		"-cmdline", filepath.Join(dir, "no-cmdline"))
	v := bootVM(t, vm.Config{Drives: drives[:1], Initrd: img, Append: luksAppend(s.Recipe, "") + " ro"})
	unlockedByKey(t, v, s, drives, `unlocked with the key file /etc/keys/root.key`, `opened as /dev/mapper/cryptroot`)
}

// A LUKS2 layout earlyroot does not open is refused before any passphrase is asked for, with
// an "unsupported: …" reason and the rescue shell: authenticated encryption (dm-integrity),
// and a reencryption in progress (started by the host's cryptsetup on a copy of a disk the
// builder made). The disk stays as it was.
func TestLUKSUnsupported(t *testing.T) {
	cases := []struct {
		name, recipe string
		prepare      []string // host cryptsetup arguments run on the copy of the LUKS disk before the boot
		reason       string
	}{
		{name: "integrity", recipe: "luks2-integrity",
			reason: `unsupported: segment 0 uses dm-integrity/AEAD \(integrity "hmac\(sha256\)"\)`},
		{name: "reencryption", recipe: "luks2-pbkdf2",
			prepare: []string{"reencrypt", "--init-only", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"},
			reason:  `unsupported: reencryption in progress \(requirement "online-reencrypt-v2"\)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := builder.Disk(t, tc.recipe)
			drives := s.Drives(t)
			if tc.prepare != nil {
				hostCryptsetup(t, append(tc.prepare, "--key-file", passFile(t), drives[0].Path)...)
			}
			before := fileSum(t, drives[0].Path)
			v := bootVM(t, vm.Config{Drives: drives, Append: luksAppend(s.Recipe, "") + " ro"})
			expect(t, v, `the boot stopped: .*`+tc.reason, unlockWait)
			expect(t, v, `earlyroot# `, 20*time.Second)
			if strings.Contains(v.Output(), "Passphrase for") {
				t.Error("a passphrase was asked for a volume that cannot be opened")
			}
			send(t, v, "dmtable")
			send(t, v, "echo tables-listed")
			expect(t, v, `(^|# )tables-listed`, 20*time.Second)
			if regexp.MustCompile(`(^|# )\S+: 0 \d+ crypt `).MatchString(v.Output()) {
				t.Error("a dm-crypt mapping was made")
			}
			v.Kill() // QEMU no longer holds the disk
			if tc.prepare == nil {
				unchanged(t, s, drives)
			} else if after := fileSum(t, drives[0].Path); after != before {
				t.Error("the boot changed the disk")
			}
		})
	}
}

// A LUKS2 header carrying a token (systemd-tpm2, imported by the host's cryptsetup into a copy
// of a disk the builder made) is reported, with a line saying the passphrase is asked for
// instead, and the passphrase opens the volume.
func TestLUKSToken(t *testing.T) {
	t.Parallel()
	s := builder.Disk(t, "luks2-pbkdf2")
	drives := s.Drives(t)
	tok := filepath.Join(t.TempDir(), "token.json")
	json := `{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"AAAA","tpm2-pcrs":[7],"tpm2-pcr-bank":"sha256",` +
		`"tpm2-policy-hash":"` + strings.Repeat("0", 64) + `","tpm2-pin":false}`
	if err := os.WriteFile(tok, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	hostCryptsetup(t, "token", "import", "--token-id", "0", "--json-file", tok, drives[0].Path)
	v := bootVM(t, vm.Config{Drives: drives, Append: luksAppend(s.Recipe, "") + " ro"})
	expect(t, v, `tokens 0 systemd-tpm2 \(keyslots 0\)`, unlockWait)
	expect(t, v, `token 0 \(systemd-tpm2\) not supported yet: asking for the passphrase`, unlockWait)
	expect(t, v, `Passphrase for /dev/vda \(`, unlockWait)
	send(t, v, builder.Passphrase)
	f := facts(t, v)
	bootedOn(t, f, "/dev/dm-0", "ext4")
	if !strings.Contains(v.Output(), "keyslot 0 opened") {
		t.Error("the console lacks keyslot 0 opened")
	}
	exited(t, v, factsTimeout)
}

// hostCryptsetup runs the host's cryptsetup (on a disk image file: no device-mapper needed),
// skipping visibly when it is not installed.
func hostCryptsetup(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("cryptsetup")
	if err != nil {
		t.Skip("cryptsetup not on PATH (make deps installs cryptsetup-bin): this test alters a builder disk with it")
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("cryptsetup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// passFile is a key file holding builder.Passphrase.
func passFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(p, []byte(builder.Passphrase), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// luksAppend is the command line of a boot of recipe r: root=UUID= of the filesystem inside
// unless extra names a root, with {LUKS_UUID} and {KEY_UUID} filled in.
func luksAppend(r builder.Recipe, extra string) string {
	extra = strings.NewReplacer("{LUKS_UUID}", r.LUKSUUID, "{KEY_UUID}", r.KeyUUID).Replace(extra)
	if strings.Contains(extra, "root=") {
		return extra
	}
	return strings.TrimSpace("root=UUID=" + r.RootUUID + " " + extra)
}
