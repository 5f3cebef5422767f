package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/stats"
)

// ModelInfo is a model's metadata from the study file (class, hosting,
// style), which the tables do not carry.
type ModelInfo struct {
	Class, Hosting, Style string
}

// Options say what a report knows beyond the tables.
type Options struct {
	// Models holds each model's metadata when the study file was given;
	// static metrics are then compared between its groups.
	Models map[string]ModelInfo
	// Title replaces the default title.
	Title string
}

// reference is the provider of a task's reference implementation.
const reference = "reference"

// view is the data a report is built from, indexed.
type view struct {
	d        *Data
	opts     Options
	provider map[string]string // model -> provider
	single   map[string]bool   // task -> it has one variant

	sortedKeys     []Key
	byPrompt, refs map[promptAt][]float64
}

func newView(d *Data, opts Options) *view {
	v := &view{d: d, opts: opts, provider: map[string]string{}, single: map[string]bool{}}
	for _, g := range d.Generations {
		v.provider[g.Model] = g.Provider
	}
	variants := map[string]map[string]bool{}
	add := func(task, variant string) {
		if variants[task] == nil {
			variants[task] = map[string]bool{}
		}
		variants[task][variant] = true
	}
	for _, g := range d.Generations {
		add(g.Task, g.Variant)
	}
	for _, c := range d.Cells {
		add(c.Task, c.Variant)
	}
	for t, vs := range variants {
		v.single[t] = len(vs) == 1
	}
	return v
}

func (v *view) isReference(model string) bool { return v.provider[model] == reference }

// Build makes the report of d: each section that d has data for.
func Build(d *Data, opts Options) *Report {
	v := newView(d, opts)
	r := &Report{Title: or(opts.Title, "faaslab report")}
	r.Notes = v.sources()
	for _, s := range []func() (Section, bool){
		v.table4, v.correctness, v.staticMetrics, v.distributions, v.cost1M,
		v.pipelines, v.coldWarm, v.memorySweep, v.endpoints, v.cellStats,
	} {
		if sec, ok := s(); ok {
			r.Sections = append(r.Sections, sec)
		}
	}
	return r
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// sources says what was read.
func (v *view) sources() []string {
	var notes []string
	runs := map[string]string{}
	for _, m := range v.d.Manifest {
		runs[m.RunID] = m.Study
	}
	var names []string
	for _, id := range sortedKeys(runs) {
		names = append(names, runs[id]+"/"+id)
	}
	notes = append(notes, fmt.Sprintf("Read %d tables director%s (runs: %s): %d generations, %d cells, %d invocations, %d endpoints, %d stage and %d pipeline rows.",
		len(v.d.Dirs), plural(len(v.d.Dirs), "y", "ies"), or(strings.Join(names, ", "), "none recorded"), len(v.d.Generations), len(v.d.Cells),
		v.d.Invocations, len(v.d.Endpoints), len(v.d.Stages), len(v.d.Pipelines)))
	return notes
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// promptAt is a model's prompt in one configuration: the cells that pool
// over samples.
type promptAt struct {
	Model string
	prompt
	config
}

// pools returns the measured function times per model, prompt and
// configuration, pooled over samples and runs (in key order), and the
// reference's per task and configuration, pooled over its variants too as
// the engine does. Built once per view.
func (v *view) pools() (byPrompt map[promptAt][]float64, refs map[promptAt][]float64) {
	if v.byPrompt != nil {
		return v.byPrompt, v.refs
	}
	v.byPrompt, v.refs = map[promptAt][]float64{}, map[promptAt][]float64{}
	for _, k := range v.keys() {
		xs := v.d.Samples[k].Measured()
		cf := config{k.Platform, k.Arch, k.MemoryMB}
		pa := promptAt{k.Model, prompt{k.Task, k.Variant}, cf}
		v.byPrompt[pa] = append(v.byPrompt[pa], xs...)
		if v.isReference(k.Model) {
			ra := promptAt{"", prompt{k.Task, ""}, cf}
			v.refs[ra] = append(v.refs[ra], xs...)
		}
	}
	return v.byPrompt, v.refs
}

// keys are the coordinates of every cell with invocations, sorted once.
func (v *view) keys() []Key {
	if v.sortedKeys == nil {
		v.sortedKeys = sortedFunc(v.d.Samples, compareKeys)
	}
	return v.sortedKeys
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(a.Model, b.Model); c != 0 {
		return c
	}
	if c := comparePrompts(prompt{a.Task, a.Variant}, prompt{b.Task, b.Variant}); c != 0 {
		return c
	}
	if a.Sample != b.Sample {
		return int(a.Sample - b.Sample)
	}
	return compareConfigs(config{a.Platform, a.Arch, a.MemoryMB}, config{b.Platform, b.Arch, b.MemoryMB})
}

// classOrder lists the check classes, best first.
var classOrder = []string{"OK", "FD", "SE", "INIT", "TIMEOUT", "CRASH", "TRUNCATED", "NOCODE", "ERROR", ""}

func classRank(c string) int {
	if i := slices.Index(classOrder, c); i >= 0 {
		return i
	}
	return len(classOrder)
}

func classLabel(c string) string {
	if c == "" {
		return "unchecked"
	}
	return c
}

// grid is the cells of one configuration by prompt and model.
type grid struct {
	prompts []prompt
	models  []string
	cells   map[prompt]map[string][]rows.Cell
}

func (v *view) grids() map[config]*grid {
	out := map[config]*grid{}
	for _, c := range v.d.Cells {
		cf := config{c.Platform, c.Arch, c.MemoryMB}
		g := out[cf]
		if g == nil {
			g = &grid{cells: map[prompt]map[string][]rows.Cell{}}
			out[cf] = g
		}
		p := prompt{c.Task, c.Variant}
		if g.cells[p] == nil {
			g.cells[p] = map[string][]rows.Cell{}
			g.prompts = append(g.prompts, p)
		}
		if !slices.Contains(g.models, c.Model) {
			g.models = append(g.models, c.Model)
		}
		g.cells[p][c.Model] = append(g.cells[p][c.Model], c)
	}
	for _, g := range out {
		slices.SortFunc(g.prompts, comparePrompts)
		slices.SortFunc(g.models, func(a, b string) int {
			if ra, rb := v.isReference(a), v.isReference(b); ra != rb {
				if ra {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
	}
	return out
}

// outcome is a model's class on a prompt: OK when any of its cells was
// measured, else the best class among them.
func outcome(cells []rows.Cell) string {
	best := ""
	for i, c := range cells {
		if i == 0 || classRank(c.Class) < classRank(best) {
			best = c.Class
		}
	}
	return best
}

// table4 is the runtime % difference of each model's code against the
// reference per prompt: Table 4 of the WoSC '25 study.
func (v *view) table4() (Section, bool) {
	sec := Section{ID: "table4", Title: "Runtime % difference vs reference (Table 4)", Notes: []string{
		"Each number is (mean − reference mean) / reference mean × 100 of the function time (duration_ms) of the measured calls (warm, not warm-up, status ok, CPU filter kept), " +
			"pooled over samples and runs, against the reference implementation of the same task on the same platform, architecture and memory.",
		"* marks a difference significant at 5 % by Welch's t-test of the model's calls against the reference's. " +
			"A class (SE, FD, INIT, TIMEOUT, CRASH, ...) stands where code was not measured; – where a measured cell has no calls. " +
			"The mean row is each model's average difference over the prompts it has a number for (the paper's AVG Runtime Diff).",
	}}
	grids := v.grids()
	for _, cf := range sortedFunc(grids, compareConfigs) {
		g := grids[cf]
		refs := slices.DeleteFunc(slices.Clone(g.models), func(m string) bool { return !v.isReference(m) })
		models := slices.DeleteFunc(slices.Clone(g.models), v.isReference)
		if len(refs) == 0 || len(models) == 0 {
			continue
		}
		t := &Table{Title: cf.String(), Columns: append([]string{"prompt", "reference ms"}, models...), Left: 1}
		sums, counts := make([]float64, len(models)), make([]int, len(models))
		byPrompt, refPools := v.pools()
		for _, p := range g.prompts {
			ref := refPools[promptAt{"", prompt{p.Task, ""}, cf}]
			refMean := stats.Mean(ref)
			row := []string{p.label(v.single), num(refMean)}
			for i, m := range models {
				cells := g.cells[p][m]
				if len(cells) == 0 {
					row = append(row, "")
					continue
				}
				if c := outcome(cells); c != "OK" {
					row = append(row, classLabel(c))
					continue
				}
				xs := byPrompt[promptAt{m, p, cf}]
				d, ok := stats.PctDiff(stats.Mean(xs), refMean)
				if len(xs) == 0 || len(ref) == 0 || !ok {
					row = append(row, dash)
					continue
				}
				cell := pct(d)
				if w, err := stats.WelchTest(xs, ref); err == nil && w.P < 0.05 {
					cell += "*"
				}
				sums[i] += d
				counts[i]++
				row = append(row, cell)
			}
			t.Rows = append(t.Rows, row)
		}
		mean := []string{"mean", ""}
		for i := range models {
			mean = append(mean, pct(sums[i]/float64(counts[i])))
		}
		t.Rows = append(t.Rows, mean)
		sec.Blocks = append(sec.Blocks, t)
	}
	return sec, len(sec.Blocks) > 0
}

// correctness is the share of functionally correct code by model and by
// prompt (Figures 1 and 2).
func (v *view) correctness() (Section, bool) {
	sec := Section{ID: "correctness", Title: "Functionally correct code by model and by prompt (Figures 1–2)", Notes: []string{
		"Share of generated artifacts whose checks all passed (class OK), from the generations table; the reference implementations are left out. " +
			"Other columns count each class: FD functional defect, SE syntax error, INIT import failed, and so on.",
	}}
	var gens []rows.Generation
	classes := map[string]bool{}
	for _, g := range v.d.Generations {
		if !v.isReference(g.Model) {
			gens = append(gens, g)
			classes[g.Class] = true
		}
	}
	if len(gens) == 0 {
		return sec, false
	}
	cls := slices.SortedFunc(func(yield func(string) bool) {
		for c := range classes {
			if !yield(c) {
				return
			}
		}
	}, func(a, b string) int { return classRank(a) - classRank(b) })
	by := func(title, label string, key func(rows.Generation) string, order func(a, b string) int) {
		counts := map[string]map[string]int{}
		for _, g := range gens {
			k := key(g)
			if counts[k] == nil {
				counts[k] = map[string]int{}
			}
			counts[k][g.Class]++
		}
		t := &Table{Title: title, Columns: []string{label, "n", "% OK"}, Left: 1}
		for _, c := range cls {
			t.Columns = append(t.Columns, classLabel(c))
		}
		chart := &BarChart{Title: "% functionally correct by " + label, Unit: "%", Series: []Series{{Name: "% OK"}}}
		for _, k := range sortedFunc(counts, order) {
			n := 0
			for _, x := range counts[k] {
				n += x
			}
			share := 100 * float64(counts[k]["OK"]) / float64(n)
			row := []string{k, itoa(n), pct(share)}
			for _, c := range cls {
				row = append(row, itoa(counts[k][c]))
			}
			t.Rows = append(t.Rows, row)
			chart.Labels = append(chart.Labels, k)
			chart.Series[0].Values = append(chart.Series[0].Values, share)
		}
		sec.Blocks = append(sec.Blocks, t, chart)
	}
	by("By model (Figure 1)", "model", func(g rows.Generation) string { return g.Model }, strings.Compare)
	single := v.single
	by("By prompt (Figure 2)", "prompt", func(g rows.Generation) string { return prompt{g.Task, g.Variant}.label(single) }, strings.Compare)
	return sec, true
}

// metric is one static metric of the generations table.
type metric struct {
	name string
	get  func(*rows.Generation) *float64
}

var metrics = []metric{
	{"cyclomatic complexity", func(g *rows.Generation) *float64 { return g.Cyclomatic }},
	{"Halstead difficulty", func(g *rows.Generation) *float64 { return g.Halstead }},
	{"maintainability index", func(g *rows.Generation) *float64 { return g.Maintain }},
	{"pylint score", func(g *rows.Generation) *float64 { return g.PylintScore }},
}

// hostingOfProvider is where a provider's models run, as far as the
// provider says it: self-hosted servers are local, vendors' APIs cloud.
// "openai-compatible" and "files" say nothing.
var hostingOfProvider = map[string]string{
	"ollama": "local", "vllm": "local",
	"openai": "cloud", "deepseek": "cloud", "xai": "cloud", "gemini": "cloud", "bedrock": "cloud",
}

// staticMetrics averages radon's and pylint's metrics per model and
// compares model groups with a two-sample t-test (Figure 3).
func (v *view) staticMetrics() (Section, bool) {
	sec := Section{ID: "static", Title: "Static metrics by model (Figure 3)", Notes: []string{
		"Means over each model's generated artifacts that have the metric (radon: cyclomatic complexity, Halstead difficulty, maintainability index; pylint's score out of 10).",
	}}
	vals := map[string][][]float64{} // model -> metric -> values
	for i := range v.d.Generations {
		g := &v.d.Generations[i]
		for j, m := range metrics {
			if p := m.get(g); p != nil {
				if vals[g.Model] == nil {
					vals[g.Model] = make([][]float64, len(metrics))
				}
				vals[g.Model][j] = append(vals[g.Model][j], *p)
			}
		}
	}
	if len(vals) == 0 {
		return sec, false
	}
	t := &Table{Columns: []string{"model", "n"}, Left: 1}
	for _, m := range metrics {
		t.Columns = append(t.Columns, m.name)
	}
	means := map[string][]float64{}
	charts := make([]*BarChart, len(metrics))
	for j, m := range metrics {
		charts[j] = &BarChart{Title: m.name + " by model", Series: []Series{{Name: m.name}}}
	}
	for _, model := range sortedKeys(vals) {
		n := 0
		row := []string{model, ""}
		for j := range metrics {
			xs := vals[model][j]
			n = max(n, len(xs))
			mean := stats.Mean(xs)
			means[model] = append(means[model], mean)
			row = append(row, num(mean))
			charts[j].Labels = append(charts[j].Labels, model)
			charts[j].Series[0].Values = append(charts[j].Series[0].Values, mean)
		}
		row[1] = itoa(n)
		t.Rows = append(t.Rows, row)
	}
	sec.Blocks = append(sec.Blocks, t)
	for _, c := range charts {
		sec.Blocks = append(sec.Blocks, c)
	}

	// Groups of models, each model one observation (its mean), as the
	// paper compares larger and smaller models' average pylint scores.
	type dimension struct {
		name  string
		a, b  string
		group func(model string) string
	}
	var dims []dimension
	if len(v.opts.Models) > 0 {
		info := v.opts.Models
		sec.Notes = append(sec.Notes, "Model groups from the study file's metadata (class, hosting, style); medium models count with small ones, as the paper compares large models with smaller ones.")
		dims = []dimension{
			{"class", "large", "small+medium", func(m string) string {
				switch info[m].Class {
				case "large":
					return "large"
				case "small", "medium":
					return "small+medium"
				}
				return ""
			}},
			{"hosting", "cloud", "local", func(m string) string { return info[m].Hosting }},
			{"style", "reasoning", "traditional", func(m string) string { return info[m].Style }},
		}
	} else {
		sec.Notes = append(sec.Notes, "The tables do not carry the models' class or style, and no study file was given (--study), "+
			"so models are grouped by hosting as their provider tells it: ollama and vllm local; openai, deepseek, xai, gemini and bedrock cloud; "+
			"files, openai-compatible and the reference in neither group.")
		dims = []dimension{{"hosting (by provider)", "cloud", "local", func(m string) string { return hostingOfProvider[v.provider[m]] }}}
	}
	sec.Notes = append(sec.Notes, "Group tests: each model's mean is one observation; Student's two-sample t-test with pooled variance (the paper's), and Welch's p for unequal variances.")
	tests := &Table{Title: "Model groups compared", Columns: []string{"groups", "metric", "group A", "mean A", "group B", "mean B", "t", "df", "p (Student)", "p (Welch)"}, Left: 2}
	for _, dim := range dims {
		for j, m := range metrics {
			var a, b []float64
			for _, model := range sortedKeys(means) {
				x := means[model][j]
				if v.isReference(model) || math.IsNaN(x) {
					continue
				}
				switch dim.group(model) {
				case dim.a:
					a = append(a, x)
				case dim.b:
					b = append(b, x)
				}
			}
			if len(a) == 0 || len(b) == 0 {
				continue // no two groups to compare on this dimension
			}
			row := []string{dim.name, m.name, fmt.Sprintf("%s (%d)", dim.a, len(a)), num(stats.Mean(a)), fmt.Sprintf("%s (%d)", dim.b, len(b)), num(stats.Mean(b))}
			if s, err := stats.StudentTest(a, b); err == nil {
				row = append(row, num(s.T), itoa(int(s.DF)), pval(s.P))
			} else {
				row = append(row, dash, dash, dash)
			}
			if w, err := stats.WelchTest(a, b); err == nil {
				row = append(row, pval(w.P))
			} else {
				row = append(row, dash)
			}
			tests.Rows = append(tests.Rows, row)
		}
	}
	if len(tests.Rows) > 0 {
		sec.Blocks = append(sec.Blocks, tests)
	} else {
		sec.Notes = append(sec.Notes, "No groups compared: no grouping puts models with metrics on both sides.")
	}
	return sec, true
}

// distributions gives box-plot numbers of each model's function times per
// prompt (Figure 6).
func (v *view) distributions() (Section, bool) {
	sec := Section{ID: "distributions", Title: "Runtime distributions by prompt (Figure 6)", Notes: []string{
		"Function time (ms) of the measured calls per model, pooled over samples and runs: quartiles, Tukey whiskers (within 1.5 IQR) and the outliers beyond them.",
	}}
	type group struct {
		p  prompt
		cf config
	}
	by := map[group]map[string][]float64{}
	for _, k := range v.keys() {
		xs := v.d.Samples[k].Measured()
		if len(xs) == 0 {
			continue
		}
		g := group{prompt{k.Task, k.Variant}, config{k.Platform, k.Arch, k.MemoryMB}}
		if by[g] == nil {
			by[g] = map[string][]float64{}
		}
		by[g][k.Model] = append(by[g][k.Model], xs...)
	}
	if len(by) == 0 {
		return sec, false
	}
	t := &Table{Columns: []string{"prompt", "config", "model", "n", "min", "q1", "median", "q3", "max", "outliers"}, Left: 3}
	groups := sortedFunc(by, func(a, b group) int {
		if c := comparePrompts(a.p, b.p); c != 0 {
			return c
		}
		return compareConfigs(a.cf, b.cf)
	})
	for _, g := range groups {
		chart := &BoxChart{Title: g.p.label(v.single) + " · " + g.cf.String(), Unit: "ms"}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, m := range sortedKeys(by[g]) {
			b := stats.BoxOf(by[g][m])
			t.Rows = append(t.Rows, []string{g.p.label(v.single), g.cf.String(), m, itoa(b.N), num(b.Min), num(b.Q1), num(b.Median), num(b.Q3), num(b.Max), itoa(b.Outliers)})
			chart.Boxes = append(chart.Boxes, LabeledBox{Label: m, N: b.N, LowWhisker: b.LowWhisker, Q1: b.Q1, Median: b.Median, Q3: b.Q3,
				HighWhisker: b.HighWhisker, Outliers: append(slices.Clone(b.OutlierLo), b.OutlierHi...)})
			lo, hi = math.Min(lo, b.Min), math.Max(hi, b.Max)
		}
		chart.Log = lo > 0 && hi/lo > 20
		sec.Blocks = append(sec.Blocks, chart)
	}
	sec.Blocks = append([]Block{t}, sec.Blocks...)
	return sec, true
}

// cost1M is each model's price of a million executions per prompt, from the
// cells table (Figure 7).
func (v *view) cost1M() (Section, bool) {
	sec := Section{ID: "cost", Title: "Cost of 1M executions by model and prompt (Figure 7)", Notes: []string{
		"USD for a million calls like the measured ones (the cells table's cost_per_1m_usd: Lambda's price of each call's billed duration at the cell's memory and architecture), " +
			"averaged over samples and runs weighted by their calls.",
	}}
	grids := v.grids()
	for _, cf := range sortedFunc(grids, compareConfigs) {
		g := grids[cf]
		t := &Table{Title: cf.String(), Columns: append([]string{"prompt"}, g.models...), Left: 1}
		var charts []Block
		any := false
		for _, p := range g.prompts {
			row := []string{p.label(v.single)}
			chart := &BarChart{Title: "Cost of 1M executions · " + p.label(v.single) + " · " + cf.String(), Unit: "USD", Series: []Series{{Name: "USD per 1M"}}}
			for _, m := range g.models {
				sum, n := 0.0, 0
				for _, c := range g.cells[p][m] {
					if c.CostPer1MUSD != nil && c.N > 0 {
						sum += *c.CostPer1MUSD * float64(c.N)
						n += int(c.N)
					}
				}
				if n == 0 {
					row = append(row, classLabel(outcome(g.cells[p][m])))
					if len(g.cells[p][m]) == 0 || outcome(g.cells[p][m]) == "OK" {
						row[len(row)-1] = dash
					}
					continue
				}
				any = true
				row = append(row, num(sum/float64(n)))
				chart.Labels = append(chart.Labels, m)
				chart.Series[0].Values = append(chart.Series[0].Values, sum/float64(n))
			}
			t.Rows = append(t.Rows, row)
			if len(chart.Labels) > 0 {
				chart.Log = logWorthy(chart.Series[0].Values)
				charts = append(charts, chart)
			}
		}
		if any {
			sec.Blocks = append(sec.Blocks, t)
			sec.Blocks = append(sec.Blocks, charts...)
		}
	}
	return sec, len(sec.Blocks) > 0
}

// logWorthy says values spread over more than two orders of magnitude.
func logWorthy(xs []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if !math.IsNaN(x) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	return lo > 0 && hi/lo > 100
}

// cellStats are every cell's statistics from its invocations.
func (v *view) cellStats() (Section, bool) {
	sec := Section{ID: "cells", Title: "Statistics per cell", Notes: []string{
		"Function time (ms) of each cell's measured calls, pooled over runs: mean, standard deviation, coefficient of variation, median, 95th percentile (linear interpolation), " +
			"95 % confidence interval of the mean (Student's t) and of the median (distribution-free, from order statistics and the binomial distribution; – with fewer than 6 calls).",
	}}
	t := &Table{Columns: []string{"model", "task", "variant", "sample", "config", "n", "mean", "sd", "cv", "median", "p95", "mean 95% CI", "median 95% CI"}, Left: 5}
	for _, k := range v.keys() {
		xs := v.d.Samples[k].Measured()
		if len(xs) == 0 {
			continue
		}
		s, mci, mok := describe(xs)
		cv, ok := s.CV()
		if !ok {
			cv = math.NaN()
		}
		t.Rows = append(t.Rows, []string{k.Model, k.Task, k.Variant, itoa(k.Sample), config{k.Platform, k.Arch, k.MemoryMB}.String(), itoa(s.N),
			num(s.Mean), num(s.SD), num(cv), num(s.Median), num(s.P95), interval(s.CI95.Low, s.CI95.High, s.HasCI95), interval(mci.Low, mci.High, mok)})
	}
	if len(t.Rows) == 0 {
		return sec, false
	}
	sec.Blocks = append(sec.Blocks, t)
	return sec, true
}
