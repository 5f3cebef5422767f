package stats

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDescribe summarises one cell of 100 function times, as the
// engine's tables do for every cell.
func BenchmarkDescribe(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = 10 + r.NormFloat64()
	}
	for b.Loop() {
		Describe(xs)
	}
}

// BenchmarkTQuantile is the exact quantile that Describe's interval needs.
func BenchmarkTQuantile(b *testing.B) {
	for b.Loop() {
		TQuantile(0.975, 99)
	}
}
