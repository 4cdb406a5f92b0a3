package dm

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeKernel answers the device-mapper ioctls from memory, checking every request the way
// the kernel does (interface version, sizes, table layout), and records the commands.
type fakeKernel struct {
	t      *testing.T
	devs   map[string]*fakeDev
	calls  []string       // "create NAME", "load NAME ro=false n=2", …
	fail   map[uint]error // command -> errno to return instead of acting
	minor  uint32
	sizes  []int // buffer sizes of data-returning commands, to see the retries
	loaded [][]byte
	// openOnCreate opens every new device, as a prober reacting to the add uevent would.
	openOnCreate bool
}

type fakeDev struct {
	uuid                string
	minor               uint32
	live, inactive      []Target
	readOnly, suspended bool
	open                int  // openers, set by tests
	removeOnClose       bool // a deferred removal is pending
}

func newFake(t *testing.T) *fakeKernel {
	return &fakeKernel{t: t, devs: map[string]*fakeDev{}, fail: map[uint]error{}}
}

func (k *fakeKernel) Ioctl(cmd uint, buf []byte) error {
	nr := cmd & 0xff
	if cmd != iowr(nr) {
		k.t.Fatalf("ioctl %#x is not _IOWR(0xfd, %d, struct dm_ioctl)", cmd, nr)
	}
	h, err := parseHeader(buf)
	if err != nil {
		k.t.Fatal(err)
	}
	if h.Version[0] != 4 || int(h.DataSize) != len(buf) || h.DataStart != headerSize {
		k.t.Fatalf("%s: version %v data_size %d (buffer %d) data_start %d", cmdNames[nr], h.Version, h.DataSize, len(buf), h.DataStart)
	}
	if err := k.fail[nr]; err != nil {
		k.calls = append(k.calls, cmdNames[nr]+" "+h.Name+" (fails)")
		return err
	}
	d := k.devs[h.Name]
	needDev := func() error {
		if d == nil {
			return unix.ENXIO
		}
		return nil
	}
	out := h
	out.Version = [3]uint32{4, 47, 0}
	out.DataSize = headerSize
	switch nr {
	case cmdVersion:
		k.calls = append(k.calls, "version")
	case cmdDevCreate:
		k.calls = append(k.calls, "create "+h.Name+" "+h.UUID)
		if d != nil {
			return unix.EBUSY
		}
		k.devs[h.Name] = &fakeDev{uuid: h.UUID, minor: k.minor, suspended: true}
		if k.openOnCreate {
			k.devs[h.Name].open = 1
		}
		out.Dev = unix.Mkdev(253, k.minor)
		k.minor++
	case cmdTableLoad:
		k.calls = append(k.calls, fmt.Sprintf("load %s ro=%v secure=%v n=%d", h.Name, h.Flags&flagReadOnly != 0, h.Flags&flagSecureData != 0, h.TargetCount))
		if err := needDev(); err != nil {
			return err
		}
		table, err := k.parseLoad(buf, h)
		if err != nil {
			k.t.Errorf("table load: %v", err)
			return unix.EINVAL
		}
		d.inactive, d.readOnly = table, h.Flags&flagReadOnly != 0
		k.loaded = append(k.loaded, buf)
	case cmdDevSuspend:
		k.calls = append(k.calls, fmt.Sprintf("suspend %s suspend=%v cookie=%d", h.Name, h.Flags&flagSuspend != 0, h.EventNr))
		if err := needDev(); err != nil {
			return err
		}
		if h.Flags&flagSuspend != 0 {
			d.suspended = true
		} else {
			if d.inactive != nil {
				d.live, d.inactive = d.inactive, nil
			}
			d.suspended = false
		}
	case cmdDevRemove:
		deferred := h.Flags&flagDeferRemove != 0
		if deferred {
			k.calls = append(k.calls, "remove deferred "+h.Name)
		} else {
			k.calls = append(k.calls, "remove "+h.Name)
		}
		if err := needDev(); err != nil {
			return err
		}
		if d.open > 0 {
			if !deferred {
				return unix.EBUSY
			}
			d.removeOnClose = true
			break
		}
		delete(k.devs, h.Name)
	case cmdDevStatus:
		k.calls = append(k.calls, "status "+h.Name)
		if err := needDev(); err != nil {
			return err
		}
		out.UUID, out.Dev, out.TargetCount = d.uuid, unix.Mkdev(253, d.minor), uint32(len(d.live))
		out.Flags = 0
		if d.readOnly {
			out.Flags |= flagReadOnly
		}
		if d.suspended {
			out.Flags |= flagSuspend
		}
		if d.live != nil {
			out.Flags |= flagActivePresent
		}
		if d.inactive != nil {
			out.Flags |= flagInactive
		}
	case cmdListDevices:
		k.calls = append(k.calls, "list")
		k.sizes = append(k.sizes, len(buf))
		var devs []Device
		for _, name := range slices.Sorted(maps.Keys(k.devs)) {
			fd := k.devs[name]
			devs = append(devs, Device{Name: name, UUID: fd.uuid, Major: 253, Minor: fd.minor})
		}
		k.reply(&out, buf, nameListReply(devs, h.Flags&flagUUID != 0))
	case cmdTableStatus:
		k.calls = append(k.calls, fmt.Sprintf("table status %s table=%v", h.Name, h.Flags&flagStatusTable != 0))
		k.sizes = append(k.sizes, len(buf))
		if err := needDev(); err != nil {
			return err
		}
		table := d.live
		if h.Flags&flagStatusTable == 0 {
			table = nil
			for _, tg := range d.live {
				tg.Params = "status of " + tg.Type
				table = append(table, tg)
			}
		}
		out.TargetCount = uint32(len(table))
		k.reply(&out, buf, statusReply(table))
	default:
		k.t.Fatalf("unexpected command %d", nr)
	}
	return out.put(buf)
}

// reply copies data after the header, or sets DM_BUFFER_FULL_FLAG when it does not fit.
func (k *fakeKernel) reply(out *header, buf, data []byte) {
	if headerSize+len(data) > len(buf) {
		out.Flags |= flagBufferFull
		return
	}
	copy(buf[headerSize:], data)
	out.DataSize = uint32(headerSize + len(data))
}

// parseLoad reads a DM_TABLE_LOAD request as the kernel's populate_table does: the first
// spec at data_start, each next one spec.next bytes after the current, 8-byte aligned,
// with NUL-terminated parameters inside data_size.
func (k *fakeKernel) parseLoad(buf []byte, h header) ([]Target, error) {
	var table []Target
	off := int(h.DataStart)
	for i := uint32(0); i < h.TargetCount; i++ {
		if off%8 != 0 || off+specSize > int(h.DataSize) {
			return nil, fmt.Errorf("spec %d at %d", i, off)
		}
		s := buf[off:h.DataSize]
		end := bytes.IndexByte(s[specSize:], 0)
		if end < 0 {
			return nil, fmt.Errorf("spec %d: unterminated params", i)
		}
		table = append(table, Target{ne.Uint64(s), ne.Uint64(s[8:]), cstring(s[specOffType : specOffType+typeNameLen]), string(s[specSize : specSize+end])})
		next := int(ne.Uint32(s[specOffNext:]))
		if next < specSize {
			return nil, fmt.Errorf("spec %d: next %d", i, next)
		}
		off += next
	}
	return table, nil
}

func TestCreateSequence(t *testing.T) {
	k := newFake(t)
	c := New(k)
	table := []Target{
		{0, 2048, "linear", "8:1 0"},
		{2048, 4096, "crypt", "aes-xts-plain64 :64:logon:cryptsetup:u-d0 0 8:2 4096"},
	}
	d, err := c.Create("root", "CRYPT-LUKS2-u-root", true, table)
	if err != nil {
		t.Fatal(err)
	}
	if d != (Device{Name: "root", UUID: "CRYPT-LUKS2-u-root", Major: 253, Minor: 0}) || d.DevNum() != "253:0" {
		t.Errorf("device %+v", d)
	}
	want := []string{
		"create root CRYPT-LUKS2-u-root",
		"load root ro=true secure=true n=2",
		"suspend root suspend=false cookie=0",
	}
	if !slices.Equal(k.calls, want) {
		t.Errorf("calls %q\nwant %q", k.calls, want)
	}
	if fd := k.devs["root"]; fd == nil || !slices.Equal(fd.live, table) || fd.suspended || !fd.readOnly {
		t.Errorf("kernel state %+v", fd)
	}
	// The load buffer, which held the table, is wiped.
	for _, b := range k.loaded {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Error("table load buffer not wiped after the ioctl")
		}
	}

	got, err := c.Table("root")
	if err != nil || !slices.Equal(got, table) {
		t.Errorf("Table = %+v, %v", got, err)
	}
	st, err := c.Status("root")
	if err != nil || len(st) != 2 || st[1].Params != "status of crypt" {
		t.Errorf("Status = %+v, %v", st, err)
	}
	info, err := c.Info("root")
	if err != nil || info.Minor != 0 || info.UUID != "CRYPT-LUKS2-u-root" || !info.ReadOnly || info.Suspended || !info.LiveTable || info.InactiveTable || info.TargetCount != 2 {
		t.Errorf("Info = %+v, %v", info, err)
	}
	if _, err := c.Create("root", "", false, table); !errors.Is(err, unix.EBUSY) {
		t.Errorf("second create of root: %v, want EBUSY", err)
	}
	if err := c.Remove("root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info("root"); !errors.Is(err, unix.ENXIO) || !strings.Contains(err.Error(), "dm status root") {
		t.Errorf("Info after remove: %v, want a wrapped ENXIO", err)
	}
}

// TestCreateCleanup checks that a device whose table cannot be loaded or resumed is
// removed again, and that a failed removal is reported with the cause.
func TestCreateCleanup(t *testing.T) {
	table := []Target{{0, 8, "linear", "8:1 0"}}
	for _, tc := range []struct {
		name  string
		fail  map[uint]error
		calls []string
		left  bool
		want  []error
	}{
		{"create fails", map[uint]error{cmdDevCreate: unix.ENOMEM},
			[]string{"create x (fails)"}, false, []error{unix.ENOMEM}},
		{"load fails", map[uint]error{cmdTableLoad: unix.EINVAL},
			[]string{"create x u", "table load x (fails)", "remove x"}, false, []error{unix.EINVAL}},
		{"resume fails", map[uint]error{cmdDevSuspend: unix.EIO},
			[]string{"create x u", "load x ro=false secure=true n=1", "suspend x (fails)", "remove x"}, false, []error{unix.EIO}},
		{"load fails, device held open", map[uint]error{cmdTableLoad: unix.EINVAL},
			[]string{"create x u", "table load x (fails)", "remove x", "remove deferred x"}, true, []error{unix.EINVAL}},
		{"load and remove fail", map[uint]error{cmdTableLoad: unix.EINVAL, cmdDevRemove: unix.EIO},
			[]string{"create x u", "table load x (fails)", "remove x (fails)"}, true, []error{unix.EINVAL, unix.EIO}},
		{"load fails, removal busy even deferred", map[uint]error{cmdTableLoad: unix.EINVAL, cmdDevRemove: unix.EBUSY},
			[]string{"create x u", "table load x (fails)", "remove x (fails)", "remove x (fails)"}, true, []error{unix.EINVAL, unix.EBUSY}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFake(t)
			k.fail = tc.fail
			if strings.Contains(tc.name, "held open") {
				k.openOnCreate = true
			}
			_, err := New(k).Create("x", "u", false, table)
			if tc.fail[cmdTableLoad] == unix.EINVAL && !strings.Contains(fmt.Sprint(err), "kernel log") {
				t.Errorf("a refused table load does not point at the kernel log: %v", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not wrap %v", err, w)
				}
			}
			if !slices.Equal(k.calls, tc.calls) {
				t.Errorf("calls %q\nwant %q", k.calls, tc.calls)
			}
			if _, ok := k.devs["x"]; ok != tc.left {
				t.Errorf("device left behind: %v, want %v", ok, tc.left)
			}
		})
	}
}

func TestCreateRejectsBeforeIoctl(t *testing.T) {
	for _, tc := range []struct {
		name, dev, uuid string
		table           []Target
	}{
		{"bad name", "a/b", "", []Target{{0, 8, "linear", "8:1 0"}}},
		{"long uuid", "a", strings.Repeat("u", 129), []Target{{0, 8, "linear", "8:1 0"}}},
		{"bad table", "a", "", []Target{{1, 8, "linear", "8:1 0"}}},
	} {
		k := newFake(t)
		if _, err := New(k).Create(tc.dev, tc.uuid, false, tc.table); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if len(k.calls) != 0 {
			t.Errorf("%s: ioctls issued: %q", tc.name, k.calls)
		}
	}
}

func TestListAndBufferFull(t *testing.T) {
	k := newFake(t)
	c := New(k)
	if devs, err := c.List(); err != nil || len(devs) != 0 {
		t.Fatalf("empty List = %+v, %v", devs, err)
	}
	// Enough devices with long uuids that the reply outgrows the first buffer twice.
	var want []Device
	for i := range 300 {
		name := fmt.Sprintf("dev%03d", i)
		uuid := "LVM-" + strings.Repeat(fmt.Sprintf("%03d", i), 40)
		d, err := c.Create(name, uuid, false, []Target{{0, 8, "zero", ""}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	k.sizes = nil
	got, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List returned %d devices, first %+v", len(got), got[0])
	}
	if len(k.sizes) != 3 || k.sizes[0] != firstDataBuffer || k.sizes[2] != 4*firstDataBuffer {
		t.Errorf("buffer sizes %v, want %d doubled twice", k.sizes, firstDataBuffer)
	}

	// A table whose status outgrows the first buffer.
	big := []Target{{0, 8, "linear", strings.Repeat("p", 20000)}}
	if _, err := c.Create("big", "", false, big); err != nil {
		t.Fatal(err)
	}
	k.sizes = nil
	tb, err := c.Table("big")
	if err != nil || len(tb) != 1 || tb[0].Params != big[0].Params || len(k.sizes) != 2 {
		t.Errorf("Table(big): %d targets, %v, sizes %v", len(tb), err, k.sizes)
	}
}

// fullKernel always answers DM_BUFFER_FULL_FLAG.
type fullKernel struct{ calls int }

func (f *fullKernel) Ioctl(cmd uint, buf []byte) error {
	f.calls++
	h, _ := parseHeader(buf)
	h.Flags |= flagBufferFull
	return h.put(buf)
}

func TestBufferFullBounded(t *testing.T) {
	f := &fullKernel{}
	if _, err := New(f).List(); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("List against a kernel that is never satisfied: %v", err)
	}
	if f.calls > 12 {
		t.Errorf("%d tries", f.calls)
	}
}

func TestVersionAndRemoveErrors(t *testing.T) {
	k := newFake(t)
	c := New(k)
	v, err := c.Version()
	if err != nil || v != [3]uint32{4, 47, 0} {
		t.Errorf("Version = %v, %v", v, err)
	}
	if err := c.Remove("missing"); !errors.Is(err, unix.ENXIO) || !strings.Contains(err.Error(), "dm remove missing") {
		t.Errorf("Remove(missing) = %v", err)
	}
	if err := c.Remove(""); err == nil {
		t.Error("Remove(\"\") accepted")
	}
	if _, err := c.Table("missing"); !errors.Is(err, unix.ENXIO) {
		t.Errorf("Table(missing) = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close of a fake: %v", err)
	}
	if _, err := Open("/nonexistent/control"); err == nil {
		t.Error("Open of a missing node succeeded")
	}
}
