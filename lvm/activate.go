package lvm

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/earlyroot/earlyroot/dm"
)

// Creator makes and removes dm devices; *dm.Control is one.
type Creator interface {
	Create(name, uuid string, readOnly bool, table []dm.Target) (dm.Device, error)
	Remove(name string) error
}

// Statuser reads a device's status lines; *dm.Control is one. When the
// Creator is also a Statuser, Activate checks each thin pool it loads.
type Statuser interface {
	Status(name string) ([]dm.Target, error)
}

// ThinPoolCheck is what lvm checks of a thin pool once its table is
// loaded: the kernel's transaction id must be the one in the metadata
// (lvm refuses the pool otherwise: its metadata and the pool's disagree),
// and the pool must not be failed or flagged needs_check.
type ThinPoolCheck struct {
	TransactionID uint64
}

// Check reads a thin-pool status line: "<transaction id> <used>/<total
// metadata> <used>/<total data> <held root> ro|rw|out_of_data_space
// … needs_check|- …", or "Fail", or "Error".
func (c ThinPoolCheck) Check(status string) error {
	f := strings.Fields(status)
	if len(f) == 0 || f[0] == "Fail" || f[0] == "Error" {
		return fmt.Errorf("thin pool failed (status %q)", status)
	}
	id, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return fmt.Errorf("thin pool status %q: %w", status, err)
	}
	if id != c.TransactionID {
		return fmt.Errorf("thin pool transaction_id is %d, the lvm metadata expects %d (repair with lvconvert --repair)", id, c.TransactionID)
	}
	for _, w := range f[1:] {
		if w == "needs_check" {
			return errors.New("thin pool metadata needs checking (thin_check, lvconvert --repair)")
		}
	}
	return nil
}

// Activate creates the devices of a plan in order. Devices already in
// existing (dm name → "MAJ:MIN": made by an earlier call, or found with
// dm.Control.List) are used as they are. It returns existing plus the
// devices made. When a device cannot be made, the ones this call made are
// removed again, newest first, and the error says which failed; so
// are they when a thin pool's status disagrees with the metadata
// (ThinPoolCheck), if c can read statuses.
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
		if st, ok := c.(Statuser); ok && d.ThinPool != nil {
			lines, err := st.Status(d.Name)
			if err == nil && len(lines) != 1 {
				err = fmt.Errorf("%d status lines", len(lines))
			}
			if err == nil {
				err = d.ThinPool.Check(lines[0].Params)
			}
			if err != nil {
				return undo(fmt.Errorf("lvm %s: %s: %w", d.LV, d.Name, err))
			}
		}
	}
	return devs, nil
}
