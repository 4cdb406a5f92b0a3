package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBootInitramfs boots the test kernel with a tiny initramfs whose /init
// is cmd/testinit, expects the facts line, and QEMU exiting by itself.
func TestBootInitramfs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping VM boot in -short mode")
	}
	k := NeedKernel(t)
	ti := BuildTestinit(t)
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := WriteInitramfs(initrd, []InitramfsFile{{Name: "init", Src: ti, Mode: 0o755}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v := Boot(t, Config{Kernel: k.Image, Initrd: initrd, Append: "panic=-1 quiet", Timeout: 3 * time.Minute})
	f, err := v.ExpectFacts(2 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	poweredOff(t, v, time.Minute)
	t.Logf("boot to facts and power-off: %s", time.Since(start).Round(time.Millisecond))
	if f.PID != 1 {
		t.Errorf("pid = %d, want 1", f.PID)
	}
	// The kernel mounts nothing for /init in an initramfs except devtmpfs
	// (not even that without CONFIG_DEVTMPFS_MOUNT).
	if f.Proc || f.Sys || f.Run {
		t.Errorf("API filesystems pre-mounted: proc=%v sys=%v run=%v", f.Proc, f.Sys, f.Run)
	}
	if f.RootFSType != "rootfs" && f.RootFSType != "tmpfs" && f.RootFSType != "ramfs" {
		t.Errorf("root fstype = %q, want rootfs/tmpfs/ramfs", f.RootFSType)
	}
	if len(f.Argv) == 0 || f.Argv[0] != "/init" {
		t.Errorf("argv = %q, want [/init]", f.Argv)
	}
	if f.UptimeSec <= 0 {
		t.Errorf("uptime = %v", f.UptimeSec)
	}
	if f.Extra["kernel"] != k.Release {
		t.Errorf("kernel = %q, want %q", f.Extra["kernel"], k.Release)
	}
	t.Logf("facts: %+v", f)
}

// TestKillAndTimeout checks QEMU never outlives its context or timeout.
func TestKillAndTimeout(t *testing.T) {
	k := NeedKernel(t)
	ctx, cancel := context.WithCancel(context.Background())
	v, err := Start(ctx, Config{Kernel: k.Image, Append: "panic=0"}) // no initrd: the kernel would hang
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := v.WaitTimeout(20 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("after cancel: Wait = %v, want killed", err)
	}
	// Reaped, and ended by the context's SIGKILL, not by a shutdown of its own.
	if ps := v.cmd.ProcessState; ps == nil {
		t.Error("process not reaped")
	} else if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("process state %v, want killed by SIGKILL", ps)
	}
	if err := syscall.Kill(v.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Wait: kill(0) = %v", v.cmd.Process.Pid, err)
	}
	if r := v.ShutdownReason(); r != "" {
		t.Errorf("killed VM reports shutdown reason %q, want none", r)
	}
	v.Kill() // idempotent
	if err := v.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(v.dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left behind", v.dir)
	}

	v2, err := Start(context.Background(), Config{Kernel: k.Image, Append: "panic=0", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if err := v2.WaitTimeout(20 * time.Second); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("after timeout: Wait = %v, want a timeout error", err)
	}
	if _, err := v2.Expect(regexp.MustCompile("never"), 10*time.Second); !errors.Is(err, ErrExited) {
		t.Errorf("Expect after exit: %v, want ErrExited", err)
	}
	if err := v2.Send("x"); err == nil {
		t.Error("Send after exit: no error")
	}

	if _, err := Start(context.Background(), Config{Kernel: k.Image, Drives: []Drive{{Path: "/x", Bus: "floppy"}}}); err == nil {
		t.Error("Start with a bad bus: no error")
	}
}
