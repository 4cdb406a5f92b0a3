package md

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// System is the part of the kernel the Assembler talks to: sysfs
// attributes, by path relative to the sysfs root ("block/md127/md/…").
type System interface {
	// Write writes value to an existing attribute.
	Write(attr, value string) error
	// Exists says whether a sysfs path exists.
	Exists(path string) bool
}

// Sysfs is the System of a mounted sysfs at Root (normally "/sys").
type Sysfs struct{ Root string }

// Write opens an existing attribute write-only (never creating a file)
// and writes value with one write(2), as sysfs wants.
func (s Sysfs) Write(attr, value string) error {
	f, err := os.OpenFile(filepath.Join(s.Root, attr), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Exists reports whether path exists under Root.
func (s Sysfs) Exists(path string) bool {
	_, err := os.Lstat(filepath.Join(s.Root, path))
	return err == nil
}

// Assembler starts arrays through md's sysfs interface.
type Assembler struct {
	Sys System
}

// Started describes an array the kernel runs.
type Started struct {
	Name     string   // kernel name, e.g. md127 (/dev/md127)
	Degraded bool     // started with members missing
	Missing  []int    // the empty slots
	Members  []string // devices added, slot order, then spares
}

// Start assembles a and runs it auto-read-only. An array missing members
// its newest superblock expects (not Ready) is started only when
// allowDegraded is set and its level can run without them; the caller
// decides when waiting has gone on long enough. An array that was already
// degraded when it last ran starts at once, with Started.Degraded set.
// On failure the half-built array is stopped again.
//
// The sequence, for 0.90 and 1.x metadata (Documentation/admin-guide/md.rst):
//
//	module/md_mod/parameters/new_array  ← mdN      (creates the inactive array)
//	block/mdN/md/metadata_version       ← 1.2      (or 0.90, 1.0, 1.1)
//	block/mdN/md/new_dev                ← MAJ:MIN  (each member; the kernel
//	                                                loads its superblock)
//	block/mdN/md/array_state            ← read-auto (run, no writes until
//	                                                 the first write request)
//
// Level, layout, chunk size, disk count and each member's slot and data
// offset come from the superblocks when the array runs; writing them is
// only needed for arrays without kernel-managed metadata.
func (as *Assembler) Start(a *Array, allowDegraded bool) (Started, error) {
	sb := a.SB
	var st Started
	if err := a.Runnable(); err != nil {
		return st, fmt.Errorf("md %s: %w", sb.UUIDString(), err)
	}
	for i, m := range a.Slots {
		if m == nil {
			st.Missing = append(st.Missing, i)
		}
	}
	st.Degraded = len(st.Missing) > 0
	if !a.Ready() && !allowDegraded {
		return st, fmt.Errorf("md %s: %d of %d members present, not starting degraded yet", sb.UUIDString(), a.Present(), len(a.Slots))
	}
	name, err := as.create(sb)
	if err != nil {
		return st, fmt.Errorf("md %s: %w", sb.UUIDString(), err)
	}
	st.Name = name
	dir := "block/" + name + "/md/"
	fail := func(err error) (Started, error) {
		// Stopping an array that never ran writes no metadata.
		_ = as.Sys.Write(dir+"array_state", "clear")
		return st, fmt.Errorf("md %s (%s): %w", sb.UUIDString(), name, err)
	}
	if err := as.Sys.Write(dir+"metadata_version", sb.Version); err != nil {
		return fail(fmt.Errorf("metadata_version %s: %w", sb.Version, err))
	}
	add := func(m Member) error {
		if err := as.Sys.Write(dir+"new_dev", m.Dev); err != nil {
			return fmt.Errorf("add %s (%s): %w", m.Device, m.Dev, err)
		}
		st.Members = append(st.Members, m.Device)
		return nil
	}
	for _, m := range a.Slots {
		if m != nil {
			if err := add(*m); err != nil {
				return fail(err)
			}
		}
	}
	for _, m := range a.Spares {
		if err := add(m); err != nil {
			return fail(err)
		}
	}
	if err := as.Sys.Write(dir+"array_state", "read-auto"); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	return st, nil
}

// create makes a new inactive md device, trying the next free name when
// another one appeared meanwhile.
func (as *Assembler) create(sb *Superblock) (string, error) {
	taken := map[string]bool{}
	used := func(n string) bool { return taken[n] || as.Sys.Exists("block/"+n) }
	for range 8 {
		name, err := KernelName(sb, used)
		if err != nil {
			return "", err
		}
		err = as.Sys.Write("module/md_mod/parameters/new_array", name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, syscall.EEXIST) && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("new_array %s: %w", name, err)
		}
		taken[name] = true
	}
	return "", fmt.Errorf("new_array: every name tried was taken")
}
