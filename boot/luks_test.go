package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/earlyroot/earlyroot/luks"
	"github.com/earlyroot/earlyroot/uevent"
)

// luksUUID is the UUID of luks/testdata/luks2-xts.img.gz, whose passphrase is luksPass.
const (
	luksUUID = "e278162e-001d-4df1-96e3-3337fe97bdf6"
	luksPass = "earlyroot"
)

// fakeDM is a device-mapper for the fake system: Create records the call and makes dm-0
// appear holding the ext4 fixture, as the kernel announces a resumed device.
type fakeDM struct {
	f       *fakeSystem
	mu      sync.Mutex
	created []string // "NAME UUID KEYDESC KEYLEN | TABLE"
}

func (d *fakeDM) create(name, uuid string, ro bool, table []dm.Target, keyDesc string, key []byte) (dm.Device, error) {
	var lines []string
	for _, t := range table {
		lines = append(lines, t.String())
	}
	d.mu.Lock()
	d.created = append(d.created, fmt.Sprintf("%s %s %s %d | %s", name, uuid, keyDesc, len(key), strings.Join(lines, "; ")))
	d.mu.Unlock()
	dir := d.f.path("sys/block/dm-0/dm")
	must(d.f.t, os.MkdirAll(dir, 0o755))
	write(d.f.t, filepath.Join(dir, "name"), name+"\n")
	write(d.f.t, filepath.Join(dir, "uuid"), uuid+"\n")
	d.f.plug("dm-0", "ext4")
	return dm.Device{Name: name, UUID: uuid, Major: 253, Minor: 0}, nil
}

// luksSystem is a fake system whose discovery finds the LUKS fixture as vda (before any
// other device), with a fake device-mapper.
func luksSystem(t *testing.T, cmdline string) (*fakeSystem, *fakeDM, System) {
	t.Helper()
	f := newFakeSystem(t, cmdline)
	fd := &fakeDM{f: f}
	data, err := fixture.Gunzip(filepath.Join("..", "luks", "testdata", "luks2-xts.img.gz"))
	must(t, err)
	sys := f.system()
	sys.DMCreate = fd.create
	sys.Discover = func(sysDir string, handle func(uevent.Event)) (Discovery, error) {
		d, err := f.discover(sysDir, handle)
		plugImage(f, "vda", data, 20<<20)
		return d, err
	}
	return f, fd, sys
}

// plugImage makes dev/NAME hold data, extended to size bytes, and announces it.
func plugImage(f *fakeSystem, name string, data []byte, size int64) {
	path := f.path("dev/" + name)
	write(f.t, path, string(data))
	must(f.t, os.Truncate(path, size))
	devpath := "/devices/virtual/block/" + name
	write(f.t, f.path("sys"+devpath+"/size"), fmt.Sprint(size/512))
	ev, err := uevent.Parse([]byte("add@" + devpath + "\x00ACTION=add\x00DEVPATH=" + devpath +
		"\x00SUBSYSTEM=block\x00MAJOR=254\x00MINOR=0\x00DEVNAME=" + name + "\x00DEVTYPE=disk\x00SEQNUM=1\x00"))
	must(f.t, err)
	f.handle(ev)
}

// runSys runs a boot whose LUKS keyslots open with luksPass. Without AF_ALG on the host
// the keyslot decryption is a test double giving an empty key (the QEMU tests use the
// kernel's); with it, the real one.
func runSys(sys System) *Boot {
	b := New(sys)
	if !hostHasAFALG() {
		b.crypt.unlock = func(_ *luks.Header, pass []byte) (*luks.VolumeKey, int, error) {
			if string(pass) != luksPass {
				return nil, 0, luks.ErrNoKeyslotMatched
			}
			return &luks.VolumeKey{}, 0, nil
		}
	}
	b.Run()
	return b
}

func hostHasAFALG() bool {
	fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// With no rd.luks.* the LUKS device is asked for, since the root is not there; a wrong
// passphrase is retried, the mapping gets cryptsetup's name and uuid, a table with the
// keyring reference and the options, the /dev/mapper link and a udev record, and the root
// is found inside by its filesystem UUID. The passphrase typed reaches neither the console
// nor the log, at any level.
func TestLUKSAskWhenRootMissing(t *testing.T) {
	const wrong = "wrong-Pass-7f3c" // luksPass is also the project's name: this one can be looked for
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" rd.luks.options=discard rd.debug")
	f.in.add(wrong+"\n", luksPass+"\n")
	b := runSys(sys)
	out := f.output()
	contains(t, out,
		"Passphrase for "+f.path("dev/vda")+" (luks-"+luksUUID+") [keymap: us]: ",
		"no keyslot matched the passphrase; 2 of 3 tries left",
		"keyslot 0 opened",
		"opened as /dev/mapper/luks-"+luksUUID+" (dm-0)",
		"switching to /sbin/init")
	if f.switched == nil || len(f.mounts) != 1 || !strings.HasPrefix(f.mounts[0], f.path("dev/dm-0")+" ") {
		t.Fatalf("switched %v, mounts %q", f.switched != nil, f.mounts)
	}
	uuid := "CRYPT-LUKS2-" + strings.ReplaceAll(luksUUID, "-", "") + "-luks-" + luksUUID
	desc := "cryptsetup:" + luksUUID + "-d0"
	keyLen := 32
	if !hostHasAFALG() {
		keyLen = 0 // the test double's empty key
	}
	want := fmt.Sprintf("luks-%s %s %s %d | 0 8192 crypt aes-xts-plain64 :32:logon:%s 0 254:0 32768 2 allow_discards sector_size:4096", luksUUID, uuid, desc, keyLen, desc)
	if len(fd.created) != 1 || fd.created[0] != want {
		t.Errorf("dm created %q\nwant %q", fd.created, want)
	}
	if l, err := os.Readlink(f.path("dev/mapper/luks-" + luksUUID)); err != nil || l != "../dm-0" {
		t.Errorf("/dev/mapper link: %q, %v", l, err)
	}
	if _, err := os.Stat(f.path("run/udev/data/b253:0")); err != nil {
		t.Errorf("udev record: %v", err)
	}
	for what, text := range map[string]string{"console": out, "log": string(b.log.History()), "dm table": strings.Join(fd.created, "\n")} {
		if strings.Contains(text, wrong) {
			t.Errorf("the passphrase typed is in the %s:\n%s", what, text)
		}
	}
}

// Three wrong passphrases end the wait for the root with the reason and a diagnosis listing
// the device; `unlock` in the rescue shell opens it under another name, and `continue` boots.
func TestLUKSRescueUnlock(t *testing.T) {
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID)
	f.in.add("a\n", "b\n", "c\n", "unlock /dev/vda cryptroot\n", luksPass+"\n", "continue\n")
	b := runSys(sys)
	contains(t, f.output(),
		"no keyslot matched the passphrase; 1 of 3 tries left",
		"boot failed: waiting for root device root=UUID="+ext4UUID+": luks "+f.path("dev/vda")+": no keyslot matched the passphrase (3 tries)",
		"encrypted devices (LUKS):",
		f.path("dev/vda")+" UUID="+luksUUID+": failed: no keyslot matched the passphrase (3 tries)",
		"earlyroot# ",
		"Passphrase for "+f.path("dev/vda")+" (cryptroot)",
		f.path("dev/vda")+" opened as /dev/mapper/cryptroot (/dev/dm-0)",
		"rescue shell: continuing the boot",
		"switching to /sbin/init")
	if f.switched == nil || b.tries != 2 || len(fd.created) != 1 || !strings.HasPrefix(fd.created[0], "cryptroot CRYPT-LUKS2-") {
		t.Errorf("switched %v after %d tries; created %q", f.switched != nil, b.tries, fd.created)
	}
}

// A key file in the image opens the device without a prompt.
func TestLUKSKeyFileInImage(t *testing.T) {
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" rd.luks.key=/etc/keys/root.key")
	write(t, f.path("etc/keys/root.key"), luksPass)
	runSys(sys)
	contains(t, f.output(), "unlocked with the key file /etc/keys/root.key", "switching to /sbin/init")
	if strings.Contains(f.output(), "Passphrase for") || len(fd.created) != 1 {
		t.Errorf("asked for a passphrase, or created %q", fd.created)
	}
}

// Devices the command line does not allow stay closed: rd.luks=0, or rd.luks.uuid= naming
// another device. The wait then times out with the device listed as closed.
func TestLUKSNotAllowed(t *testing.T) {
	for _, tc := range []struct{ cmdline, log string }{
		{"rd.luks=0", "rd.luks=0: left closed"},
		{"rd.luks.uuid=0123abcd", "not among the rd.luks.uuid=/rd.luks.name= devices: left closed"},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" rd.timeout=1 "+tc.cmdline)
			f.in.add("reboot\n")
			runSys(sys)
			contains(t, f.output(), tc.log, "did not appear within 1s", f.path("dev/vda")+" UUID="+luksUUID+": closed")
			if len(fd.created) != 0 || strings.Contains(f.output(), "Passphrase for") {
				t.Errorf("opened: %q", fd.created)
			}
		})
	}
}

// The image's /etc/crypttab names the device: its mapping name, key file and options apply,
// and it is opened at once; options on the command line, for every device or for this one,
// replace the line's; rd.luks.crypttab=0 ignores it (the default name, the passphrase).
func TestLUKSCrypttab(t *testing.T) {
	for _, tc := range []struct{ cmdline, want, flag, notFlag string }{
		{"", "opened as /dev/mapper/cryptroot (dm-0)", "allow_discards", "same_cpu_crypt"},
		{"rd.luks.options=same-cpu-crypt", "opened as /dev/mapper/cryptroot (dm-0)", "same_cpu_crypt", "allow_discards"},
		{"rd.luks.options=" + luksUUID + "=same-cpu-crypt", "opened as /dev/mapper/cryptroot (dm-0)", "same_cpu_crypt", "allow_discards"},
		{"rd.luks.crypttab=0", "opened as /dev/mapper/luks-" + luksUUID + " (dm-0)", "", "allow_discards"},
	} {
		t.Run("cmdline="+tc.cmdline, func(t *testing.T) {
			f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" "+tc.cmdline)
			write(t, f.path("etc/crypttab"), "# test\ncryptroot UUID="+luksUUID+" /etc/keys/root.key luks,discard\n")
			write(t, f.path("etc/keys/root.key"), luksPass)
			f.in.add(luksPass + "\n")
			runSys(sys)
			contains(t, f.output(), tc.want, "switching to /sbin/init")
			if asked := strings.Contains(f.output(), "Passphrase for"); asked != (tc.cmdline == "rd.luks.crypttab=0") {
				t.Errorf("asked for the passphrase: %v", asked)
			}
			if len(fd.created) != 1 {
				t.Fatalf("dm created %q", fd.created)
			}
			words := strings.Fields(fd.created[0])
			if tc.flag != "" && !slices.Contains(words, tc.flag) || slices.Contains(words, tc.notFlag) {
				t.Errorf("table %q: want %q, not %q", fd.created[0], tc.flag, tc.notFlag)
			}
		})
	}
}

// A LUKS device that does not stand between the boot and the root is not opened: the prompt
// shown while the root was missing goes away when the root appears on another disk.
func TestLUKSPromptWithdrawnWhenRootAppears(t *testing.T) {
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID)
	f.in.add(func() {
		f.plug("vdb", "ext4")
		for i := 0; i < 500 && !strings.Contains(f.output(), "no longer asking"); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	})
	runSys(sys)
	contains(t, f.output(), "Passphrase for "+f.path("dev/vda"), "appeared on "+f.path("dev/vdb")+": no longer asking", "switching to /sbin/init")
	if len(fd.created) != 0 || len(f.mounts) != 1 || !strings.HasPrefix(f.mounts[0], f.path("dev/vdb")+" ") {
		t.Errorf("created %q, mounts %q", fd.created, f.mounts)
	}
}

func TestReadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	write(t, path, "0123456789")
	for _, tc := range []struct {
		offset, size int64
		want, err    string
	}{
		{want: "0123456789"},
		{offset: 2, want: "23456789"},
		{offset: 2, size: 3, want: "234"},
		{offset: 8, size: 3, err: "2 bytes, want 3"},
	} {
		got, err := readKeyFile(path, cryptopt.Key{File: path, Offset: tc.offset, Size: tc.size})
		if string(got) != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("offset %d size %d: %q, %v; want %q, %q", tc.offset, tc.size, got, err, tc.want, tc.err)
		}
	}
}

// LUKS2 persistent flags and the options' table words both set the dm-crypt options.
func TestCryptFlag(t *testing.T) {
	var c dm.Crypt
	for _, f := range []string{"allow-discards", "same_cpu_crypt", "no-read-workqueue", "no_write_workqueue", "submit-from-crypt-cpus", "unknown"} {
		cryptFlag(&c, f)
	}
	want := dm.Crypt{AllowDiscards: true, SameCPUCrypt: true, NoReadWorkqueue: true, NoWriteWorkqueue: true, SubmitFromCryptCPUs: true}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

// A key file on another device: the device is waited for, mounted read-only on a temporary
// directory, the file read, and the device unmounted again.
func TestLUKSKeyFileOnDevice(t *testing.T) {
	const keyUUID = "2e8f1c5a-1111-4b5b-9b0e-0123456789ab" // probe/testdata/ext2.img.gz
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" rd.luks.key=/keys/root.key:UUID="+keyUUID)
	var keyMount string
	f.onMount = func(source, target string) error {
		if source == f.path("dev/vdb") {
			keyMount = target
			write(t, filepath.Join(target, "keys/root.key"), luksPass)
		}
		return nil
	}
	sys.Mount = f.mount
	disc := sys.Discover
	sys.Discover = func(sysDir string, handle func(uevent.Event)) (Discovery, error) {
		d, err := disc(sysDir, handle)
		f.plug("vdb", "ext2")
		return d, err
	}
	runSys(sys)
	contains(t, f.output(), "unlocked with the key file /keys/root.key on UUID="+keyUUID, "switching to /sbin/init")
	if len(fd.created) != 1 || keyMount == "" || !strings.Contains(strings.Join(f.mounts, "\n"), f.path("dev/vdb")+" "+keyMount+" ext2 0xf ") {
		t.Errorf("created %q; mounts %q", fd.created, f.mounts)
	}
	if !slices.Contains(f.unmounts, keyMount) {
		t.Errorf("the key device stays mounted on %s: unmounts %q", keyMount, f.unmounts)
	}
}

// A key device that is a layer member (here an md 1.0 member, whose data could show a
// filesystem) is never mounted, even with its filesystem type given: the key file is not
// read, and the passphrase is asked.
func TestLUKSKeyDeviceIsMember(t *testing.T) {
	f, fd, sys := luksSystem(t, "root=UUID="+ext4UUID+" rd.md=0 cryptdevice=UUID="+luksUUID+":cryptroot cryptkey=/dev/vdb:ext4:/keys/root.key")
	f.onMount = func(source, target string) error {
		if source == f.path("dev/vdb") {
			write(t, filepath.Join(target, "keys/root.key"), luksPass)
		}
		return nil
	}
	sys.Mount = f.mount
	disc := sys.Discover
	sys.Discover = func(sysDir string, handle func(uevent.Event)) (Discovery, error) {
		d, err := disc(sysDir, handle)
		f.plug("vdb", "md1.0")
		return d, err
	}
	f.in.add(luksPass + "\n")
	runSys(sys)
	contains(t, f.output(), "key device "+f.path("dev/vdb")+" is a layer member (linux_raid_member), not a filesystem", "Passphrase for", "switching to /sbin/init")
	for _, m := range f.mounts {
		if strings.HasPrefix(m, f.path("dev/vdb")+" ") {
			t.Errorf("the member was mounted: %q", f.mounts)
		}
	}
	if len(fd.created) != 1 {
		t.Errorf("created %q", fd.created)
	}
}

// A LUKS volume left closed because the root was there is asked for once /usr, which the
// root's fstab names inside it, turns out to be missing; the prompt names it, and /usr is
// mounted from the opened mapping.
func TestLUKSHoldsUsr(t *testing.T) {
	f, fd, sys := luksSystem(t, "root=/dev/vdb rd.timeout=5 rd.shell=0 panic=-1")
	f.coldplug("vdb", "ext3")
	newRootWith(t, f, "UUID="+ext4UUID+" /usr ext4 defaults 0 2\n", "/usr")
	f.in.add(luksPass + "\n")
	// The root's mount waits until the volume has been seen and left closed, so that it is
	// the wait for /usr that opens it.
	f.onMount = func(_, target string) error {
		if target == f.path("newroot") {
			for i := 0; i < 500 && !strings.Contains(f.output(), ": left closed"); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		return nil
	}
	runSys(sys)
	contains(t, f.output(),
		"luks "+f.path("dev/vda")+": root=/dev/vdb is "+f.path("dev/vdb")+": left closed",
		"Passphrase for "+f.path("dev/vda"),
		"opened as /dev/mapper/luks-"+luksUUID+" (dm-0)",
		"/usr (UUID="+ext4UUID+", /etc/fstab line 1): "+f.path("dev/dm-0")+" (ext4) mounted on /usr (ro)",
		"switching to /sbin/init")
	if len(fd.created) != 1 || len(f.mounts) != 2 {
		t.Errorf("created %q, mounts %q", fd.created, f.mounts)
	}
}

// A keyslot decryption that finds no cipher in the kernel (its transform needed a module,
// and its bind met a time without module requests) is tried once more; a wrong passphrase
// is not retried that way.
func TestLUKSUnlockRetriesMissingCipher(t *testing.T) {
	f, _, sys := luksSystem(t, "root=UUID="+ext4UUID)
	f.in.add(luksPass + "\n")
	b := New(sys)
	var calls []string
	b.crypt.unlock = func(_ *luks.Header, pass []byte) (*luks.VolumeKey, int, error) {
		calls = append(calls, string(pass))
		if len(calls) == 1 {
			return nil, 0, fmt.Errorf("keyslot 0: %w", &luks.CipherError{Kernel: "xts(aes)"})
		}
		return &luks.VolumeKey{}, 0, nil
	}
	b.Run()
	if len(calls) != 2 {
		t.Errorf("unlock called %d times, want 2 (once more after the missing cipher)", len(calls))
	}
	if f.switched == nil {
		t.Errorf("the boot did not switch root:\n%s", f.output())
	}
}
