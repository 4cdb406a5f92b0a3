package uevent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
// children. Devices that vanish during the walk are skipped silently;
// other per-device errors are collected and returned after the walk, the
// remaining devices being emitted anyway.
func Coldplug(sysfs string, emit func(Event)) error {
	return coldplug(sysfs, nil, emit)
}

// coldplug is Coldplug with an optional stop channel that aborts the walk.
func coldplug(sysfs string, stop <-chan struct{}, emit func(Event)) error {
	w := walker{sysfs: filepath.Clean(sysfs), stop: stop, emit: emit}
	root := filepath.Join(w.sysfs, "devices")
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("coldplug %s: %w", root, err)
	}
	if err := w.walk(root); err != nil {
		return err
	}
	if len(w.errs) > 0 {
		return fmt.Errorf("coldplug %s: %d device(s) unreadable: %w", root, w.nerr, errors.Join(w.errs...))
	}
	return nil
}

type walker struct {
	sysfs string
	stop  <-chan struct{}
	emit  func(Event)
	errs  []error
	nerr  int
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

// walk visits one directory: its own device first, then its
// subdirectories (symlinks are never followed).
func (w *walker) walk(dir string) error {
	if w.stopped() {
		return errStopped
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.fail(fmt.Errorf("read dir %s: %w", dir, err))
		}
		return nil
	}
	var hasUevent, hasModalias, hasSubsystem bool
	for _, e := range entries {
		switch e.Name() {
		case "uevent":
			hasUevent = e.Type().IsRegular()
		case "modalias":
			hasModalias = e.Type().IsRegular()
		case "subsystem":
			hasSubsystem = e.Type()&fs.ModeSymlink != 0
		}
	}
	if hasUevent && hasSubsystem {
		ev, err := w.device(dir, hasModalias)
		switch {
		case err == nil:
			w.emit(ev)
		case !errors.Is(err, fs.ErrNotExist):
			w.fail(err)
		}
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := w.walk(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// device builds the synthetic "add" event of the device directory dir.
func (w *walker) device(dir string, hasModalias bool) (Event, error) {
	devpath := filepath.ToSlash(strings.TrimPrefix(dir, w.sysfs))
	raw, err := readAttr(filepath.Join(dir, "uevent"))
	if err != nil {
		return Event{}, err
	}
	ev := Event{Action: "add", DevPath: devpath, Env: parseUeventFile(raw)}
	link, err := os.Readlink(filepath.Join(dir, "subsystem"))
	if err != nil {
		return Event{}, fmt.Errorf("device %s: subsystem link: %w", devpath, err)
	}
	ev.Env["SUBSYSTEM"] = filepath.Base(link)
	if _, ok := ev.Env["MODALIAS"]; !ok && hasModalias {
		if b, err := readAttr(filepath.Join(dir, "modalias")); err == nil {
			if m := strings.TrimSpace(string(b)); m != "" {
				ev.Env["MODALIAS"] = m
			}
		}
	}
	ev.Env["ACTION"] = "add"
	ev.Env["DEVPATH"] = devpath
	return ev, nil
}

// readAttr reads at most maxAttr bytes of a sysfs attribute.
func readAttr(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttr))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
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
