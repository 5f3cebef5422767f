package stats

import "math"

// TCDF is the cumulative distribution function of Student's t with df
// degrees of freedom (df > 0, not necessarily an integer) at t: the
// probability that a t-distributed variable is at most t. It is NaN for
// df ≤ 0.
//
// With I the regularized incomplete beta function, it uses
// P(T ≤ −|t|) = I_x(df/2, 1/2) / 2 with x = df / (df + t²) in the tails,
// and P(|T| ≤ |t|) = I_y(1/2, df/2) with y = t² / (df + t²) near the
// centre, where x would round to 1 and lose every digit of a small t.
func TCDF(t, df float64) float64 {
	if !(df > 0) || math.IsNaN(t) {
		return math.NaN()
	}
	if math.IsInf(t, 0) {
		if t > 0 {
			return 1
		}
		return 0
	}
	t2 := t * t
	if t2 < df {
		half := 0.5 * regIncBeta(t2/(df+t2), 0.5, df/2) // P(0 ≤ T ≤ |t|)
		if t > 0 {
			return 0.5 + half
		}
		return 0.5 - half
	}
	tail := 0.5 * regIncBeta(df/(df+t2), df/2, 0.5)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// TQuantile is the p-quantile (0 < p < 1) of Student's t with df degrees
// of freedom: the t with TCDF(t, df) = p. It is NaN outside those ranges,
// and exact to about 1e-12 relative.
//
// It takes Newton steps on TCDF from the normal quantile's neighbourhood,
// inside a bracket that only shrinks: a step that would leave the bracket
// bisects it instead, so heavy tails (df near 0) cannot make it diverge.
func TQuantile(p, df float64) float64 {
	if !(p > 0 && p < 1) || !(df > 0) {
		return math.NaN()
	}
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -TQuantile(1-p, df)
	}
	lo, hi := 0.0, 2.0
	for TCDF(hi, df) < p {
		lo, hi = hi, hi*2
		if math.IsInf(hi, 0) {
			return math.Inf(1)
		}
	}
	x := (lo + hi) / 2
	for range 200 {
		f := TCDF(x, df) - p
		if f < 0 {
			lo = x
		} else {
			hi = x
		}
		next := x - f/tDensity(x, df)
		if !(next > lo && next < hi) {
			next = lo + (hi-lo)/2
		}
		if math.Abs(next-x) <= 1e-14*math.Abs(x) || hi-lo <= 1e-14*hi {
			return next
		}
		x = next
	}
	return x
}

// tDensity is the probability density of Student's t with df degrees of
// freedom at t: Γ((df+1)/2) / (√(df·π) Γ(df/2)) · (1 + t²/df)^−(df+1)/2.
func tDensity(t, df float64) float64 {
	a, _ := math.Lgamma((df + 1) / 2)
	b, _ := math.Lgamma(df / 2)
	return math.Exp(a - b - 0.5*math.Log(df*math.Pi) - (df+1)/2*math.Log1p(t*t/df))
}

// regIncBeta is the regularized incomplete beta function I_x(a, b) for
// 0 ≤ x ≤ 1 and a, b > 0, from its continued fraction, evaluated with
// the modified Lentz method on whichever of I_x(a, b) and 1 − I_(1−x)(b, a)
// converges faster.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(1-x, b, a)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	// x^a (1−x)^b / (a·B(a, b)), with B(a, b) = Γ(a)Γ(b)/Γ(a+b).
	prefix := math.Exp(a*math.Log(x)+b*math.Log1p(-x)+lab-la-lb) / a
	return prefix * betaFraction(x, a, b)
}

// betaFraction evaluates the continued fraction
// 1/(1+ d1/(1+ d2/(1+ …))) of the incomplete beta function, where
// d(2m+1) = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and
// d(2m) = m(b−m)x / ((a+2m−1)(a+2m)).
func betaFraction(x, a, b float64) float64 {
	const (
		tiny = 1e-300
		eps  = 1e-15
	)
	clamp := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	// Lentz: f = 1/(1+d1/(1+d2/…)) is the fraction b0 + a1/(b1 + a2/(b2+…))
	// with b0 = 0, a1 = 1 and every later b = 1, a = d.
	c := 1.0
	d := 1 / clamp(1-(a+b)*x/(a+1)) // after the first term, d1
	f := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		// even step: d(2m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		f *= d * c
		// odd step: d(2m+1)
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < eps {
			break
		}
	}
	return f
}
