package main

import (
	"math"
	"sort"
)

// Summary is the spread of one measurement over the boots of an image. With
// no valid sample every field is NaN and N is 0.
type Summary struct {
	N                int
	Min, Median, Max float64
	Mean, StdDev     float64
}

// Summarize ignores NaN and infinite samples (a boot that did not print the
// line measured). The median of an even count is the mean of the middle two.
func Summarize(xs []float64) Summary {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	nan := math.NaN()
	if len(v) == 0 {
		return Summary{Min: nan, Median: nan, Max: nan, Mean: nan, StdDev: nan}
	}
	sort.Float64s(v)
	s := Summary{N: len(v), Min: v[0], Max: v[len(v)-1]}
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	if len(v) > 1 {
		ss := 0.0
		for _, x := range v {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.StdDev = math.Sqrt(ss / float64(len(v)-1))
	}
	return s
}
