package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/earlyroot/earlyroot/devices"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/keyring"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/probe"
)

// Stacking layers (LUKS, and later LVM and MD) turn probed member devices into new block
// devices. The dispatch is generic: every probed device whose probe.Info.Layer is set goes
// to its layer, and the device a layer makes (dm-N) arrives as a uevent like any disk and
// goes through the same probe → registry → layers path, so a layer on a layer needs no
// special case.

// layers hands a probed device to the layer it is a member of, after giving a
// device-mapper device its /dev/mapper and by-id names.
func (b *Boot) layers(d devices.Device) {
	if strings.HasPrefix(d.Name, "dm-") && b.dmLive(d) {
		if _, err := b.reg.LinkDM(b.sys.Sys, d); err != nil {
			b.log.Debugf("%v", err)
		}
	}
	switch d.Info.Layer {
	case "":
		if d.Info.Type == "btrfs" {
			b.addBtrfs(d) // a member of a multi-device btrfs is registered (btrfs.go)
		}
	case probe.LayerLUKS:
		b.luksMember(d)
	case probe.LayerMD:
		b.addMD(d) // md.go
	case probe.LayerLVM2:
		b.addLVM(d) // lvm.go
	default:
		b.log.Debugf("%s: %s member: this layer is not handled yet", d.Path, d.Info.Layer)
	}
}

// worthProbing reports whether a block event's device has anything to probe yet: a
// device-mapper device announced before its table is live has no size, and the event that
// makes it live follows. Skipping it here, in event order, keeps a probe of the empty device
// from landing in the registry after the probe of the live one.
//
// An md array is announced the same way: "add" when it is created, empty, and "change" once
// it runs.
func (b *Boot) worthProbing(d devices.Device) bool {
	return !(strings.HasPrefix(d.Name, "dm-") || strings.HasPrefix(d.Name, "md")) || d.Size > 0
}

// dmLive reports whether a device-mapper device has been resumed and read: only then does
// it get its /dev/mapper name, so that root=/dev/mapper/NAME never finds a device whose
// contents were not seen yet. (One announced before its table is loaded has no size and
// never gets here: worthProbing.)
func (b *Boot) dmLive(d devices.Device) bool {
	raw, err := os.ReadFile(filepath.Join(b.sys.Sys, "block", d.Name, "dm/suspended"))
	if err == nil && strings.TrimSpace(string(raw)) == "1" {
		return false
	}
	return d.ProbeErr == nil || errors.Is(d.ProbeErr, probe.ErrUnknown)
}

// layerState is what the wait for the root needs to know of the layers: whether one is
// busy (asking the user, or unlocking), so that the wait's clock stops, and whether one
// failed for good, which ends the wait at once with that failure as the reason.
type layerState struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	busy    int
	failure error // the first final failure since the attempt began
}

func (s *layerState) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// enter and leave bracket work that may take the user's time.
func (s *layerState) enter() {
	s.mu.Lock()
	s.busy++
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *layerState) leave(failure error) {
	s.mu.Lock()
	s.busy--
	if failure != nil && s.failure == nil {
		s.failure = failure
	}
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *layerState) snapshot() (changed <-chan struct{}, busy int, failure error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed, s.busy, s.failure
}

func (s *layerState) reset() {
	s.mu.Lock()
	s.failure = nil
	s.notifyLocked()
	s.mu.Unlock()
}

// errWaitTimeout is the cause of a wait for a device (the root's, /usr's) that ran out of time.
var errWaitTimeout = fmt.Errorf("device wait: %w", context.DeadlineExceeded)

// waitDevice waits for the device spec names (what names it in the log and the error:
// "root device root=…"), as Registry.Wait does, for timeout
// (unless forever). While a layer is busy (a passphrase prompt, a key derivation) the clock
// stops, and it starts again, whole, when none is; a layer's final failure (every try of
// the passphrase wrong, an unsupported cipher) ends the wait with that failure.
func (b *Boot) waitDevice(ctx context.Context, what string, spec mount.Spec, timeout time.Duration, forever bool) (devices.Device, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go b.watchWait(ctx, cancel, what, timeout, forever)
	dev, err := b.reg.Wait(ctx, spec)
	if err == nil {
		err = b.waitBtrfs(ctx, dev) // every member of a multi-device btrfs (btrfs.go)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		if errors.Is(err, errWaitTimeout) {
			return dev, fmt.Errorf("%s did not appear within %v%s", what, timeout, b.layersWaiting())
		}
		return dev, fmt.Errorf("waiting for %s: %w", what, err)
	}
	b.waitLayersIdle(ctx)
	return dev, nil
}

// waitLayersIdle waits, once the root is there, for the layers still at work: a device the
// command line or crypttab lists is opened before the real system starts (the prompts for
// the others went away when the root appeared).
func (b *Boot) waitLayersIdle(ctx context.Context) {
	logged := false
	for {
		changed, busy, _ := b.layer.snapshot()
		if busy == 0 {
			return
		}
		if !logged {
			b.log.Debugf("waiting for the encrypted devices being opened")
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (b *Boot) watchWait(ctx context.Context, cancel context.CancelCauseFunc, what string, timeout time.Duration, forever bool) {
	var deadline <-chan time.Time
	var timer *time.Timer
	if !forever {
		timer = time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	expired := false
	for {
		changed, busy, failure := b.layer.snapshot()
		if failure != nil && busy == 0 {
			cancel(failure)
			return
		}
		if expired && busy == 0 {
			expired = false
			timer.Reset(timeout)
			deadline = timer.C
			b.log.Infof("waiting up to %v more for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-deadline:
			if busy == 0 {
				cancel(errWaitTimeout)
				return
			}
			expired, deadline = true, nil
		}
	}
}

// retryLayers gives the layers' failed devices another try at a new attempt.
func (b *Boot) retryLayers() {
	b.retryLUKS()
}

// layersDone ends the layers' work before switch_root: no passphrase outlives the
// initramfs.
func (b *Boot) layersDone() {
	b.crypt.cache.Forget()
}

// dmCreate is the real System.DMCreate: dm.Control.Create on the control node, with the key
// in the thread keyring for the table load only.
func dmCreate(control, name, uuid string, readOnly bool, table []dm.Target, keyDesc string, key []byte) (dm.Device, error) {
	c, err := dm.Open(control)
	if err != nil {
		return dm.Device{}, err
	}
	defer c.Close()
	if keyDesc == "" {
		return c.Create(name, uuid, readOnly, table)
	}
	var d dm.Device
	err = keyring.WithLogonKey(keyDesc, key, func() error {
		var err error
		d, err = c.Create(name, uuid, readOnly, table)
		return err
	})
	return d, err
}
