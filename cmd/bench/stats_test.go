package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name                   string
		in                     []float64
		n                      int
		min, median, max, mean float64
	}{
		{"empty", nil, 0, nan, nan, nan, nan},
		{"only nan", []float64{nan, math.Inf(1)}, 0, nan, nan, nan, nan},
		{"one", []float64{2}, 1, 2, 2, 2, 2},
		{"odd", []float64{3, 1, 2}, 3, 1, 2, 3, 2},
		{"even", []float64{4, 1, 3, 2}, 4, 1, 2.5, 4, 2.5},
		{"skips nan", []float64{1, nan, 5}, 2, 1, 3, 5, 3},
	}
	same := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-12 }
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.in)
			if s.N != tc.n || !same(s.Min, tc.min) || !same(s.Median, tc.median) || !same(s.Max, tc.max) || !same(s.Mean, tc.mean) {
				t.Errorf("Summarize(%v) = %+v", tc.in, s)
			}
		})
	}
	if s := Summarize([]float64{1, 3}); math.Abs(s.StdDev-math.Sqrt2) > 1e-12 {
		t.Errorf("stddev = %v, want √2", s.StdDev)
	}
}

func TestSchedule(t *testing.T) {
	got := Schedule(3, 2)
	want := []job{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}}
	if len(got) != len(want) {
		t.Fatalf("len %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("job %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
