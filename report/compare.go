package report

import (
	"fmt"
	"math"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/stats"
)

// alpha is the significance level of a comparison.
const alpha = 0.05

// Compare reports how run b differs from run a, cell by cell: cells are
// matched by their coordinates (model, task, variant, sample, platform,
// architecture, memory), not by id or run, so a rerun of a study, or of a
// changed study, lines up with the original. As benchstat does, a change
// in mean that Welch's t-test does not find significant at 5 % shows as ~.
func Compare(a, b *Data, nameA, nameB string) *Report {
	r := &Report{Title: fmt.Sprintf("faaslab compare %s %s", nameA, nameB), Notes: []string{
		fmt.Sprintf("A: %s (%d cells, %d invocations). B: %s (%d cells, %d invocations).", nameA, len(a.Cells), a.Invocations, nameB, len(b.Cells), b.Invocations),
	}}
	sec := Section{ID: "times", Title: "Function time, A → B", Notes: []string{
		"Mean and median function time (ms) of each cell's measured calls; ± is the half-width of the mean's 95 % CI in % of the mean. " +
			"Δ mean is B against A, ~ when Welch's t-test finds no difference at 5 % (p ≥ 0.05); Δ median is shown as measured. " +
			"The geomean row compares the geometric means of the cells' means.",
	}}
	t := &Table{Columns: []string{"cell", "A mean", "±", "B mean", "±", "Δ mean", "p", "A median", "B median", "Δ median", "n A", "n B"}, Left: 1}
	var logA, logB float64
	var both int
	for _, k := range sortedFunc(a.Samples, compareKeys) {
		sb, ok := b.Samples[k]
		if !ok {
			continue
		}
		xa, xb := a.Samples[k].Measured(), sb.Measured()
		if len(xa) == 0 || len(xb) == 0 {
			continue
		}
		da, db := stats.Describe(xa), stats.Describe(xb)
		p := math.NaN()
		if w, err := stats.WelchTest(xb, xa); err == nil {
			p = w.P
		}
		delta := "~"
		if d, ok := stats.PctDiff(db.Mean, da.Mean); ok && p < alpha {
			delta = signedPct(d)
		}
		dm := dash
		if d, ok := stats.PctDiff(db.Median, da.Median); ok {
			dm = signedPct(d)
		}
		t.Rows = append(t.Rows, []string{k.String(), num(da.Mean), ciPct(da), num(db.Mean), ciPct(db), delta, pval(p),
			num(da.Median), num(db.Median), dm, itoa(da.N), itoa(db.N)})
		if da.Mean > 0 && db.Mean > 0 {
			logA += math.Log(da.Mean)
			logB += math.Log(db.Mean)
			both++
		}
	}
	if both > 0 {
		ga, gb := math.Exp(logA/float64(both)), math.Exp(logB/float64(both))
		d, _ := stats.PctDiff(gb, ga)
		t.Rows = append(t.Rows, []string{"geomean", num(ga), "", num(gb), "", signedPct(d), "", "", "", "", "", ""})
	}
	if len(t.Rows) > 0 {
		sec.Blocks = append(sec.Blocks, t)
		r.Sections = append(r.Sections, sec)
	}

	ca, cb := cellsByKey(a.Cells), cellsByKey(b.Cells)
	ct := &Table{Columns: []string{"cell", "A", "B"}, Left: 1}
	keys := map[Key]bool{}
	for k := range ca {
		keys[k] = true
	}
	for k := range cb {
		keys[k] = true
	}
	for _, k := range sortedFunc(keys, compareKeys) {
		oa, ob := "absent", "absent"
		if cs, ok := ca[k]; ok {
			oa = classLabel(outcome(cs))
		}
		if cs, ok := cb[k]; ok {
			ob = classLabel(outcome(cs))
		}
		if oa != ob {
			ct.Rows = append(ct.Rows, []string{k.String(), oa, ob})
		}
	}
	cls := Section{ID: "classes", Title: "Classes that changed", Notes: []string{
		"Each cell's class (OK, FD, SE, ...) in A and in B, where they differ; absent: the run has no such cell.",
	}}
	if len(ct.Rows) == 0 {
		cls.Notes = append(cls.Notes, fmt.Sprintf("No class changed in the %d cells.", len(keys)))
	} else {
		cls.Blocks = append(cls.Blocks, ct)
	}
	r.Sections = append(r.Sections, cls)
	return r
}

func cellsByKey(cells []rows.Cell) map[Key][]rows.Cell {
	m := map[Key][]rows.Cell{}
	for _, c := range cells {
		k := keyOfCell(&c)
		m[k] = append(m[k], c)
	}
	return m
}

func signedPct(d float64) string {
	if d >= 0 {
		return "+" + pct(d) + "%"
	}
	return pct(d) + "%"
}

// ciPct is the half-width of the mean's 95 % CI in % of the mean.
func ciPct(s stats.Summary) string {
	if !s.HasCI95 || s.Mean == 0 {
		return dash
	}
	return fmt.Sprintf("%.0f%%", (s.CI95.High-s.CI95.Low)/2/s.Mean*100)
}
