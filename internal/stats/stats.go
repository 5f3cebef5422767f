// Package stats holds the statistics of faaslab's tables: the summary of a
// cell's function times (mean, standard deviation, quantiles, Student's t
// confidence interval of the mean), the % difference against a reference,
// and Welch's t-test for comparing two cells. The engine's tables and the
// reports built on them share it, so a number means the same everywhere.
//
// Every function is pure and safe for concurrent use; none modifies its
// arguments.
package stats

import (
	"errors"
	"math"
	"slices"
)

// Mean is the arithmetic mean of xs; NaN when xs is empty.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// Variance is the sample variance of xs (divided by n−1, the unbiased
// estimate); 0 for one value and NaN for none.
func Variance(xs []float64) float64 {
	switch len(xs) {
	case 0:
		return math.NaN()
	case 1:
		return 0
	}
	m := Mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(xs)-1)
}

// SD is the sample standard deviation of xs, the square root of Variance.
func SD(xs []float64) float64 { return math.Sqrt(Variance(xs)) }

// Quantile is the q-quantile (0 ≤ q ≤ 1) of xs by linear interpolation
// between closest ranks: numpy's and pandas' default, R's type 7. It is
// NaN when xs is empty or q is outside [0, 1].
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return quantileSorted(s, q)
}

// quantileSorted is Quantile of xs sorted in increasing order.
func quantileSorted(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Interval is a confidence interval.
type Interval struct {
	Low, High float64
}

// MeanCI is the two-sided confidence interval at level (0.95 for 95%) of
// the mean of xs, from Student's t with n−1 degrees of freedom:
// mean ± t(1−(1−level)/2, n−1)·SD/√n. ok is false when xs has fewer than
// two values or level is not in (0, 1).
func MeanCI(xs []float64, level float64) (ci Interval, ok bool) {
	n := len(xs)
	if n < 2 || !(level > 0 && level < 1) {
		return Interval{}, false
	}
	m := Mean(xs)
	half := TQuantile(1-(1-level)/2, float64(n-1)) * SD(xs) / math.Sqrt(float64(n))
	return Interval{m - half, m + half}, true
}

// Summary describes a sample of function times, as a cell row reports it.
type Summary struct {
	N           int
	Mean, SD    float64
	Min, Max    float64
	Median, P95 float64
	// CI95 is the 95% confidence interval of the mean (MeanCI); HasCI95 is
	// false when N < 2.
	CI95    Interval
	HasCI95 bool
}

// Describe summarises xs. A Summary of no values has N 0 and NaN
// everywhere else; of one value, SD 0 and no confidence interval.
func Describe(xs []float64) Summary {
	if len(xs) == 0 {
		nan := math.NaN()
		return Summary{Mean: nan, SD: nan, Min: nan, Max: nan, Median: nan, P95: nan}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := Summary{N: len(s), Mean: Mean(s), SD: SD(s), Min: s[0], Max: s[len(s)-1],
		Median: quantileSorted(s, 0.5), P95: quantileSorted(s, 0.95)}
	sum.CI95, sum.HasCI95 = MeanCI(s, 0.95)
	return sum
}

// CV is the coefficient of variation, SD / Mean; ok is false when the
// mean is 0 or the summary has no values.
func (s Summary) CV() (cv float64, ok bool) {
	if s.N == 0 || s.Mean == 0 {
		return 0, false
	}
	return s.SD / s.Mean, true
}

// PctDiff is how much x differs from ref, in % of ref: (x − ref) / ref ·
// 100, as Table 4 of the WoSC '25 study reports a model's mean against the
// reference implementation's. ok is false when ref is 0.
func PctDiff(x, ref float64) (pct float64, ok bool) {
	if ref == 0 {
		return 0, false
	}
	return (x - ref) / ref * 100, true
}

// Welch is the outcome of Welch's unequal-variances t-test of two samples.
type Welch struct {
	// MeanDiff is mean(a) − mean(b).
	MeanDiff float64
	// T is the test statistic, MeanDiff / √(var(a)/n_a + var(b)/n_b).
	T float64
	// DF is the Welch–Satterthwaite degrees of freedom (not an integer).
	DF float64
	// P is the two-sided p-value of the hypothesis that the means are equal.
	P float64
	// CI95 is the 95% confidence interval of MeanDiff.
	CI95 Interval
}

// ErrTooFewValues says a sample is too small for the statistic asked.
var ErrTooFewValues = errors.New("stats: too few values")

// ErrNoVariance says both samples are constant, so Welch's test is not
// defined (its statistic divides by zero).
var ErrNoVariance = errors.New("stats: both samples have zero variance")

// WelchTest compares the means of a and b without assuming equal variances
// (Welch 1947). Each sample needs at least two values.
func WelchTest(a, b []float64) (Welch, error) {
	if len(a) < 2 || len(b) < 2 {
		return Welch{}, ErrTooFewValues
	}
	na, nb := float64(len(a)), float64(len(b))
	va, vb := Variance(a)/na, Variance(b)/nb
	se2 := va + vb
	if se2 == 0 {
		return Welch{}, ErrNoVariance
	}
	se := math.Sqrt(se2)
	w := Welch{MeanDiff: Mean(a) - Mean(b)}
	w.T = w.MeanDiff / se
	w.DF = se2 * se2 / (va*va/(na-1) + vb*vb/(nb-1))
	w.P = 2 * TCDF(-math.Abs(w.T), w.DF)
	half := TQuantile(0.975, w.DF) * se
	w.CI95 = Interval{w.MeanDiff - half, w.MeanDiff + half}
	return w, nil
}
