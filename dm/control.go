package dm

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ControlPath is where the kernel's device-mapper control node lives (misc device 10:236,
// created by devtmpfs when dm-mod is loaded).
const ControlPath = "/dev/mapper/control"

// Buffer sizes for the commands that return data: a first try that holds any ordinary
// table or device list, doubled while the kernel sets DM_BUFFER_FULL_FLAG, up to a bound
// that no real table reaches.
const (
	firstDataBuffer = 16 << 10
	maxBuffer       = 32 << 20
)

// Ioctler issues one device-mapper ioctl: cmd is the request number and buf the whole
// argument (struct dm_ioctl and its data), which the kernel reads and rewrites in place.
// It is the seam between Control and the kernel; tests supply a fake.
type Ioctler interface {
	Ioctl(cmd uint, buf []byte) error
}

// Control issues device-mapper commands. Its methods are safe for concurrent use as far
// as the kernel is: each command is one ioctl, or a short sequence for Create.
type Control struct {
	dev Ioctler
}

// Device is a device-mapper device: its name (/dev/mapper/NAME in a udev system), dm uuid
// (may be empty) and block device number (/dev/dm-MINOR).
type Device struct {
	Name  string
	UUID  string
	Major uint32
	Minor uint32
}

// DevNum returns the device as "MAJ:MIN", the form tables use to name it.
func (d Device) DevNum() string { return DevNum(d.Major, d.Minor) }

// Info is a device's state as DM_DEV_STATUS reports it.
type Info struct {
	Device
	OpenCount     int32  // openers of the block device
	TargetCount   uint32 // targets in the live table
	EventNr       uint32 // event counter (e.g. raid/thin state changes)
	ReadOnly      bool
	Suspended     bool
	LiveTable     bool // a table is active
	InactiveTable bool // a loaded table waits for a resume
}

// Open opens the control node at path (ControlPath in a real system).
func Open(path string) (*Control, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dm: open %s: %w", path, err)
	}
	return &Control{dev: fileIoctler(fd)}, nil
}

// New returns a Control that issues its ioctls through dev.
func New(dev Ioctler) *Control { return &Control{dev: dev} }

// Close closes the control node opened by Open; for a Control made by New it does nothing
// unless dev is also an io.Closer.
func (c *Control) Close() error {
	if cl, ok := c.dev.(interface{ Close() error }); ok {
		return cl.Close()
	}
	return nil
}

type fileIoctler int

func (f fileIoctler) Ioctl(cmd uint, buf []byte) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(f), uintptr(cmd), uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(buf)
	if e != 0 {
		return e
	}
	return nil
}

func (f fileIoctler) Close() error { return unix.Close(int(f)) }

// do issues cmd with header h and data after it, in a buffer of at least size bytes,
// retrying with a doubled buffer while the kernel reports DM_BUFFER_FULL_FLAG. It returns
// the reply header and its data area (a slice of the buffer). When h.Flags has
// flagSecureData, the request buffer is wiped before do returns and no data is returned.
func (c *Control) do(cmd uint, h header, data []byte, size int) (header, []byte, error) {
	size = max(size, headerSize+len(data))
	for {
		buf := make([]byte, size)
		h.Version = ioctlVersion
		h.DataSize = uint32(size)
		h.DataStart = headerSize
		if err := h.put(buf); err != nil {
			return header{}, nil, c.err(cmd, h.Name, err)
		}
		copy(buf[headerSize:], data)
		err := c.dev.Ioctl(iowr(cmd), buf)
		var out header
		if err == nil {
			out, err = parseHeader(buf)
		}
		if h.Flags&flagSecureData != 0 {
			clear(buf)
			return out, nil, c.err(cmd, h.Name, err)
		}
		if err != nil {
			return header{}, nil, c.err(cmd, h.Name, err)
		}
		if out.Flags&flagBufferFull == 0 {
			return out, out.payload(buf), nil
		}
		if size >= maxBuffer {
			return header{}, nil, c.err(cmd, h.Name, fmt.Errorf("reply does not fit in %d bytes", size))
		}
		size *= 2
	}
}

func (c *Control) err(cmd uint, name string, err error) error {
	if err == nil {
		return nil
	}
	if name != "" {
		return fmt.Errorf("dm %s %s: %w", cmdNames[cmd], name, err)
	}
	return fmt.Errorf("dm %s: %w", cmdNames[cmd], err)
}

// Version returns the kernel's device-mapper ioctl interface version (major 4).
func (c *Control) Version() ([3]uint32, error) {
	h, _, err := c.do(cmdVersion, header{}, nil, 0)
	return h.Version, err
}

// Create makes the device name with the dm uuid uuid (may be empty), loads table (read-only
// when readOnly) and resumes it, so that the device is live when Create returns: the
// kernel has then sent the "add" and "change" uevents for dm-N. No udev cookie is set
// (there is no udev to wait for). If loading or resuming fails, the half-made device is
// removed again.
//
// The table is passed with DM_SECURE_DATA_FLAG, so the kernel wipes its copy, and Create
// wipes its own; tables never need to hold keys (see KeyRef).
//
// Errors wrap the kernel's errno: EBUSY when the name or uuid is in use, EINVAL for a table
// the target rejects (the kernel log says why), ENXIO when a device has gone.
func (c *Control) Create(name, uuid string, readOnly bool, table []Target) (Device, error) {
	if err := checkName(name); err != nil {
		return Device{}, fmt.Errorf("dm create: %w", err)
	}
	if err := checkUUID(uuid); err != nil {
		return Device{}, fmt.Errorf("dm create %s: %w", name, err)
	}
	specs, err := encodeTargets(table)
	if err != nil {
		return Device{}, fmt.Errorf("dm create %s: %w", name, err)
	}
	defer clear(specs)
	h, _, err := c.do(cmdDevCreate, header{Name: name, UUID: uuid}, nil, 0)
	if err != nil {
		return Device{}, err
	}
	d := Device{Name: name, UUID: uuid, Major: unix.Major(h.Dev), Minor: unix.Minor(h.Dev)}
	flags := uint32(flagSecureData)
	if readOnly {
		flags |= flagReadOnly
	}
	load := header{Name: name, Flags: flags, TargetCount: uint32(len(table))}
	if _, _, err := c.do(cmdTableLoad, load, specs, 0); err != nil {
		return Device{}, c.undo(name, loadHint(err))
	}
	if err := c.resume(name); err != nil {
		return Device{}, c.undo(name, err)
	}
	return d, nil
}

// loadHint adds what the errno of a refused table load usually means; the kernel log has
// the target's own message.
func loadHint(err error) error {
	switch {
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w (a target refused its parameters, or its type is unknown: see the kernel log)", err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (the kernel lacks a cipher or mode the table names: is its module loaded?)", err)
	case errors.Is(err, unix.ENOKEY):
		return fmt.Errorf("%w (the key is not in this thread's keyrings)", err)
	}
	return err
}

// undo removes a device Create could not finish, and returns err with any removal error.
// A prober that opened dm-N on its add uevent makes the removal fail with EBUSY; the
// removal is then deferred to the last close.
func (c *Control) undo(name string, err error) error {
	rerr := c.Remove(name)
	if errors.Is(rerr, unix.EBUSY) {
		rerr = c.RemoveDeferred(name)
	}
	if rerr != nil {
		return errors.Join(err, fmt.Errorf("the half-made device is left behind: %w", rerr))
	}
	return err
}

// resume activates the loaded table: DM_DEV_SUSPEND without DM_SUSPEND_FLAG.
func (c *Control) resume(name string) error {
	_, _, err := c.do(cmdDevSuspend, header{Name: name}, nil, 0)
	return err
}

// Remove removes the device name and its tables. It fails with EBUSY while the device is
// open (mounted, or a layer above uses it).
func (c *Control) Remove(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("dm remove: %w", err)
	}
	_, _, err := c.do(cmdDevRemove, header{Name: name}, nil, 0)
	return err
}

// RemoveDeferred removes the device name now if it is not open, or else marks it so that
// the kernel removes it when its last opener closes it (DM_DEFERRED_REMOVE).
func (c *Control) RemoveDeferred(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("dm remove: %w", err)
	}
	_, _, err := c.do(cmdDevRemove, header{Name: name, Flags: flagDeferRemove}, nil, 0)
	return err
}

// List returns every device-mapper device, with its uuid on kernels 5.14 and later.
func (c *Control) List() ([]Device, error) {
	h, data, err := c.do(cmdListDevices, header{Flags: flagUUID}, nil, firstDataBuffer)
	if err != nil {
		return nil, err
	}
	devs, err := decodeNameList(data)
	if err != nil {
		return nil, c.err(cmdListDevices, "", fmt.Errorf("ioctl version %d.%d: %w", h.Version[0], h.Version[1], err))
	}
	return devs, nil
}

// Info returns the state of the device name.
func (c *Control) Info(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, fmt.Errorf("dm status: %w", err)
	}
	h, _, err := c.do(cmdDevStatus, header{Name: name}, nil, 0)
	if err != nil {
		return Info{}, err
	}
	return Info{
		Device:        Device{Name: h.Name, UUID: h.UUID, Major: unix.Major(h.Dev), Minor: unix.Minor(h.Dev)},
		OpenCount:     h.OpenCount,
		TargetCount:   h.TargetCount,
		EventNr:       h.EventNr,
		ReadOnly:      h.Flags&flagReadOnly != 0,
		Suspended:     h.Flags&flagSuspend != 0,
		LiveTable:     h.Flags&flagActivePresent != 0,
		InactiveTable: h.Flags&flagInactive != 0,
	}, nil
}

// Table returns the live table of the device name, as the kernel prints it back (what
// `dmsetup table` shows): each target's parameters in the target's canonical form, devices
// as MAJ:MIN. A dm-crypt key shows as its keyring reference.
func (c *Control) Table(name string) ([]Target, error) {
	return c.tableStatus(name, flagStatusTable)
}

// Status returns each target of the live table with its status line as Params (what
// `dmsetup status` shows).
func (c *Control) Status(name string) ([]Target, error) {
	return c.tableStatus(name, 0)
}

func (c *Control) tableStatus(name string, flags uint32) ([]Target, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("dm table status: %w", err)
	}
	h, data, err := c.do(cmdTableStatus, header{Name: name, Flags: flags}, nil, firstDataBuffer)
	if err != nil {
		return nil, err
	}
	table, err := decodeTargets(data, h.TargetCount)
	clear(data)
	if err != nil {
		return nil, c.err(cmdTableStatus, name, err)
	}
	return table, nil
}
