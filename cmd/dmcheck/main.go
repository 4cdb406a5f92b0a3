// Command dmcheck exercises package dm against a real kernel: run it as root in a
// throwaway VM (never on a machine whose disk matters) that has dm-mod, dm-crypt and xts
// loaded, with a scratch disk:
//
//	dmcheck /dev/vda
//
// It overwrites the first 8 MiB of that disk. It creates a linear device and a dm-crypt
// device (aes-xts-plain64, a random key passed through the kernel keyring) on it, reads
// each table back, checks data through both, checks that a table the kernel rejects
// leaves no device behind, writes the udev database record and removes the devices. Every
// step prints a "DMCHECK" line; the last is "DMCHECK PASS" or "DMCHECK FAIL: <reason>"
// (exit status 1). Build it static (CGO_ENABLED=0) to put it into an initramfs.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/keyring"
	"github.com/earlyroot/earlyroot/uevent"
)

// Layout on the scratch disk (at least 16 MiB), in 512-byte sectors.
const (
	linearOffset  = 2048  // 1 MiB
	cryptOffset   = 8192  // 4 MiB
	stripeOffset  = 16384 // 8 MiB: two legs of 2048 sectors
	manyOffset    = 24576 // 12 MiB
	length        = 4096  // 2 MiB for each device
	manyTargets   = 1000  // one-sector targets: the table outgrows the first reply buffer
	stripeSectors = 128
)

func main() {
	control := flag.String("control", dm.ControlPath, "device-mapper control node")
	udevDir := flag.String("udev", dm.UdevDataDir, "udev database directory for the record test")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dmcheck [-control PATH] [-udev DIR] SCRATCH-DISK")
		os.Exit(2)
	}
	if err := run(*control, *udevDir, flag.Arg(0)); err != nil {
		fmt.Printf("DMCHECK FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("DMCHECK PASS")
}

func run(control, udevDir, disk string) error {
	c, err := dm.Open(control)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Version()
	if err != nil {
		return err
	}
	fmt.Printf("DMCHECK version %d.%d.%d\n", v[0], v[1], v[2])
	var st unix.Stat_t
	if err := unix.Stat(disk, &st); err != nil {
		return fmt.Errorf("stat %s: %w", disk, err)
	}
	dev := dm.DevNum(unix.Major(st.Rdev), unix.Minor(st.Rdev))

	ue, err := openUevents()
	if err != nil {
		return err
	}
	lin, err := checkLinear(c, disk, dev)
	if err != nil {
		return err
	}
	printUevents(ue)
	unix.Close(ue)
	cr, err := checkCrypt(c, disk, dev)
	if err != nil {
		return err
	}
	str, err := checkStriped(c, dev)
	if err != nil {
		return err
	}
	many, err := checkMany(control, dev)
	if err != nil {
		return err
	}
	made := []dm.Device{lin, cr, str, many}
	devs, err := c.List()
	if err != nil {
		return err
	}
	fmt.Printf("DMCHECK list %+v\n", devs)
	for _, d := range made {
		if !slices.Contains(devs, d) {
			return fmt.Errorf("list %+v lacks %+v", devs, d)
		}
		if err := checkSysfs(d); err != nil {
			return err
		}
	}

	if err := checkRejected(c, dev); err != nil {
		return err
	}
	if err := dm.WriteUdevRecord(udevDir, cr); err != nil {
		return err
	}
	rec, err := os.ReadFile(fmt.Sprintf("%s/b%d:%d", udevDir, cr.Major, cr.Minor))
	fmt.Printf("DMCHECK udev record %q %v\n", rec, err)
	if err := checkBusy(c, lin); err != nil { // removes lin
		return err
	}
	for _, d := range made[1:] {
		if err := c.Remove(d.Name); err != nil {
			return err
		}
	}
	if devs, err := c.List(); err != nil || len(devs) != 0 {
		return fmt.Errorf("after remove: list %+v, %v", devs, err)
	}
	fmt.Println("DMCHECK removed")
	return nil
}

func checkLinear(c *dm.Control, disk, dev string) (dm.Device, error) {
	t, err := dm.Linear{Device: dev, Offset: linearOffset}.Target(0, length)
	if err != nil {
		return dm.Device{}, err
	}
	d, err := c.Create("dmcheck-linear", "DMCHECK-linear", false, []dm.Target{t})
	if err != nil {
		return d, err
	}
	if err := checkTable(c, d, []dm.Target{t}); err != nil {
		return d, err
	}
	// Data written to the disk shows through the linear device at the offset.
	pattern := bytes.Repeat([]byte("linear! "), 512)
	if err := writeAt(disk, pattern, linearOffset*512+4096); err != nil {
		return d, err
	}
	got, err := readAt(devNode(d), len(pattern), 4096)
	if err != nil {
		return d, err
	}
	if !bytes.Equal(got, pattern) {
		return d, errors.New("linear: data read through the device differs from the disk")
	}
	fmt.Println("DMCHECK linear data ok")
	return d, nil
}

func checkCrypt(c *dm.Control, disk, dev string) (dm.Device, error) {
	key := make([]byte, 64)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return dm.Device{}, err
	}
	desc := "dmcheck:0b2c3a9e-1111-4e3c-9d7a-5f0e9c1a2b3c-d0"
	cr := dm.Crypt{Cipher: "aes-xts-plain64", Key: dm.KeyRef{Size: len(key), Type: "logon", Description: desc},
		Device: dev, Offset: cryptOffset, AllowDiscards: true, SectorSize: 4096}
	t, err := cr.Target(0, length)
	if err != nil {
		return dm.Device{}, err
	}
	// The uuid cryptsetup would give (luks.Header.DMUUID) a LUKS2 device of that uuid.
	const uuid = "CRYPT-LUKS2-0b2c3a9e11114e3c9d7a5f0e9c1a2b3c-dmcheck-crypt"
	var d dm.Device
	err = keyring.WithLogonKey(desc, key, func() error {
		d, err = c.Create("dmcheck-crypt", uuid, false, []dm.Target{t})
		return err
	})
	if err != nil {
		return d, err
	}
	if _, err := unix.KeyctlSearch(unix.KEY_SPEC_THREAD_KEYRING, "logon", desc, 0); err == nil {
		return d, errors.New("crypt: the key is still in the thread keyring")
	}
	if err := checkTable(c, d, []dm.Target{t}); err != nil {
		return d, err
	}
	st, err := c.Status(d.Name)
	if err != nil {
		return d, err
	}
	info, err := c.Info(d.Name)
	if err != nil {
		return d, err
	}
	fmt.Printf("DMCHECK crypt status %q info %+v\n", st, info)
	// Written through the device (after the key left the keyring), read back through it,
	// and not in the clear on the disk.
	pattern := bytes.Repeat([]byte("secret! "), 512)
	if err := writeAt(devNode(d), pattern, 8192); err != nil {
		return d, err
	}
	got, err := readAt(devNode(d), len(pattern), 8192)
	if err != nil {
		return d, err
	}
	raw, err := readAt(disk, len(pattern), cryptOffset*512+8192)
	if err != nil {
		return d, err
	}
	if !bytes.Equal(got, pattern) || bytes.Equal(raw, pattern) || bytes.Contains(raw, []byte("secret! ")) {
		return d, fmt.Errorf("crypt: read back equal %v, disk in the clear %v", bytes.Equal(got, pattern), bytes.Contains(raw, []byte("secret! ")))
	}
	fmt.Println("DMCHECK crypt data ok")
	return d, nil
}

// checkStriped makes a read-only striped device over two ranges of the disk.
func checkStriped(c *dm.Control, dev string) (dm.Device, error) {
	t, err := dm.Striped{ChunkSectors: stripeSectors, Stripes: []dm.Stripe{
		{Device: dev, Offset: stripeOffset}, {Device: dev, Offset: stripeOffset + length/2},
	}}.Target(0, length)
	if err != nil {
		return dm.Device{}, err
	}
	uuid, err := dm.LVMUUID("cCKJjE-JVNa-OOF1-pzTF-nnQc-0UcQ-pEPcLz", "eP7lqU-JWnt-hlgt-MBhP-JGBh-lKjZ-LBkqSo", "")
	if err != nil {
		return dm.Device{}, err
	}
	d, err := c.Create(dm.LVMName("dm-check", "striped", ""), uuid, true, []dm.Target{t})
	if err != nil {
		return d, err
	}
	if err := checkTable(c, d, []dm.Target{t}); err != nil {
		return d, err
	}
	info, err := c.Info(d.Name)
	if err != nil {
		return d, err
	}
	ro, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/ro", d.Major, d.Minor))
	if err != nil || !info.ReadOnly || string(bytes.TrimSpace(ro)) != "1" {
		return d, fmt.Errorf("striped: read-only flag %v, sysfs ro %q %v", info.ReadOnly, ro, err)
	}
	if err := writeAt(devNode(d), make([]byte, 4096), 0); err == nil {
		return d, errors.New("striped: a write to the read-only device succeeded")
	}
	fmt.Println("DMCHECK striped read-only ok")
	return d, nil
}

// checkMany loads a table of many one-sector targets, whose read-back needs a bigger
// buffer than the first one tried, through a Control that records the buffer sizes.
func checkMany(control, dev string) (dm.Device, error) {
	fd, err := unix.Open(control, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return dm.Device{}, err
	}
	defer unix.Close(fd)
	rec := &recorder{fd: fd}
	c := dm.New(rec)
	table := make([]dm.Target, manyTargets)
	for i := range table {
		t, err := dm.Linear{Device: dev, Offset: manyOffset + uint64(manyTargets-1-i)}.Target(uint64(i), 1)
		if err != nil {
			return dm.Device{}, err
		}
		table[i] = t
	}
	d, err := c.Create("dmcheck-many", "", false, table)
	if err != nil {
		return d, err
	}
	rec.sizes = nil
	got, err := c.Table(d.Name)
	if err != nil {
		return d, err
	}
	if !slices.Equal(got, table) {
		return d, fmt.Errorf("many: %d targets read back, differing from the %d loaded", len(got), len(table))
	}
	fmt.Printf("DMCHECK many: %d targets read back, ioctl buffers %v\n", len(got), rec.sizes)
	if len(rec.sizes) < 2 {
		return d, errors.New("many: the table fitted the first buffer; the retry was not exercised")
	}
	return d, nil
}

// recorder issues the ioctls on fd and records the buffer size of each.
type recorder struct {
	fd    int
	sizes []int
}

func (r *recorder) Ioctl(cmd uint, buf []byte) error {
	r.sizes = append(r.sizes, len(buf))
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(r.fd), uintptr(cmd), uintptr(unsafe.Pointer(&buf[0])))
	if e != 0 {
		return e
	}
	return nil
}

// checkSysfs compares what the kernel shows in sysfs (and in the uevent udev would see)
// with the device.
func checkSysfs(d dm.Device) error {
	base := fmt.Sprintf("/sys/dev/block/%d:%d/dm/", d.Major, d.Minor)
	name, err1 := os.ReadFile(base + "name")
	uuid, err2 := os.ReadFile(base + "uuid")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if string(bytes.TrimSpace(name)) != d.Name || string(bytes.TrimSpace(uuid)) != d.UUID {
		return fmt.Errorf("sysfs of %s: name %q uuid %q", d.Name, name, uuid)
	}
	return nil
}

// checkBusy checks that an open device cannot be removed, and that the error says so,
// then removes it with a deferred removal that completes when it is closed.
func checkBusy(c *dm.Control, d dm.Device) error {
	f, err := os.Open(devNode(d))
	if err != nil {
		return err
	}
	defer f.Close()
	err = c.Remove(d.Name)
	fmt.Printf("DMCHECK remove while open: %v\n", err)
	if !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("remove of an open device: %v, want EBUSY", err)
	}
	if err := c.RemoveDeferred(d.Name); err != nil {
		return err
	}
	if _, err := c.Info(d.Name); err != nil {
		return fmt.Errorf("deferred removal: the open device is gone already: %v", err)
	}
	f.Close()
	for range 50 {
		if _, err := c.Info(d.Name); errors.Is(err, unix.ENXIO) {
			fmt.Println("DMCHECK deferred removal done at close")
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("deferred removal: the device is still there a second after its close")
}

// checkTable reads d's table back and compares it with what was loaded.
func checkTable(c *dm.Control, d dm.Device, want []dm.Target) error {
	got, err := c.Table(d.Name)
	if err != nil {
		return err
	}
	for _, t := range got {
		fmt.Printf("DMCHECK table %s %s: %s\n", d.Name, d.DevNum(), t)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("table of %s reads back as %q, loaded %q", d.Name, got, want)
	}
	return nil
}

// checkRejected loads a crypt table whose key is not in any keyring: the kernel refuses
// it, and Create must leave no device behind.
func checkRejected(c *dm.Control, dev string) error {
	t, err := dm.Crypt{Cipher: "aes-xts-plain64", Key: dm.KeyRef{Size: 64, Type: "logon", Description: "dmcheck:absent-d0"},
		Device: dev, Offset: cryptOffset}.Target(0, length)
	if err != nil {
		return err
	}
	_, err = c.Create("dmcheck-rejected", "", false, []dm.Target{t})
	fmt.Printf("DMCHECK rejected table: %v\n", err)
	if err == nil {
		return errors.New("a crypt table with a missing key was accepted")
	}
	if _, err := c.Info("dmcheck-rejected"); !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("the rejected device is left behind: %v", err)
	}
	return nil
}

// openUevents listens to the kernel's uevents, as the init does.
func openUevents() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1, fmt.Errorf("uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("uevent socket: %w", err)
	}
	return fd, nil
}

// printUevents prints the queued uevents of dm devices: what the init's uevent loop sees
// while a device is made.
func printUevents(fd int) {
	buf := make([]byte, 16<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return
		}
		ev, err := uevent.Parse(buf[:n])
		if err != nil || !strings.Contains(ev.DevPath, "/dm-") {
			continue
		}
		var env []string
		for _, k := range slices.Sorted(maps.Keys(ev.Env)) {
			if k != "SEQNUM" && k != "DEVPATH" && k != "ACTION" {
				env = append(env, k+"="+ev.Env[k])
			}
		}
		fmt.Printf("DMCHECK uevent %s %s %s\n", ev.Action, ev.DevPath, strings.Join(env, " "))
	}
}

func devNode(d dm.Device) string { return fmt.Sprintf("/dev/dm-%d", d.Minor) }

func writeAt(path string, b []byte, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	buf := aligned(len(b))
	copy(buf, b)
	if _, err := f.WriteAt(buf, off); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func readAt(path string, n int, off int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := aligned(n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// aligned returns a 4096-byte aligned buffer of n bytes, as O_DIRECT needs (bypassing the
// page cache makes the disk and the mapping show what is really on the disk).
func aligned(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptrOf(b)%4096)
	if off == 4096 {
		off = 0
	}
	return b[off : off+n]
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
