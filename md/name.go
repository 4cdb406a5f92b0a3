package md

import (
	"fmt"
	"strings"
)

// HomeAny, given as the homehost, takes every array as local, as mdadm's
// "HOMEHOST <ignore>" does.
const HomeAny = "<ignore>"

// DevName is the name under /dev/md/ that mdadm gives an array whose
// newest superblock is sb, assembled on a host whose homehost is
// homehost (mdadm.conf HOMEHOST, else the host name):
//
//   - "host:name" with host equal to homehost (or homehost HomeAny):
//     "name" — the array is local;
//   - "host:name" from another host: "host:name" as it is;
//   - a name without a host part on a host that cannot claim it: "name_0";
//   - 0.90 (no name): "" — the array is /dev/mdN only.
//
// '/' becomes '-' and blanks become '_', as mdadm does. When two arrays
// want the same name mdadm adds "_N" to the later one; that is for the
// caller that keeps the /dev/md links.
func DevName(sb *Superblock, homehost string) string {
	name := sb.Name
	if name == "" {
		return ""
	}
	local := homehost == HomeAny
	if host, rest, ok := strings.Cut(name, ":"); ok {
		if host == homehost || local {
			name = rest
		}
	} else if !local {
		name += "_0"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '-'
		case ' ', '\t':
			return '_'
		}
		return r
	}, name)
}

// Links are the /dev/disk/by-id names udev's md rules give an array:
// md-uuid-<UUID> always, md-name-<stored name> for 1.x.
func Links(sb *Superblock) []string {
	links := []string{"md-uuid-" + sb.UUIDString()}
	if sb.Name != "" && !strings.ContainsAny(sb.Name, "/") {
		links = append(links, "md-name-"+sb.Name)
	}
	return links
}

// KernelName is the md device to create for an array: md<preferred
// minor> for 0.90 when that is free, else the highest free number from
// 127 down, as mdadm chooses. used says whether a name is taken.
func KernelName(sb *Superblock, used func(string) bool) (string, error) {
	if sb.Version == "0.90" && sb.PreferredMinor >= 0 && sb.PreferredMinor < 1<<20 {
		if n := fmt.Sprintf("md%d", sb.PreferredMinor); !used(n) {
			return n, nil
		}
	}
	for i := 127; i >= 0; i-- {
		if n := fmt.Sprintf("md%d", i); !used(n) {
			return n, nil
		}
	}
	return "", fmt.Errorf("md: no free md device number")
}
