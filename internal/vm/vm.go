package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// QEMUBinary is the emulator the package runs.
const QEMUBinary = "qemu-system-x86_64"

// ErrExited is returned (wrapped) by Expect when QEMU exits before the
// pattern appears.
var ErrExited = errors.New("qemu exited")

// ErrTimeout is returned (wrapped) by Expect when the pattern does not
// appear in time.
var ErrTimeout = errors.New("timed out")

// VM is a running (or finished) QEMU process. All methods are safe for
// concurrent use.
type VM struct {
	cfg     Config
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	cancel  context.CancelFunc
	ctx     context.Context
	dir     string        // holds the QMP sockets
	exited  chan struct{} // closed when the QEMU process has been reaped
	events  chan struct{} // closed when watchEvents has returned
	done    chan struct{} // closed after Wait returned
	waitErr error
	stderr  bytes.Buffer // QEMU's own messages (guarded by mu)

	shutdown string // reason of QEMU's SHUTDOWN event (guarded by mu)

	mu      sync.Mutex
	out     []byte
	pos     int           // Expect resumes scanning here
	changed chan struct{} // closed and replaced when out grows

	qmpMu sync.Mutex
	qmp   *qmpConn
	hot   hotState
}

// Start launches QEMU for cfg. The VM is killed when ctx is cancelled or
// cfg.Timeout expires; call Close when done with it.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	dir, err := os.MkdirTemp("", "earlyroot-vm-")
	if err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	v := &VM{cfg: cfg, dir: dir, exited: make(chan struct{}), events: make(chan struct{}),
		done: make(chan struct{}), changed: make(chan struct{})}
	v.hot = newHotState(cfg)
	a, err := args(cfg, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start vm: %w", err)
	}
	if cfg.Timeout > 0 {
		v.ctx, v.cancel = context.WithTimeout(ctx, cfg.Timeout)
	} else {
		v.ctx, v.cancel = context.WithCancel(ctx)
	}
	if err := v.launch(a); err != nil {
		v.cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start vm: %w", err)
	}
	return v, nil
}

func (v *VM) launch(a []string) error {
	cmd := exec.CommandContext(v.ctx, QEMUBinary, a...)
	cmd.WaitDelay = 5 * time.Second
	// Kill QEMU if the test process dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = &lockedWriter{mu: &v.mu, w: &v.stderr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	v.cmd, v.stdin = cmd, stdin
	go v.watchEvents()
	go v.pump(stdout)
	return nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pump copies the console into the buffer until EOF, then reaps QEMU.
func (v *VM) pump(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			v.feed(buf[:n])
			if v.cfg.Console != nil {
				v.cfg.Console.Write(buf[:n])
			}
		}
		if err != nil {
			break
		}
	}
	err := v.cmd.Wait()
	close(v.exited)
	<-v.events // QEMU has closed the event socket: its SHUTDOWN event, if any, is recorded
	if err != nil && errors.Is(v.ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("qemu killed after timeout %s: %w", v.cfg.Timeout, err)
	} else if err != nil && v.ctx.Err() != nil {
		err = fmt.Errorf("qemu killed: %w", err)
	}
	if err != nil {
		v.mu.Lock()
		if s := strings.TrimSpace(v.stderr.String()); s != "" {
			err = fmt.Errorf("%w; qemu stderr: %s", err, s)
		}
		v.mu.Unlock()
	}
	v.waitErr = err
	v.cancel()
	close(v.done)
}

// promptSettle is how long a matching partial last line must stay
// unchanged before Expect accepts it.
const promptSettle = 200 * time.Millisecond

// looksLikePrompt reports whether an unterminated line ends the way
// prompts do ("# ", "$ ", "> ", ": ", "? "), so that a line merely cut
// short by a slow serial console is never taken for a finished one.
func looksLikePrompt(line string) bool {
	for _, suf := range []string{"# ", "$ ", "> ", ": ", "? "} {
		if strings.HasSuffix(line, suf) {
			return true
		}
	}
	return false
}

// feed appends console output and wakes Expect.
func (v *VM) feed(b []byte) {
	v.mu.Lock()
	v.out = append(v.out, b...)
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
}

// Expect waits until a console line matches pattern and returns it (without
// the line ending). Scanning starts after the line matched by the previous
// Expect, so successive calls walk forward through the output. An
// unterminated last line is considered only when it ends like a prompt
// ("earlyroot# ", "login: ", "$ ") and no output has arrived for 200 ms,
// so a line still being printed is never returned cut short.
func (v *VM) Expect(pattern *regexp.Regexp, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	v.mu.Lock()
	from := v.pos
	v.mu.Unlock()
	for {
		v.mu.Lock()
		line, next, end, ok := scan(v.out, from, pattern)
		partial := ok && next == len(v.out) && (len(v.out) == 0 || v.out[len(v.out)-1] != '\n')
		if partial && !looksLikePrompt(line) {
			ok, partial = false, false
		}
		if ok && !partial {
			v.pos = next
			v.mu.Unlock()
			return line, nil
		}
		from = end
		ch := v.changed
		v.mu.Unlock()
		if partial {
			// A partial line counts only once output pauses: a prompt
			// waiting for input, not a line still arriving.
			select {
			case <-ch:
				continue
			case <-time.After(promptSettle):
				v.mu.Lock()
				if ch == v.changed {
					v.pos = next
					v.mu.Unlock()
					return line, nil
				}
				v.mu.Unlock()
				continue
			}
		}
		select {
		case <-ch:
		case <-v.done:
			v.mu.Lock()
			line, next, _, ok := scan(v.out, from, pattern)
			if ok {
				v.pos = next
			}
			v.mu.Unlock()
			if ok {
				return line, nil
			}
			return "", fmt.Errorf("expect %q: %w (%v)", pattern, ErrExited, v.waitErr)
		case <-timer.C:
			return "", fmt.Errorf("expect %q: %w after %s", pattern, ErrTimeout, timeout)
		}
	}
}

// scan looks for pattern in the lines of out starting at from. It returns
// the matching line, the offset after it, and (when nothing matched) the
// offset of the first incomplete line, where the next scan can resume.
func scan(out []byte, from int, re *regexp.Regexp) (line string, next, end int, ok bool) {
	i := from
	for i < len(out) {
		j := bytes.IndexByte(out[i:], '\n')
		if j < 0 {
			l := cleanLine(out[i:])
			if re.MatchString(l) {
				return l, len(out), i, true
			}
			return "", 0, i, false
		}
		l := cleanLine(out[i : i+j])
		if re.MatchString(l) {
			return l, i + j + 1, i + j + 1, true
		}
		i += j + 1
	}
	return "", 0, i, false
}

func cleanLine(b []byte) string {
	return strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\x00")
}

// factsLine matches a complete facts line.
var factsLine = regexp.MustCompile(regexp.QuoteMeta(FactsPrefix) + `\{.*\}\s*$`)

// ExpectFacts waits (like Expect) for the next facts line that parses and
// returns it. Lines garbled by interleaved kernel messages are skipped.
func (v *VM) ExpectFacts(timeout time.Duration) (Facts, error) {
	deadline := time.Now().Add(timeout)
	for {
		line, err := v.Expect(factsLine, time.Until(deadline))
		if err != nil {
			return Facts{}, err
		}
		if f, err := ParseFacts(line); err == nil {
			return f, nil
		}
	}
}

// Send writes s to the serial console input (no newline is added).
func (v *VM) Send(s string) error {
	select {
	case <-v.done:
		return fmt.Errorf("send: %w", ErrExited)
	default:
	}
	if _, err := io.WriteString(v.stdin, s); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// Wait blocks until QEMU exits and returns its exit error (nil for a clean
// exit: guest power-off, or a reboot turned into an exit by -no-reboot).
func (v *VM) Wait() error {
	<-v.done
	return v.waitErr
}

// Reasons QEMU gives in its SHUTDOWN event (see ShutdownReason).
const (
	ShutdownPoweroff = "guest-shutdown" // the guest powered off
	ShutdownReset    = "guest-reset"    // the guest rebooted (QEMU exits: -no-reboot)
	ShutdownPanic    = "guest-panic"    // the guest reported a panic
)

// ShutdownReason returns why QEMU shut down, as its SHUTDOWN event says
// (ShutdownPoweroff, ShutdownReset, "host-signal", ...), or "" while it
// runs and when it ended without one (killed, or it failed to start).
// With -no-reboot both a power-off and a reboot end QEMU cleanly; this is
// how a caller tells them apart. Call it after Wait.
func (v *VM) ShutdownReason() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.shutdown
}

// WaitTimeout is Wait bounded by d; on timeout it returns ErrTimeout and
// leaves QEMU running.
func (v *VM) WaitTimeout(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.done:
		return v.waitErr
	case <-t.C:
		return fmt.Errorf("wait for qemu exit: %w after %s", ErrTimeout, d)
	}
}

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Kill stops QEMU (if still running) and waits for it. Always safe.
func (v *VM) Kill() {
	if v == nil || v.cancel == nil {
		return
	}
	v.cancel()
	<-v.done
}

// Close kills QEMU and removes the VM's temporary files.
func (v *VM) Close() error {
	if v == nil {
		return nil
	}
	v.Kill()
	v.qmpMu.Lock()
	if v.qmp != nil {
		v.qmp.close()
		v.qmp = nil
	}
	v.qmpMu.Unlock()
	return os.RemoveAll(v.dir)
}

// Output returns all console output so far.
func (v *VM) Output() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return string(v.out)
}

// Stderr returns QEMU's own diagnostics (not the guest console).
func (v *VM) Stderr() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stderr.String()
}

// Tail returns the last n console lines.
func (v *VM) Tail(n int) string {
	return tail(v.Output(), n)
}

func tail(s string, n int) string {
	s = strings.ReplaceAll(s, "\r", "")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Args returns the full QEMU command line Start would run for cfg, for
// logs and for reproducing a failure by hand.
func Args(cfg Config) ([]string, error) {
	a, err := args(cfg, "/tmp/earlyroot-vm-XXXX")
	if err != nil {
		return nil, err
	}
	return append([]string{QEMUBinary}, a...), nil
}
