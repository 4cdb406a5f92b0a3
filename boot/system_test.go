package boot

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(1)
	gc := debug.SetGCPercent(100)
	defer func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	}()
	TuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("GOMAXPROCS after TuneRuntime from 1: %d, want 2", got)
	}
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("GC percent after TuneRuntime: %d, want 400", got)
	}
	runtime.GOMAXPROCS(3)
	TuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS after TuneRuntime from 3: %d, want 3 (never lowered)", got)
	}
}
