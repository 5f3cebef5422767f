package report

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/faaslab/faaslab/internal/stats"
)

// defaultWorkload is the number of pipeline runs the cost is scaled to
// when the tables name none: the 100,000 images of the TCSS 562 study.
const defaultWorkload = 100_000

// workload is the study's workload from the pipeline_cells table: its
// count of runs and what one run is ("images").
func (v *view) workload() (int64, string) {
	for _, c := range v.d.PipelineCells {
		if c.WorkloadCount > 0 {
			return c.WorkloadCount, or(c.WorkloadUnit, "runs")
		}
	}
	return defaultWorkload, "runs"
}

// pipelineKey is one pipeline version: its code (model, variant) where it
// ran.
type pipelineKey struct {
	Pipeline, Model, Variant string
	Platform, Arch           string
	MemoryMB                 int32
}

func (k pipelineKey) label() string {
	s := k.Pipeline + " · " + k.Model
	if k.Variant != "" {
		s += " " + k.Variant
	}
	return s
}

func (k pipelineKey) config() config { return config{k.Platform, k.Arch, k.MemoryMB} }

func comparePipelineKeys(a, b pipelineKey) int {
	return cmp.Or(strings.Compare(a.Pipeline, b.Pipeline), strings.Compare(a.Model, b.Model), compareVariants(a.Variant, b.Variant),
		compareConfigs(a.config(), b.config()))
}

// stageKey is one stage of a pipeline version. StageModel is the model
// whose code the stage ran: in a mix, not the pipeline's Model.
type stageKey struct {
	pipelineKey
	Index      int32
	Stage      string
	StageModel string
}

// stageLabel names the stage, and in a mix the model whose code it ran.
func (k stageKey) stageLabel() string {
	s := fmt.Sprintf("%d %s", k.Index+1, k.Stage)
	if k.StageModel != "" && k.StageModel != k.Model {
		s += " · " + k.StageModel
	}
	return s
}

// runs are the measured rows of one pipeline version or stage.
type runs struct {
	ms, stagesMS, overheadMS, usd []float64
	failed                        int
}

// pipelines reports per-stage and end-to-end time and cost, and x86_64
// against arm64 (the TCSS 562 pipeline study).
func (v *view) pipelines() (Section, bool) {
	sec := Section{ID: "pipelines", Title: "Pipelines: per stage, end to end, x86_64 vs arm64", Notes: []string{
		"Measured pipeline runs: not warm-up, status ok. Times in ms: mean, standard deviation, coefficient of variation (SD/mean), median, 95 % CI of the mean (Student's t). " +
			"Cost per run is the pipelines table's cost_usd (its stages' Lambda and S3 prices); the workload column scales it to the study's workload " +
			"(pipeline_cells' workload_count and workload_unit; 100,000 runs, the TCSS 562 study's images, when the tables do not say).",
	}}
	if len(v.d.Pipelines) == 0 && len(v.d.Stages) == 0 {
		return sec, false
	}
	stages := map[stageKey]*runs{}
	for _, s := range v.d.Stages {
		k := stageKey{pipelineKey{s.Pipeline, s.Model, s.Variant, s.Platform, s.Arch, s.MemoryMB}, s.StageIndex, s.Stage, s.StageModel}
		r := stages[k]
		if r == nil {
			r = &runs{}
			stages[k] = r
		}
		if s.Warmup {
			continue
		}
		if s.Status != "ok" {
			r.failed++
			continue
		}
		r.ms = append(r.ms, s.DurationMS)
		if s.CostUSD != nil {
			r.usd = append(r.usd, *s.CostUSD)
		}
	}
	ends := map[pipelineKey]*runs{}
	for _, p := range v.d.Pipelines {
		k := pipelineKey{p.Pipeline, p.Model, p.Variant, p.Platform, p.Arch, p.MemoryMB}
		r := ends[k]
		if r == nil {
			r = &runs{}
			ends[k] = r
		}
		if p.Warmup {
			continue
		}
		if p.Status != "ok" || p.EndToEndMS == nil {
			r.failed++
			continue
		}
		r.ms = append(r.ms, *p.EndToEndMS)
		r.stagesMS = append(r.stagesMS, ptrOr(p.StagesMS))
		r.overheadMS = append(r.overheadMS, ptrOr(p.OverheadMS))
		if p.CostUSD != nil {
			r.usd = append(r.usd, *p.CostUSD)
		}
	}

	st := &Table{Title: "Per stage", Columns: []string{"pipeline", "config", "stage", "n", "failed", "mean", "sd", "cv", "median", "mean 95% CI", "USD per call"}, Left: 3}
	for _, k := range sortedFunc(stages, compareStageKeys) {
		r := stages[k]
		st.Rows = append(st.Rows, append([]string{k.label(), k.config().String(), k.stageLabel(), itoa(len(r.ms)), itoa(r.failed)},
			spread(r.ms, stats.Mean(r.usd))...))
	}
	if len(st.Rows) > 0 {
		sec.Blocks = append(sec.Blocks, st)
	}

	count, unit := v.workload()
	et := &Table{Title: "End to end", Columns: []string{"pipeline", "config", "n", "failed", "mean", "sd", "cv", "median", "mean 95% CI", "USD per run",
		"stages ms", "overhead ms", fmt.Sprintf("USD per %d %s", count, unit)}, Left: 2}
	chart := &BarChart{Title: "Mean end-to-end time by pipeline version", Unit: "ms"}
	archs := map[string]int{}
	for _, k := range sortedFunc(ends, comparePipelineKeys) {
		r := ends[k]
		usd := stats.Mean(r.usd)
		row := append([]string{k.label(), k.config().String(), itoa(len(r.ms)), itoa(r.failed)}, spread(r.ms, usd)...)
		et.Rows = append(et.Rows, append(row, num(stats.Mean(r.stagesMS)), num(stats.Mean(r.overheadMS)), num(usd*float64(count))))
		label := fmt.Sprintf("%s %s %d MB", k.label(), k.Platform, k.MemoryMB)
		i := indexOrAppend(&chart.Labels, label)
		a, ok := archs[k.Arch]
		if !ok {
			a = len(chart.Series)
			archs[k.Arch] = a
			chart.Series = append(chart.Series, Series{Name: k.Arch})
		}
		for j := range chart.Series {
			for len(chart.Series[j].Values) <= i {
				chart.Series[j].Values = append(chart.Series[j].Values, math.NaN())
			}
		}
		chart.Series[a].Values[i] = stats.Mean(r.ms)
	}
	for j := range chart.Series {
		for len(chart.Series[j].Values) < len(chart.Labels) {
			chart.Series[j].Values = append(chart.Series[j].Values, math.NaN())
		}
	}
	if len(et.Rows) > 0 {
		sec.Blocks = append(sec.Blocks, et, chart)
	}

	// x86_64 against arm64: the same code, platform and memory.
	at := &Table{Title: "x86_64 vs arm64", Columns: []string{"pipeline", "platform, memory", "stage", "x86_64 mean", "arm64 mean", "arm64 vs x86_64 %", "p (Welch)",
		"x86_64 USD", "arm64 USD", "USD %"}, Left: 3}
	compare := func(k pipelineKey, stage string, x, a *runs, scale float64) {
		if x == nil || a == nil || len(x.ms) == 0 || len(a.ms) == 0 {
			return
		}
		mx, ma := stats.Mean(x.ms), stats.Mean(a.ms)
		cx, ca := stats.Mean(x.usd)*scale, stats.Mean(a.usd)*scale
		d, _ := stats.PctDiff(ma, mx)
		dc, ok := stats.PctDiff(ca, cx)
		if !ok {
			dc = math.NaN()
		}
		p := math.NaN()
		if w, err := stats.WelchTest(a.ms, x.ms); err == nil {
			p = w.P
		}
		at.Rows = append(at.Rows, []string{k.label(), fmt.Sprintf("%s %d MB", k.Platform, k.MemoryMB), stage, num(mx), num(ma), pct(d), pval(p), num(cx), num(ca), pct(dc)})
	}
	for _, k := range sortedFunc(ends, comparePipelineKeys) {
		if k.Arch != "x86_64" {
			continue
		}
		arm := k
		arm.Arch = "arm64"
		compare(k, fmt.Sprintf("end to end (USD per %d %s)", count, unit), ends[k], ends[arm], float64(count))
		for _, sk := range sortedFunc(stages, compareStageKeys) {
			if sk.pipelineKey == k {
				armStage := sk
				armStage.pipelineKey = arm
				compare(k, sk.stageLabel()+" (USD per call)", stages[sk], stages[armStage], 1)
			}
		}
	}
	if len(at.Rows) > 0 {
		sec.Blocks = append(sec.Blocks, at)
	}
	return sec, len(sec.Blocks) > 0
}

func compareStageKeys(a, b stageKey) int {
	return cmp.Or(comparePipelineKeys(a.pipelineKey, b.pipelineKey), cmp.Compare(a.Index, b.Index), strings.Compare(a.Stage, b.Stage),
		strings.Compare(a.StageModel, b.StageModel))
}

// spread formats mean, SD, CV, median and the mean's CI of ms, then usd.
func spread(ms []float64, usd float64) []string {
	s := stats.Describe(ms)
	cv, ok := s.CV()
	if !ok {
		cv = math.NaN()
	}
	return []string{num(s.Mean), num(s.SD), num(cv), num(s.Median), interval(s.CI95.Low, s.CI95.High, s.HasCI95), num(usd)}
}

func indexOrAppend(s *[]string, x string) int {
	for i, y := range *s {
		if y == x {
			return i
		}
	}
	*s = append(*s, x)
	return len(*s) - 1
}
