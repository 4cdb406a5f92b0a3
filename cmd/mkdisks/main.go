// Command mkdisks builds the builder's layered test disks (internal/builder) into the cache,
// so that the boot tests find them made: every recipe, or those named. Sets already cached
// are reported and not rebuilt. make disks runs it before the boot tests.
//
//	mkdisks [-j N] [-v] [-list] [-prune=false] [RECIPE...]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/earlyroot/earlyroot/internal/builder"
)

func main() {
	jobs := flag.Int("j", 2, "recipes built at the same time")
	verbose := flag.Bool("v", false, "copy the builder VMs' consoles to stderr")
	list := flag.Bool("list", false, "list the recipes with their disks and facts, build nothing")
	prune := flag.Bool("prune", true, "remove the cached sets of these recipes made with other keys and unused for a day")
	flag.Parse()
	recipes, err := pick(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdisks:", err)
		os.Exit(2)
	}
	if *list {
		printList(os.Stdout, recipes)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var console io.Writer
	if *verbose {
		console = os.Stderr
	}
	ok := buildAll(ctx, recipes, max(1, *jobs), console)
	if *prune {
		for _, r := range recipes {
			removed, err := builder.Prune(r, builder.Options{})
			if err != nil {
				fmt.Fprintln(os.Stderr, "mkdisks: prune:", err)
			}
			for _, n := range removed {
				fmt.Println("removed stale", n)
			}
		}
	}
	if !ok {
		os.Exit(1)
	}
}

// pick returns the recipes named, or all of them.
func pick(names []string) ([]builder.Recipe, error) {
	if len(names) == 0 {
		return builder.Recipes(), nil
	}
	var out []builder.Recipe
	for _, n := range names {
		r, ok := builder.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("no recipe %q (mkdisks -list shows them)", n)
		}
		out = append(out, r)
	}
	return out, nil
}

// buildAll builds the recipes, jobs at a time, printing one line each as it ends, and the
// total; it reports whether all succeeded.
func buildAll(ctx context.Context, recipes []builder.Recipe, jobs int, console io.Writer) bool {
	start := time.Now()
	sem := make(chan struct{}, jobs)
	var mu sync.Mutex
	ok := true
	var wg sync.WaitGroup
	for _, r := range recipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, cached := builder.Cached(r, builder.Options{})
			t := time.Now()
			s, err := builder.Build(ctx, r, builder.Options{Console: console})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				ok = false
				fmt.Printf("%-16s FAILED after %.1fs: %v\n", r.Name, time.Since(t).Seconds(), err)
			case cached:
				fmt.Printf("%-16s cached (built in %.1fs) %s\n", r.Name, s.BuildSeconds, s.Dir)
			default:
				fmt.Printf("%-16s built in %.1fs %s\n", r.Name, s.BuildSeconds, s.Dir)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d recipes, %.1fs\n", len(recipes), time.Since(start).Seconds())
	return ok
}

func printList(w io.Writer, recipes []builder.Recipe) {
	for _, r := range recipes {
		var disks []string
		for i, d := range r.Disks {
			disks = append(disks, fmt.Sprintf("vd%c=%s(%dMiB)", 'a'+i, d.Name, d.SizeMiB))
		}
		fmt.Fprintf(w, "%s: %s\n  disks: %s\n  root: %s UUID=%s LABEL=%s\n", r.Name, r.Doc(),
			strings.Join(disks, " "), r.FSType, r.RootUUID, r.RootLabel)
		for _, f := range [][2]string{{"luks UUID", r.LUKSUUID}, {"md UUID", r.MDUUID}, {"vg/lv", vglv(r)},
			{"swap UUID", r.SwapUUID}, {"swap LABEL", r.SwapLabel}, {"key disk UUID", r.KeyUUID}, {"key disk LABEL", r.KeyLabel}} {
			if f[1] != "" {
				fmt.Fprintf(w, "  %s: %s\n", f[0], f[1])
			}
		}
	}
}

func vglv(r builder.Recipe) string {
	if r.VG == "" {
		return ""
	}
	return r.VG + "/" + r.LV
}
