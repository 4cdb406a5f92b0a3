package modload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
)

// LeftOutFile is where an image lists, as modules.alias lines, the aliases of the
// storage modules its generator could have put in and did not: a generic image's
// legacy host adapters, the controllers a host-only image's machine lacks, what the
// builder omitted. An initramfs cannot drive a controller it has no module for; what
// it can do is say which module would have, so that the rescue shell's "no module in
// this image" comes with the fix. It is zstd-compressed, so that it goes into the image's
// plain archive, which the kernel only copies at every boot, and only the rescue shell
// decodes it.
const LeftOutFile = "modules.left-out.zst"

// StorageBus reports whether a modalias is on a bus where storage controllers live; the
// others (cpu, dmi, acpi, hid, input, …) have no module in an initramfs by design.
func StorageBus(modalias string) bool {
	bus, _, _ := strings.Cut(modalias, ":")
	switch bus {
	case "pci", "virtio", "usb", "scsi", "mmc", "sdio", "vmbus", "xen", "of", "platform", "nvme":
		return true
	}
	return false
}

// WriteStorageAliases writes the aliases of the named modules that are on a storage
// bus (StorageBus) as modules.alias lines ("alias PATTERN MODULE"), in the index's
// order; ReadLeftOut reads them back.
func (ix *Index) WriteStorageAliases(w io.Writer, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[normName(n)] = true
	}
	bw := bufio.NewWriter(w)
	for _, a := range ix.aliases {
		if want[a.Module] && StorageBus(a.Pattern) {
			fmt.Fprintf(bw, "alias %s %s\n", a.Pattern, a.Module)
		}
	}
	return bw.Flush()
}

// ReadLeftOut reads moddir's LeftOutFile into an index of its aliases alone: its Lookup
// names the modules they belong to, none of which it can load. A tree without the file
// gives an empty index.
func ReadLeftOut(moddir string) (*Index, error) {
	p := filepath.Join(moddir, LeftOutFile)
	data, err := decodeFile(p, func(r io.Reader) ([]byte, error) { return decompressZstd(r, maxTextFile) })
	if errors.Is(err, fs.ErrNotExist) {
		return newIndex(nil, true, nil, nil), nil
	}
	if err != nil {
		return nil, err
	}
	aliases, err := parseAliases(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", p, err)
	}
	return newIndex(nil, true, nil, aliases), nil
}

// Aliased reports whether an alias of the index belongs to the module called name ('-' and
// '_' are equivalent): for an index ReadLeftOut made, whether the image left that module out.
func (ix *Index) Aliased(name string) bool { return ix.aliasedModules("")[normName(name)] }
