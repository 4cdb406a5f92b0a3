package uevent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// errStopped aborts a coldplug walk when the Source is stopping.
var errStopped = errors.New("uevent: stopped")

// maxAttr bounds how much of a sysfs attribute file is read (sysfs itself
// never returns more than one page).
const maxAttr = 64 << 10

// maxWalkErrors bounds how many per-device errors Coldplug reports.
const maxWalkErrors = 8

// Coldplug walks sysfs/devices and calls emit with a synthesised "add"
// event for every device directory that has a uevent file and a
// subsystem link (the kernel only emits uevents for such devices). The
// environment is the uevent file's KEY=VALUE lines plus ACTION, DEVPATH,
// SUBSYSTEM (from the subsystem link) and MODALIAS (from the modalias
// file when the uevent file lacks it). Parents are emitted before their
// children, siblings in name order, except below sysfs/devices itself, where
// the buses that hold storage controllers come first (see topLevelRank).
// Directories and attributes are opened
// relative to their parent's descriptor, symlinks are never followed and
// the per-device "power" attribute directory is not listed (see the
// package doc for the measurement). Devices that vanish during the walk
// are skipped silently;
// other per-device errors are collected and returned after the walk, the
// remaining devices being emitted anyway.
func Coldplug(sysfs string, emit func(Event)) error {
	return coldplug(sysfs, nil, emit)
}

// coldplug is Coldplug with an optional stop channel that aborts the walk.
func coldplug(sysfs string, stop <-chan struct{}, emit func(Event)) error {
	root := filepath.Clean(sysfs)
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("coldplug %s: %w", root, err)
	}
	defer unix.Close(rfd)
	var st unix.Stat_t
	if err := unix.Fstatat(rfd, "devices", &st, 0); err != nil {
		return fmt.Errorf("coldplug %s/devices: %w", root, err)
	}
	w := walker{stop: stop, emit: emit}
	if err := w.walkAt(rfd, "devices", "/devices"); err != nil {
		return err
	}
	if len(w.errs) > 0 {
		return fmt.Errorf("coldplug %s/devices: %d device(s) unreadable: %w", root, w.nerr, errors.Join(w.errs...))
	}
	return nil
}

type walker struct {
	stop <-chan struct{}
	emit func(Event)
	errs []error
	nerr int
}

func (w *walker) fail(err error) {
	w.nerr++
	if len(w.errs) < maxWalkErrors {
		w.errs = append(w.errs, err)
	}
}

func (w *walker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// parseUeventFile parses the "KEY=VALUE\n" lines of a sysfs uevent file;
// the value keeps any further '='. Lines without '=' are ignored.
func parseUeventFile(b []byte) map[string]string {
	env := make(map[string]string)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if k, v, ok := bytes.Cut(line, []byte("=")); ok && len(k) > 0 {
			env[string(k)] = string(v)
		}
	}
	return env
}

// walkAt is the fd-relative walker: every directory is opened relative to
// its parent's descriptor and every attribute relative to its directory,
// so the kernel never re-resolves the long sysfs path of a device.
func (w *walker) walkAt(dirfd int, name, devpath string) error {
	if w.stopped() {
		return errStopped
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			w.fail(fmt.Errorf("open dir %s: %w", devpath, err))
		}
		return nil
	}
	dir := os.NewFile(uintptr(fd), devpath)
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			w.fail(fmt.Errorf("read dir %s: %w", devpath, err))
		}
		return nil
	}
	var hasUevent, hasModalias, hasSubsystem bool
	var subdirs []string
	for _, e := range entries {
		switch n := e.Name(); {
		case n == "uevent":
			hasUevent = e.Type().IsRegular()
		case n == "modalias":
			hasModalias = e.Type().IsRegular()
		case n == "subsystem":
			hasSubsystem = e.Type()&os.ModeSymlink != 0
		case e.IsDir():
			subdirs = append(subdirs, n)
		}
	}
	if hasUevent && hasSubsystem {
		ev, err := deviceAt(fd, devpath, hasModalias)
		switch {
		case err == nil:
			w.emit(ev)
		case !errors.Is(err, unix.ENOENT):
			w.fail(err)
		}
	}
	if devpath == "/devices" {
		sort.Slice(subdirs, func(i, j int) bool {
			if ri, rj := topLevelRank(subdirs[i]), topLevelRank(subdirs[j]); ri != rj {
				return ri < rj
			}
			return subdirs[i] < subdirs[j]
		})
	} else {
		slices.Sort(subdirs)
	}
	for _, n := range subdirs {
		if n == "power" && !hasUeventAt(fd, n) {
			continue // the power-management attribute group of every device
		}
		if err := w.walkAt(fd, n, devpath+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

// topLevelRank orders the walk of sysfs/devices' own entries: the PCI hosts
// first (the controllers of nearly every disk, and virtio's transports), then
// platform devices (the SoC and ACPI-enumerated controllers), then the rest
// (ACPI and PnP nodes, cpus and memory, ...), and the virtual devices last
// (terminals, memory and misc devices, network loopback: half of a small
// machine's devices, none with a driver to load; the kernel's md, dm and loop
// disks are among them, but those exist at start only when the kernel made
// them itself). The root's controller is then found, and its driver loading,
// after a few devices rather than after all of the ACPI tree.
func topLevelRank(name string) int {
	switch {
	case strings.HasPrefix(name, "pci"):
		return 0
	case name == "platform":
		return 1
	case name == "virtual":
		return 3
	}
	return 2
}

func deviceAt(dirfd int, devpath string, hasModalias bool) (Event, error) {
	raw, err := readAt(dirfd, "uevent")
	if err != nil {
		return Event{}, fmt.Errorf("device %s: uevent: %w", devpath, err)
	}
	ev := Event{Action: "add", DevPath: devpath, Env: parseUeventFile(raw)}
	lb := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, "subsystem", lb)
	if err != nil {
		return Event{}, fmt.Errorf("device %s: subsystem link: %w", devpath, err)
	}
	if n >= len(lb) {
		return Event{}, fmt.Errorf("device %s: subsystem link longer than %d bytes", devpath, len(lb))
	}
	link := string(lb[:n])
	ev.Env["SUBSYSTEM"] = link[strings.LastIndexByte(link, '/')+1:]
	if _, ok := ev.Env["MODALIAS"]; !ok && hasModalias {
		if b, err := readAt(dirfd, "modalias"); err == nil {
			if m := strings.TrimSpace(string(b)); m != "" {
				ev.Env["MODALIAS"] = m
			}
		}
	}
	ev.Env["ACTION"] = "add"
	ev.Env["DEVPATH"] = devpath
	return ev, nil
}

// readAt reads at most maxAttr bytes of the attribute name in dirfd.
func readAt(dirfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	var n int
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
		if n == len(buf) && len(buf) < maxAttr {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
	return buf[:n], nil
}

// hasUeventAt reports whether dirfd/name/uevent exists, one fstatat
// instead of opening and listing the directory.
func hasUeventAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name+"/uevent", &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}
