package bootlog

import (
	"io"
	"sync"
)

// kmsgBurst is how many records the kernel takes from one open file of /dev/kmsg
// in five seconds when printk.devkmsg is "ratelimit", its default: devkmsg_write
// drops the others silently. Each open file has its own allowance
// (devkmsg_open gives it a fresh ratelimit state, DEFAULT_RATELIMIT_BURST).
const kmsgBurst = 10

// Kmsg writes to the kernel log, one record per Write, through a file it
// opens again before that file's allowance of records is used up. So every
// line of the boot log reaches the kernel log without turning the kernel's
// rate limit off (/proc/sys/kernel/printk_devkmsg), a setting that would
// outlive the initramfs and apply to every program of the booted system.
type Kmsg struct {
	open    func() (io.WriteCloser, error)
	mu      sync.Mutex
	f       io.WriteCloser
	written int // records written through f
}

// NewKmsg opens the kernel log with open (os.OpenFile of /dev/kmsg, write-only).
func NewKmsg(open func() (io.WriteCloser, error)) (*Kmsg, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	return &Kmsg{open: open, f: f}, nil
}

// Write writes p as one record. When the file has taken its allowance and
// opening a new one fails, the record still goes to the old file, where the
// kernel may drop it.
func (k *Kmsg) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.written >= kmsgBurst {
		if f, err := k.open(); err == nil {
			k.f.Close()
			k.f, k.written = f, 0
		}
	}
	k.written++
	return k.f.Write(p)
}

// Close closes the open file.
func (k *Kmsg) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.f.Close()
}
