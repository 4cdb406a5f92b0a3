package md

import (
	"fmt"
	"strings"
)

// Conf is what an initramfs needs from mdadm.conf: the arrays a
// host-only image assembles and the homehost that names them.
type Conf struct {
	// HomeHost is the HOMEHOST value: a name, HomeAny for "<ignore>",
	// or "<system>" (the caller substitutes the host name).
	HomeHost string
	Arrays   []ConfArray
}

// ConfArray is one ARRAY line.
type ConfArray struct {
	Dev     string // the device name given, e.g. /dev/md/root or /dev/md0
	UUID    [16]byte
	HasUUID bool
	Name    string // name=
}

// ParseConf reads mdadm.conf: lines beginning with white space continue
// the previous one, '#' starts a comment, keywords are case-insensitive.
// Only ARRAY and HOMEHOST matter here; other keywords are skipped.
func ParseConf(text string) (*Conf, error) {
	c := &Conf{}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l != "" && (l[0] == ' ' || l[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] += " " + l
			continue
		}
		lines = append(lines, l)
	}
	for n, l := range lines {
		words := strings.Fields(l)
		if len(words) == 0 {
			continue
		}
		switch strings.ToUpper(words[0]) {
		case "HOMEHOST":
			if len(words) > 1 {
				c.HomeHost = words[1]
				if c.HomeHost == "<ignore>" {
					c.HomeHost = HomeAny
				}
			}
		case "ARRAY":
			a, err := parseArray(words[1:])
			if err != nil {
				return nil, fmt.Errorf("mdadm.conf line %d: %w", n+1, err)
			}
			c.Arrays = append(c.Arrays, a)
		}
	}
	return c, nil
}

func parseArray(words []string) (ConfArray, error) {
	var a ConfArray
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			if a.Dev == "" && (strings.HasPrefix(w, "/") || w == "<ignore>") {
				a.Dev = w
			}
			continue
		}
		switch strings.ToLower(k) {
		case "uuid":
			u, err := ParseUUID(v)
			if err != nil {
				return a, err
			}
			a.UUID, a.HasUUID = u, true
		case "name":
			a.Name = v
		}
	}
	if !a.HasUUID && a.Name == "" {
		return a, fmt.Errorf("ARRAY %s: no uuid= or name= to recognise it by", a.Dev)
	}
	return a, nil
}

// Wants says whether the configuration asks for the array of sb: an
// ARRAY line with its UUID, or with its name when the line has no UUID.
// A configuration without ARRAY lines wants every array.
func (c *Conf) Wants(sb *Superblock) bool {
	if len(c.Arrays) == 0 {
		return true
	}
	for _, a := range c.Arrays {
		if a.HasUUID && a.UUID == sb.UUID || !a.HasUUID && a.Name == sb.Name {
			return true
		}
	}
	return false
}
