package devices

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/earlyroot/earlyroot/mount"
)

// DMName returns the device-mapper name and uuid of the block device d as the kernel
// publishes them in sysfs (/sys/block/dm-N/dm/name and uuid), and whether d is a
// device-mapper device at all. The uuid may be empty.
func DMName(sysfs string, d Device) (name, uuid string, ok bool) {
	dir := filepath.Join(sysfs, "block", d.Name, "dm")
	raw, err := os.ReadFile(filepath.Join(dir, "name"))
	if err != nil {
		return "", "", false
	}
	name = strings.TrimSpace(string(raw))
	if raw, err := os.ReadFile(filepath.Join(dir, "uuid")); err == nil {
		uuid = strings.TrimSpace(string(raw))
	}
	return name, uuid, name != ""
}

// LinkDM gives a device-mapper device the names udev's dm rules give it: devDir/mapper/NAME
// pointing at ../dm-N, and devDir/disk/by-id/dm-name-NAME and dm-uuid-UUID pointing at
// ../../dm-N, with name and uuid read from sysfs (DMName), so that a device made by any
// layer gets them. It returns the dm name, "" for a device that is not device-mapper's,
// and wakes every Wait (root=/dev/mapper/NAME resolves now).
func (r *Registry) LinkDM(sysfs string, d Device) (string, error) {
	name, uuid, ok := DMName(sysfs, d)
	if !ok {
		return "", nil
	}
	if !filepath.IsLocal(d.Name) || strings.Contains(d.Name, "/") {
		return name, fmt.Errorf("dm links for %q: bad device name", d.Name)
	}
	defer r.notify()
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	var errs []error
	if filepath.IsLocal(name) && !strings.Contains(name, "/") {
		errs = append(errs, replaceSymlink(filepath.Join(r.devDir, "mapper"), name, "../"+d.Name))
	} else {
		errs = append(errs, fmt.Errorf("dm name %q cannot be a file name", name))
	}
	byID := filepath.Join(r.devDir, "disk", "by-id")
	target := "../../" + d.Name
	errs = append(errs, replaceSymlink(byID, mount.LinkName("dm-name-"+name), target))
	if uuid != "" {
		errs = append(errs, replaceSymlink(byID, mount.LinkName("dm-uuid-"+uuid), target))
	}
	if err := errors.Join(errs...); err != nil {
		return name, fmt.Errorf("dm links for %s (%s): %w", d.Name, name, err)
	}
	return name, nil
}
