package switchroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSymlinks bounds the symbolic links followed while resolving one path, as the kernel's
// own limit (ELOOP after 40).
const maxSymlinks = 40

// defaultInits are the inits tried, in order, when Options.Init is empty.
var defaultInits = []string{"/sbin/init", "/etc/init", "/bin/init", "/bin/sh"}

// Errors of the init checks, wrapped in an *InitError.
var (
	ErrNoSuchFile    = errors.New("no such file")
	ErrNotDir        = errors.New("a path component is not a directory")
	ErrIsDir         = errors.New("is a directory")
	ErrNotRegular    = errors.New("not a regular file")
	ErrNotExecutable = errors.New("not executable")
	ErrLoop          = errors.New("too many levels of symbolic links")
)

// InitError reports an init that cannot be executed inside the new root.
type InitError struct {
	Path     string // as seen from the initramfs: "/newroot/sbin/init"
	Resolved string // inside the new root after symbolic links, when it differs: "/lib/systemd/systemd"
	Err      error  // one of the Err* values above, or the underlying error
}

func (e *InitError) Error() string {
	if e.Resolved == "" {
		return fmt.Sprintf("switch_root: %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("switch_root: %s (-> %s): %v", e.Path, e.Resolved, e.Err)
}

func (e *InitError) Unwrap() error { return e.Err }

// Resolve resolves name (an absolute path inside the new root; a relative one is taken from
// the new root's "/") as if root were "/": absolute symbolic link targets restart at root,
// ".." never climbs above it, and at most 40 links are followed. It returns the resolved
// path inside the new root ("/lib/systemd/systemd"). Every component must exist; the error
// is an *InitError wrapping ErrNoSuchFile, ErrNotDir or ErrLoop.
func Resolve(root, name string) (string, error) {
	host := filepath.Join(root, "/", name)
	rest := splitPath(name)
	var cur []string
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		p := filepath.Join(root, "/"+strings.Join(append(cur, c), "/"))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", &InitError{Path: host, Resolved: resolvedIf(name, cur, c, rest), Err: lookupErr(err)}
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(rest) > 0 && !fi.IsDir() {
				return "", &InitError{Path: host, Resolved: resolvedIf(name, cur, c, rest), Err: ErrNotDir}
			}
			cur = append(cur, c)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", &InitError{Path: host, Err: ErrLoop}
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", &InitError{Path: host, Err: fmt.Errorf("readlink %s: %w", p, err)}
		}
		if strings.HasPrefix(target, "/") {
			cur = cur[:0]
		}
		rest = append(splitPath(target), rest...)
	}
	return "/" + strings.Join(cur, "/"), nil
}

// splitPath returns the non-empty components of p.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// resolvedIf is the path being looked up when an error occurs, for the message, or "" when
// it is simply name: the resolved components, the failing one and those still to resolve.
func resolvedIf(name string, cur []string, c string, rest []string) string {
	parts := append(append(cur[:len(cur):len(cur)], c), rest...)
	r := path.Clean("/" + strings.Join(parts, "/"))
	if r == filepath.Clean("/"+name) {
		return ""
	}
	return r
}

// lookupErr maps a failed lstat to the init check errors.
func lookupErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNoSuchFile
	case errors.Is(err, syscall.ENOTDIR):
		return ErrNotDir
	}
	return err
}

// checkInit resolves name inside root and checks that it is an executable regular file. It
// returns the absolute path to exec after the chroot (name itself, so that argv[0] keeps the
// name multi-call binaries such as busybox dispatch on) and the resolved path.
func checkInit(root, name string) (execPath, resolved string, err error) {
	execPath = filepath.Clean("/" + name)
	resolved, err = Resolve(root, execPath)
	if err != nil {
		return "", "", err
	}
	host := filepath.Join(root, execPath)
	shown := ""
	if resolved != execPath {
		shown = resolved
	}
	fi, err := os.Lstat(filepath.Join(root, resolved))
	switch {
	case err != nil:
		return "", "", &InitError{Path: host, Resolved: shown, Err: lookupErr(err)}
	case fi.IsDir():
		return "", "", &InitError{Path: host, Resolved: shown, Err: ErrIsDir}
	case !fi.Mode().IsRegular():
		return "", "", &InitError{Path: host, Resolved: shown, Err: ErrNotRegular}
	case fi.Mode().Perm()&0o111 == 0:
		return "", "", &InitError{Path: host, Resolved: shown, Err: ErrNotExecutable}
	}
	return execPath, resolved, nil
}

// findInit checks init, or when it is empty the first of defaultInits that passes.
func findInit(root, init string) (execPath, resolved string, err error) {
	if init != "" {
		return checkInit(root, init)
	}
	e := &NoInitError{Root: root}
	for _, c := range defaultInits {
		p, r, err := checkInit(root, c)
		if err == nil {
			return p, r, nil
		}
		e.Errs = append(e.Errs, err)
	}
	return "", "", e
}

// NoInitError reports that none of the default inits can be executed.
type NoInitError struct {
	Root string
	Errs []error // one *InitError per candidate
}

func (e *NoInitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "switch_root: no init in %s", e.Root)
	for i, err := range e.Errs {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		if ie, ok := err.(*InitError); ok {
			b.WriteString(strings.TrimPrefix(ie.Error(), "switch_root: "))
		} else {
			b.WriteString(err.Error())
		}
	}
	return b.String()
}

func (e *NoInitError) Unwrap() []error { return e.Errs }
