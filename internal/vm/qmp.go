package vm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// qmpConn is one QMP session (capabilities already negotiated).
type qmpConn struct {
	c net.Conn
	r *bufio.Reader
}

func (q *qmpConn) close() { q.c.Close() }

type qmpReply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
	QMP   any    `json:"QMP"`
}

const qmpTimeout = 30 * time.Second

// dialQMP connects to the QMP socket at path, trying for up to patience
// while QEMU starts (and giving up when done is closed), and negotiates
// capabilities.
func dialQMP(path string, done <-chan struct{}, patience time.Duration) (*qmpConn, error) {
	c, err := dialSocket(path, done, patience)
	if err != nil {
		return nil, err
	}
	q := &qmpConn{c: c, r: bufio.NewReader(c)}
	if _, err := q.read(); err != nil { // greeting
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := q.do("qmp_capabilities", nil); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpConn) read() (qmpReply, error) {
	q.c.SetReadDeadline(time.Now().Add(qmpTimeout))
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return qmpReply{}, err
	}
	var r qmpReply
	if err := json.Unmarshal(line, &r); err != nil {
		return qmpReply{}, fmt.Errorf("decode %q: %w", line, err)
	}
	return r, nil
}

func (q *qmpConn) do(cmd string, arguments any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if arguments != nil {
		req["arguments"] = arguments
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	q.c.SetWriteDeadline(time.Now().Add(qmpTimeout))
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	for {
		r, err := q.read()
		if err != nil {
			return nil, err
		}
		if r.Event != "" || r.QMP != nil {
			continue
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", r.Error.Class, r.Error.Desc)
		}
		return r.Return, nil
	}
}

// watchEvents reads the VM's event monitor until QEMU closes it and records
// the reason of QEMU's SHUTDOWN event. QEMU does not wait for it: the
// socket is connected as soon as it exists, long before a guest can shut
// down (the kernel alone needs far longer to boot).
func (v *VM) watchEvents() {
	defer close(v.events)
	q, err := dialQMP(filepath.Join(v.dir, eventSocket), v.exited, qmpTimeout)
	if err != nil {
		return
	}
	defer q.close()
	q.c.SetReadDeadline(time.Time{})
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return
		}
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				Reason string `json:"reason"`
			} `json:"data"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Event == "SHUTDOWN" {
			v.mu.Lock()
			if v.shutdown == "" {
				v.shutdown = ev.Data.Reason
			}
			v.mu.Unlock()
		}
	}
}

// QMP runs one QMP command (e.g. "system_powerdown", "query-block") and
// returns its "return" value. It needs Config.Monitor.
func (v *VM) QMP(command string, arguments any) (json.RawMessage, error) {
	v.qmpMu.Lock()
	defer v.qmpMu.Unlock()
	return v.qmpLocked(command, arguments)
}

func (v *VM) qmpLocked(command string, arguments any) (json.RawMessage, error) {
	if !v.cfg.Monitor {
		return nil, fmt.Errorf("qmp %s: VM started without Config.Monitor", command)
	}
	if v.qmp == nil {
		q, err := dialQMP(filepath.Join(v.dir, qmpSocket), v.done, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("qmp %s: connect: %w", command, err)
		}
		v.qmp = q
	}
	r, err := v.qmp.do(command, arguments)
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	return r, nil
}

// hotState tracks what Hotplug has added (guarded by VM.qmpMu).
type hotState struct {
	machine string
	n       int            // hot-plugged drives so far (node names)
	port    int            // next free PCIe root port
	count   map[string]int // drives per bus, cold and hot
	ctrl    map[string]bool
}

func newHotState(cfg Config) hotState {
	h := hotState{machine: machine(cfg), count: map[string]int{}, ctrl: map[string]bool{}}
	for _, d := range cfg.Drives {
		b := d.Bus
		if b == "" {
			b = BusVirtioBlk
		}
		h.count[b]++
		h.ctrl[b] = true
		if b == BusUSBStorage || b == BusUSBUAS {
			h.ctrl["xhci"] = true
		}
	}
	return h
}

// pciBus returns the device_add "bus" for a new PCI device: a free PCIe
// root port on q35, the root bus ("" = default) on pc.
func (h *hotState) pciBus() (string, error) {
	if h.machine != "q35" {
		return "", nil
	}
	if h.port >= hotplugPorts {
		return "", fmt.Errorf("all %d hot-plug root ports in use", hotplugPorts)
	}
	h.port++
	return fmt.Sprintf("hp%d", h.port-1), nil
}

// Hotplug attaches d to the running VM through QMP (Config.Monitor must be
// set). Supported buses: virtio-blk (virtio-blk-pci on a free root port),
// virtio-scsi (scsi-hd on vscsi0, adding the controller if the VM has
// none) and usb-storage (adding qemu-xhci if needed).
func (v *VM) Hotplug(d Drive) error {
	v.qmpMu.Lock()
	defer v.qmpMu.Unlock()
	if err := v.hotplug(d); err != nil {
		return fmt.Errorf("hotplug %s: %w", d.Path, err)
	}
	return nil
}

func (v *VM) hotplug(d Drive) error {
	bus := d.Bus
	if bus == "" {
		bus = BusVirtioBlk
	}
	h := &v.hot
	node := fmt.Sprintf("hp-drive%d", h.n)
	dev := map[string]any{"id": fmt.Sprintf("hp-dev%d", h.n), "drive": node}
	if d.Serial != "" {
		dev["serial"] = d.Serial
	}
	switch bus {
	case BusVirtioBlk:
		pb, err := h.pciBus()
		if err != nil {
			return err
		}
		dev["driver"] = "virtio-blk-pci"
		if pb != "" {
			dev["bus"] = pb
		}
	case BusVirtioSCSI:
		if err := v.ensureController(bus, "virtio-scsi-pci", "vscsi0"); err != nil {
			return err
		}
		dev["driver"], dev["bus"] = "scsi-hd", "vscsi0.0"
		dev["scsi-id"], dev["lun"] = h.count[bus], 0
	case BusUSBStorage:
		if err := v.ensureController("xhci", "qemu-xhci", "xhci0"); err != nil {
			return err
		}
		dev["driver"], dev["bus"] = "usb-storage", "xhci0.0"
	default:
		return fmt.Errorf("bus %q cannot be hot-plugged", d.Bus)
	}
	if err := v.blockdevAdd(node, d); err != nil {
		return err
	}
	h.n++
	if _, err := v.qmpLocked("device_add", dev); err != nil {
		return err
	}
	h.count[bus]++
	return nil
}

func (v *VM) ensureController(key, driver, id string) error {
	h := &v.hot
	if h.ctrl[key] {
		return nil
	}
	pb, err := h.pciBus()
	if err != nil {
		return err
	}
	dev := map[string]any{"driver": driver, "id": id}
	if pb != "" {
		dev["bus"] = pb
	}
	if _, err := v.qmpLocked("device_add", dev); err != nil {
		return err
	}
	h.ctrl[key] = true
	return nil
}

func (v *VM) blockdevAdd(node string, d Drive) error {
	if d.Path == "" {
		return errors.New("drive has no path")
	}
	f := d.Format
	if f == "" {
		f = "raw"
	}
	arg := map[string]any{
		"driver": f, "node-name": node, "read-only": d.ReadOnly,
		"file": map[string]any{"driver": "file", "filename": d.Path, "read-only": d.ReadOnly},
	}
	_, err := v.qmpLocked("blockdev-add", arg)
	return err
}

// dialSocket connects to one of the unix sockets QEMU creates as it starts, trying for up
// to patience; ErrExited once done is closed (QEMU is gone).
func dialSocket(path string, done <-chan struct{}, patience time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	for i := time.Duration(0); i < patience; i += 50 * time.Millisecond {
		c, err = net.Dial("unix", path)
		if err == nil {
			return c, nil
		}
		select {
		case <-done:
			return nil, ErrExited
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, err
}

// DialGDB connects to the gdbstub of a VM started with Config.GDB.
func (v *VM) DialGDB(patience time.Duration) (net.Conn, error) {
	if !v.cfg.GDB {
		return nil, errors.New("dial gdbstub: the VM was started without Config.GDB")
	}
	c, err := dialSocket(filepath.Join(v.dir, gdbSocket), v.exited, patience)
	if err != nil {
		return nil, fmt.Errorf("dial gdbstub: %w", err)
	}
	return c, nil
}
