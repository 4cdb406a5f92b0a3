package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/askpass"
	"github.com/earlyroot/earlyroot/cmdline"
	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/crypttab"
	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/luks"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/probe"
)

// keyDeviceWait bounds the wait for the device holding a key file when neither
// keyfile-timeout= nor the root's timeout says more.
const keyDeviceWait = 30 * time.Second

// Volume states.
const (
	volOpening = "opening"
	volOpen    = "open"
	volFailed  = "failed"
	volClosed  = "closed"
	volPending = "waiting for the next attempt"
)

// cryptState is the LUKS layer's: the volumes seen, one passphrase prompt at a time, and
// the passphrases that opened a volume, tried first on the next.
type cryptState struct {
	mu    sync.Mutex
	vols  map[string]*cryptVolume // by the member's device name
	ask   sync.Mutex
	cache askpass.Cache

	tabOnce sync.Once
	tab     []crypttab.Entry // the image's /etc/crypttab

	// unlock recovers the volume key with a passphrase or key file: Header.Unlock, or a
	// test's (the host that runs the tests may have no AF_ALG).
	unlock func(h *luks.Header, pass []byte) (*luks.VolumeKey, int, error)
}

func (c *cryptState) unlockKey(h *luks.Header, pass []byte) (*luks.VolumeKey, int, error) {
	if c.unlock != nil {
		return c.unlock(h, pass)
	}
	return h.Unlock(pass)
}

// unlockKey recovers h's volume key once prepareCrypto is done with h (prepared closed):
// the keyslots' transforms are then built, and their binds ask the kernel for nothing. A
// transform prepareCrypto could not build (it needed a module the init had not loaded) is
// built by the bind, which makes the kernel request it; should that meet another volume's
// or an array's time without requests (modload.Loader.WithoutRequests), the kernel finds
// no cipher, and the unlock is tried once more, as a step that may request modules. The
// key derivation itself is not such a step: other volumes' derivations run alongside.
func (b *Boot) unlockKey(h *luks.Header, pass []byte, prepared <-chan struct{}) (*luks.VolumeKey, int, error) {
	<-prepared
	vk, slot, err := b.crypt.unlockKey(h, pass)
	var noCipher *luks.CipherError
	if errors.As(err, &noCipher) {
		b.loader.Requesting(func() { vk, slot, err = b.crypt.unlockKey(h, pass) })
	}
	return vk, slot, err
}

// cryptVolume is one LUKS member device and what became of it.
type cryptVolume struct {
	dev    devices.Device
	state  string
	err    error  // why it failed, or was left closed
	mapped string // dm-N once open
}

// volume returns the record of d, made on first sight.
func (c *cryptState) volume(d devices.Device) *cryptVolume {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vols == nil {
		c.vols = map[string]*cryptVolume{}
	}
	v := c.vols[d.Name]
	if v == nil {
		v = &cryptVolume{dev: d, state: volClosed}
		c.vols[d.Name] = v
	}
	v.dev = d
	return v
}

// claim marks v as being opened, unless it is open or being opened already.
func (c *cryptState) claim(v *cryptVolume) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.state == volOpening || v.state == volOpen {
		return false
	}
	v.state, v.err = volOpening, nil
	return true
}

func (c *cryptState) settle(v *cryptVolume, state, mapped string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v.state, v.mapped, v.err = state, mapped, err
}

// luksMember decides what to do with a LUKS device the registry probed: open it now (the
// command line lists it, or names a key file for it), ask for its passphrase because the
// root has not appeared, or leave it closed.
func (b *Boot) luksMember(d devices.Device) {
	set, allowed := b.luksSettings(d)
	v := b.crypt.volume(d)
	switch {
	case b.cfg.LUKS.Disabled:
		b.log.Infof("luks %s: rd.luks=0: left closed", d.Path)
		return
	case !allowed:
		b.log.Infof("luks %s: not among the rd.luks.uuid=/rd.luks.name= devices: left closed", d.Path)
		return
	}
	if !set.Listed && set.Key.IsZero() {
		if found, what, ok := b.awaitedPresent(); ok {
			b.log.Infof("luks %s: %s is %s: left closed", d.Path, what, found.Path)
			return
		}
	}
	if !b.attempting() {
		// The rescue shell has the console: the next attempt asks (unlock opens it now).
		b.crypt.mu.Lock()
		if v.state == volClosed || v.state == volFailed {
			v.state = volPending
		}
		b.crypt.mu.Unlock()
		b.log.Infof("luks %s: appeared between boot attempts: opened at the next one (or with unlock)", d.Path)
		return
	}
	if !b.crypt.claim(v) {
		return
	}
	b.layer.enter()
	b.goSafe(func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if !set.Listed && set.Key.IsZero() {
			go b.cancelWhenAwaited(ctx, cancel, d)
		}
		var failure error
		defer func() { b.layer.leave(failure) }()
		failure = b.activate(ctx, v, set, b.terminal())
	})
}

// luksSettings are the settings for d, and whether the command line allows opening d: the
// command line's, completed by the image's /etc/crypttab line for d (its name, key and
// options where the command line gives none). A device crypttab names counts as listed: it is
// opened as soon as it appears.
func (b *Boot) luksSettings(d devices.Device) (cmdline.LUKSDevice, bool) {
	set, allowed := b.cfg.LUKS.Lookup(d.Info.UUID, func(spec string) bool {
		s, err := mount.ParseSpec(spec)
		if err != nil {
			return false
		}
		got, ok := b.reg.Find(s)
		return ok && got.Name == d.Name
	})
	e, ok := b.crypttabEntry(d)
	if !ok || !allowed {
		return set, allowed
	}
	if set.Name == "luks-"+set.UUID {
		set.Name = e.Name
	}
	if set.Key.IsZero() {
		set.Key = e.Key
	}
	if !set.OptionsSet && !b.cfg.LUKS.OptionsSet {
		discard := set.Options.Discard
		set.Options = e.Options
		set.Options.Discard = set.Options.Discard || discard
	}
	set.Listed = true
	b.log.Debugf("luks %s: crypttab line %d: %s", d.Path, e.Line, e.Name)
	return set, allowed
}

// crypttabEntry returns the line of the image's /etc/crypttab that names d, unless
// rd.luks.crypttab=0.
func (b *Boot) crypttabEntry(d devices.Device) (crypttab.Entry, bool) {
	if b.cfg.LUKS.NoCrypttab {
		return crypttab.Entry{}, false
	}
	b.crypt.tabOnce.Do(func() {
		entries, err := crypttab.ReadFile(filepath.Join(b.sys.ModRoot, "etc/crypttab"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warnf("%v", err)
		}
		b.crypt.tab = entries
	})
	names := []string{d.Path, "/dev/" + d.Name}
	for _, n := range []struct{ prefix, v string }{
		{"", d.Info.UUID}, {"UUID=", d.Info.UUID}, {"LABEL=", d.Info.Label},
		{"PARTUUID=", d.PartUUID}, {"PARTLABEL=", d.PartLabel},
	} {
		if n.v != "" {
			names = append(names, n.prefix+n.v)
		}
	}
	for _, e := range b.crypt.tab {
		if e.Matches(names...) {
			return e, true
		}
	}
	return crypttab.Entry{}, false
}

// attempting reports whether a boot attempt runs (not the setup, nor the rescue shell,
// which owns the console).
func (b *Boot) attempting() bool {
	b.fault.mu.Lock()
	defer b.fault.mu.Unlock()
	return b.fault.cancel != nil
}

// awaited is what the boot waits for: root= (spec "" stands for it), then, once the root is
// mounted, the source of /usr or of an x-initrd.mount entry while the boot waits for that
// (usr.go). A LUKS volume no command line or crypttab lists is opened only while what is
// awaited is missing: only then can it stand in the way.
type awaited struct {
	mu         sync.Mutex
	spec, what string
}

// await makes spec (named what in the log) what the boot waits for; "" is root= again. A
// new spec decides again on the volumes left closed because what the boot waited for was
// there: this one is not, and one of them may hold it.
func (b *Boot) await(spec, what string) {
	b.waitFor.mu.Lock()
	b.waitFor.spec, b.waitFor.what = spec, what
	b.waitFor.mu.Unlock()
	if spec != "" {
		b.openClosedLUKS()
	}
}

// awaitedPresent returns the device the boot waits for (see awaited), and how the log names
// it, if it is there already, with contents (and is not itself a layer member).
func (b *Boot) awaitedPresent() (devices.Device, string, bool) {
	b.waitFor.mu.Lock()
	spec, what := b.waitFor.spec, b.waitFor.what
	b.waitFor.mu.Unlock()
	if spec == "" {
		spec, what = b.cfg.Root, "root="+b.cfg.Root
	}
	s, err := mount.ParseSpec(spec)
	if spec == "" || err != nil {
		return devices.Device{}, what, false
	}
	d, ok := b.reg.Find(s)
	return d, what, ok && d.Size > 0 && d.Info.Layer == ""
}

// cancelWhenAwaited stops asking for d's passphrase once what the boot waits for appears
// elsewhere: d does not stand in its way. The registry wakes it on every new device or link.
func (b *Boot) cancelWhenAwaited(ctx context.Context, cancel func(), d devices.Device) {
	var found devices.Device
	var what string
	err := b.reg.WaitUntil(ctx, func([]devices.Device) bool {
		var ok bool
		found, what, ok = b.awaitedPresent()
		return ok
	})
	if err != nil {
		return
	}
	b.log.Infof("luks %s: %s appeared on %s: no longer asking", d.Path, what, found.Path)
	cancel()
}

// openClosedLUKS decides again (luksMember) on the volumes left closed.
func (b *Boot) openClosedLUKS() {
	b.crypt.mu.Lock()
	var closed []devices.Device
	for _, v := range b.crypt.vols {
		if v.state == volClosed {
			closed = append(closed, v.dev)
		}
	}
	b.crypt.mu.Unlock()
	for _, d := range closed {
		b.luksMember(d)
	}
}

// retryLUKS tries again, at a new attempt, the volumes whose opening failed or that
// appeared between attempts.
func (b *Boot) retryLUKS() {
	b.crypt.mu.Lock()
	var again []devices.Device
	for _, v := range b.crypt.vols {
		if v.state == volFailed || v.state == volPending {
			again = append(again, v.dev)
		}
	}
	b.crypt.mu.Unlock()
	for _, d := range again {
		b.luksMember(d)
	}
}

// activate opens v and records the outcome; it returns the failure that should end the
// wait for the root (none when asking was cancelled because the root appeared).
func (b *Boot) activate(ctx context.Context, v *cryptVolume, set cmdline.LUKSDevice, term askpass.Terminal) error {
	d := v.dev
	mapped, err := b.openLUKS(ctx, d, set, term)
	switch {
	case err == nil:
		b.crypt.settle(v, volOpen, mapped.name(), nil)
		return nil
	case ctx.Err() != nil:
		b.crypt.settle(v, volClosed, "", err)
		return nil
	}
	b.crypt.settle(v, volFailed, "", err)
	err = fmt.Errorf("luks %s: %w", d.Path, err)
	b.log.Errorf("%v", err)
	return err
}

type mapping struct{ dm.Device }

func (m mapping) name() string { return fmt.Sprintf("dm-%d", m.Minor) }

// openLUKS reads d's header, finds the key (key file, or passphrase at the console), and
// makes the dm-crypt mapping set.Name; the new dm-N then arrives as a uevent.
func (b *Boot) openLUKS(ctx context.Context, d devices.Device, set cmdline.LUKSDevice, term askpass.Terminal) (mapping, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return mapping{}, err
	}
	defer f.Close()
	h, err := luks.Open(f, d.Size)
	if err != nil {
		return mapping{}, err
	}
	b.log.Infof("luks %s: %s", d.Path, h)
	seg, err := h.Segment()
	if err != nil {
		return mapping{}, err
	}
	if set.Options.Header != "" {
		return mapping{}, fmt.Errorf("header=%s: detached headers are not supported", set.Options.Header)
	}
	var modules sync.WaitGroup // the kernel's part, readied while the passphrase is read
	modules.Add(2)
	prepared := make(chan struct{})
	b.goSafe(func() {
		defer modules.Done()
		defer close(prepared)
		b.prepareCrypto(h)
	})
	b.goSafe(func() {
		defer modules.Done()
		if r := b.loader.Load("dm-crypt"); r.Err != nil {
			b.log.Warnf("luks: %v", r.Err)
		}
	})
	vk, slot, err := b.luksKey(ctx, d, h, set, term, prepared)
	if err != nil {
		return mapping{}, err
	}
	defer vk.Wipe()
	b.log.Infof("luks %s: keyslot %d opened", d.Path, slot)
	modules.Wait()

	c := dm.Crypt{
		Cipher:   seg.Cipher,
		Key:      dm.KeyRef{Size: seg.KeySize, Type: "logon", Description: h.KeyDescription()},
		IVOffset: seg.IVTweak,
		Device:   dm.DevNum(uint32(d.Major), uint32(d.Minor)),
		Offset:   seg.Offset,
	}
	if seg.SectorSize > 512 {
		c.SectorSize = uint32(seg.SectorSize)
	}
	for _, flag := range append(append([]string(nil), h.Flags...), set.Options.TableFlags()...) {
		cryptFlag(&c, flag)
	}
	length := seg.Size
	if seg.Dynamic {
		total := uint64(d.Size) / 512
		if total <= seg.Offset {
			return mapping{}, fmt.Errorf("device of %d sectors ends before the data offset %d", total, seg.Offset)
		}
		length = total - seg.Offset
	}
	if c.SectorSize > 512 {
		length -= length % uint64(c.SectorSize/512)
	}
	t, err := c.Target(0, length)
	if err != nil {
		return mapping{}, err
	}
	if b.sys.DMCreate == nil {
		return mapping{}, errors.New("no device-mapper in this system")
	}
	uuid := h.DMUUID(set.Name)
	var dev dm.Device
	b.loader.Requesting(func() {
		dev, err = b.sys.DMCreate(set.Name, uuid, set.Options.ReadOnly, []dm.Target{t}, h.KeyDescription(), vk.Bytes())
	})
	vk.Wipe()
	if err != nil {
		return mapping{}, fmt.Errorf("dm-crypt %s: %w", set.Name, err)
	}
	m := mapping{dev}
	b.log.Infof("luks %s: opened as /dev/mapper/%s (%s)", d.Path, set.Name, m.name())
	if err := dm.WriteUdevRecord(filepath.Join(b.sys.Run, "udev/data"), dev); err != nil {
		b.log.Warnf("luks %s: udev record: %v", d.Path, err)
	}
	return m, nil
}

// cryptFlag sets the dm-crypt option a LUKS2 persistent flag ("allow-discards") or a
// crypttab/command-line option (TableFlags: "allow_discards") names.
func cryptFlag(c *dm.Crypt, flag string) {
	switch strings.ReplaceAll(flag, "-", "_") {
	case "allow_discards":
		c.AllowDiscards = true
	case "same_cpu_crypt":
		c.SameCPUCrypt = true
	case "submit_from_crypt_cpus":
		c.SubmitFromCryptCPUs = true
	case "no_read_workqueue":
		c.NoReadWorkqueue = true
	case "no_write_workqueue":
		c.NoWriteWorkqueue = true
	}
}

// luksKey recovers the volume key: with the key file when there is one (asking for the
// passphrase if it fails), else with the passphrase, typed at the console or remembered
// from another device.
func (b *Boot) luksKey(ctx context.Context, d devices.Device, h *luks.Header, set cmdline.LUKSDevice, term askpass.Terminal, prepared <-chan struct{}) (*luks.VolumeKey, int, error) {
	if !set.Key.IsZero() {
		key, err := b.readKey(ctx, set.Key, set.Options)
		if err == nil {
			vk, slot, err := b.unlockKey(h, key, prepared)
			clear(key)
			if err == nil {
				b.log.Infof("luks %s: unlocked with the key file %s", d.Path, set.Key)
				return vk, slot, nil
			}
			if !errors.Is(err, luks.ErrNoKeyslotMatched) {
				return nil, 0, err
			}
		}
		b.log.Warnf("luks %s: key file %s: %v: asking for the passphrase", d.Path, set.Key, err)
	}
	for _, tok := range h.Tokens() {
		b.log.Infof("luks %s: token %d (%s) not supported yet: asking for the passphrase", d.Path, tok.ID, tok.Type)
	}
	if set.Options.TPM2Device != "" || set.Options.FIDO2Device != "" {
		b.log.Infof("luks %s: tpm2-device=/fido2-device= not supported yet: asking for the passphrase", d.Path)
	}
	var vk *luks.VolumeKey
	var slot int
	check := func(pass []byte) error {
		k, s, err := b.unlockKey(h, pass, prepared)
		if err != nil {
			if errors.Is(err, luks.ErrNoKeyslotMatched) {
				return luks.ErrNoKeyslotMatched
			}
			return askpass.Permanent(err)
		}
		vk, slot = k, s
		return nil
	}
	if set.Options.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, set.Options.Timeout)
		defer cancel()
	}
	b.crypt.ask.Lock()
	defer b.crypt.ask.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	asker := askpass.Asker{Term: term, Cache: &b.crypt.cache}
	km := b.keymapName()
	b.log.Infof("luks %s: a passphrase is needed (keymap %s)", d.Path, km)
	prompt := askpass.Prompt(d.Path, set.Name, km)
	tries := set.Options.MaxTries()
	if err := asker.Ask(ctx, prompt, tries, check); err != nil {
		return nil, 0, err
	}
	return vk, slot, nil
}

// readKey reads a key file: in the image, on another device (waited for, mounted read-only
// on a temporary directory, read, unmounted), or the bytes of a device.
func (b *Boot) readKey(ctx context.Context, k cryptopt.Key, o cryptopt.Options) ([]byte, error) {
	if k.Device == "" {
		return readKeyFile(filepath.Join(b.sys.ModRoot, k.File), k)
	}
	spec, err := mount.ParseSpec(k.Device)
	if err != nil {
		return nil, err
	}
	wait := keyDeviceWait
	if o.KeyfileTimeout > 0 {
		wait = o.KeyfileTimeout
	} else if t, forever := b.cfg.RootTimeout(); !forever && t > 0 {
		wait = t
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	dev, err := b.reg.Wait(wctx, spec)
	if err != nil {
		return nil, fmt.Errorf("key device: %w", err)
	}
	if k.File == "" {
		return readKeyFile(dev.Path, k)
	}
	if dev.Info.Layer != "" {
		// A member's data may show a filesystem (md 0.90/1.0), but mounting it, even
		// read-only (a journal replay), could write behind its layer's back.
		return nil, fmt.Errorf("key device %s is a layer member (%s), not a filesystem", dev.Path, dev.Info.Type)
	}
	fstype := k.FSType
	if fstype == "" || fstype == "auto" {
		fstype = dev.Info.Type
	}
	if fstype == "" || dev.Info.Usage != probe.UsageFilesystem && k.FSType == "" {
		return nil, fmt.Errorf("key device %s: no filesystem recognised", dev.Path)
	}
	b.loadFilesystem(fstype)
	dir, err := os.MkdirTemp(b.sys.Run, "earlyroot-key-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := b.mount(dev.Path, dir, fstype, flags, ""); err != nil {
		return nil, fmt.Errorf("mount key device %s (%s): %w", dev.Path, fstype, err)
	}
	defer func() {
		if err := b.sys.Unmount(dir, 0); err != nil {
			b.log.Warnf("unmount key device %s: %v", dev.Path, err)
		}
	}()
	return readKeyFile(filepath.Join(dir, k.File), k)
}

// readKeyFile reads k.Size bytes (0: to the end) at k.Offset of path.
func readKeyFile(path string, k cryptopt.Key) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if k.Offset > 0 {
		if _, err := f.Seek(k.Offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
	}
	const maxKey = 8 << 20 // cryptsetup's limit for a key file
	limit := int64(maxKey)
	if k.Size > 0 {
		limit = k.Size
	} else if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size()-k.Offset < limit {
		limit = max(st.Size()-k.Offset, 0) // one buffer of the right size: no copies of the key left behind
	}
	buf := make([]byte, limit+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil && k.Size == 0:
		clear(buf)
		return nil, fmt.Errorf("key file %s: longer than %d bytes", path, maxKey)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || err == nil:
	default:
		clear(buf)
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if k.Size > 0 && int64(n) < k.Size {
		clear(buf)
		return nil, fmt.Errorf("key file %s: %d bytes, want %d", path, n, k.Size)
	}
	if k.Size > 0 {
		n = int(k.Size)
	}
	key := make([]byte, n)
	copy(key, buf)
	clear(buf)
	return key, nil
}

// prepareCrypto readies the kernel for decrypting a volume's keyslots while its key is
// derived: what decrypting them through AF_ALG asks the kernel for (cryptoModules), loaded
// by the init instead of by a modprobe helper process each, after the derivation; then the
// volume's transforms, which the kernel builds at their first use (luks.Header.Prepare),
// with its module requests off: building "xts(aes)" from its templates, the crypto API asks
// for modules by each name it has no instance of yet, six requests for aes-xts-plain64,
// loaded or not, and the kernel waits for a helper process each time. A transform that
// needed a module the init had not loaded is not built here; the keyslot's decryption
// builds it later, with the requests on.
func (b *Boot) prepareCrypto(h *luks.Header) {
	for _, name := range cryptoModules(h) {
		if b.index == nil || len(b.index.Resolve(name)) == 0 {
			continue // built in, or the kernel's to find
		}
		if r := b.loader.Load(name); r.Err != nil {
			b.log.Warnf("luks: %v", r.Err)
		}
	}
	b.withoutRequests(h.Prepare)
}

// cryptoModules are the module names the kernel asks for when a LUKS volume is unlocked
// through AF_ALG and mapped: the socket family ("net-pf-38": af_alg), its skcipher
// interface ("algif-skcipher") and each crypto algorithm of the volume ("crypto-<name>").
func cryptoModules(h *luks.Header) []string {
	out := []string{"net-pf-38", "algif-skcipher"}
	for _, alg := range h.Algorithms() {
		out = append(out, "crypto-"+alg)
	}
	return out
}
