// Package duckdbtest checks package stats against DuckDB's aggregates on
// samples too large to work out by hand: a second implementation, written
// by other people, of the same definitions.
package duckdbtest

import (
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/faaslab/faaslab/internal/stats"
)

// sample is n log-normal function times in ms, skewed as real ones are,
// with a few ties from rounding to 0.01 ms.
func sample(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = math.Round(math.Exp(4+0.6*r.NormFloat64())*100) / 100
	}
	return xs
}

// listLiteral writes xs as a DuckDB list of DOUBLE literals that read back
// exactly.
func listLiteral(xs []float64) string {
	var b strings.Builder
	b.WriteString("[")
	for i, x := range xs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	}
	b.WriteString("]::DOUBLE[]")
	return b.String()
}

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestAgainstDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, n := range []int{50, 1000, 4999} {
		xs := sample(n, uint64(n))
		if _, err := db.Exec("CREATE OR REPLACE TABLE s AS SELECT unnest(" + listLiteral(xs) + ") AS x"); err != nil {
			t.Fatal(err)
		}
		var mean, sd, median, p95, p25, lo, hi float64
		err := db.QueryRow(`SELECT avg(x), stddev_samp(x), median(x), quantile_cont(x, 0.95), quantile_cont(x, 0.25) FROM s`).
			Scan(&mean, &sd, &median, &p95, &p25)
		if err != nil {
			t.Fatal(err)
		}
		d := stats.Describe(xs)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"mean", d.Mean, mean}, {"sd", d.SD, sd}, {"median", d.Median, median}, {"p95", d.P95, p95},
			{"q25", stats.Quantile(xs, 0.25), p25}, {"box q1", stats.BoxOf(xs).Q1, p25},
		} {
			if !near(c.got, c.want, 1e-12) {
				t.Errorf("n %d: %s = %v, DuckDB says %v", n, c.name, c.got, c.want)
			}
		}
		// The median's order-statistic interval: DuckDB sums the binomial
		// probabilities with lgamma, counts the ranks whose cumulative
		// probability stays within 2.5 % (that count is the lower rank l),
		// and picks the l-th and (n+1−l)-th smallest values.
		q := fmt.Sprintf(`WITH pmf AS (
			SELECT j, exp(lgamma(%[1]d + 1) - lgamma(j + 1) - lgamma(%[1]d - j + 1) - %[1]d * ln(2)) AS p FROM range(0, %[1]d + 1) r(j)),
		cdf AS (SELECT j, sum(p) OVER (ORDER BY j) AS c FROM pmf),
		l AS (SELECT count(*)::BIGINT AS l FROM cdf WHERE c <= 0.025),
		v AS (SELECT list_sort(list(x)) AS xs FROM s)
		SELECT xs[l], xs[%[1]d + 1 - l] FROM v, l`, n)
		if err := db.QueryRow(q).Scan(&lo, &hi); err != nil {
			t.Fatal(err)
		}
		ci, cov, ok := stats.MedianCI(xs, 0.95)
		if !ok || ci.Low != lo || ci.High != hi || cov < 0.95 {
			t.Errorf("n %d: MedianCI = %+v (coverage %v, ok %v), DuckDB's order statistics [%v, %v]", n, ci, cov, ok, lo, hi)
		}
		// Student's t interval of the mean from DuckDB's mean and SD and
		// the t quantile.
		m, _ := stats.MeanCI(xs, 0.95)
		half := stats.TQuantile(0.975, float64(n-1)) * sd / math.Sqrt(float64(n))
		if !near(m.Low, mean-half, 1e-12) || !near(m.High, mean+half, 1e-12) {
			t.Errorf("n %d: MeanCI = %+v, from DuckDB's aggregates %v ± %v", n, m, mean, half)
		}
	}
}
