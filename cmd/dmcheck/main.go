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
	"os"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/keyring"
)

// Layout on the scratch disk, in 512-byte sectors.
const (
	linearOffset = 2048 // 1 MiB
	cryptOffset  = 8192 // 4 MiB
	length       = 4096 // 2 MiB each
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

	lin, err := checkLinear(c, disk, dev)
	if err != nil {
		return err
	}
	cr, err := checkCrypt(c, disk, dev)
	if err != nil {
		return err
	}
	devs, err := c.List()
	if err != nil {
		return err
	}
	fmt.Printf("DMCHECK list %+v\n", devs)
	if !slices.Contains(devs, lin) || !slices.Contains(devs, cr) {
		return fmt.Errorf("list %+v lacks %+v or %+v", devs, lin, cr)
	}
	if err := checkRejected(c, dev); err != nil {
		return err
	}
	if err := dm.WriteUdevRecord(udevDir, cr); err != nil {
		return err
	}
	rec, err := os.ReadFile(fmt.Sprintf("%s/b%d:%d", udevDir, cr.Major, cr.Minor))
	fmt.Printf("DMCHECK udev record %q %v\n", rec, err)
	for _, d := range []dm.Device{lin, cr} {
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
	uuid, err := dm.CryptUUID("LUKS2", "0b2c3a9e-1111-4e3c-9d7a-5f0e9c1a2b3c", "dmcheck-crypt")
	if err != nil {
		return dm.Device{}, err
	}
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
