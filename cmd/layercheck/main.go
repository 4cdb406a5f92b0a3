// Command layercheck exercises packages md and lvm against a real kernel:
// run it as root in a throwaway VM (never on a machine whose disks
// matter) with md, the raid personalities and the device-mapper targets
// loaded, and disks made by mdadm and lvm attached:
//
//	layercheck [-degraded]
//
// It reads every block device for MD superblocks, groups the members and
// starts each array through sysfs (auto-read-only), then reads every
// block device, arrays included, for LVM PVs and activates every LV of
// every VG complete on them. For each array and each LV it prints a
// "LAYERCHECK" line with the ext4 filesystem found inside (label and
// UUID); each LV's table must read back from the kernel as planned, and
// each thin pool must report the metadata's transaction id. It ends with
// "LAYERCHECK PASS" or "LAYERCHECK FAIL: <reason>". With
// -degraded, arrays missing members start degraded when their level
// allows. Build it static (CGO_ENABLED=0) to put it into an initramfs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/lvm"
	"github.com/earlyroot/earlyroot/md"
	"github.com/earlyroot/earlyroot/probe"
)

func main() {
	degraded := flag.Bool("degraded", false, "start arrays missing members when their level allows")
	flag.Parse()
	if err := run(*degraded); err != nil {
		fmt.Printf("LAYERCHECK FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("LAYERCHECK PASS")
}

// blockDev is a block device node and its number.
type blockDev struct {
	path, dev string
	size      int64
}

// scan lists /sys/class/block entries whose name has one of prefixes.
func scan(prefixes ...string) ([]blockDev, error) {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return nil, err
	}
	var out []blockDev
	for _, e := range ents {
		name := e.Name()
		ok := false
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			continue
		}
		dev, err := os.ReadFile(filepath.Join("/sys/class/block", name, "dev"))
		if err != nil {
			return nil, err
		}
		b, err := open(filepath.Join("/dev", name))
		if err != nil {
			return nil, err
		}
		out = append(out, blockDev{b.path, strings.TrimSpace(string(dev)), b.size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// open waits for a device node to appear and returns its size.
func open(path string) (blockDev, error) {
	for i := 0; ; i++ {
		f, err := os.Open(path)
		if err == nil {
			size, err := f.Seek(0, 2)
			f.Close()
			return blockDev{path: path, size: size}, err
		}
		if i == 50 || !errors.Is(err, os.ErrNotExist) {
			return blockDev{}, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ext4 describes the ext4 filesystem on path, if any, as package probe reads it.
func ext4(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "open: " + err.Error()
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "size: " + err.Error()
	}
	info, err := probe.Probe(f, size)
	switch {
	case err != nil && !errors.Is(err, probe.ErrUnknown):
		return err.Error()
	case info.Type != "ext4":
		return "no ext4"
	}
	return fmt.Sprintf("ext4 label=%s uuid=%s", info.Label, info.UUID)
}

func run(degraded bool) error {
	disks, err := scan("vd")
	if err != nil {
		return err
	}
	// MD: every member, grouped, each array started auto-read-only.
	var members []md.Member
	for _, d := range disks {
		f, err := os.Open(d.path)
		if err != nil {
			return err
		}
		sb, err := md.Read(f, d.size)
		f.Close()
		switch {
		case errors.Is(err, md.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("%s: %w", d.path, err)
		}
		members = append(members, md.Member{Device: d.path, Dev: d.dev, SB: sb})
	}
	as := &md.Assembler{Sys: md.Sysfs{Root: "/sys"}}
	for _, a := range md.Group(members) {
		for _, l := range a.Left {
			fmt.Printf("LAYERCHECK md %s: left out %s: %s\n", a.SB.UUIDString(), l.Member.Device, l.Reason)
		}
		st, err := as.Start(a, degraded)
		if err != nil {
			return err
		}
		if st.Degraded {
			fmt.Printf("LAYERCHECK md %s %s started degraded, missing slots %v\n", a.SB.UUIDString(), st.Name, st.Missing)
		}
		state, err := os.ReadFile("/sys/block/" + st.Name + "/md/array_state")
		if err != nil {
			return err
		}
		level, _ := os.ReadFile("/sys/block/" + st.Name + "/md/level")
		if _, err := open("/dev/" + st.Name); err != nil {
			return err
		}
		fmt.Printf("LAYERCHECK md %s %s %s %s members=%d state=%s: %s\n", a.SB.UUIDString(), st.Name,
			a.SB.Version, strings.TrimSpace(string(level)), len(st.Members), strings.TrimSpace(string(state)), ext4("/dev/"+st.Name))
	}

	// LVM: every PV, disks and arrays, newest metadata per VG.
	devs, err := scan("vd", "md")
	if err != nil {
		return err
	}
	var found []lvm.Found
	pvs := map[string]string{}
	for _, d := range devs {
		f, err := os.Open(d.path)
		if err != nil {
			return err
		}
		if _, err := md.Read(f, d.size); err == nil {
			f.Close()
			continue // an md member: a PV inside is the array's
		}
		l, vgs, err := lvm.ReadPV(f, d.size)
		f.Close()
		switch {
		case errors.Is(err, lvm.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("%s: %w", d.path, err)
		}
		pvs[l.PVUUID] = d.dev
		for _, vg := range vgs {
			found = append(found, lvm.Found{PVUUID: l.PVUUID, VG: vg})
		}
	}
	vgs, notes := lvm.Newest(found)
	for _, n := range notes {
		fmt.Println("LAYERCHECK lvm note:", n)
	}
	c, err := dm.Open(dm.ControlPath)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, vg := range vgs {
		plan, err := vg.Plan(vg.Wanted(nil, []string{vg.Name}), lvm.Options{PVs: pvs})
		if err != nil {
			return err
		}
		// *dm.Control reads statuses too: Activate checks each
		// thin pool's transaction id against the metadata.
		devs, err := lvm.Activate(c, plan, nil)
		if err != nil {
			return err
		}
		for _, d := range plan {
			tbl, err := c.Table(d.Name)
			if err != nil {
				return err
			}
			planned, err := d.Table(func(n string) (string, error) { return devs[n], nil })
			if err != nil {
				return err
			}
			// The kernel prints tables back in its canonical form
			// (a thin-pool line without features ends in a space).
			for i := range tbl {
				tbl[i].Params = strings.TrimSpace(tbl[i].Params)
			}
			if !slices.Equal(tbl, planned) {
				return fmt.Errorf("%s: the kernel reads back %v for %v", d.Name, tbl, planned)
			}
			_, minor, _ := strings.Cut(devs[d.Name], ":")
			what := "layer"
			if _, lv, layer, ok := lvm.SplitDMName(d.Name); ok && layer == "" && !strings.Contains(lv, "_") {
				what = ext4(waitNode("/dev/dm-" + minor))
			}
			fmt.Printf("LAYERCHECK lvm %s %s ro=%v %s: %s\n", d.Name, devs[d.Name], d.ReadOnly, tbl[0].Type, what)
		}
	}
	return nil
}

func waitNode(path string) string {
	for range 50 {
		if err := unix.Access(path, unix.R_OK); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return path
}
