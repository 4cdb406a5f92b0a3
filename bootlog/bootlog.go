// Package bootlog is the logger of the earlyroot init (PID 1).
//
// Every message goes to up to three places:
//
//   - the kernel log (/dev/kmsg), one write per line as "<L>earlyroot: msg"
//     with the syslog level L (err=3, warn=4, info=6, debug=7); lines longer
//     than the kernel accepts are split;
//   - the console as "earlyroot: msg"; info and debug lines are suppressed
//     when quiet, warnings and errors are always shown;
//   - an in-memory history with monotonic timestamps ("[    1.234567] msg",
//     seconds since boot, like dmesg) for /run/initramfs/earlyroot.log.
//
// Debug messages reach the kernel log and the console only when enabled
// with SetDebug, but they are always kept in the history.
//
// Phase times named boot phases and logs their durations ("NAME took 12.3 ms"), which the
// benchmark reads.
//
// The kernel drops what one open file of /dev/kmsg writes past 10 lines in
// 5 s unless printk.devkmsg=on; [Kmsg] opens the file again before that.
package bootlog

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Level is a syslog severity.
type Level int

// Levels used by the logger (syslog values).
const (
	LevelErr   Level = 3
	LevelWarn  Level = 4
	LevelInfo  Level = 6
	LevelDebug Level = 7
)

// Prefix starts every kmsg and console line.
const Prefix = "earlyroot: "

// MaxKmsgLine is the longest write (prefix and newline included) sent to
// /dev/kmsg; the kernel rejects records longer than 1024-32 bytes.
const MaxKmsgLine = 976

// MaxHistory bounds the in-memory history; later lines are dropped and a
// single truncation marker is recorded.
const MaxHistory = 4 << 20

// Logger is safe for concurrent use.
type Logger struct {
	mu         sync.Mutex
	kmsg       io.Writer
	console    io.Writer
	useKmsg    bool
	useConsole bool
	quiet      bool
	debug      bool
	// echoBelow is the kernel's console_loglevel: kmsg records with a lower level are
	// printed on the console by the kernel itself, so the logger does not print them
	// again. 0 means unknown.
	echoBelow Level
	clock     func() time.Duration
	hist      bytes.Buffer
	truncated bool
}

// New returns a Logger writing to kmsg and console; either may be nil.
// Timestamps are CLOCK_MONOTONIC (time since boot, as in dmesg).
func New(kmsg io.Writer, console io.Writer) *Logger {
	return &Logger{
		kmsg:       kmsg,
		console:    console,
		useKmsg:    true,
		useConsole: true,
		clock:      bootClock(),
	}
}

// bootClock returns a clock reading the time since boot: one
// CLOCK_MONOTONIC read now plus Go's monotonic elapsed time afterwards.
func bootClock() func() time.Duration {
	base := monotonicNow()
	start := time.Now()
	return func() time.Duration { return base + time.Since(start) }
}

// SetQuiet suppresses info and debug lines on the console.
func (l *Logger) SetQuiet(q bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiet = q
}

// SetDebug enables debug lines on kmsg and the console.
func (l *Logger) SetDebug(d bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.debug = d
}

// SetKernelConsoleLevel tells the logger the kernel's console_loglevel (the first field of
// /proc/sys/kernel/printk): records written to kmsg below it already reach the console.
func (l *Logger) SetKernelConsoleLevel(level int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.echoBelow = Level(level)
}

// SetTargets selects which writers are used (earlyroot.log=console|kmsg|both).
// The history is always kept.
func (l *Logger) SetTargets(kmsg, console bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.useKmsg, l.useConsole = kmsg, console
}

// SetClock replaces the clock (time since boot); for tests.
func (l *Logger) SetClock(clock func() time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock = clock
}

// Infof logs at info level.
func (l *Logger) Infof(format string, args ...any) { l.Logf(LevelInfo, format, args...) }

// Warnf logs at warning level.
func (l *Logger) Warnf(format string, args ...any) { l.Logf(LevelWarn, format, args...) }

// Errorf logs at error level.
func (l *Logger) Errorf(format string, args ...any) { l.Logf(LevelErr, format, args...) }

// Debugf logs at debug level.
func (l *Logger) Debugf(format string, args ...any) { l.Logf(LevelDebug, format, args...) }

// Logf logs a message at the given level. Each line of the message is a
// separate record.
func (l *Logger) Logf(level Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.TrimRight(msg, "\n")
	lines := strings.Split(msg, "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	for _, line := range lines {
		l.record(now, level, line)
	}
	if l.useKmsg && l.kmsg != nil && (level != LevelDebug || l.debug) {
		for _, line := range lines {
			l.writeKmsg(level, line)
		}
	}
	echoed := l.useKmsg && l.kmsg != nil && level < l.echoBelow && (level != LevelDebug || l.debug)
	if l.useConsole && l.console != nil && !echoed && l.showOnConsole(level) {
		var b strings.Builder
		for _, line := range lines {
			b.WriteString(Prefix)
			b.WriteString(line)
			b.WriteByte('\n')
		}
		io.WriteString(l.console, b.String()) // nowhere to report a console error
	}
}

func (l *Logger) showOnConsole(level Level) bool {
	switch level {
	case LevelErr, LevelWarn:
		return true
	case LevelDebug:
		return l.debug && !l.quiet
	}
	return !l.quiet
}

// levelTags mark non-info lines in the history.
var levelTags = map[Level]string{
	LevelErr:   "error: ",
	LevelWarn:  "warning: ",
	LevelDebug: "debug: ",
}

// record appends one line to the history. Called with l.mu held.
func (l *Logger) record(now time.Duration, level Level, line string) {
	if l.truncated {
		return
	}
	entry := fmt.Sprintf("[%5d.%06d] %s%s\n", now/time.Second, (now%time.Second)/time.Microsecond, levelTags[level], line)
	if l.hist.Len()+len(entry) > MaxHistory {
		l.truncated = true
		l.hist.WriteString("[history truncated]\n")
		return
	}
	l.hist.WriteString(entry)
}

// writeKmsg writes one line, split into records the kernel accepts.
// Called with l.mu held.
func (l *Logger) writeKmsg(level Level, line string) {
	head := fmt.Sprintf("<%d>%s", level, Prefix)
	room := MaxKmsgLine - len(head) - 1
	for {
		chunk := line
		if len(chunk) > room {
			chunk = cutUTF8(line, room)
		}
		l.kmsg.Write([]byte(head + chunk + "\n")) // nowhere to report a kmsg error
		line = line[len(chunk):]
		if line == "" {
			return
		}
	}
}

// cutUTF8 returns the longest prefix of s of at most n bytes (n > 0) that
// does not split a UTF-8 sequence, or n bytes if s is not valid UTF-8 there.
func cutUTF8(s string, n int) string {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}

// Clock returns the logger's clock: the time since boot (CLOCK_MONOTONIC, as in dmesg)
// unless SetClock replaced it.
func (l *Logger) Clock() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clock()
}

// Phase starts timing a named phase. The returned done function logs
// "NAME took 12.3 ms" at info level; calling it more than once has no
// further effect.
func (l *Logger) Phase(name string) (done func()) {
	l.mu.Lock()
	start := l.clock()
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			d := l.clock() - start
			l.mu.Unlock()
			l.Infof("%s took %.1f ms", name, float64(d)/float64(time.Millisecond))
		})
	}
}

// History returns a copy of everything logged, one timestamped line per
// record, for /run/initramfs/earlyroot.log.
func (l *Logger) History() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.hist.Bytes())
}

// WriteHistory writes the history to w.
func (l *Logger) WriteHistory(w io.Writer) error {
	if _, err := w.Write(l.History()); err != nil {
		return fmt.Errorf("write boot log history: %w", err)
	}
	return nil
}

// Writer returns an io.Writer that logs everything written to it at the
// given level, one record per line (for example to hand to a log.Logger
// or as a child process's stderr). Each Write is logged on its own; a
// trailing newline is dropped and empty writes are ignored.
func (l *Logger) Writer(level Level) io.Writer {
	return levelWriter{l: l, level: level}
}

type levelWriter struct {
	l     *Logger
	level Level
}

func (w levelWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimRight(string(p), "\n"); msg != "" {
		w.l.Logf(w.level, "%s", msg)
	}
	return len(p), nil
}
