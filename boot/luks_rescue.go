package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/earlyroot/earlyroot/askpass"
	"github.com/earlyroot/earlyroot/cryptopt"
	"github.com/earlyroot/earlyroot/dm"
	"github.com/earlyroot/earlyroot/mount"
	"github.com/earlyroot/earlyroot/probe"
)

// terminal is the console the passphrase is asked on: the real terminal (echo off) when the
// console is a file, else a plain line reader (a test's script).
func (b *Boot) terminal() askpass.Terminal {
	if in, ok := b.sys.In.(*os.File); ok {
		if out, ok := b.sys.Out.(*os.File); ok {
			return askpass.NewConsole(int(in.Fd()), int(out.Fd()))
		}
	}
	return lineTerminal{in: b.sys.In, out: b.sys.Out}
}

// lineTerminal reads a passphrase as a line, one byte at a time so that nothing after it
// is taken from the rescue shell, into a buffer of fixed capacity so that no reallocation
// leaves a copy of it behind.
type lineTerminal struct {
	in  io.Reader
	out io.Writer
}

func (t lineTerminal) ReadPassphrase(ctx context.Context, prompt string) ([]byte, error) {
	if _, err := io.WriteString(t.out, prompt); err != nil {
		return nil, err
	}
	line := make([]byte, 0, askpass.MaxLen)
	var c [1]byte
	for {
		if err := ctx.Err(); err != nil {
			clear(line)
			return nil, err
		}
		n, err := t.in.Read(c[:])
		if n == 1 {
			if c[0] == '\n' || c[0] == '\r' {
				io.WriteString(t.out, "\n")
				return line, nil
			}
			if len(line) >= askpass.MaxLen {
				clear(line)
				return nil, askpass.ErrTooLong
			}
			line = append(line, c[0])
			continue
		}
		if err != nil {
			if len(line) == 0 && errors.Is(err, io.EOF) {
				return nil, askpass.ErrEOF
			}
			clear(line)
			return nil, err
		}
	}
}

func (t lineTerminal) Say(msg string) error {
	_, err := fmt.Fprintln(t.out, msg)
	return err
}

// unlock DEVICE [NAME] opens a LUKS device from the rescue shell, asking for its
// passphrase; `continue` then finds the root inside.
func (b *Boot) unlock(args []string, w io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: unlock DEVICE [NAME] (DEVICE: /dev/…, UUID=…, …)")
	}
	spec, err := mount.ParseSpec(args[0])
	if err != nil {
		return err
	}
	d, ok := b.reg.Find(spec)
	if !ok {
		return fmt.Errorf("%s: no such device (blkid lists them)", args[0])
	}
	if d.Info.Layer != probe.LayerLUKS {
		return fmt.Errorf("%s is not a LUKS device (%s)", d.Path, orDash(d.Info.Type))
	}
	set, _ := b.luksSettings(d) // the user asks: the command line's restrictions do not apply
	if len(args) == 2 {
		if !cryptopt.ValidName(args[1]) {
			return fmt.Errorf("%q cannot be a mapping name", args[1])
		}
		set.Name = args[1]
	}
	v := b.crypt.volume(d)
	if !b.crypt.claim(v) {
		return fmt.Errorf("%s is open already, or being opened", d.Path)
	}
	m, err := b.openLUKS(context.Background(), d, set, b.terminal())
	if err != nil {
		b.crypt.settle(v, volFailed, "", err)
		return fmt.Errorf("luks %s: %w", d.Path, err)
	}
	b.crypt.settle(v, volOpen, m.name(), nil)
	fmt.Fprintf(w, "%s opened as /dev/mapper/%s (/dev/%s)\n", d.Path, set.Name, m.name())
	return nil
}

// dmtable [NAME] prints the live device-mapper tables as `dmsetup table` does (keys show as
// their keyring references, never as bytes).
func (b *Boot) dmtable(args []string, w io.Writer) error {
	c, err := dm.Open(filepath.Join(b.sys.Dev, "mapper/control"))
	if err != nil {
		return err
	}
	defer c.Close()
	var names []string
	if len(args) > 0 {
		names = args
	} else {
		devs, err := c.List()
		if err != nil {
			return err
		}
		for _, d := range devs {
			names = append(names, d.Name)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		table, err := c.Table(n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		for _, t := range table {
			fmt.Fprintf(w, "%s: %s\n", n, t)
		}
	}
	return nil
}

// listLayers prints, in the diagnosis, the encrypted devices and what became of them.
func (b *Boot) listLayers(w io.Writer) {
	b.crypt.mu.Lock()
	defer b.crypt.mu.Unlock()
	if len(b.crypt.vols) == 0 {
		return
	}
	var names []string
	for n := range b.crypt.vols {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nencrypted devices (LUKS):")
	for _, n := range names {
		v := b.crypt.vols[n]
		line := fmt.Sprintf("  %s UUID=%s: %s", v.dev.Path, v.dev.Info.UUID, v.state)
		switch {
		case v.state == volOpen:
			line += " as /dev/" + v.mapped
		case v.err != nil:
			line += ": " + v.err.Error()
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "  (`unlock DEVICE [NAME]` opens one)")
}
