package uevent

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/pilebones/go-udev/netlink"
	"golang.org/x/sys/unix"
)

// rcvBufSize is the socket receive buffer requested for the uevent socket:
// large enough to absorb the burst of a coldplug storm while handle is busy.
const rcvBufSize = 128 << 20

// recver is the seam between the read loop and the kernel: one datagram
// per call. Tests substitute a fake to inject ENOBUFS and foreign senders.
type recver interface {
	// recv reads one datagram into buf. n is the datagram's real length
	// (larger than len(buf) when it was truncated); port is the sender's
	// netlink port id (0 = the kernel). After close it returns an error
	// wrapping os.ErrClosed.
	recv(buf []byte) (n int, port uint32, err error)
	close() error
}

// netlinkConn is the real NETLINK_KOBJECT_UEVENT socket. go-udev's
// UEventConn creates and binds it; the fd is then handed to the Go
// runtime poller (non-blocking, via os.File) so that close() wakes a
// blocked recv and the read goroutine can end.
type netlinkConn struct {
	f  *os.File
	rc syscall.RawConn
}

// openNetlink opens the kernel uevent socket (multicast group 1) with
// CLOEXEC, a 128 MiB receive buffer (SO_RCVBUFFORCE, falling back to the
// capped SO_RCVBUF when not privileged) and non-blocking mode.
func openNetlink() (*netlinkConn, error) {
	var c netlink.UEventConn
	// go-udev creates the socket without SOCK_CLOEXEC; holding ForkLock
	// until CloseOnExec keeps a concurrent fork+exec from inheriting it.
	syscall.ForkLock.RLock()
	err := c.Connect(netlink.KernelEvent)
	if err == nil {
		unix.CloseOnExec(c.Fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("uevent: open netlink socket: %w", err)
	}
	fd := c.Fd
	if err := setRcvBuf(fd, rcvBufSize); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent: set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-kobject-uevent")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uevent: raw conn: %w", err)
	}
	return &netlinkConn{f: f, rc: rc}, nil
}

// setRcvBuf forces the receive buffer size, ignoring rmem_max when we
// have CAP_NET_ADMIN, else asks for it within rmem_max.
func setRcvBuf(fd, size int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
		return fmt.Errorf("uevent: set receive buffer to %d: %w", size, err)
	}
	return nil
}

func (c *netlinkConn) recv(buf []byte) (int, uint32, error) {
	var (
		n    int
		from unix.Sockaddr
		err  error
	)
	rerr := c.rc.Read(func(fd uintptr) bool {
		// MSG_TRUNC makes the kernel report the datagram's full length.
		n, from, err = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
		return !errors.Is(err, unix.EAGAIN)
	})
	if rerr != nil {
		return 0, 0, fmt.Errorf("uevent: recv: %w", rerr)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("uevent: recv: %w", err)
	}
	nl, ok := from.(*unix.SockaddrNetlink)
	if !ok {
		return n, ^uint32(0), nil // unknown sender: never trusted
	}
	return n, nl.Pid, nil
}

func (c *netlinkConn) close() error { return c.f.Close() }
