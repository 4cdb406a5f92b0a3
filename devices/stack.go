package devices

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// AddLink makes devDir/link (e.g. "md/root", "VG/LV", "disk/by-id/md-uuid-…") a symlink
// to the device devDir/name, relative as udev makes them, replacing what was there, and
// wakes every Wait: a root= naming the link may resolve now. Layers use it for the names
// udev's rules would give the devices they make.
func (r *Registry) AddLink(link, name string) error {
	if !filepath.IsLocal(link) || !filepath.IsLocal(name) || strings.Contains(name, "/") {
		return fmt.Errorf("link %q to %q: bad name", link, name)
	}
	dir, base := filepath.Split(filepath.Clean(link))
	target := strings.Repeat("../", strings.Count(dir, "/")) + name
	defer r.notify()
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	if err := replaceSymlink(filepath.Join(r.devDir, dir), base, target); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

// WaitUntil blocks until ready, asked with every device known each time one is added or a
// link made, returns true, or returns ctx's error.
func (r *Registry) WaitUntil(ctx context.Context, ready func([]Device) bool) error {
	for {
		r.mu.Lock()
		devs := r.sortedLocked()
		ch := r.changed
		r.mu.Unlock()
		if ready(devs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Changed wakes every Wait and WaitUntil to look again, for a caller whose readiness
// depends on more than the devices (a layer's own state).
func (r *Registry) Changed() { r.notify() }
