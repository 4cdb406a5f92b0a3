package rescue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/mount"
)

// maxReads bounds the number of reads of one file (protection against
// devices that never stop producing data).
const maxReads = 1 << 20

// readNonblock opens path with O_NONBLOCK and passes every chunk read to fn
// until end of file or until a read would block (EAGAIN), which is how
// /dev/kmsg and other character devices are drained without hanging.
// EPIPE (kmsg records overwritten while reading) is skipped.
func readNonblock(path string, fn func([]byte) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 16<<10)
	for reads := 0; reads < maxReads; reads++ {
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EINTR || err == unix.EPIPE:
			continue
		case err == unix.EAGAIN:
			return nil
		case err != nil:
			return &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return nil
		}
		if err := fn(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// noTypeFlags are operations that take no file-system type.
const noTypeFlags = unix.MS_BIND | unix.MS_MOVE | unix.MS_REMOUNT | unix.MS_PRIVATE |
	unix.MS_SHARED | unix.MS_SLAVE | unix.MS_UNBINDABLE

func (s *session) mount(args []string) error {
	if len(args) == 0 {
		return s.catFile(filepath.Join(s.env.ProcDir, "mounts"))
	}
	var fstype, opts string
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-t" || a == "-o") && i+1 < len(args):
			if a == "-t" {
				fstype = args[i+1]
			} else if opts == "" {
				opts = args[i+1]
			} else {
				opts += "," + args[i+1]
			}
			i++
		case strings.HasPrefix(a, "-") && a != "-":
			return fmt.Errorf("unknown option %s (usage: mount [-t type] [-o opts] dev dir)", a)
		default:
			pos = append(pos, a)
		}
	}
	f, err := mount.ParseOptions(opts)
	if err != nil {
		return err
	}
	flags, data := f.Flags, f.Data
	var source, target string
	switch {
	case len(pos) == 2:
		source, target = pos[0], pos[1]
	case len(pos) == 1 && flags&unix.MS_REMOUNT != 0:
		source, target = "none", pos[0]
	default:
		return errors.New("usage: mount [-t type] [-o opts] dev dir")
	}
	if flags&noTypeFlags != 0 {
		return s.doMount(source, target, fstype, flags, data)
	}
	types := []string{fstype}
	if fstype == "" || fstype == "auto" {
		types = s.blockFilesystems()
		if len(types) == 0 {
			return fmt.Errorf("no file-system type given and none listed in %s", filepath.Join(s.env.ProcDir, "filesystems"))
		}
	} else if strings.Contains(fstype, ",") {
		types = strings.Split(fstype, ",")
	}
	var errs []error
	for _, t := range types {
		err := s.doMount(source, target, t, flags, data)
		if err == nil {
			if len(types) > 1 {
				fmt.Fprintf(s.out, "mounted %s on %s as %s\n", source, target, t)
			}
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *session) doMount(source, target, fstype string, flags uintptr, data string) error {
	if err := s.env.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (type %q, flags %#x, data %q): %w", source, target, fstype, flags, data, err)
	}
	return nil
}

// blockFilesystems lists the non-"nodev" types of /proc/filesystems.
func (s *session) blockFilesystems() []string {
	b, err := os.ReadFile(filepath.Join(s.env.ProcDir, "filesystems"))
	if err != nil {
		return nil
	}
	var types []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 1 {
			types = append(types, f[0])
		}
	}
	return types
}

func (s *session) umount(args []string) error {
	opt, dirs, err := flags(args, "lf")
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return errors.New("usage: umount [-l] [-f] DIR…")
	}
	fl := 0
	if opt['l'] {
		fl |= unix.MNT_DETACH
	}
	if opt['f'] {
		fl |= unix.MNT_FORCE
	}
	var errs []error
	for _, d := range dirs {
		if err := s.env.Unmount(d, fl); err != nil {
			errs = append(errs, fmt.Errorf("umount %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// findShell returns the argv prefix of the first usable shell; a
// candidate without '/' is looked up in $PATH.
func (s *session) findShell() ([]string, error) {
	var tried []string
	for _, c := range s.env.Shells {
		if len(c) == 0 {
			continue
		}
		tried = append(tried, strings.Join(c, " "))
		if !strings.Contains(c[0], "/") {
			if p, ok := lookPath(c[0], os.Getenv("PATH")); ok {
				return append([]string{p}, c[1:]...), nil
			}
			continue
		}
		if isExecutable(c[0]) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no shell found (tried %s)", strings.Join(tried, ", "))
}

// lookPath returns the first executable file called name in the absolute
// directories of path (a $PATH value). Relative entries, the current
// directory among them, are skipped: PID 1's working directory is not a
// place to find programs in.
func lookPath(name, path string) (string, bool) {
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// sh runs a real shell as a child with the console as stdio and waits for
// it. The console is the child's stdin only when Env.In is an *os.File
// (otherwise /dev/null, so that no input is stolen from the loop). On a
// terminal the child gets its own session with the console as controlling
// terminal (for job control and Ctrl-C), falling back to a plain child.
func (s *session) sh(args []string) error {
	argv, err := s.findShell()
	if err != nil {
		return err
	}
	argv = append(append([]string(nil), argv...), args...)
	in := s.stdinFile()
	var ctty *syscall.SysProcAttr
	if in != nil && isTerminal(in) {
		ctty = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	wait, err := startChild(argv, in, s.out, ctty)
	if err != nil && ctty != nil {
		wait, err = startChild(argv, in, s.out, nil)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	if err := wait(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// startChild starts argv with in as its stdin (/dev/null when nil) and out as
// its stdout and stderr, in this process's environment, and returns the
// function that waits for it: an error when it did not exit with status 0.
// An out that is not a file gets the child's output through a pipe. (The
// init does this with os.StartProcess rather than os/exec, whose generality
// it does not need, to keep the binary small.)
func startChild(argv []string, in *os.File, out io.Writer, attr *syscall.SysProcAttr) (func() error, error) {
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	if in == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		closers = append(closers, null)
		in = null
	}
	outFile, isFile := out.(*os.File)
	var copied chan error // the copy's result, when out is not a file
	if !isFile {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		// The write end is closed here once the child has it (or did not start), so
		// that the copy ends when the child's output does.
		closers = append(closers, w)
		outFile = w
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(out, r)
			r.Close()
			done <- err
		}()
		copied = done
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{in, outFile, outFile}, Sys: attr})
	if err != nil {
		return nil, err
	}
	return func() error {
		st, err := p.Wait()
		if copied != nil {
			if cerr := <-copied; err == nil && cerr != nil {
				err = fmt.Errorf("copy output: %w", cerr)
			}
		}
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		return err
	}, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
