package md

import (
	"fmt"
	"strings"
)

// ConfPaths are where mdadm.conf is kept, relative to a root (the host's
// or the image's): Debian's place first, then everyone else's.
var ConfPaths = []string{"etc/mdadm/mdadm.conf", "etc/mdadm.conf"}

// Conf is what an initramfs needs from mdadm.conf: the arrays a
// host-only image assembles and the homehost that names them.
type Conf struct {
	// HomeHost is the HOMEHOST value: a name, HomeAny for "<ignore>",
	// or "<system>" (the caller substitutes the host name).
	HomeHost string
	// HomeHostText is the HOMEHOST line (comments removed, words joined
	// by one space).
	HomeHostText string
	Arrays       []ConfArray
}

// ConfArray is one ARRAY line.
type ConfArray struct {
	Dev     string // the device name given, e.g. /dev/md/root or /dev/md0
	UUID    [16]byte
	HasUUID bool
	Name    string // name=
	// Text is the whole line: continuation lines joined, comments removed,
	// words separated by one space.
	Text string
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
				c.HomeHost, c.HomeHostText = words[1], strings.Join(words, " ")
				if c.HomeHost == "<ignore>" {
					c.HomeHost = HomeAny
				}
			}
		case "ARRAY":
			a, err := parseArray(words[1:])
			if err != nil {
				return nil, fmt.Errorf("mdadm.conf line %d: %w", n+1, err)
			}
			a.Text = strings.Join(words, " ")
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

// Filter returns the text of a configuration holding c's HOMEHOST line
// and the ARRAY lines keep accepts, in their order: what a host-only
// initramfs needs of the host's mdadm.conf. Other keywords (MAILADDR,
// DEVICE, PROGRAM, …) are the running system's and are left out.
func (c *Conf) Filter(keep func(ConfArray) bool) string {
	var b strings.Builder
	if c.HomeHostText != "" {
		b.WriteString(c.HomeHostText + "\n")
	}
	for _, a := range c.Arrays {
		if keep(a) {
			b.WriteString(a.Text + "\n")
		}
	}
	return b.String()
}

// Wants says whether the configuration asks for the array of sb: an
// ARRAY line that matches it (see ConfArray.Matches). A configuration
// without ARRAY lines wants every array.
func (c *Conf) Wants(sb *Superblock) bool {
	if len(c.Arrays) == 0 {
		return true
	}
	for _, a := range c.Arrays {
		if a.Matches(sb) {
			return true
		}
	}
	return false
}

// Matches says whether the ARRAY line names the array of sb: by its UUID,
// or by its name when the line has no UUID.
func (a ConfArray) Matches(sb *Superblock) bool {
	if a.HasUUID {
		return a.UUID == sb.UUID
	}
	return a.Name == sb.Name
}
