package uevent

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Event is one kernel uevent: an action on a device path plus its
// environment (KEY=VALUE pairs).
type Event struct {
	Action  string            // "add", "change", "remove", "bind", ...
	DevPath string            // "/devices/pci0000:00/..."
	Env     map[string]string // SUBSYSTEM, MODALIAS, DEVNAME, DEVTYPE, MAJOR, MINOR, PARTN, SEQNUM ...
}

// Errors returned by Parse.
var (
	ErrLibudev   = errors.New("uevent: libudev-group message, not a kernel uevent")
	ErrMalformed = errors.New("uevent: malformed message")
)

// maxMsg bounds what Parse accepts; the kernel's own limit
// (UEVENT_BUFFER_SIZE plus the header) is far below it.
const maxMsg = 64 << 10

// Parse decodes one kernel uevent message "ACTION@DEVPATH\0KEY=VALUE\0...".
//
// Unlike go-udev's netlink.ParseUEvent it splits the header at the FIRST
// '@' and every variable at its FIRST '=', so a devpath containing '@'
// and a value containing '=' are kept intact. Messages from the libudev
// multicast group (they start with "libudev\0") are rejected with
// ErrLibudev. Empty fields (a doubled NUL) are skipped.
func Parse(msg []byte) (Event, error) {
	if len(msg) > maxMsg {
		return Event{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(msg), maxMsg)
	}
	if bytes.HasPrefix(msg, []byte("libudev\x00")) {
		return Event{}, ErrLibudev
	}
	header, rest, _ := bytes.Cut(msg, []byte{0})
	action, devpath, ok := bytes.Cut(header, []byte("@"))
	if !ok {
		return Event{}, fmt.Errorf("%w: header %q has no '@'", ErrMalformed, truncate(header))
	}
	if !validAction(action) {
		return Event{}, fmt.Errorf("%w: bad action %q", ErrMalformed, truncate(action))
	}
	if len(devpath) < 2 || devpath[0] != '/' {
		return Event{}, fmt.Errorf("%w: bad devpath %q", ErrMalformed, truncate(devpath))
	}
	ev := Event{Action: string(action), DevPath: string(devpath), Env: make(map[string]string)}
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte{0})
		if len(field) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(field, []byte("="))
		if !ok || len(k) == 0 {
			return Event{}, fmt.Errorf("%w: field %q is not KEY=VALUE", ErrMalformed, truncate(field))
		}
		ev.Env[string(k)] = string(v)
	}
	return ev, nil
}

// validAction accepts the kernel's action words: lowercase letters only.
func validAction(a []byte) bool {
	if len(a) == 0 || len(a) > 32 {
		return false
	}
	for _, c := range a {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// Subsystem returns SUBSYSTEM ("block", "pci", "usb", ...).
func (e Event) Subsystem() string { return e.Env["SUBSYSTEM"] }

// Modalias returns MODALIAS, the string matched against modules.alias,
// without the trailing newline some drivers (cpu) put in the live event.
func (e Event) Modalias() string { return strings.TrimRight(e.Env["MODALIAS"], "\n") }

// DevName returns DEVNAME, the node name relative to /dev ("vda1", "bus/usb/001/001").
func (e Event) DevName() string { return e.Env["DEVNAME"] }

// DevType returns DEVTYPE ("disk", "partition", "usb_device", ...).
func (e Event) DevType() string { return e.Env["DEVTYPE"] }

// IsBlock reports whether the event concerns a block device.
func (e Event) IsBlock() bool { return e.Env["SUBSYSTEM"] == "block" }

// Major returns MAJOR as a number, or -1 when absent or malformed.
func (e Event) Major() int { return envInt(e.Env, "MAJOR") }

// Minor returns MINOR as a number, or -1 when absent or malformed.
func (e Event) Minor() int { return envInt(e.Env, "MINOR") }

// PartN returns PARTN (partition number) or 0 when absent or malformed.
func (e Event) PartN() int {
	n := envInt(e.Env, "PARTN")
	if n < 0 {
		return 0
	}
	return n
}

func envInt(env map[string]string, key string) int {
	s, ok := env[key]
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// ParentDevPath returns the lexical parent of a devpath, which for a
// partition is its disk: "/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1"
// gives ".../block/vda". It is purely textual (no sysfs access), so for a
// whole disk it returns the class glue directory ".../virtio1/block".
// The result is "" when there is no parent below "/devices" (or, for
// paths outside /devices such as "/module/x", no parent at all).
func ParentDevPath(devpath string) string {
	p := path.Clean("/" + devpath)
	dir := path.Dir(p)
	if dir == "/" || dir == "/devices" || !strings.HasPrefix(dir, "/") {
		return ""
	}
	return dir
}

// sortEvents orders evs by device path. Slices of structs are sorted with the sort
// package throughout the init: it has one implementation for every element type, where
// each struct type would instantiate a generic sort of its own in the binary.
func sortEvents(evs []Event) {
	sort.Slice(evs, func(i, j int) bool { return evs[i].DevPath < evs[j].DevPath })
}
