package stats

import (
	"math"
	"slices"
)

// BinomCDF is P(X ≤ k) for X binomially distributed with n trials of
// success probability p: Σ_{i=0..k} C(n, i) pⁱ (1−p)ⁿ⁻ⁱ. It sums the terms
// in log space, so n may be in the millions.
func BinomCDF(k, n int, p float64) float64 {
	switch {
	case n < 0 || !(p >= 0 && p <= 1):
		return math.NaN()
	case k < 0:
		return 0
	case k >= n:
		return 1
	}
	if p == 0 {
		return 1
	}
	if p == 1 {
		return 0
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	ln, _ := math.Lgamma(float64(n) + 1)
	sum := 0.0
	for i := 0; i <= k; i++ {
		li, _ := math.Lgamma(float64(i) + 1)
		lr, _ := math.Lgamma(float64(n-i) + 1)
		sum += math.Exp(ln - li - lr + float64(i)*lp + float64(n-i)*lq)
	}
	return math.Min(sum, 1)
}

// binomCDFs returns P(B ≤ k) for k = 0..n, B ~ Binomial(n, p), 0 < p < 1:
// BinomCDF for every k in one pass.
func binomCDFs(n int, p float64) []float64 {
	lp, lq := math.Log(p), math.Log1p(-p)
	ln, _ := math.Lgamma(float64(n) + 1)
	cdf := make([]float64, n+1)
	sum := 0.0
	for i := 0; i <= n; i++ {
		li, _ := math.Lgamma(float64(i) + 1)
		lr, _ := math.Lgamma(float64(n-i) + 1)
		sum += math.Exp(ln - li - lr + float64(i)*lp + float64(n-i)*lq)
		cdf[i] = math.Min(sum, 1)
	}
	return cdf
}

// QuantileCI is the distribution-free confidence interval of the
// q-quantile (0 < q < 1) of the population xs was drawn from, built from
// two order statistics (Conover, Practical Nonparametric Statistics,
// §3.2): with x(1) ≤ … ≤ x(n) and B ~ Binomial(n, q), the interval
// [x(l), x(u)] covers the quantile with probability
// P(l ≤ B < u) = BinomCDF(u−1) − BinomCDF(l−1). It takes the narrowest
// symmetric-in-tail-probability pair whose coverage is at least level:
// the largest l with P(B < l) ≤ (1−level)/2 and the smallest u with
// P(B ≥ u) ≤ (1−level)/2. Coverage is that pair's exact coverage, which
// is at least level (the binomial is discrete, so it is rarely equal).
//
// ok is false when even [x(1), x(n)] covers less than level (for the
// median at 95 %, fewer than 6 values) or when q or level is out of range.
func QuantileCI(xs []float64, q, level float64) (ci Interval, coverage float64, ok bool) {
	n := len(xs)
	if n == 0 || !(q > 0 && q < 1) || !(level > 0 && level < 1) {
		return Interval{}, 0, false
	}
	tail := (1 - level) / 2
	cdf := binomCDFs(n, q) // cdf[k] = P(B ≤ k)
	// l: largest rank with P(B ≤ l−1) ≤ tail; at least 1.
	l := 0
	for l+1 <= n && cdf[l] <= tail {
		l++
	}
	// u: smallest rank with P(B ≥ u) = 1 − P(B ≤ u−1) ≤ tail; at most n.
	u := n + 1
	for u-1 >= 1 && 1-cdf[u-2] <= tail {
		u--
	}
	if l < 1 || u > n || l >= u {
		return Interval{}, 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	coverage = cdf[u-1] - cdf[l-1]
	return Interval{s[l-1], s[u-1]}, coverage, true
}

// MedianCI is QuantileCI of the median.
func MedianCI(xs []float64, level float64) (ci Interval, coverage float64, ok bool) {
	return QuantileCI(xs, 0.5, level)
}

// Box is the five-number summary a box plot draws: quartiles by
// Quantile's interpolation, and Tukey's whiskers, which reach the most
// extreme values within 1.5 interquartile ranges of the box.
type Box struct {
	N                    int
	Min, Max             float64
	Q1, Median, Q3       float64
	LowWhisker           float64
	HighWhisker          float64
	Outliers             int       // values beyond the whiskers
	OutlierLo, OutlierHi []float64 // up to a few of them, for drawing
}

// maxDrawnOutliers bounds the outliers a Box keeps on each side.
const maxDrawnOutliers = 20

// BoxOf is the Box of xs; N is 0 and everything else NaN for no values.
func BoxOf(xs []float64) Box {
	if len(xs) == 0 {
		nan := math.NaN()
		return Box{Min: nan, Max: nan, Q1: nan, Median: nan, Q3: nan, LowWhisker: nan, HighWhisker: nan}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	b := Box{N: len(s), Min: s[0], Max: s[len(s)-1],
		Q1: quantileSorted(s, 0.25), Median: quantileSorted(s, 0.5), Q3: quantileSorted(s, 0.75)}
	iqr := b.Q3 - b.Q1
	lo, hi := b.Q1-1.5*iqr, b.Q3+1.5*iqr
	b.LowWhisker, b.HighWhisker = b.Median, b.Median
	for _, x := range s {
		if x >= lo {
			b.LowWhisker = x
			break
		}
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] <= hi {
			b.HighWhisker = s[i]
			break
		}
	}
	for _, x := range s {
		switch {
		case x < lo:
			b.Outliers++
			if len(b.OutlierLo) < maxDrawnOutliers {
				b.OutlierLo = append(b.OutlierLo, x)
			}
		case x > hi:
			b.Outliers++
		}
	}
	for i := len(s) - 1; i >= 0 && s[i] > hi && len(b.OutlierHi) < maxDrawnOutliers; i-- {
		b.OutlierHi = append(b.OutlierHi, s[i])
	}
	return b
}

// Student is the outcome of Student's two-sample t-test with pooled
// variance, the "two-sample t-test" of most papers (scipy's ttest_ind
// default): it assumes both populations have the same variance.
type Student struct {
	MeanDiff float64 // mean(a) − mean(b)
	T        float64
	DF       float64 // n_a + n_b − 2
	P        float64 // two-sided
}

// StudentTest compares the means of a and b with Student's pooled-variance
// t-test. Each sample needs at least one value and both together three.
func StudentTest(a, b []float64) (Student, error) {
	na, nb := float64(len(a)), float64(len(b))
	if len(a) < 1 || len(b) < 1 || len(a)+len(b) < 3 {
		return Student{}, ErrTooFewValues
	}
	df := na + nb - 2
	pooled := ((na-1)*Variance(a) + (nb-1)*Variance(b)) / df
	se := math.Sqrt(pooled * (1/na + 1/nb))
	if se == 0 {
		return Student{}, ErrNoVariance
	}
	s := Student{MeanDiff: Mean(a) - Mean(b), DF: df}
	s.T = s.MeanDiff / se
	s.P = 2 * TCDF(-math.Abs(s.T), df)
	return s, nil
}
