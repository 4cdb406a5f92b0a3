// Command testinit is the "real init" installed as /sbin/init on earlyroot's
// test root disks (and as /init of the harness's own initramfs tests).
//
// Started as PID 1 it first records which of /proc, /sys, /dev and /run are
// already mount points — that is the fact tests check, so it is noted before
// testinit mounts anything — then mounts /proc and /sys if they are
// missing, reads /proc/self/mountinfo for the root mount, and prints one
// line
//
//	EARLYROOT-FACTS {json}
//
// to /dev/console (and to stdout when that is a different file), syncs and
// powers the machine off. The JSON fields are those of internal/vm.Facts;
// "extra" holds:
//
//	cmdline                 /proc/cmdline
//	fds                     init's open descriptors: "0=/dev/console 1=..."
//	earlyroot_log           size in bytes of /run/initramfs/earlyroot.log, or "absent"
//	virtio_blk_queue_depth  /sys/module/virtio_blk/parameters/queue_depth, if present
//	memfree_kb              MemFree from /proc/meminfo
//	mounts                  "mountpoint:fstype" of every mount, space separated
//	root_superopts          the root filesystem's super options
//	proc_fstype, sys_fstype, dev_fstype, run_fstype   from mountinfo
//	modules                 loaded modules, comma separated (from /proc/modules)
//	printk_devkmsg          /proc/sys/kernel/printk_devkmsg (the kernel's rate limit of /dev/kmsg writers)
//	kmsg_earlyroot          how many kernel log records hold "earlyroot: ", if /dev/kmsg opens
//	kmsg_ratelimited        how many kernel log records report lines a writer lost to the rate limit
//	kernel, hostname, env, cwd
//
// Run as any other PID (on a host, say) it prints the facts and exits
// without mounting anything or powering off.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/earlyroot/earlyroot/internal/host"
)

// facts mirrors internal/vm.Facts (same JSON names); kept separate so the
// guest binary stays small.
type facts struct {
	PID         int               `json:"pid"`
	RootFSType  string            `json:"rootfstype"`
	RootSource  string            `json:"rootsource"`
	RootOptions string            `json:"rootoptions"`
	Proc        bool              `json:"proc"`
	Sys         bool              `json:"sys"`
	Dev         bool              `json:"dev"`
	Run         bool              `json:"run"`
	Argv        []string          `json:"argv"`
	UptimeSec   float64           `json:"uptime"`
	Extra       map[string]string `json:"extra"`
}

func main() {
	pid1 := os.Getpid() == 1
	f := gather(pid1)
	b, err := json.Marshal(f)
	if err != nil {
		b = []byte(`{"extra":{"error":"marshal failed"}}`)
	}
	emit(pid1, "EARLYROOT-FACTS "+string(b)+"\n")
	if !pid1 {
		return
	}
	reapChildren(10 * time.Second)
	unix.Sync()
	err = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(os.Stderr, "testinit: power off: %v\n", err)
	time.Sleep(time.Second)
	os.Exit(1) // the kernel panics: visible, and ends QEMU under panic=-1
}

func gather(pid1 bool) facts {
	f := facts{PID: os.Getpid(), Argv: os.Args, Extra: map[string]string{}}
	// Before mounting anything: which API filesystems were handed to us.
	f.Proc = isMountPoint("/proc")
	f.Sys = isMountPoint("/sys")
	f.Dev = isMountPoint("/dev")
	f.Run = isMountPoint("/run")
	if pid1 {
		mountIfMissing(f.Proc, "proc", "/proc")
		mountIfMissing(f.Sys, "sysfs", "/sys")
	}
	f.UptimeSec = uptime()
	mounts := readMountinfo()
	var list []string
	for _, m := range mounts {
		list = append(list, m.point+":"+m.fstype)
		switch m.point {
		case "/":
			f.RootFSType, f.RootSource, f.RootOptions = m.fstype, m.source, m.opts
			f.Extra["root_superopts"] = m.superOpts
		case "/proc", "/sys", "/dev", "/run":
			f.Extra[strings.TrimPrefix(m.point, "/")+"_fstype"] = m.fstype
		}
	}
	f.Extra["mounts"] = strings.Join(list, " ")
	extras(f.Extra)
	return f
}

func extras(e map[string]string) {
	e["cmdline"] = readTrim("/proc/cmdline")
	e["fds"] = openFDs()
	if fi, err := os.Stat("/run/initramfs/earlyroot.log"); err == nil {
		e["earlyroot_log"] = strconv.FormatInt(fi.Size(), 10)
	} else {
		e["earlyroot_log"] = "absent"
	}
	if s := readTrim("/sys/module/virtio_blk/parameters/queue_depth"); s != "" {
		e["virtio_blk_queue_depth"] = s
	}
	e["memfree_kb"] = memFree()
	e["printk_devkmsg"] = readTrim("/proc/sys/kernel/printk_devkmsg")
	if ours, limited, err := kmsgCounts("/dev/kmsg"); err == nil {
		e["kmsg_earlyroot"], e["kmsg_ratelimited"] = strconv.Itoa(ours), strconv.Itoa(limited)
	}
	e["modules"] = modules()
	if r, err := host.KernelRelease(); err == nil {
		e["kernel"] = r
	}
	e["hostname"] = readTrim("/etc/hostname")
	e["env"] = strings.Join(os.Environ(), " ")
	if wd, err := os.Getwd(); err == nil {
		e["cwd"] = wd
	}
}

// isMountPoint reports whether p is a mount point without needing /proc:
// its device differs from its parent's (or from "/" for top-level dirs).
func isMountPoint(p string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return false
	}
	if unix.Stat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

func mountIfMissing(present bool, fstype, target string) {
	if present {
		return
	}
	os.MkdirAll(target, 0o555)
	if err := unix.Mount(fstype, target, fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintf(os.Stderr, "testinit: mount %s: %v\n", target, err)
	}
}

func uptime() float64 {
	fields := strings.Fields(readTrim("/proc/uptime"))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}

type mount struct{ point, fstype, source, opts, superOpts string }

// readMountinfo parses /proc/self/mountinfo:
// id parent maj:min root point opts [optional...] - fstype source superopts
func readMountinfo() []mount {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountinfo(string(data))
}

func parseMountinfo(data string) []mount {
	var ms []mount
	for _, line := range strings.Split(data, "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, w := range fields {
			if w == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 {
			continue
		}
		m := mount{point: unescape(fields[4]), opts: fields[5],
			fstype: fields[sep+1], source: unescape(fields[sep+2])}
		if len(fields) > sep+3 {
			m.superOpts = fields[sep+3]
		}
		ms = append(ms, m)
	}
	return ms
}

// unescape decodes mountinfo's octal escapes ("\040" for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func openFDs() string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return ""
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	self := strconv.Itoa(int(d.Fd()))
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i])
		b, _ := strconv.Atoi(names[j])
		return a < b
	})
	var out []string
	for _, n := range names {
		if n == self {
			continue
		}
		t, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue
		}
		out = append(out, n+"="+t)
	}
	return strings.Join(out, " ")
}

func memFree() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemFree:" {
			return fields[1]
		}
	}
	return ""
}

func modules() string {
	data, err := os.ReadFile("/proc/modules")
	if err != nil {
		return ""
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			names = append(names, fields[0])
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func readTrim(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := f.Read(buf)
	return strings.TrimSpace(string(buf[:n]))
}

// emit writes line to /dev/console and, if stdout is another file, to
// stdout too. As PID 1 without a usable /dev it mounts devtmpfs first.
func emit(pid1 bool, line string) {
	con, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil && pid1 && !isMountPoint("/dev") {
		os.MkdirAll("/dev", 0o755)
		if unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755") == nil {
			con, err = os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0)
		}
	}
	if err == nil {
		con.WriteString(line)
		defer con.Close()
	}
	if err == nil && sameFile(con, os.Stdout) {
		return
	}
	os.Stdout.WriteString(line)
}

func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(int(a.Fd()), &sa) != nil || unix.Fstat(int(b.Fd()), &sb) != nil {
		return false
	}
	if sa.Rdev != 0 && sa.Rdev == sb.Rdev {
		return true
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// reapChildren waits, up to limit, until PID 1 has no children left, as an init reaps the
// processes it inherits (earlyroot's background deletion of the initramfs), so that their
// last log lines reach the console before the power goes off.
func reapChildren(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.ECHILD):
			return
		case err == nil && pid > 0:
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kmsgCounts reads the kernel log's records ("6,339,5140900,-;text\n", one per
// read) and counts earlyroot's and the kernel's reports of rate-limited writers
// ("init: 3 output lines suppressed due to ratelimiting").
func kmsgCounts(path string) (ours, limited int, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE { // records overwritten while reading: go on from the next
			continue
		}
		if err != nil || n <= 0 {
			return ours, limited, nil
		}
		rec := string(buf[:n])
		if strings.Contains(rec, "earlyroot: ") {
			ours++
		}
		if strings.Contains(rec, "suppressed due to ratelimiting") {
			limited++
		}
	}
}
