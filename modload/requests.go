package modload

import (
	"bytes"
	"fmt"
	"os"
)

// RequestSysctl is the kernel's kernel.modprobe setting below /proc: the program it starts
// for each of its own module requests (request_module), /sbin/modprobe by default. Set to
// the empty string, it makes the kernel start no program at all: each request fails at
// once with ENOENT (Documentation/admin-guide/sysctl/kernel.rst).
const RequestSysctl = "sys/kernel/modprobe"

// WithoutRequests runs f, a step of the boot that makes the kernel request modules the init
// has loaded already, with the kernel's module requests turned off (RequestSysctl emptied,
// then set back to what it held). It returns an error when the setting could not be set
// back (the kernel, and the real system after the boot, would then start no helper at all:
// the caller must say so).
//
// Some kernel code asks for modules whether or not they are there: md asks for the
// personality of every array it runs ("md-level-1"), and the crypto API for every name it
// has no instance of yet when it builds one from its templates ("crypto-xts(aes)",
// "crypto-xts(aes)-all", "crypto-aes", …). Each request starts this binary as modprobe, a
// process the kernel waits for, to find what the init had loaded. A caller loads what f
// needs first, and f must not load modules itself; what f needs but does not find fails
// with ENOENT, for the caller to retry outside (or leave to a later step that runs with
// the requests on).
//
// The setting is the whole kernel's, so the init keeps its own requesting work out of the
// time it is off: module inserts (the finit_module and init_module calls, whose modules'
// init functions may ask for modules) and the steps run by [Loader.Requesting] wait for f,
// and f waits for them. Requests the kernel makes
// from its own work meanwhile (a driver's probe in a workqueue) fail like f's would have.
// Without the setting (no RequestSysctl option, a /proc without the file, a read-only
// /proc/sys) f runs with the requests on.
func (l *Loader) WithoutRequests(f func()) (err error) {
	l.requests.Lock()
	defer l.requests.Unlock()
	if l.requestSysctl == "" {
		f()
		return nil
	}
	saved, rerr := os.ReadFile(l.requestSysctl)
	if rerr != nil || os.WriteFile(l.requestSysctl, []byte("\n"), 0) != nil {
		f()
		return nil
	}
	defer func() { err = restoreRequests(l.requestSysctl, saved) }()
	f()
	return nil
}

// restoreRequests writes back the setting WithoutRequests emptied. With nothing to write
// back (an empty setting: requests were off already) it leaves it empty.
func restoreRequests(path string, saved []byte) error {
	if len(bytes.TrimSpace(saved)) == 0 {
		return nil
	}
	if err := os.WriteFile(path, saved, 0); err != nil {
		return fmt.Errorf("kernel.modprobe: set back %q: %w", bytes.TrimSpace(saved), err)
	}
	return nil
}

// Requesting runs f, a step that may make the kernel request a module (a mount, loading a
// device-mapper table, assembling volumes), never while [Loader.WithoutRequests] has the
// requests off. Steps run by Requesting may overlap each other, but f must not load
// modules itself: an insert takes the same read side again, which waits behind a
// WithoutRequests that is waiting for f.
func (l *Loader) Requesting(f func()) {
	l.requests.RLock()
	defer l.requests.RUnlock()
	f()
}
