package stats

import (
	"errors"
	"math"
	"testing"
)

func TestBinomCDF(t *testing.T) {
	tests := []struct {
		k, n int
		p    float64
		want float64
	}{
		// By hand: C(10, i) = 1, 10, 45, 120 over 2¹⁰ = 1024.
		{0, 10, 0.5, 1.0 / 1024},
		{1, 10, 0.5, 11.0 / 1024},
		{2, 10, 0.5, 56.0 / 1024},
		{3, 10, 0.5, 176.0 / 1024},
		{9, 10, 0.5, 1023.0 / 1024},
		{10, 10, 0.5, 1},
		{-1, 10, 0.5, 0},
		// By hand: P(X ≤ 1) for n 3, p 0.2 = 0.8³ + 3·0.2·0.8² = 0.512 + 0.384.
		{1, 3, 0.2, 0.896},
		{0, 4, 0, 1},
		{3, 4, 1, 0},
	}
	for _, tt := range tests {
		if got := BinomCDF(tt.k, tt.n, tt.p); !near(got, tt.want, 1e-12) {
			t.Errorf("BinomCDF(%d, %d, %v) = %v, want %v", tt.k, tt.n, tt.p, got, tt.want)
		}
	}
	// Large n: P(X ≤ n/2) of a fair coin with n even is ½ + C(n, n/2)/2ⁿ⁺¹,
	// and C(n, n/2)/2ⁿ ≈ √(2/(πn)) (Stirling).
	n := 100000
	want := 0.5 + 0.5*math.Sqrt(2/(math.Pi*float64(n)))
	if got := BinomCDF(n/2, n, 0.5); !near(got, want, 1e-6) {
		t.Errorf("BinomCDF(n/2, %d, ½) = %v, want %v", n, got, want)
	}
	if !math.IsNaN(BinomCDF(1, 3, 1.5)) {
		t.Error("BinomCDF with p 1.5 is not NaN")
	}
}

func TestMedianCI(t *testing.T) {
	xs := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	// By hand for n 10: P(B ≤ 1) = 11/1024 ≤ 0.025 < P(B ≤ 2) = 56/1024,
	// so l = 2 and by symmetry u = 9; coverage P(2 ≤ B ≤ 8) =
	// (1013 − 11)/1024 = 0.978515625, as printed tables of the sign test
	// give for n = 10.
	ci, cov, ok := MedianCI(xs, 0.95)
	if !ok || ci != (Interval{2, 9}) || !near(cov, 1002.0/1024, 1e-12) {
		t.Errorf("MedianCI(1..10) = %+v, %v, %v; want [2, 9], 0.978515625", ci, cov, ok)
	}
	// n 6: the whole range, coverage 1 − 2/64; n 5: not even that reaches 95 %.
	ci, cov, ok = MedianCI([]float64{6, 1, 5, 2, 4, 3}, 0.95)
	if !ok || ci != (Interval{1, 6}) || !near(cov, 62.0/64, 1e-12) {
		t.Errorf("MedianCI(6 values) = %+v, %v, %v; want [1, 6], 0.96875", ci, cov, ok)
	}
	if _, _, ok := MedianCI([]float64{1, 2, 3, 4, 5}, 0.95); ok {
		t.Error("MedianCI of 5 values at 95 % is ok")
	}
	// The 0.9 quantile of 1..10 at 50 %: B ~ Bin(10, 0.9); P(B ≤ 7) =
	// 0.0701908264 ≤ 0.25 < P(B ≤ 8) = 0.2639010709, so l = 8; P(B ≥ 10) =
	// 0.3486784401 > 0.25, so u = 10 + 1 is out of range: not ok.
	if _, _, ok := QuantileCI(xs, 0.9, 0.5); ok {
		t.Error("QuantileCI(0.9, 50 %) of 10 values is ok")
	}
	// At level 0.25 (tail 0.375): P(B ≤ 8) = 0.2639 ≤ 0.375 < P(B ≤ 9) =
	// 0.6513, so l = 9; P(B ≥ 10) = 0.9¹⁰ = 0.3487 ≤ 0.375, so u = 10:
	// [9, 10], coverage P(B = 9) = 10·0.9⁹·0.1 = 0.387420489.
	ci, cov, ok = QuantileCI(xs, 0.9, 0.25)
	if !ok || ci != (Interval{9, 10}) || !near(cov, 0.387420489, 1e-9) {
		t.Errorf("QuantileCI(0.9, 25 %%) = %+v, %v, %v; want [9, 10], 0.387420489", ci, cov, ok)
	}
	if xs[0] != 10 {
		t.Error("MedianCI sorted its argument")
	}
}

func TestBoxOf(t *testing.T) {
	b := BoxOf([]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1})
	// By hand (type 7): Q1 at h 2.25 = 3.25, Q3 at h 6.75 = 7.75; fences
	// −3.5 and 14.5 hold everything.
	if b.N != 10 || b.Q1 != 3.25 || b.Median != 5.5 || b.Q3 != 7.75 || b.LowWhisker != 1 || b.HighWhisker != 10 || b.Outliers != 0 {
		t.Errorf("BoxOf(1..10) = %+v", b)
	}
	b = BoxOf([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100})
	// Q1 at h 2.5 = 3.5, Q3 at h 7.5 = 8.5, IQR 5: fences −4 and 16.
	if b.Q1 != 3.5 || b.Median != 6 || b.Q3 != 8.5 || b.HighWhisker != 10 || b.Max != 100 || b.Outliers != 1 || len(b.OutlierHi) != 1 {
		t.Errorf("BoxOf with an outlier = %+v", b)
	}
	if b := BoxOf(nil); b.N != 0 || !math.IsNaN(b.Median) {
		t.Errorf("BoxOf(nil) = %+v", b)
	}
}

func TestStudentTest(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}  // mean 3, variance 2.5
	b := []float64{2, 4, 6, 8, 10} // mean 6, variance 10
	s, err := StudentTest(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: pooled variance (4·2.5 + 4·10)/8 = 6.25; se = √(6.25·0.4) =
	// √2.5; t = −3/√2.5; df 8. p by Simpson integration of the t density
	// (tCDFSimpson, independent of TCDF's incomplete beta).
	wantT := -3 / math.Sqrt(2.5)
	wantP := 2 * tCDFSimpson(wantT, 8)
	if !near(s.T, wantT, 1e-12) || s.DF != 8 || !near(s.P, wantP, 1e-9) {
		t.Errorf("StudentTest = %+v, want t %v df 8 p %v", s, wantT, wantP)
	}
	if _, err := StudentTest([]float64{1}, []float64{2}); !errors.Is(err, ErrTooFewValues) {
		t.Errorf("two values: %v", err)
	}
	if _, err := StudentTest([]float64{1, 1}, []float64{2, 2}); !errors.Is(err, ErrNoVariance) {
		t.Errorf("constant samples: %v", err)
	}
}

// tDensitySimpson is the t density from math.Gamma, written apart from
// the package's tDensity so that a shared mistake cannot hide.
func tDensityGamma(x, df float64) float64 {
	return math.Gamma((df+1)/2) / (math.Sqrt(df*math.Pi) * math.Gamma(df/2)) * math.Pow(1+x*x/df, -(df+1)/2)
}

// tCDFSimpson is P(T ≤ x) by Simpson's rule on [min(x,0), max(x,0)] with
// 200000 intervals: ½ ± the integral of the density from 0 to |x|.
func tCDFSimpson(x, df float64) float64 {
	const n = 200000
	a := math.Abs(x)
	h := a / n
	sum := tDensityGamma(0, df) + tDensityGamma(a, df)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * tDensityGamma(float64(i)*h, df)
	}
	half := sum * h / 3
	if x < 0 {
		return 0.5 - half
	}
	return 0.5 + half
}

// TestTQuantileQuotedValues checks the t quantiles that the tests quote
// (from R and printed tables, written down from memory) by integrating the
// t density numerically: at each quoted t the integral must reach p to
// within what the quote's last digit allows (density × half a unit of it).
func TestTQuantileQuotedValues(t *testing.T) {
	for _, tt := range []struct{ p, df, t, unit float64 }{
		{0.975, 5, 2.570582, 1e-6},
		{0.975, 7, 2.364624, 1e-6},
		{0.975, 10, 2.228139, 1e-6},
		{0.975, 30, 2.042272, 1e-6},
		{0.975, 100, 1.983972, 1e-6},
		{0.975, 5, 2.571, 1e-3},
		{0.995, 10, 3.169, 1e-3},
		{0.975, 1, 12.706, 1e-3},
		{0.975, 9, 2.262, 1e-3},
		{0.975, 40, 2.021, 1e-3},
		{0.975, 60, 2.000, 1e-3},
		{0.975, 99, 1.984, 1e-3},
		{0.975, 1000, 1.962, 1e-3},
	} {
		got := tCDFSimpson(tt.t, tt.df)
		allowed := tDensityGamma(tt.t, tt.df)*tt.unit/2 + 1e-10
		if math.Abs(got-tt.p) > allowed {
			t.Errorf("quoted qt(%v, %v) = %v, but the integrated CDF there is %.9f (allowed ±%.2g)", tt.p, tt.df, tt.t, got, allowed)
		}
		// And the package's TQuantile agrees with the integral too.
		if q := TQuantile(tt.p, tt.df); math.Abs(tCDFSimpson(q, tt.df)-tt.p) > 1e-9 {
			t.Errorf("TQuantile(%v, %v) = %v: integrated CDF %v", tt.p, tt.df, q, tCDFSimpson(q, tt.df))
		}
	}
}
