package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// palette colours series, in order (colour-blind safe, Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

func colour(i int) string { return palette[i%len(palette)] }

// scale maps data values to x pixels between x0 and x1, linearly from 0
// or logarithmically.
type scale struct {
	lo, hi float64
	log    bool
	x0, x1 float64
}

func newScale(lo, hi float64, log bool, x0, x1 float64) scale {
	if log && lo > 0 {
		return scale{math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi))), true, x0, x1}
	}
	lo = math.Min(0, lo)
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	return scale{math.Floor(lo/step) * step, math.Ceil(hi/step) * step, false, x0, x1}
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func (s scale) at(v float64) float64 {
	f := (v - s.lo) / (s.hi - s.lo)
	if s.log {
		f = (math.Log10(math.Max(v, s.lo)) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	}
	return s.x0 + f*(s.x1-s.x0)
}

func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		for v := s.lo; v <= s.hi*1.0001; v *= 10 {
			t = append(t, v)
		}
		return t
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := s.lo; v <= s.hi+step/1e6; v += step {
		t = append(t, v)
	}
	return t
}

func tickLabel(v float64) string {
	if a := math.Abs(v); a != 0 && (a >= 1e6 || a < 1e-3) {
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svgDoc accumulates one SVG image.
type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func (d *svgDoc) f(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

func (d *svgDoc) String(title string) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f"><title>%s</title>%s</svg>`,
		d.w, d.h, d.w, d.h, svgText(title), d.b.String())
}

// axis draws vertical grid lines and tick labels of a horizontal scale
// from y0 to y1, labelled at y1.
func (d *svgDoc) axis(s scale, y0, y1 float64, unit string) {
	for _, t := range s.ticks() {
		x := s.at(t)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x, y0, x, y1)
		d.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, y1+13, svgText(tickLabel(t)))
	}
	label := unit
	if s.log {
		label += " (log scale)"
	}
	d.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, s.x1, y1+27, svgText(label))
}

func (d *svgDoc) legend(names []string, x, y float64) {
	for i, n := range names {
		d.f(`<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`, x, y+float64(i)*15, colour(i), x+14, y+float64(i)*15+9, svgText(n))
	}
}

const (
	chartWidth = 760.0
	labelWidth = 230.0
)

// truncate shortens a label to fit the label column.
func truncate(s string) string {
	r := []rune(s)
	if len(r) > 34 {
		return string(r[:33]) + "…"
	}
	return s
}

// barSVG draws horizontal bars, grouped by label when there are several
// series. It is empty when there is no value to draw.
func barSVG(c *BarChart) string {
	lo, hi, any := math.Inf(1), math.Inf(-1), false
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi, any = math.Min(lo, v), math.Max(hi, v), true
			}
		}
	}
	if !any {
		return ""
	}
	barH, gap := 12.0, 8.0
	ns := float64(len(c.Series))
	top := 10.0
	legendH := 0.0
	if len(c.Series) > 1 {
		legendH = 15 * ns
	}
	plotH := float64(len(c.Labels))*(ns*barH+gap) + gap
	d := &svgDoc{w: chartWidth, h: top + legendH + plotH + 36}
	y0 := top + legendH
	sc := newScale(lo, hi, c.Log && lo > 0, labelWidth, chartWidth-60)
	d.axis(sc, y0, y0+plotH, c.Unit)
	if len(c.Series) > 1 {
		names := make([]string, len(c.Series))
		for i, s := range c.Series {
			names[i] = s.Name
		}
		d.legend(names, labelWidth, top-5)
	}
	base := sc.at(math.Max(sc.lo, 0))
	if sc.log {
		base = sc.x0
	}
	for i, l := range c.Labels {
		y := y0 + gap + float64(i)*(ns*barH+gap)
		d.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelWidth-6, y+ns*barH/2+4, svgText(truncate(l)))
		for j, s := range c.Series {
			if i >= len(s.Values) || math.IsNaN(s.Values[i]) {
				continue
			}
			v := s.Values[i]
			x := sc.at(v)
			x0, x1 := math.Min(base, x), math.Max(base, x)
			d.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s %s</title></rect>`,
				x0, y+float64(j)*barH, math.Max(x1-x0, 1), barH-1, colour(j), svgText(l), svgText(s.Name), svgText(num(v)), svgText(c.Unit))
			d.f(`<text x="%.1f" y="%.1f" font-size="9">%s</text>`, x1+3, y+float64(j)*barH+barH-3, svgText(num(v)))
		}
	}
	return d.String(c.Title)
}

// boxSVG draws horizontal box plots, one per box.
func boxSVG(c *BoxChart) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range c.Boxes {
		if b.N == 0 {
			continue
		}
		lo, hi = math.Min(lo, b.LowWhisker), math.Max(hi, b.HighWhisker)
		for _, o := range b.Outliers {
			lo, hi = math.Min(lo, o), math.Max(hi, o)
		}
	}
	if math.IsInf(lo, 0) {
		return ""
	}
	rowH := 22.0
	plotH := float64(len(c.Boxes))*rowH + 8
	d := &svgDoc{w: chartWidth, h: plotH + 46}
	y0 := 8.0
	sc := newScale(lo, hi, c.Log && lo > 0, labelWidth, chartWidth-30)
	if !sc.log {
		// A box plot need not start at zero.
		pad := (hi - lo) * 0.05
		if pad == 0 {
			pad = math.Max(math.Abs(hi)*0.05, 1)
		}
		step := niceStep((hi - lo + 2*pad) / 5)
		sc.lo, sc.hi = math.Floor((lo-pad)/step)*step, math.Ceil((hi+pad)/step)*step
		if lo >= 0 {
			sc.lo = math.Max(sc.lo, 0) // times are never negative
		}
	}
	d.axis(sc, y0, y0+plotH, c.Unit)
	for i, b := range c.Boxes {
		y := y0 + 4 + float64(i)*rowH
		mid := y + rowH/2 - 2
		d.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelWidth-6, mid+4, svgText(truncate(fmt.Sprintf("%s (n=%d)", b.Label, b.N))))
		if b.N == 0 {
			continue
		}
		col := colour(i)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>`, sc.at(b.LowWhisker), mid, sc.at(b.Q1), mid)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>`, sc.at(b.Q3), mid, sc.at(b.HighWhisker), mid)
		for _, wx := range []float64{b.LowWhisker, b.HighWhisker} {
			d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>`, sc.at(wx), mid-5, sc.at(wx), mid+5)
		}
		x0, x1 := sc.at(b.Q1), sc.at(b.Q3)
		d.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.35" stroke="%s"><title>%s: q1 %s, median %s, q3 %s %s</title></rect>`,
			x0, mid-7, math.Max(x1-x0, 1), 14.0, col, col, svgText(b.Label), num(b.Q1), num(b.Median), num(b.Q3), svgText(c.Unit))
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="2"/>`, sc.at(b.Median), mid-7, sc.at(b.Median), mid+7)
		for _, o := range b.Outliers {
			d.f(`<circle cx="%.1f" cy="%.1f" r="2" fill="none" stroke="%s"/>`, sc.at(o), mid, col)
		}
	}
	return d.String(c.Title)
}

// lineSVG draws each line's points joined, with its marked point ringed.
func lineSVG(c *LineChart) string {
	xlo, xhi, yhi := math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, l := range c.Lines {
		for i := range l.X {
			if math.IsNaN(l.Y[i]) {
				continue
			}
			xlo, xhi, yhi = math.Min(xlo, l.X[i]), math.Max(xhi, l.X[i]), math.Max(yhi, l.Y[i])
		}
	}
	if math.IsInf(xlo, 0) {
		return ""
	}
	const left, top, plotW, plotH = 70.0, 10.0, 560.0, 240.0
	d := &svgDoc{w: chartWidth, h: top + plotH + 40}
	xs := newScale(xlo, xhi, false, left, left+plotW)
	if xhi > xlo {
		step := niceStep((xhi - xlo) / 5)
		xs.lo, xs.hi = math.Floor(xlo/step)*step, math.Ceil(xhi/step)*step
	}
	ys := newScale(0, yhi, false, top+plotH, top) // y grows downwards
	d.axis(xs, top, top+plotH, c.XUnit)
	for _, t := range ys.ticks() {
		y := ys.at(t)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, left, y, left+plotW, y)
		d.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, svgText(tickLabel(t)))
	}
	d.f(`<text x="4" y="%.1f">%s</text>`, top+8, svgText(c.YUnit))
	names := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		names[i] = l.Name
		var pts []string
		for j := range l.X {
			if !math.IsNaN(l.Y[j]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xs.at(l.X[j]), ys.at(l.Y[j])))
			}
		}
		d.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), colour(i))
		for j := range l.X {
			if math.IsNaN(l.Y[j]) {
				continue
			}
			r := 3.0
			if j == l.Mark {
				r = 6
				d.f(`<circle cx="%.1f" cy="%.1f" r="%.0f" fill="none" stroke="%s" stroke-width="2"/>`, xs.at(l.X[j]), ys.at(l.Y[j]), r, colour(i))
				continue
			}
			d.f(`<circle cx="%.1f" cy="%.1f" r="%.0f" fill="%s"><title>%s: %s %s, %s %s</title></circle>`, xs.at(l.X[j]), ys.at(l.Y[j]), r, colour(i),
				svgText(l.Name), tickLabel(l.X[j]), svgText(c.XUnit), num(l.Y[j]), svgText(c.YUnit))
		}
	}
	d.legend(names, left+plotW+15, top)
	return d.String(c.Title)
}
