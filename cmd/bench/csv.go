package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
)

// csvHeader names the runs.csv columns; ReadRunsCSV reads them back, so the
// report can be re-rendered (-report) without booting again.
var csvHeader = []string{"image", "kind", "size_bytes", "desc", "round", "wall_s", "uptime_s", "run_init_s",
	"unpack_start_s", "unpack_end_s", "first_init_line_s", "module_index_ms", "discovery_start_ms",
	"wait_for_root_ms", "mount_root_ms", "mounted_in_ms", "modules", "vmhwm_kb",
	"bd_logged_at_s", "bd_main_at_s", "bd_discovery_ms", "bd_coldplug_ms", "bd_root_ms", "bd_probe_ms", "bd_found_ms", "bd_fs_ms",
	"bd_mount_ms", "bd_switch_ms", "bd_modules", "bd_finit_ms", "bd_slowest", "error"}

// csvBreakdown is the column of the first breakdown field; csvError that of the error.
const csvBreakdown, csvError = 18, 31

// RunsCSV lists every boot: one row per run with the raw measurements.
func RunsCSV(results []ImageResult) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(csvHeader)
	for _, im := range results {
		for _, r := range im.Runs {
			l := r.Log
			row := []string{im.Name, im.Kind, strconv.FormatInt(im.Size, 10), im.Desc, strconv.Itoa(r.Round + 1),
				num(r.Wall), num(r.Uptime), num(l.RunInit), num(l.UnpackStart), num(l.UnpackEnd), num(l.FirstInit),
				num(phase(l, "module index")), num(phase(l, "discovery start")), num(phase(l, "wait for root")),
				num(phase(l, "mount root")), num(l.MountedMS), num(l.Modules), num(l.PeakRSSKB)}
			for _, k := range breakdownKeys {
				row = append(row, num(bd(l, k)))
			}
			w.Write(append(row, l.Slowest, r.Err))
		}
	}
	w.Flush()
	return buf.String()
}

// ReadRunsCSV parses RunsCSV output back into results, images in order of
// first appearance.
func ReadRunsCSV(r io.Reader) ([]ImageResult, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(csvHeader)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read runs csv: %w", err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("read runs csv: empty")
	}
	var out []ImageResult
	index := map[string]int{}
	for i, rec := range recs[1:] {
		size, err1 := strconv.ParseInt(rec[2], 10, 64)
		round, err2 := strconv.Atoi(rec[4])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read runs csv: line %d: bad size or round", i+2)
		}
		j, ok := index[rec[0]]
		if !ok {
			j = len(out)
			index[rec[0]] = j
			out = append(out, ImageResult{Name: rec[0], Kind: rec[1], Size: size, Desc: rec[3]})
		}
		l := ParseLog("")
		l.RunInit, l.UnpackStart, l.UnpackEnd, l.FirstInit = unnum(rec[7]), unnum(rec[8]), unnum(rec[9]), unnum(rec[10])
		for k, name := range phaseNames {
			if v := unnum(rec[11+k]); !math.IsNaN(v) {
				l.Phases[name] = v
			}
		}
		l.MountedMS, l.Modules, l.PeakRSSKB = unnum(rec[15]), unnum(rec[16]), unnum(rec[17])
		for k, name := range breakdownKeys {
			if v := unnum(rec[csvBreakdown+k]); !math.IsNaN(v) {
				l.Breakdown[name] = v
			}
		}
		l.Slowest = rec[csvError-1]
		out[j].Runs = append(out[j].Runs, Run{Round: round - 1, Wall: unnum(rec[5]), Uptime: unnum(rec[6]), Log: l, Err: rec[csvError]})
	}
	return out, nil
}

func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// unnum parses a number written by num; empty or malformed is NaN.
func unnum(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}
