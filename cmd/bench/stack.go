package main

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/earlyroot/earlyroot/internal/builder"
	"github.com/earlyroot/earlyroot/internal/vm"
)

// The layered root comparison: the generic image boots an LVM-on-MD root (the builder's
// lvm-on-md set: a raid1 over two virtio disks, a PV on the array, the root LV) and a
// plain ext4 root on two virtio disks of the same size, round-robin with the other images
// of the run. Their init stages' ratio is what the stacked layers cost: probing the
// members, assembling the array, reading the PV and loading the LV's table.
const (
	stackImage  = "lvm-on-md"
	plainImage  = "plain-2disk"
	stackRecipe = "lvm-on-md"
	stackLimit  = 1.2 // the LVM-on-MD root's init stage, at most this many times the plain root's
)

// stackImages returns the two rows of the comparison, booting the generic image of imgs
// (built here when the run has none).
func (e *benchEnv) stackImages(ctx context.Context, imgs []image) ([]image, error) {
	initrd := ""
	for _, im := range imgs {
		if im.name == "generic" {
			initrd = im.path
		}
	}
	if initrd == "" {
		im, _, err := e.mkinitramfs("generic", "")
		if err != nil {
			return nil, err
		}
		initrd = im.path
	}
	r, ok := builder.Lookup(stackRecipe)
	if !ok {
		return nil, fmt.Errorf("no builder recipe %s", stackRecipe)
	}
	fmt.Fprintf(e.log, "bench: disk set %s (the builder's cache, or one QEMU boot to make it)\n", stackRecipe)
	set, err := builder.Build(ctx, r, builder.Options{Kernel: e.k})
	if err != nil {
		return nil, err
	}
	stack := image{name: stackImage, kind: KindEarlyroot, path: initrd, root: "UUID=" + r.RootUUID,
		desc: fmt.Sprintf("generic image; root LV (root=UUID=) in a VG on an MD raid1 (1.2) over two %d MiB virtio disks (builder set %s)",
			r.Disks[0].SizeMiB, stackRecipe)}
	plain := image{name: plainImage, kind: KindEarlyroot, path: initrd,
		desc: fmt.Sprintf("generic image; plain ext4 root (root=UUID=) on the first of two %d MiB virtio disks, the %s comparison's reference",
			r.Disks[0].SizeMiB, stackImage)}
	for slot := 0; slot < e.opt.parallel; slot++ {
		s, err := e.stackDisks(set, slot)
		if err != nil {
			return nil, err
		}
		p, err := e.plainDisks(r, slot)
		if err != nil {
			return nil, err
		}
		stack.disks, plain.disks = append(stack.disks, s), append(plain.disks, p)
	}
	return []image{plain, stack}, nil
}

// stackDisks copies the set's disks for one slot: QEMU locks an image to one VM.
func (e *benchEnv) stackDisks(set *builder.Set, slot int) ([]string, error) {
	var out []string
	for i, src := range set.Disks {
		dst := e.path("images", fmt.Sprintf("%s-%d-%s.img", stackRecipe, slot, set.Recipe.Disks[i].Name))
		os.Remove(dst)
		if msg, err := runTool("cp", "--sparse=always", src, dst); err != nil {
			return nil, fmt.Errorf("copy %s: %v: %s", src, err, msg)
		}
		out = append(out, dst)
	}
	return out, nil
}

// plainDisks makes one slot's plain root: the bench's root tree as a whole-disk ext4 of
// the set's first disk's size, and an empty disk of the second's.
func (e *benchEnv) plainDisks(r builder.Recipe, slot int) ([]string, error) {
	var out []string
	for i, d := range r.Disks {
		p := e.path("images", fmt.Sprintf("%s-%d-%d.img", plainImage, slot, i))
		os.Remove(p)
		var err error
		if i == 0 {
			err = vm.MakeDisk(p, vm.Disk{FS: &vm.FS{Type: "ext4", UUID: rootUUID, Label: "bench-plain", SizeMB: d.SizeMiB,
				SrcDir: e.path("images", "root-tree")}})
		} else {
			err = os.WriteFile(p, nil, 0o644)
			if err == nil {
				err = os.Truncate(p, int64(d.SizeMiB)<<20)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s disk %d: %w", plainImage, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// stackTargets are the goal and a stricter reading of it (medians of the same
// run): the LVM-on-MD root reaches the real init (its uptime there) within stackLimit
// times the plain root's; and the part the initramfs adds, the init stage, which leaves
// out the kernel's own start (the same for both), within the same limit.
func stackTargets(rows []Row) []Target {
	uptime := medianRatio(rows, stackImage, plainImage, uptimeOf)
	stage := medianRatio(rows, stackImage, plainImage, stageOf)
	return []Target{
		{stackImage + " root: uptime at the real init vs " + plainImage + " (same disks)", stackLimit, "×", uptime, math.NaN()},
		{stackImage + " root: init stage vs " + plainImage + " (stricter: the kernel's start left out)", stackLimit, "×", stage, math.NaN()},
	}
}

// stackLine is the comparison in one line for the log: both init stages and their ratio,
// then the part from /init to the real init (Row.User, which leaves out the kernel's own
// start: the same image, so any difference there is noise) and the real init's uptimes.
func stackLine(rows []Row) string {
	s, ok1 := findRow(rows, stackImage)
	p, ok2 := findRow(rows, plainImage)
	if !ok1 || !ok2 {
		return ""
	}
	return fmt.Sprintf("bench: %s init stage %.3f s vs %s %.3f s: %.2f× (target ≤ %.1f×); /init to the real init %.3f s vs %.3f s: %.2f×; uptime at the real init %.3f s vs %.3f s: %.2f×\n",
		stackImage, s.Stage.Median, plainImage, p.Stage.Median, s.Stage.Median/p.Stage.Median, stackLimit,
		s.User.Median, p.User.Median, s.User.Median/p.User.Median,
		s.Uptime.Median, p.Uptime.Median, s.Uptime.Median/p.Uptime.Median)
}
