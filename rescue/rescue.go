// Package rescue is the earlyroot rescue shell: a small line-based
// read-eval loop that needs no binary in the image besides the init, and
// works on a serial console.
//
// Run prints a diagnosis, then reads commands from Env.In after the prompt
// "earlyroot# ". Its own commands are help, ls, cat, echo, dmesg, mount,
// umount, mkdir, cmdline, sh (runs a real shell when the image has one),
// continue, reboot, poweroff and exit; the init adds or overrides commands
// with Env.Builtins (blkid, lsmod, modprobe, wait, log, ...), which take
// their arguments as the own commands do: the words after the command name
// (see [Builtin]). Run never performs reboot or poweroff itself: it returns
// an Action and the init acts on it.
//
// A panic in a command is recovered and reported; the loop goes on.
//
// # Why not a POSIX shell interpreter
//
// An embedded POSIX shell interpreter (mvdan.cc/sh's, with these commands as
// its exec handler) would give pipes, variables and scripts, but it would
// about double the init binary, and every image with it, for a prompt used
// only when a boot has failed. Commands here take words split with quotes
// ([SplitLine]); a real shell is one `sh` away when the image (-file) or a
// mounted disk has one.
package rescue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/mount"
)

// Action tells the init what to do after Run returns.
type Action int

// Actions returned by Run.
const (
	ActionContinue Action = iota // "continue": resume booting
	ActionReboot                 // "reboot"
	ActionPoweroff               // "poweroff"
	ActionEOF                    // end of input (or a read error)
)

// String returns the command name of the action ("continue", "reboot",
// "poweroff") or "eof".
func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "continue"
	case ActionReboot:
		return "reboot"
	case ActionPoweroff:
		return "poweroff"
	case ActionEOF:
		return "eof"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Prompt is the default prompt.
const Prompt = "earlyroot# "

// MaxLine is the longest accepted input line.
const MaxLine = 64 << 10

// UnmountFunc has the signature of unix.Unmount.
type UnmountFunc func(target string, flags int) error

// Builtin is a command the init adds to the shell. Its args are the words
// after the command name, as the shell split them ("modprobe a b" calls
// the "modprobe" builtin with ["a", "b"]), the same convention as the
// shell's own commands; out is the console. A returned error is printed as
// "earlyroot: NAME: error"; a panic is recovered and reported the same way.
type Builtin func(args []string, out io.Writer) error

// Env is the environment of the rescue shell. Only In and Out are needed;
// every other field has a default.
type Env struct {
	In        io.Reader // console input; read one byte at a time, never ahead
	Out       io.Writer // console output (nil = discard)
	Diagnosis func(io.Writer)
	// Builtins adds commands supplied by the init (blkid, lsmod, modprobe,
	// log, ...) or overrides the own ones, except continue, reboot and
	// poweroff, which always end Run.
	Builtins map[string]Builtin

	ProcDir string // "/proc": cmdline, mounts and filesystems are read here
	DevKmsg string // "/dev/kmsg" for dmesg
	Prompt  string // default Prompt
	// Shells lists the candidate shells for "sh" (argv prefixes); default
	// /bin/sh, /usr/bin/sh, /bin/busybox sh, busybox sh (names without
	// '/' are looked up in $PATH).
	Shells  [][]string
	Mount   mount.MountFunc // default unix.Mount
	Unmount UnmountFunc     // default unix.Unmount
}

// session is one Run invocation.
type session struct {
	env Env
	out io.Writer
	in  *lineReader
	own map[string]command
}

// command is an own built-in.
type command struct {
	usage string
	help  string
	run   func(s *session, args []string) error
}

// Run prints the diagnosis, then prompts and runs commands until continue,
// reboot or poweroff (returning that action) or the end of input
// (returning ActionEOF).
func Run(env Env) Action {
	s := newSession(env)
	if env.Diagnosis != nil {
		s.protect("diagnosis", func() error { env.Diagnosis(s.out); return nil })
	}
	for {
		io.WriteString(s.out, s.env.Prompt)
		line, err := s.in.readLine()
		if errors.Is(err, errLineTooLong) {
			fmt.Fprintf(s.out, "earlyroot: %v\n", err)
			continue
		}
		if err != nil && line == "" {
			io.WriteString(s.out, "\n")
			return ActionEOF
		}
		if a, ok := s.execute(line); ok {
			return a
		}
	}
}

func newSession(env Env) *session {
	if env.Out == nil {
		env.Out = io.Discard
	}
	if env.In == nil {
		env.In = strings.NewReader("")
	}
	if env.ProcDir == "" {
		env.ProcDir = "/proc"
	}
	if env.DevKmsg == "" {
		env.DevKmsg = "/dev/kmsg"
	}
	if env.Prompt == "" {
		env.Prompt = Prompt
	}
	if env.Shells == nil {
		env.Shells = [][]string{{"/bin/sh"}, {"/usr/bin/sh"}, {"/bin/busybox", "sh"}, {"busybox", "sh"}}
	}
	if env.Mount == nil {
		env.Mount = unix.Mount
	}
	if env.Unmount == nil {
		env.Unmount = unix.Unmount
	}
	return &session{env: env, out: env.Out, in: newLineReader(env.In), own: ownCommands()}
}

// execute runs one input line; ok reports that Run must return a.
func (s *session) execute(line string) (a Action, ok bool) {
	args, err := SplitLine(line)
	if err != nil {
		fmt.Fprintf(s.out, "earlyroot: %v\n", err)
		return 0, false
	}
	if len(args) == 0 {
		return 0, false
	}
	name := args[0]
	switch name {
	case "continue":
		return ActionContinue, true
	case "reboot":
		return ActionReboot, true
	case "poweroff":
		return ActionPoweroff, true
	}
	if f, found := s.env.Builtins[name]; found && f != nil {
		s.protect(name, func() error { return f(args[1:], s.out) })
		return 0, false
	}
	if c, found := s.own[name]; found {
		s.protect(name, func() error { return c.run(s, args[1:]) })
		return 0, false
	}
	fmt.Fprintf(s.out, "earlyroot: %s: unknown command (try help)\n", name)
	return 0, false
}

// protect runs f, printing its error or a recovered panic.
func (s *session) protect(name string, f func() error) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(s.out, "earlyroot: %s: panic: %v\n", name, r)
		}
	}()
	if err := f(); err != nil {
		fmt.Fprintf(s.out, "earlyroot: %s: %v\n", name, err)
	}
}

// help lists the commands.
func (s *session) help(args []string) error {
	names := make([]string, 0, len(s.own))
	for n := range s.own {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := s.own[n]
		if _, over := s.env.Builtins[n]; over {
			continue
		}
		fmt.Fprintf(s.out, "  %-36s %s\n", c.usage, c.help)
	}
	var extra []string
	for n := range s.env.Builtins {
		switch n {
		case "continue", "reboot", "poweroff":
			continue
		}
		extra = append(extra, n)
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		fmt.Fprintf(s.out, "from init: %s\n", strings.Join(extra, " "))
	}
	return nil
}

// lineReader reads lines one byte at a time so that nothing is consumed
// beyond the current line (a shell started by "sh" gets the rest). CR, LF
// and CRLF all end a line.
type lineReader struct {
	r       io.Reader
	br      io.ByteReader
	skipLF  bool
	scratch [1]byte
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes, ignored", MaxLine)

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{r: r}
	if br, ok := r.(io.ByteReader); ok {
		lr.br = br
	}
	return lr
}

func (lr *lineReader) readByte() (byte, error) {
	if lr.br != nil {
		return lr.br.ReadByte()
	}
	for tries := 0; tries < 100; tries++ {
		n, err := lr.r.Read(lr.scratch[:])
		if n == 1 {
			return lr.scratch[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, io.ErrNoProgress
}

// readLine returns the next line without its terminator. At the end of
// input it returns the partial line (if any) with the error.
func (lr *lineReader) readLine() (string, error) {
	var b []byte
	tooLong := false
	for {
		c, err := lr.readByte()
		if err != nil {
			if tooLong {
				return "", errLineTooLong
			}
			return string(b), err
		}
		skip := lr.skipLF
		lr.skipLF = false
		switch {
		case c == '\n' && skip && len(b) == 0 && !tooLong:
			continue
		case c == '\n' || c == '\r':
			lr.skipLF = c == '\r'
			if tooLong {
				return "", errLineTooLong
			}
			return string(b), nil
		case len(b) >= MaxLine:
			tooLong = true
		case !tooLong:
			b = append(b, c)
		}
	}
}

// stdinFile returns the console as an *os.File when In is one.
func (s *session) stdinFile() *os.File {
	f, _ := s.env.In.(*os.File)
	return f
}
