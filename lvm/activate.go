package lvm

import (
	"errors"
	"fmt"
	"maps"

	"github.com/earlyroot/earlyroot/dm"
)

// Creator makes and removes dm devices; *dm.Control is one.
type Creator interface {
	Create(name, uuid string, readOnly bool, table []dm.Target) (dm.Device, error)
	Remove(name string) error
}

// Activate creates the devices of a plan in order. Devices already in
// existing (dm name → "MAJ:MIN": made by an earlier call, or found with
// dm.Control.List) are used as they are. It returns existing plus the
// devices made. When a device cannot be made, the ones this call made are
// removed again, newest first, and the error says which failed.
func Activate(c Creator, plan []*Device, existing map[string]string) (map[string]string, error) {
	devs := maps.Clone(existing)
	if devs == nil {
		devs = map[string]string{}
	}
	var made []string
	undo := func(err error) (map[string]string, error) {
		for i := len(made) - 1; i >= 0; i-- {
			if rerr := c.Remove(made[i]); rerr != nil {
				err = errors.Join(err, fmt.Errorf("removing %s again: %w", made[i], rerr))
			}
		}
		return nil, err
	}
	lookup := func(name string) (string, error) {
		if d, ok := devs[name]; ok {
			return d, nil
		}
		return "", errors.New("not created")
	}
	for _, d := range plan {
		if _, ok := devs[d.Name]; ok {
			continue
		}
		tbl, err := d.Table(lookup)
		if err != nil {
			return undo(err)
		}
		dev, err := c.Create(d.Name, d.UUID, d.ReadOnly, tbl)
		if err != nil {
			return undo(fmt.Errorf("lvm %s: create %s: %w", d.LV, d.Name, err))
		}
		made = append(made, d.Name)
		devs[d.Name] = dev.DevNum()
	}
	return devs, nil
}
