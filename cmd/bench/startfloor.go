package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// The start floor is what a static /init costs before it does anything: the kernel's exec
// and the program's own start, from the kernel's "Run /NAME as init process" to its "Attempted
// to kill init" when the program exits at once. Measured in the same run for a static C
// program (busybox's true applet) and for Go's empty main, it is the floor of the breakdown's
// "exec + Go start" column: what any Go init pays under this kernel and QEMU, and what a C
// init such as tiny-initramfs's does not.

// StartResult is one start-floor program's boots.
type StartResult struct {
	Name, Desc string
	MS         []float64 // per boot: Run → Attempted to kill init, in milliseconds (NaN: failed)
	Err        string    // why the program was not measured (it could not be made)
}

// startProgram is one program measured.
type startProgram struct {
	name, desc string
	build      func(dir string) (string, error) // the static binary, made in dir
}

// startPrograms are the programs of the start floor. Each runs as /NAME (rdinit=), so that
// busybox runs its true applet.
var startPrograms = []startProgram{
	{"true", "busybox-static's true applet, static C", func(string) (string, error) { return exec.LookPath("busybox") }},
	{"go-empty", "Go's empty main, static, -s -w, this toolchain", buildEmptyGo},
}

var initKilledRe = regexp.MustCompile(`Attempted to kill init`)

// startFloor builds the start-floor programs' images and boots each n times at 1 vCPU,
// round-robin.
func (e *benchEnv) startFloor(ctx context.Context, n int) ([]StartResult, error) {
	dir := e.path("images", "start")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := make([]StartResult, len(startPrograms))
	imgs := make([]string, len(startPrograms))
	for i, p := range startPrograms {
		res[i] = StartResult{Name: p.name, Desc: p.desc}
		bin, err := p.build(dir)
		if err != nil {
			res[i].Err = err.Error()
			fmt.Fprintf(e.log, "bench: start floor %s: not measured: %v\n", p.name, err)
			continue
		}
		imgs[i] = filepath.Join(dir, p.name+".img")
		if err := vm.WriteInitramfs(imgs[i], []vm.InitramfsFile{{Name: p.name, Src: bin}}); err != nil {
			return nil, err
		}
	}
	for _, j := range Schedule(len(startPrograms), n) {
		if imgs[j.img] == "" {
			continue
		}
		t := e.startBoot(ctx, startPrograms[j.img].name, imgs[j.img], j.round)
		res[j.img].MS = append(res[j.img].MS, t)
		fmt.Fprintf(e.log, "bench: start floor %s round %d: %s ms\n", startPrograms[j.img].name, j.round+1, ms(t))
	}
	return res, nil
}

// startBoot boots one start-floor image and returns its Run → exit time in milliseconds, NaN
// when the boot did not show both lines (its console is in the logs).
func (e *benchEnv) startBoot(ctx context.Context, name, img string, round int) float64 {
	logPath := e.path("logs", fmt.Sprintf("start-%s-%d.log", name, round+1))
	logf, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(e.log, "bench: start floor: %v\n", err)
		return math.NaN()
	}
	defer logf.Close()
	v, err := vm.Start(ctx, vm.Config{Kernel: e.k.Image, Initrd: img, Append: baseAppend + " rdinit=/" + name,
		MemMB: 512, CPUs: 1, Timeout: e.opt.timeout, Console: logf})
	if err != nil {
		fmt.Fprintf(e.log, "bench: start floor %s: %v\n", name, err)
		return math.NaN()
	}
	defer v.Close()
	if _, err := v.Expect(initKilledRe, e.opt.timeout); err != nil {
		fmt.Fprintf(e.log, "bench: start floor %s: %v (console: %s)\n", name, err, logPath)
		return math.NaN()
	}
	b := ParseLog(v.Output())
	return (b.InitExit - b.RunInit) * 1000
}

// emptyGo is the program go-empty builds: nothing but the Go runtime's start and exit.
const emptyGo = "package main\n\nfunc main() {}\n"

// buildEmptyGo builds Go's empty main as a static binary in dir, as the init is built.
func buildEmptyGo(dir string) (string, error) {
	src := filepath.Join(dir, "go-empty-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	for name, text := range map[string]string{"main.go": emptyGo, "go.mod": "module goempty\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	bin, err := filepath.Abs(filepath.Join(dir, "go-empty"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// StartText renders the start floor beside the earlyroot images' own "exec + Go start"
// (the breakdown's) at the first vCPU count, for the results.
func StartText(rs []StartResult, rows []Row) string {
	var b strings.Builder
	b.WriteString("\nThe start floor (1 vCPU): a static /init that exits at once, from the kernel's `Run … as init process` to its `Attempted to kill init` (min / median / max of the boots):\n\n")
	for _, r := range rs {
		if r.Err != "" {
			fmt.Fprintf(&b, "- %s (%s): not measured: %s\n", r.Name, r.Desc, r.Err)
			continue
		}
		s := Summarize(r.MS)
		fmt.Fprintf(&b, "- %s (%s): %s / %s / %s ms (%d boots)\n", r.Name, r.Desc, ms(s.Min), ms(s.Median), ms(s.Max), s.N)
	}
	for _, row := range rows {
		if row.Kind != KindEarlyroot || cpuGroup(row.Name) != "" || row.GoStart.N == 0 {
			continue
		}
		g := row.GoStart
		fmt.Fprintf(&b, "- earlyroot %s: its Go code starts %s / %s / %s ms after `Run /init` (exec + Go start, as in the table above)\n",
			row.Name, ms(g.Min), ms(g.Median), ms(g.Max))
	}
	return b.String()
}
