package stats

import (
	"errors"
	"math"
	"testing"
)

// near reports whether got is within tol of want (absolute, or relative
// for large values).
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// wikiSample is the example of Wikipedia's "Standard deviation" article:
// mean 5, population SD 2, so sample variance 32/7.
var wikiSample = []float64{2, 4, 4, 4, 5, 5, 7, 9}

func TestMeanVarianceSD(t *testing.T) {
	tests := []struct {
		name               string
		xs                 []float64
		mean, variance, sd float64
	}{
		// Hand-computed: sum 40 / 8; squared deviations 9+1+1+1+0+0+4+16 = 32.
		{"wikipedia sample", wikiSample, 5, 32.0 / 7, math.Sqrt(32.0 / 7)},
		{"one value", []float64{3.5}, 3.5, 0, 0},
		// Hand-computed: mean 2; deviations -1, 0, 1: 2/2 = 1.
		{"1 2 3", []float64{3, 1, 2}, 2, 1, 1},
		// Large offsets must not lose the small spread (two-pass formula).
		{"offset 1e9", []float64{1e9 + 1, 1e9 + 2, 1e9 + 3}, 1e9 + 2, 1, 1},
	}
	for _, tt := range tests {
		if got := Mean(tt.xs); !near(got, tt.mean, 1e-12) {
			t.Errorf("%s: Mean = %v, want %v", tt.name, got, tt.mean)
		}
		if got := Variance(tt.xs); !near(got, tt.variance, 1e-9) {
			t.Errorf("%s: Variance = %v, want %v", tt.name, got, tt.variance)
		}
		if got := SD(tt.xs); !near(got, tt.sd, 1e-9) {
			t.Errorf("%s: SD = %v, want %v", tt.name, got, tt.sd)
		}
	}
	if !math.IsNaN(Mean(nil)) || !math.IsNaN(Variance(nil)) {
		t.Error("Mean and Variance of no values must be NaN")
	}
}

func TestQuantile(t *testing.T) {
	oneToTen := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1} // unsorted on purpose
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		// R type 7 by hand: h = q·(n−1), x[⌊h⌋] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]);
		// numpy.percentile(range(1, 11), [50, 95]) gives 5.5 and 9.55 too.
		{oneToTen, 0.5, 5.5},
		{oneToTen, 0.95, 9.55}, // h = 8.55: 9 + 0.55
		{oneToTen, 0, 1},
		{oneToTen, 1, 10},
		{wikiSample, 0.5, 4.5},  // h = 3.5: 4 + 0.5·(5−4)
		{wikiSample, 0.25, 4},   // h = 1.75: 4 + 0.75·0
		{wikiSample, 0.95, 8.3}, // h = 6.65: 7 + 0.65·(9−7)
		{[]float64{42}, 0.95, 42},
	}
	for _, tt := range tests {
		if got := Quantile(tt.xs, tt.q); !near(got, tt.want, 1e-12) {
			t.Errorf("Quantile(%v, %v) = %v, want %v", tt.xs, tt.q, got, tt.want)
		}
	}
	if oneToTen[0] != 10 {
		t.Error("Quantile sorted its argument in place")
	}
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		if !math.IsNaN(Quantile(oneToTen, q)) {
			t.Errorf("Quantile(q=%v) is not NaN", q)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of no values is not NaN")
	}
}

func TestTQuantile(t *testing.T) {
	tests := []struct {
		p, df, want, tol float64
		source           string
	}{
		// Closed forms: df = 1 is the Cauchy distribution, t = tan(π(p−½));
		// df = 2 has t = (2p−1)/√(2p(1−p)).
		{0.975, 1, math.Tan(math.Pi * 0.475), 1e-9, "Cauchy closed form"},
		{0.9, 1, math.Tan(math.Pi * 0.4), 1e-9, "Cauchy closed form"},
		{0.975, 2, 0.95 / math.Sqrt(2*0.975*0.025), 1e-9, "df 2 closed form"},
		{0.995, 2, 0.99 / math.Sqrt(2*0.995*0.005), 1e-9, "df 2 closed form"},
		// Printed tables of Student's t (two-sided 95%, to 3 decimals), as in
		// every statistics textbook's appendix; R's qt() to 6 decimals.
		{0.975, 5, 2.571, 5e-4, "t table"},
		{0.975, 5, 2.570582, 1e-6, "R qt(0.975, 5)"},
		{0.975, 7, 2.364624, 1e-6, "R qt(0.975, 7)"},
		{0.975, 10, 2.228139, 1e-6, "R qt(0.975, 10)"},
		{0.975, 30, 2.042272, 1e-6, "R qt(0.975, 30)"},
		{0.975, 100, 1.983972, 1e-6, "R qt(0.975, 100)"},
		{0.995, 10, 3.169, 5e-4, "t table, 99%"},
		// As df grows, t tends to the normal quantile 1.959963985.
		{0.975, 1e7, 1.959963985, 1e-6, "normal limit"},
		// Symmetry.
		{0.025, 10, -2.228139, 1e-6, "R qt(0.025, 10)"},
		{0.5, 3, 0, 0, "median"},
	}
	for _, tt := range tests {
		if got := TQuantile(tt.p, tt.df); !near(got, tt.want, tt.tol) {
			t.Errorf("TQuantile(%v, %v) = %.9f, want %.9f (%s)", tt.p, tt.df, got, tt.want, tt.source)
		}
	}
	// The engine's former table of 0.975 quantiles (3 decimals), which
	// these values replace: within its rounding.
	for df, want := range map[float64]float64{1: 12.706, 9: 2.262, 30: 2.042, 40: 2.021, 60: 2.000, 99: 1.984, 1000: 1.962} {
		if got := TQuantile(0.975, df); math.Abs(got-want) > 0.0015 {
			t.Errorf("TQuantile(0.975, %v) = %v, want %v", df, got, want)
		}
	}
	// TCDF inverts TQuantile across heavy and light tails.
	for _, df := range []float64{0.3, 0.5, 1, 2.5, 7, 30, 1e3, 1e6} {
		for _, p := range []float64{0.5000001, 0.6, 0.9, 0.975, 0.999, 0.999999} {
			q := TQuantile(p, df)
			if got := TCDF(q, df); math.IsInf(q, 0) || math.Abs(got-p) > 1e-10 {
				t.Errorf("TCDF(TQuantile(%v, %v) = %v) = %v", p, df, q, got)
			}
		}
	}
	for _, bad := range [][2]float64{{0, 5}, {1, 5}, {0.5, 0}, {0.9, -1}, {math.NaN(), 3}} {
		if got := TQuantile(bad[0], bad[1]); !math.IsNaN(got) {
			t.Errorf("TQuantile(%v, %v) = %v, want NaN", bad[0], bad[1], got)
		}
	}
}

func TestTCDF(t *testing.T) {
	for _, x := range []float64{-30, -3, -1, -0.2, 0, 0.5, 2, 12.7} {
		// Closed forms: df 1: ½ + atan(t)/π; df 2: ½ + t/(2√(2+t²)).
		if got, want := TCDF(x, 1), 0.5+math.Atan(x)/math.Pi; !near(got, want, 1e-12) {
			t.Errorf("TCDF(%v, 1) = %v, want %v", x, got, want)
		}
		if got, want := TCDF(x, 2), 0.5+x/(2*math.Sqrt(2+x*x)); !near(got, want, 1e-12) {
			t.Errorf("TCDF(%v, 2) = %v, want %v", x, got, want)
		}
		// TQuantile inverts TCDF at a fractional df.
		if p := TCDF(x, 7.5); p > 1e-12 && p < 1-1e-12 {
			if got := TQuantile(p, 7.5); !near(got, x, 1e-8) {
				t.Errorf("TQuantile(TCDF(%v, 7.5)) = %v", x, got)
			}
		}
	}
	// Numerical integration of the t density (Simpson's rule, 2·10⁶
	// intervals, in Python) gives P(T ≤ −2) = 0.0483771951 at df 5.5.
	if got := TCDF(-2, 5.5); !near(got, 0.04837719511559696, 1e-9) {
		t.Errorf("TCDF(-2, 5.5) = %v, want 0.0483771951", got)
	}
	if TCDF(math.Inf(1), 3) != 1 || TCDF(math.Inf(-1), 3) != 0 || !math.IsNaN(TCDF(1, 0)) {
		t.Error("TCDF at ±Inf must be 1 and 0, and NaN for df 0")
	}
}

func TestMeanCI(t *testing.T) {
	// Hand-computed: mean 5 ± qt(0.975, 7)·√(32/7)/√8 = 5 ± 2.364624·0.755929
	// = 5 ± 1.787488.
	ci, ok := MeanCI(wikiSample, 0.95)
	if !ok || !near(ci.Low, 5-1.7874877, 1e-6) || !near(ci.High, 5+1.7874877, 1e-6) {
		t.Errorf("MeanCI = %+v, %v; want 5 ± 1.7874877", ci, ok)
	}
	// A wider level gives a wider interval.
	if ci99, _ := MeanCI(wikiSample, 0.99); !(ci99.Low < ci.Low && ci99.High > ci.High) {
		t.Errorf("99%% interval %+v is not wider than 95%% %+v", ci99, ci)
	}
	for _, xs := range [][]float64{nil, {1}} {
		if _, ok := MeanCI(xs, 0.95); ok {
			t.Errorf("MeanCI of %d values is ok", len(xs))
		}
	}
	if _, ok := MeanCI(wikiSample, 1); ok {
		t.Error("MeanCI at level 1 is ok")
	}
}

func TestDescribe(t *testing.T) {
	s := Describe([]float64{9, 7, 5, 5, 4, 4, 4, 2})
	want := Summary{N: 8, Mean: 5, SD: math.Sqrt(32.0 / 7), Min: 2, Max: 9, Median: 4.5, P95: 8.3}
	if s.N != want.N || !near(s.Mean, want.Mean, 1e-12) || !near(s.SD, want.SD, 1e-12) || s.Min != want.Min ||
		s.Max != want.Max || !near(s.Median, want.Median, 1e-12) || !near(s.P95, want.P95, 1e-12) || !s.HasCI95 {
		t.Errorf("Describe = %+v, want %+v with a CI", s, want)
	}
	if cv, ok := s.CV(); !ok || !near(cv, math.Sqrt(32.0/7)/5, 1e-12) {
		t.Errorf("CV = %v, %v", cv, ok)
	}

	one := Describe([]float64{3})
	if one.N != 1 || one.SD != 0 || one.HasCI95 || one.Median != 3 || one.P95 != 3 {
		t.Errorf("Describe of one value = %+v", one)
	}
	none := Describe(nil)
	if none.N != 0 || !math.IsNaN(none.Mean) || none.HasCI95 {
		t.Errorf("Describe of no values = %+v", none)
	}
	if _, ok := none.CV(); ok {
		t.Error("CV of no values is ok")
	}
	if _, ok := Describe([]float64{-1, 1}).CV(); ok {
		t.Error("CV of a zero mean is ok")
	}
}

func TestPctDiff(t *testing.T) {
	tests := []struct {
		x, ref, want float64
		ok           bool
	}{
		{15, 10, 50, true},
		{10, 10, 0, true},
		{5, 10, -50, true},
		{1, 0, 0, false},
	}
	for _, tt := range tests {
		if got, ok := PctDiff(tt.x, tt.ref); ok != tt.ok || !near(got, tt.want, 1e-12) {
			t.Errorf("PctDiff(%v, %v) = %v, %v; want %v, %v", tt.x, tt.ref, got, ok, tt.want, tt.ok)
		}
	}
}

func TestWelchTest(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}  // mean 3, variance 2.5
	b := []float64{2, 4, 6, 8, 10} // mean 6, variance 10
	w, err := WelchTest(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: se² = 2.5/5 + 10/5 = 2.5; t = −3/√2.5 = −1.8973666;
	// df = 2.5² / (0.5²/4 + 2²/4) = 6.25/1.0625 = 5.8823529.
	// p = 2·P(T ≤ −1.8973666) at that df = 0.1075311949, by numerical
	// integration of the t density (Simpson's rule, 2·10⁶ intervals).
	if !near(w.MeanDiff, -3, 1e-12) || !near(w.T, -3/math.Sqrt(2.5), 1e-12) ||
		!near(w.DF, 6.25/1.0625, 1e-12) || !near(w.P, 0.1075311949306168, 1e-9) {
		t.Errorf("WelchTest = %+v; want diff −3, t −1.8973666, df 5.8823529, p 0.1075312", w)
	}
	// The 95% interval of the difference: −3 ± TQuantile(0.975, df)·√2.5;
	// p > 0.05, so it holds 0.
	half := TQuantile(0.975, w.DF) * math.Sqrt(2.5)
	if !near(w.CI95.Low, -3-half, 1e-12) || !near(w.CI95.High, -3+half, 1e-12) || w.CI95.Low > 0 || w.CI95.High < 0 {
		t.Errorf("CI95 = %+v, want −3 ± %v around 0", w.CI95, half)
	}

	// Swapping the samples negates the statistic and keeps p.
	r, _ := WelchTest(b, a)
	if !near(r.T, -w.T, 1e-12) || !near(r.P, w.P, 1e-12) || !near(r.DF, w.DF, 1e-12) {
		t.Errorf("swapped: %+v, want −t and the same p and df as %+v", r, w)
	}

	// With equal sizes and variances, Welch's df is Student's 2n−2 (by
	// hand: se² = 2·v/n, df = (2v/n)² / (2(v/n)²/(n−1)) = 2(n−1)).
	eq, _ := WelchTest([]float64{1, 2, 3, 4}, []float64{11, 12, 13, 14})
	if !near(eq.DF, 6, 1e-12) || eq.P > 1e-4 {
		t.Errorf("equal variances: df %v p %v, want df 6 and a tiny p", eq.DF, eq.P)
	}

	if _, err := WelchTest([]float64{1}, b); !errors.Is(err, ErrTooFewValues) {
		t.Errorf("one value: err %v, want ErrTooFewValues", err)
	}
	if _, err := WelchTest([]float64{2, 2}, []float64{3, 3, 3}); !errors.Is(err, ErrNoVariance) {
		t.Errorf("constant samples: err %v, want ErrNoVariance", err)
	}
}
