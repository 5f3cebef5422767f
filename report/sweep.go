package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/faaslab/faaslab/internal/stats"
)

// coldWarm compares cold calls with warm ones of the same code and
// configuration (the cold-start study).
func (v *view) coldWarm() (Section, bool) {
	sec := Section{ID: "coldwarm", Title: "Cold vs warm calls", Notes: []string{
		"Every successful call, warm-ups included, split by whether it started a new execution environment; pooled over runs (a cold-mode and a warm-mode run of the same study pool here). " +
			"Round trip (ms) is what the client waited: it includes the init of a cold call. Shown where a cell has at least two cold and two warm calls.",
		"USD per 1M: Lambda's price of the calls' billed durations (billed_ms, or the local platform's estimate) at the cell's memory and architecture, per million calls. " +
			"p: Welch's t-test of cold against warm round trips.",
	}}
	t := &Table{Columns: []string{"model", "prompt", "config", "cold n", "cold median", "cold mean", "init mean", "warm n", "warm median", "warm mean",
		"cold/warm", "p (Welch)", "cold USD/1M", "warm USD/1M"}, Left: 3}
	chart := &BarChart{Title: "Median round trip, cold vs warm", Unit: "ms", Series: []Series{{Name: "cold"}, {Name: "warm"}}}
	for _, k := range v.keys() {
		s := v.d.Samples[k]
		if len(s.ColdRT) < 2 || len(s.WarmRT) < 2 {
			continue
		}
		cm, wm := stats.Quantile(s.ColdRT, 0.5), stats.Quantile(s.WarmRT, 0.5)
		p := math.NaN()
		if w, err := stats.WelchTest(s.ColdRT, s.WarmRT); err == nil {
			p = w.P
		}
		pr := prompt{k.Task, k.Variant}.label(v.single)
		if k.Sample != 0 {
			pr += fmt.Sprintf(" #%d", k.Sample)
		}
		cf := config{k.Platform, k.Arch, k.MemoryMB}
		t.Rows = append(t.Rows, []string{k.Model, pr, cf.String(), itoa(len(s.ColdRT)), num(cm), num(stats.Mean(s.ColdRT)), num(stats.Mean(s.ColdInit)),
			itoa(len(s.WarmRT)), num(wm), num(stats.Mean(s.WarmRT)), num(cm / wm), pval(p),
			num(s.ColdUSD / float64(len(s.ColdRT)) * 1e6), num(s.WarmUSD / float64(len(s.WarmRT)) * 1e6)})
		chart.Labels = append(chart.Labels, k.Model+" "+pr+" "+cf.String())
		chart.Series[0].Values = append(chart.Series[0].Values, cm)
		chart.Series[1].Values = append(chart.Series[1].Values, wm)
	}
	if len(t.Rows) == 0 {
		return sec, false
	}
	chart.Log = logWorthy(append(slices.Clone(chart.Series[0].Values), chart.Series[1].Values...))
	sec.Blocks = append(sec.Blocks, t, chart)
	return sec, true
}

// sweepKey is one function (a model's code for a prompt) on one platform
// and architecture, across memory sizes.
type sweepKey struct {
	Model, Task, Variant string
	Platform, Arch       string
}

// sweepPoint is one memory size of a sweep.
type sweepPoint struct {
	memory       int32
	mean, median float64
	usd          float64 // per 1M calls; NaN when unpriced
}

// balancedWeight weighs cost against time in the balanced pick, as AWS
// Lambda Power Tuning's "balanced" strategy does by default (0.5).
const balancedWeight = 0.5

// picks are the memory sizes Lambda Power Tuning reports: the cheapest,
// the fastest, and the one minimising w·cost/max cost + (1−w)·time/max
// time. Each is an index into points, −1 when undefined.
func picks(points []sweepPoint) (cheapest, fastest, balanced int) {
	cheapest, fastest, balanced = -1, -1, -1
	maxCost, maxTime := 0.0, 0.0
	for i, p := range points {
		if !math.IsNaN(p.usd) && (cheapest < 0 || p.usd < points[cheapest].usd) {
			cheapest = i
		}
		if fastest < 0 || p.mean < points[fastest].mean {
			fastest = i
		}
		if !math.IsNaN(p.usd) {
			maxCost = math.Max(maxCost, p.usd)
		}
		maxTime = math.Max(maxTime, p.mean)
	}
	if cheapest < 0 || maxCost == 0 || maxTime == 0 {
		return cheapest, fastest, balanced
	}
	best := math.Inf(1)
	for i, p := range points {
		if math.IsNaN(p.usd) {
			continue
		}
		if score := balancedWeight*p.usd/maxCost + (1-balancedWeight)*p.mean/maxTime; score < best {
			best, balanced = score, i
		}
	}
	return cheapest, fastest, balanced
}

// memorySweep shows each function's time and cost across memory sizes,
// with the picks of Lambda Power Tuning, per model.
func (v *view) memorySweep() (Section, bool) {
	sec := Section{ID: "memory", Title: "Memory sweep: time and cost per memory size", Notes: []string{
		"For each model's code of a prompt measured at two or more memory sizes: mean and median function time of the measured calls (ms), and USD per 1M calls (cells table). " +
			"cheapest: lowest cost; fastest: lowest mean time; balanced: lowest 0.5·cost/max cost + 0.5·time/max time, as AWS Lambda Power Tuning's balanced strategy.",
	}}
	type acc struct{ ms []float64 }
	sizes := map[sweepKey]map[int32]*acc{}
	for _, k := range v.keys() {
		xs := v.d.Samples[k].Measured()
		if len(xs) == 0 {
			continue
		}
		sk := sweepKey{k.Model, k.Task, k.Variant, k.Platform, k.Arch}
		if sizes[sk] == nil {
			sizes[sk] = map[int32]*acc{}
		}
		a := sizes[sk][k.MemoryMB]
		if a == nil {
			a = &acc{}
			sizes[sk][k.MemoryMB] = a
		}
		a.ms = append(a.ms, xs...)
	}
	cost := map[sweepKey]map[int32][2]float64{} // sum of cost·n, n
	for _, c := range v.d.Cells {
		if c.CostPer1MUSD == nil || c.N == 0 {
			continue
		}
		sk := sweepKey{c.Model, c.Task, c.Variant, c.Platform, c.Arch}
		if cost[sk] == nil {
			cost[sk] = map[int32][2]float64{}
		}
		x := cost[sk][c.MemoryMB]
		cost[sk][c.MemoryMB] = [2]float64{x[0] + *c.CostPer1MUSD*float64(c.N), x[1] + float64(c.N)}
	}
	summary := &Table{Title: "Picks", Columns: []string{"model", "prompt", "platform", "arch", "sizes", "cheapest MB", "USD/1M", "fastest MB", "mean ms", "balanced MB"}, Left: 4}
	detail := &Table{Title: "Curves", Columns: []string{"model", "prompt", "platform", "arch", "memory MB", "mean ms", "median ms", "USD/1M", "pick"}, Left: 4}
	type chartKey struct{ Task, Variant, Platform, Arch string }
	timeCharts, costCharts := map[chartKey]*LineChart{}, map[chartKey]*LineChart{}
	keys := sortedFunc(sizes, func(a, b sweepKey) int {
		return cmp.Or(strings.Compare(a.Model, b.Model), comparePrompts(prompt{a.Task, a.Variant}, prompt{b.Task, b.Variant}),
			strings.Compare(a.Platform, b.Platform), strings.Compare(a.Arch, b.Arch))
	})
	for _, sk := range keys {
		if len(sizes[sk]) < 2 {
			continue
		}
		var points []sweepPoint
		for _, m := range sortedKeys(sizes[sk]) {
			xs := sizes[sk][m].ms
			p := sweepPoint{memory: m, mean: stats.Mean(xs), median: stats.Quantile(xs, 0.5), usd: math.NaN()}
			if c, ok := cost[sk][m]; ok && c[1] > 0 {
				p.usd = c[0] / c[1]
			}
			points = append(points, p)
		}
		ch, fa, ba := picks(points)
		pr := prompt{sk.Task, sk.Variant}.label(v.single)
		at := func(i int, f func(sweepPoint) string) string {
			if i < 0 {
				return dash
			}
			return f(points[i])
		}
		mb := func(p sweepPoint) string { return itoa(p.memory) }
		summary.Rows = append(summary.Rows, []string{sk.Model, pr, sk.Platform, sk.Arch, itoa(len(points)), at(ch, mb), at(ch, func(p sweepPoint) string { return num(p.usd) }),
			at(fa, mb), at(fa, func(p sweepPoint) string { return num(p.mean) }), at(ba, mb)})
		ck := chartKey{sk.Task, sk.Variant, sk.Platform, sk.Arch}
		if timeCharts[ck] == nil {
			where := pr + " · " + sk.Platform + " " + sk.Arch
			timeCharts[ck] = &LineChart{Title: "Mean time by memory · " + where, XUnit: "MB", YUnit: "ms"}
			costCharts[ck] = &LineChart{Title: "USD per 1M calls by memory · " + where, XUnit: "MB", YUnit: "USD"}
		}
		tl, cl := Line{Name: sk.Model, Mark: fa}, Line{Name: sk.Model, Mark: ch}
		for i, p := range points {
			var marks []string
			for _, pk := range []struct {
				i    int
				name string
			}{{ch, "cheapest"}, {fa, "fastest"}, {ba, "balanced"}} {
				if pk.i == i {
					marks = append(marks, pk.name)
				}
			}
			detail.Rows = append(detail.Rows, []string{sk.Model, pr, sk.Platform, sk.Arch, itoa(p.memory), num(p.mean), num(p.median), num(p.usd), strings.Join(marks, ", ")})
			tl.X, tl.Y = append(tl.X, float64(p.memory)), append(tl.Y, p.mean)
			if !math.IsNaN(p.usd) {
				cl.X, cl.Y = append(cl.X, float64(p.memory)), append(cl.Y, p.usd)
			}
		}
		if ch >= 0 {
			cl.Mark = slices.Index(cl.X, float64(points[ch].memory))
		}
		timeCharts[ck].Lines = append(timeCharts[ck].Lines, tl)
		if len(cl.X) > 0 {
			costCharts[ck].Lines = append(costCharts[ck].Lines, cl)
		}
	}
	if len(summary.Rows) == 0 {
		return sec, false
	}
	sec.Blocks = append(sec.Blocks, summary, detail)
	for _, ck := range sortedFunc(timeCharts, func(a, b chartKey) int {
		return cmp.Or(comparePrompts(prompt{a.Task, a.Variant}, prompt{b.Task, b.Variant}), strings.Compare(a.Platform, b.Platform), strings.Compare(a.Arch, b.Arch))
	}) {
		sec.Blocks = append(sec.Blocks, timeCharts[ck])
		if len(costCharts[ck].Lines) > 0 {
			sec.Blocks = append(sec.Blocks, costCharts[ck])
		}
	}
	return sec, true
}

// endpoints compares the LLM endpoints a run called (the endpoints study).
func (v *view) endpoints() (Section, bool) {
	sec := Section{ID: "endpoints", Title: "LLM endpoints: latency, time to first token, speed, cost", Notes: []string{
		"From the endpoints table: one row per model endpoint and run. Latency and TTFT in ms (median p50 and p95 over the run's generations), output tokens per second (median), " +
			"error rate (failed calls over calls), mean USD per generation. The second table gives the mean latency with its 95 % CIs from the generations table.",
	}}
	if len(v.d.Endpoints) == 0 {
		return sec, false
	}
	t := &Table{Columns: []string{"model", "provider", "host", "generations", "calls", "errors", "error rate", "latency p50", "latency p95", "TTFT p50", "TTFT p95",
		"tokens/s p50", "USD per call", "truncated"}, Left: 3}
	lat := &BarChart{Title: "Latency p50 by endpoint", Unit: "ms", Series: []Series{{Name: "latency p50"}, {Name: "TTFT p50"}}}
	usd := &BarChart{Title: "USD per call by endpoint", Unit: "USD", Series: []Series{{Name: "USD per call"}}}
	tps := &BarChart{Title: "Output tokens per second (p50) by endpoint", Unit: "tokens/s", Series: []Series{{Name: "tokens/s"}}}
	for _, e := range v.d.Endpoints {
		rate := math.NaN()
		if e.ErrorRate != nil {
			rate = *e.ErrorRate * 100
		}
		t.Rows = append(t.Rows, []string{e.Model, e.Provider, e.Host, itoa(e.Generations), itoa(e.Calls), itoa(e.Errors), pct(rate) + "%",
			num(ptrOr(e.LatencyP50MS)), num(ptrOr(e.LatencyP95MS)), num(ptrOr(e.TTFTP50MS)), num(ptrOr(e.TTFTP95MS)), num(ptrOr(e.TokensPerSP50)),
			num(ptrOr(e.CostPerCallUSD)), itoa(e.Truncated)})
		label := e.Model + " (" + e.Host + ")"
		lat.Labels = append(lat.Labels, label)
		lat.Series[0].Values = append(lat.Series[0].Values, ptrOr(e.LatencyP50MS))
		lat.Series[1].Values = append(lat.Series[1].Values, ptrOr(e.TTFTP50MS))
		usd.Labels = append(usd.Labels, label)
		usd.Series[0].Values = append(usd.Series[0].Values, ptrOr(e.CostPerCallUSD))
		tps.Labels = append(tps.Labels, label)
		tps.Series[0].Values = append(tps.Series[0].Values, ptrOr(e.TokensPerSP50))
	}
	sec.Blocks = append(sec.Blocks, t)

	latency := map[string][]float64{}
	for _, g := range v.d.Generations {
		if g.LatencyMS != nil {
			latency[g.Model] = append(latency[g.Model], *g.LatencyMS)
		}
	}
	if len(latency) > 0 {
		lt := &Table{Title: "Generation latency (ms)", Columns: []string{"model", "n", "mean", "sd", "cv", "median", "p95", "mean 95% CI", "median 95% CI"}, Left: 1}
		for _, m := range sortedKeys(latency) {
			s, mci, ok := describe(latency[m])
			cv, cok := s.CV()
			if !cok {
				cv = math.NaN()
			}
			lt.Rows = append(lt.Rows, []string{m, itoa(s.N), num(s.Mean), num(s.SD), num(cv), num(s.Median), num(s.P95),
				interval(s.CI95.Low, s.CI95.High, s.HasCI95), interval(mci.Low, mci.High, ok)})
		}
		sec.Blocks = append(sec.Blocks, lt)
	}
	sec.Blocks = append(sec.Blocks, lat, tps, usd)
	return sec, true
}
