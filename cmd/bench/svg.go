package main

import (
	"fmt"
	"math"
	"strings"
)

// Bar is one image in the init-stage chart: two stacked segments (kernel
// part, /init part: medians, negative values drawn as zero), a min–max
// whisker of the total, and the total median as the label.
type Bar struct {
	Label        string
	Kernel, User float64
	Median       float64
	Min, Max     float64
}

// TargetLine is a dashed vertical line in the chart.
type TargetLine struct {
	Label string
	Value float64
}

// Chart geometry.
const (
	chartWidth = 820
	labelWidth = 230
	plotWidth  = 520
	barHeight  = 22
	barGap     = 12
	topMargin  = 58
)

// BarChartSVG draws a horizontal bar chart in seconds. It needs no fonts
// or scripts beyond what any browser has.
func BarChartSVG(title string, bars []Bar, targets []TargetLine) string {
	scaleMax := axisMax(bars, targets)
	x := func(v float64) float64 { return labelWidth + plotWidth*math.Min(v, scaleMax)/scaleMax }
	height := topMargin + len(bars)*(barHeight+barGap) + 44 + 14*len(targets)

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", 10, esc(title))
	fmt.Fprintf(&s, `<rect x="%d" y="32" width="12" height="12" fill="#8fb3d9"/><text x="%d" y="42">unpack + kernel until /init</text>`+"\n", labelWidth, labelWidth+16)
	fmt.Fprintf(&s, `<rect x="%d" y="32" width="12" height="12" fill="#2f6fb0"/><text x="%d" y="42">/init until real init</text>`+"\n", labelWidth+200, labelWidth+216)
	plotBottom := topMargin + len(bars)*(barHeight+barGap)
	for i := 0; i <= 5; i++ {
		v := scaleMax * float64(i) / 5
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(v), topMargin-4, x(v), plotBottom)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle">%.2f s</text>`+"\n", x(v), plotBottom+16, v)
	}
	for i, b := range bars {
		y := topMargin + i*(barHeight+barGap)
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, y+barHeight/2+4, esc(b.Label))
		k, u := pos(b.Kernel), pos(b.User)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#8fb3d9"/>`+"\n", x(0), y, x(k)-x(0), barHeight)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#2f6fb0"/>`+"\n", x(k), y, x(k+u)-x(k), barHeight)
		if !math.IsNaN(b.Min) && !math.IsNaN(b.Max) {
			cy := y + barHeight/2
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x(pos(b.Min)), cy, x(pos(b.Max)), cy)
			for _, v := range []float64{b.Min, b.Max} {
				fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x(pos(v)), cy-5, x(pos(v)), cy+5)
			}
		}
		label := "–"
		if !math.IsNaN(b.Median) {
			label = fmt.Sprintf("%.3f s", b.Median)
		}
		if k+u > scaleMax {
			// Cut bar: the value goes inside its end.
			fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="white" text-anchor="end">%s ▶ (off scale)</text>`+"\n", x(scaleMax)-6, y+barHeight/2+4, label)
			continue
		}
		lx := x(math.Min(math.Max(pos(b.Max), k+u), scaleMax))
		fmt.Fprintf(&s, `<text x="%.1f" y="%d">%s</text>`+"\n", lx+6, y+barHeight/2+4, label)
	}
	for i, t := range targets {
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-dasharray="5,4"/>`+"\n", x(t.Value), topMargin-8, x(t.Value), plotBottom+20+14*i)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#c0392b">%s</text>`+"\n", x(t.Value)+4, plotBottom+32+14*i, esc(t.Label))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// axisMax picks the axis end: the largest bar or whisker, rounded up, but
// no more than four times the largest target, so a slow peer does not
// squash the bars that matter (its bar is cut and its label says so).
func axisMax(bars []Bar, targets []TargetLine) float64 {
	maxT := 0.0
	for _, t := range targets {
		maxT = math.Max(maxT, t.Value)
	}
	maxV := maxT
	for _, b := range bars {
		for _, v := range []float64{b.Max, b.Median, pos(b.Kernel) + pos(b.User)} {
			if !math.IsNaN(v) && v > maxV && (maxT == 0 || v <= 4*maxT) {
				maxV = v
			}
		}
	}
	return niceCeil(maxV * 1.08)
}

// pos clamps negative and NaN values to zero for drawing.
func pos(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return v
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 0.1).
func niceCeil(v float64) float64 {
	if v <= 0.1 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0.1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v-1e-12 {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
