package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/earlyroot/earlyroot/mount"
)

// resumeWait bounds how long the boot waits for a resume= device once the root is there:
// both are usually on the same disk, and a missing swap must not hold the boot.
const resumeWait = 3 * time.Second

// resume implements resume=: when the swap device holds a hibernation image, its MAJ:MIN is
// written to /sys/power/resume before the root is mounted, and the kernel restores the image
// (the write does not return then). Without an image the boot goes on.
func (b *Boot) resume(ctx context.Context) {
	if b.cfg.Resume == "" {
		return
	}
	spec, err := mount.ParseSpec(b.cfg.Resume)
	if err != nil {
		b.log.Warnf("resume=%s: %v; not resuming", b.cfg.Resume, err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, resumeWait)
	defer cancel()
	dev, err := b.reg.Wait(ctx, spec)
	if err != nil {
		b.log.Warnf("resume=%s: device not found within %v; not resuming", b.cfg.Resume, resumeWait)
		return
	}
	if !dev.Info.Hibernated {
		b.log.Infof("resume=%s: %s holds no hibernation image; normal boot", b.cfg.Resume, dev.Path)
		return
	}
	b.log.Infof("resume=%s: hibernation image on %s, resuming", b.cfg.Resume, dev.Path)
	devnum := fmt.Sprintf("%d:%d", dev.Major, dev.Minor)
	if err := os.WriteFile(filepath.Join(b.sys.Sys, "power/resume"), []byte(devnum), 0o200); err != nil {
		b.log.Errorf("resume from %s (%s): %v; normal boot", dev.Path, devnum, err)
	}
}
