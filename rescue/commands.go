package rescue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// MaxCat bounds the output of cat (protection against /dev/zero and the like).
const MaxCat = 64 << 20

func ownCommands() map[string]command {
	return map[string]command{
		"help":     {"help", "list the commands", (*session).help},
		"ls":       {"ls [-l] [path...]", "list directories", (*session).ls},
		"cat":      {"cat file...", "print files (devices read until they would block)", (*session).cat},
		"echo":     {"echo [-n] [word...]", "print words", (*session).echo},
		"dmesg":    {"dmesg", "print the kernel log", (*session).dmesg},
		"mount":    {"mount [-t type] [-o opts] [dev] dir", "mount; without arguments list mounts", (*session).mount},
		"umount":   {"umount [-l] [-f] dir...", "unmount", (*session).umount},
		"mkdir":    {"mkdir [-p] dir...", "create directories", (*session).mkdir},
		"cmdline":  {"cmdline", "print the kernel command line", (*session).cmdlineCmd},
		"sh":       {"sh [args...]", "run a real shell if the image has one", (*session).sh},
		"continue": {"continue", "leave the rescue shell and go on booting", nil},
		"reboot":   {"reboot", "reboot the machine", nil},
		"poweroff": {"poweroff", "power the machine off", nil},
		"exit":     {"exit", "(use continue, reboot or poweroff)", (*session).exit},
	}
}

// flags splits leading single-letter options ("-lp", "--" ends them) from
// args, accepting only letters in allowed.
func flags(args []string, allowed string) (map[byte]bool, []string, error) {
	set := map[byte]bool{}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return set, args[1:], nil
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for i := 1; i < len(a); i++ {
			if strings.IndexByte(allowed, a[i]) < 0 {
				return nil, nil, fmt.Errorf("unknown option -%c", a[i])
			}
			set[a[i]] = true
		}
		args = args[1:]
	}
	return set, args, nil
}

func (s *session) exit(args []string) error {
	return errors.New("use continue, reboot or poweroff")
}

func (s *session) echo(args []string) error {
	nl := "\n"
	if len(args) > 0 && args[0] == "-n" {
		nl, args = "", args[1:]
	}
	_, err := io.WriteString(s.out, strings.Join(args, " ")+nl)
	return err
}

func (s *session) ls(args []string) error {
	opt, paths, err := flags(args, "la1")
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var errs []error
	for i, p := range paths {
		if len(paths) > 1 {
			if i > 0 {
				io.WriteString(s.out, "\n")
			}
			fmt.Fprintf(s.out, "%s:\n", p)
		}
		if err := s.lsOne(p, opt['l']); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *session) lsOne(path string, long bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		s.lsEntry(filepath.Dir(path), path, fi, long)
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(-1) // not os.ReadDir: the init sorts with sort.Slice only
	d.Close()
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var errs []error
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.lsEntry(path, e.Name(), info, long)
	}
	return errors.Join(errs...)
}

// lsEntry prints one entry; dir is used to resolve symlink targets.
func (s *session) lsEntry(dir, name string, fi fs.FileInfo, long bool) {
	if !long {
		fmt.Fprintln(s.out, name)
		return
	}
	size := fmt.Sprint(fi.Size())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
		size = fmt.Sprintf("%d, %d", devMajor(uint64(st.Rdev)), devMinor(uint64(st.Rdev)))
	}
	suffix := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		full := name
		if !filepath.IsAbs(name) && dir != "" {
			full = filepath.Join(dir, filepath.Base(name))
		}
		if t, err := os.Readlink(full); err == nil {
			suffix = " -> " + t
		}
	}
	fmt.Fprintf(s.out, "%s %10s %s%s\n", modeString(fi.Mode()), size, name, suffix)
}

// devMajor and devMinor decode a Linux dev_t.
func devMajor(d uint64) uint64 { return (d>>8)&0xfff | (d>>32)&^0xfff }
func devMinor(d uint64) uint64 { return d&0xff | (d>>12)&^0xff }

// modeString formats a mode like ls -l ("drwxr-xr-x", "brw-rw----").
func modeString(m fs.FileMode) string {
	t := byte('-')
	switch {
	case m&fs.ModeDir != 0:
		t = 'd'
	case m&fs.ModeSymlink != 0:
		t = 'l'
	case m&fs.ModeCharDevice != 0:
		t = 'c'
	case m&fs.ModeDevice != 0:
		t = 'b'
	case m&fs.ModeNamedPipe != 0:
		t = 'p'
	case m&fs.ModeSocket != 0:
		t = 's'
	}
	perm := []byte(m.Perm().String()[1:])
	if m&fs.ModeSetuid != 0 {
		perm[2] = setBit(perm[2], 's', 'S')
	}
	if m&fs.ModeSetgid != 0 {
		perm[5] = setBit(perm[5], 's', 'S')
	}
	if m&fs.ModeSticky != 0 {
		perm[8] = setBit(perm[8], 't', 'T')
	}
	return string(t) + string(perm)
}

func setBit(x, withExec, without byte) byte {
	if x == 'x' {
		return withExec
	}
	return without
}

func (s *session) cat(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cat FILE…")
	}
	var errs []error
	for _, p := range args {
		if err := s.catFile(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *session) catFile(path string) error {
	total := 0
	err := readNonblock(path, func(b []byte) error {
		total += len(b)
		if total > MaxCat {
			return fmt.Errorf("%s: output stopped after %d bytes", path, MaxCat)
		}
		_, err := s.out.Write(b)
		return err
	})
	return err
}

func (s *session) cmdlineCmd(args []string) error {
	return s.catFile(filepath.Join(s.env.ProcDir, "cmdline"))
}

func (s *session) mkdir(args []string) error {
	opt, dirs, err := flags(args, "p")
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return errors.New("usage: mkdir [-p] DIR…")
	}
	var errs []error
	for _, d := range dirs {
		if opt['p'] {
			err = os.MkdirAll(d, 0o755)
		} else {
			err = os.Mkdir(d, 0o755)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dmesg prints the kernel log records available now.
func (s *session) dmesg(args []string) error {
	var pending []byte
	err := readNonblock(s.env.DevKmsg, func(b []byte) error {
		pending = append(pending, b...)
		i := strings.LastIndexByte(string(pending), '\n')
		if i < 0 {
			return nil
		}
		s.printRecords(string(pending[:i+1]))
		pending = append(pending[:0], pending[i+1:]...)
		return nil
	})
	if len(pending) > 0 {
		s.printRecords(string(pending))
	}
	return err
}

// printRecords prints /dev/kmsg records ("6,339,5140900,-;text\n" followed
// by " KEY=value" dictionary lines, which are skipped) as
// "[    5.140900] text".
func (s *session) printRecords(data string) {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		if line == "" || line[0] == ' ' {
			continue
		}
		b.WriteString(formatRecord(line))
		b.WriteByte('\n')
	}
	io.WriteString(s.out, b.String())
}

// formatRecord formats one record line; lines that do not parse are
// returned unchanged.
func formatRecord(line string) string {
	head, text, ok := strings.Cut(line, ";")
	if !ok {
		return line
	}
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return line
	}
	usec, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return line
	}
	return fmt.Sprintf("[%5d.%06d] %s", usec/1e6, usec%1e6, text)
}
