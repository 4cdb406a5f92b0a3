package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

// The generation-time comparison: how long a generic image takes to make from a kernel's
// module tree with earlyroot's mkinitramfs and with initramfs-tools' mkinitramfs, on the
// same tree in the same run. Kernel hooks make an image on every kernel update, so this
// time is the user's.
//
// Each tree is given to both generators as a fresh shadow directory (the cached tree with
// every file hard-linked), so that what one generator writes there (depmod's files) is not
// seen by the next, and the cached tree is never written. initramfs-tools reads its kernel
// from /lib/modules/<kver> and /boot/config-<kver> with no option to look elsewhere: it
// runs in a private mount namespace (unshare -m) where a tmpfs over /lib/modules holds the
// shadow bind-mounted at <kver> and a tmpfs over /boot holds the config. The host's
// /lib/modules and /boot are never touched, and the namespace ends with the process.

// GenTree is one module tree the generators are timed on.
type GenTree struct {
	Name   string // "Debian 13 (6.12, .ko.xz)"
	Kernel fixture.Kernel
}

// GenState says what the tree holds when the generators start.
type GenState string

const (
	// Unpacked is the tree as the kernel package holds it: no depmod files (Debian ships
	// none; its postinst runs depmod), so each generator indexes the modules itself.
	Unpacked GenState = "as unpacked"
	// Installed is the tree once the package's postinst ran depmod, as a kernel hook sees
	// it on a user's machine.
	Installed GenState = "after depmod"
)

// GenTime is one timed run of one generator.
type GenTime struct {
	Wall, CPU time.Duration // CPU: user + system time of the generator and its children
}

// GenResult is the comparison on one tree in one state.
type GenResult struct {
	Tree           string
	State          GenState
	Ours, Peer     []GenTime // one per round
	OursMB, PeerMB float64   // image sizes
}

// genTrees returns the trees to time: the test kernel's and, when given, the second one's.
func (e *benchEnv) genTrees() ([]GenTree, error) {
	trees := []GenTree{{Name: "Debian 12 (" + e.k.Release + ", .ko)", Kernel: e.k}}
	if e.opt.kernel2Dir != "" {
		k2, err := fixture.KernelAt(e.opt.kernel2Dir)
		if err != nil {
			return nil, err
		}
		trees = append(trees, GenTree{Name: "Debian 13 (" + k2.Release + ", .ko.xz)", Kernel: k2})
	}
	return trees, nil
}

// genTimes times both generators on every tree, in both states, -gen rounds each,
// alternating the generators.
func (e *benchEnv) genTimes(ctx context.Context) ([]GenResult, error) {
	if _, err := os.Stat(itoolsBin); err != nil {
		return nil, fmt.Errorf("generation time: %s missing (make deps APT_PKGS=initramfs-tools): %w", itoolsBin, err)
	}
	trees, err := e.genTrees()
	if err != nil {
		return nil, err
	}
	if e.opt.genSecondOnly && len(trees) > 1 {
		trees = trees[1:]
	}
	var out []GenResult
	for _, t := range trees {
		for _, st := range []GenState{Unpacked, Installed} {
			r := GenResult{Tree: t.Name, State: st}
			for i := range e.opt.gen {
				fmt.Fprintf(e.log, "bench: generation time: %s, %s, round %d\n", t.Name, st, i+1)
				peer, size, err := e.genOnce(ctx, t.Kernel, st, true)
				if err != nil {
					return nil, err
				}
				r.Peer, r.PeerMB = append(r.Peer, peer), size
				ours, size, err := e.genOnce(ctx, t.Kernel, st, false)
				if err != nil {
					return nil, err
				}
				r.Ours, r.OursMB = append(r.Ours, ours), size
				fmt.Fprintf(e.log, "bench:   initramfs-tools %v (cpu %v), earlyroot %v (cpu %v)\n",
					peer.Wall.Round(10*time.Millisecond), peer.CPU.Round(10*time.Millisecond),
					ours.Wall.Round(10*time.Millisecond), ours.CPU.Round(10*time.Millisecond))
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// genOnce makes one generic image from a fresh shadow of k's tree in state st, with
// initramfs-tools (peer) or earlyroot, and returns its time and the image's size in MiB.
func (e *benchEnv) genOnce(ctx context.Context, k fixture.Kernel, st GenState, peer bool) (GenTime, float64, error) {
	work, err := os.MkdirTemp("", "earlyroot-gentime-")
	if err != nil {
		return GenTime{}, 0, err
	}
	defer os.RemoveAll(work)
	shadow := filepath.Join(work, "modules", k.Release)
	if err := shadowTree(k.ModDir, shadow); err != nil {
		return GenTime{}, 0, err
	}
	if st == Installed {
		base := filepath.Join(work, "depmod")
		if err := os.MkdirAll(filepath.Join(base, "lib"), 0o755); err != nil {
			return GenTime{}, 0, err
		}
		if err := os.Symlink(filepath.Join(work, "modules"), filepath.Join(base, "lib", "modules")); err != nil {
			return GenTime{}, 0, err
		}
		if _, err := runTool("depmod", "-b", base, k.Release); err != nil {
			return GenTime{}, 0, err
		}
	}
	img := filepath.Join(work, "initrd.img")
	var cmd *exec.Cmd
	if peer {
		config := k.Config()
		if config == "" {
			return GenTime{}, 0, fmt.Errorf("generation time: %s has no boot/config-%s", k.Dir, k.Release)
		}
		cmd = exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-ec", peerScript,
			"sh", k.Release, shadow, config, itoolsBin, img)
	} else {
		noConfig := filepath.Join(work, "no-config")
		if err := os.MkdirAll(noConfig, 0o755); err != nil {
			return GenTime{}, 0, err
		}
		args := []string{"-o", img, "-kver", k.Release, "-moddir", shadow,
			"-init", filepath.Join(e.opt.build, "init"), "-config", noConfig,
			"-modcache", "none"} // every module compressed, as for a new kernel's
		if c := k.Config(); c != "" {
			args = append(args, "-kconfig", c)
		}
		cmd = exec.CommandContext(ctx, filepath.Join(e.opt.build, "mkinitramfs"), args...)
	}
	t, err := timeCommand(cmd)
	if err != nil {
		return t, 0, err
	}
	fi, err := os.Stat(img)
	if err != nil {
		return t, 0, fmt.Errorf("generation time: %w", err)
	}
	return t, float64(fi.Size()) / (1 << 20), nil
}

// peerScript runs initramfs-tools' mkinitramfs on a tree it is not installed at, inside the
// private mount namespace unshare made: $1 kver, $2 the tree, $3 its config, $4 mkinitramfs,
// $5 the image.
const peerScript = `mount -t tmpfs earlyroot-bench /lib/modules
mkdir "/lib/modules/$1"
mount --bind "$2" "/lib/modules/$1"
mount -t tmpfs earlyroot-bench /boot
cp "$3" "/boot/config-$1"
exec "$4" -o "$5" "$1"`

// shadowTree makes dir a copy of tree in which every file is a hard link (a copy where
// tree is on another filesystem): both generators walk it as a real tree, and the files a
// generator writes there (depmod writes new files and renames them into place) never reach
// tree.
func shadowTree(tree, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if _, err := runTool("cp", "-al", tree, dir); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	_, err := runTool("cp", "-a", tree, dir)
	return err
}

// timeCommand runs cmd and returns its wall-clock and CPU time (user + system, its waited-for
// children included).
func timeCommand(cmd *exec.Cmd) (GenTime, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t := GenTime{Wall: time.Since(start)}
	if err != nil {
		return t, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, buf.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t, nil
}

// medianGen is the median of one measure over the rounds.
func medianGen(ts []GenTime, f func(GenTime) time.Duration) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	d := make([]time.Duration, len(ts))
	for i, t := range ts {
		d[i] = f(t)
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// genTarget is the goal for earlyroot's time against initramfs-tools' on the same tree.
const genTarget = 0.25

// GenTable renders the comparison as a Markdown table: medians of wall-clock and CPU time,
// and earlyroot's time as a ratio of initramfs-tools'.
func GenTable(rs []GenResult) string {
	var b strings.Builder
	b.WriteString("| tree | state | initramfs-tools | earlyroot | ratio (goal ≤ 0.25×) | CPU: initramfs-tools | earlyroot | ratio | images (initramfs-tools / earlyroot) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	wall := func(t GenTime) time.Duration { return t.Wall }
	cpu := func(t GenTime) time.Duration { return t.CPU }
	for _, r := range rs {
		pw, ow := medianGen(r.Peer, wall), medianGen(r.Ours, wall)
		pc, oc := medianGen(r.Peer, cpu), medianGen(r.Ours, cpu)
		b.WriteString(fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f MiB |\n",
			r.Tree, r.State, secs(pw), secs(ow), ratioMark(ow, pw), secs(pc), secs(oc), ratio(oc.Seconds(), pc.Seconds()), r.PeerMB, r.OursMB))
	}
	return b.String()
}

func secs(d time.Duration) string { return sec(d.Seconds()) + " s" }

// ratioMark is report.go's ratio of two durations, in bold when it meets genTarget.
func ratioMark(a, b time.Duration) string {
	s := ratio(a.Seconds(), b.Seconds())
	if b > 0 && float64(a)/float64(b) <= genTarget {
		return "**" + s + "**"
	}
	return s
}
