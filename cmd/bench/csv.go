package main

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"
)

// RunsCSV lists every boot: one row per run with the raw measurements.
func RunsCSV(results []ImageResult) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"image", "round", "wall_s", "uptime_s", "run_init_s", "unpack_start_s", "unpack_end_s",
		"first_init_line_s", "wait_for_root_ms", "mount_root_ms", "mounted_in_ms", "modules", "vmhwm_kb", "error"})
	for _, im := range results {
		for _, r := range im.Runs {
			w.Write([]string{im.Name, strconv.Itoa(r.Round + 1), num(r.Wall), num(r.Uptime), num(r.Log.RunInit),
				num(r.Log.UnpackStart), num(r.Log.UnpackEnd), num(r.Log.FirstInit), num(phase(r.Log, "wait for root")),
				num(phase(r.Log, "mount root")), num(r.Log.MountedMS), num(r.Log.Modules), num(r.Log.PeakRSSKB), r.Err})
		}
	}
	w.Flush()
	return buf.String()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
