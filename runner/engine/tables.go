package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/durable"
	"github.com/faaslab/faaslab/internal/stats"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/pricing"
	"github.com/faaslab/faaslab/schema"
)

// Tables builds the run's tables from the plan and the journal's state:
// one generation row per planned generation, one check row per planned
// test, one summary row per planned cell, and one manifest row per session
// that worked on the run. The invocations table is not held in memory:
// each calls a function with every invocation made (EachInvocation reads
// them from the journal), once, for the cells' statistics.
func Tables(p *plan.Plan, st *State, runID string, each func(func(rows.Invocation) error) error) (*rows.Tables, error) {
	s := p.Study
	t := &rows.Tables{}
	lastFailure := map[string]FailureRecord{}
	for _, f := range st.Failures {
		lastFailure[f.ID] = f
	}
	for _, g := range p.Generations {
		m := s.Models[g.Model]
		r := rows.Generation{Study: s.Name, RunID: runID, GenerationID: g.ID, Model: g.Model, Provider: m.Provider,
			ModelName: m.Model, Task: checkTask(g), Variant: g.Variant, Sample: int32(g.Sample), PromptSHA256: g.PromptSHA256}
		if rec, ok := st.Generations[g.ID]; ok {
			r.CodeSHA256, r.ModelVersion, r.Attempts = rec.CodeSHA256, rec.ModelVersion, int32(rec.Attempts)
			r.CreatedAt = rec.CreatedAt
			if m.CallsAPI() {
				in, out, lat := int64(rec.InputTokens), int64(rec.OutputTokens), rec.LatencyMS
				r.InputTokens, r.OutputTokens, r.LatencyMS = &in, &out, &lat
				if m.Price != nil {
					c := pricing.Tokens(in, out, m.Price.InputPerMTok, m.Price.OutputPerMTok)
					r.CostUSD = &c
				}
				setEndpointColumns(&r, rec)
			}
		} else {
			r.Class = classError
			if f, ok := lastFailure[g.ID]; ok {
				r.CreatedAt = f.Time
			}
		}
		if chk, ok := st.Checks[g.ID]; ok {
			r.Class = chk.Class
			r.Cyclomatic, r.Halstead, r.Maintain, r.PylintScore = chk.Cyclomatic, chk.Halstead, chk.Maintain, chk.PylintScore
			r.MetricsNote = chk.MetricsNote
			if chk.Class != string(check.ClassOK) {
				r.Error = chk.Detail
			}
			for _, c := range chk.Tests {
				c.Study, c.RunID = s.Name, runID
				t.Checks = append(t.Checks, c)
			}
		} else {
			r.Error = lastFailure[g.ID].Error // its generation or check failed past its retries
		}
		r.ReasoningEffort = m.Params.ReasoningEffort
		if v := m.Params.MaxCompletionTokens; v != nil {
			n := int32(*v)
			r.MaxCompletionTokens = &n
		}
		t.Generations = append(t.Generations, r)
	}
	t.Endpoints = endpoints(p, st, runID, t.Generations)
	t.Models = models(p.Study, runID)

	samples, err := cellSamples(p, each)
	if err != nil {
		return nil, err
	}
	cells := make([]rows.Cell, len(p.Cells))
	for i, c := range p.Cells {
		g := p.Generations[c.Generation]
		r := rows.Cell{Study: s.Name, RunID: runID, CellID: c.ID, GenerationID: g.ID, Model: c.Model, Task: c.Task,
			Variant: c.Variant, Sample: int32(c.Sample), Platform: c.Platform, Arch: c.Arch, MemoryMB: int32(c.MemoryMB),
			Mode: modeName(s.ModeOf(c.Platform))}
		if chk, ok := st.Checks[g.ID]; ok {
			r.Class = chk.Class
		} else if _, ok := st.Generations[g.ID]; !ok {
			r.Class = classError
		}
		if status, ended := st.Ended(c.ID); ended {
			r.Class = endClass(status)
		}
		sm := samples[c.ID]
		r.FilteredOutCPU = sm.filtered
		summarize(&r, sm.ms)
		if len(sm.ms) > 0 {
			// A million calls like the cell's, as one month's usage.
			cost := p.PriceTable().LambdaUSD(sm.usage.Scale(1e6 / float64(len(sm.ms))))
			r.CostPer1MUSD = &cost
		}
		cells[i] = r
	}
	compareWithReference(p, cells)
	t.Cells = cells
	pipelineTables(p, st, runID, t)
	versions := modelVersions(p, st)
	for _, m := range st.Sessions {
		m.Study, m.RunID, m.StudySHA256, m.ModelVersions = s.Name, runID, s.Source.SHA256, versions
		t.Manifest = append(t.Manifest, m)
	}
	return t, nil
}

// setEndpointColumns fills the columns of a generation row that describe
// its API call: time to first token (streamed answers), output speed,
// detailed usage and finish reason.
func setEndpointColumns(r *rows.Generation, rec GenerationRecord) {
	if rec.TTFTMS > 0 {
		v := rec.TTFTMS
		r.TTFTMS = &v
	}
	// A streamed answer's speed is counted from its first token, so that
	// the prompt's processing (in TTFT) does not dilute it.
	if ms := rec.LatencyMS - rec.TTFTMS; rec.OutputTokens > 0 && ms > 0 {
		v := float64(rec.OutputTokens) / (ms / 1000)
		r.TokensPerS = &v
	}
	reasoning, cached := int32(rec.ReasoningTokens), int32(rec.CachedTokens)
	r.ReasoningTokens, r.CachedTokens = &reasoning, &cached
	r.FinishReason = rec.FinishReason
}

// models describes every model of the study, in the order of their ids.
func models(s *schema.Study, runID string) []rows.Model {
	out := make([]rows.Model, 0, len(s.Models))
	for _, id := range schema.SortedKeys(s.Models) {
		m := s.Models[id]
		r := rows.Model{Study: s.Name, RunID: runID, Model: id, Provider: m.Provider, ModelName: m.Model, Vendor: m.Vendor,
			Class: m.Class, Hosting: m.Hosting, Style: m.Style, ReleaseDate: m.ReleaseDate, Updated: m.Updated, Reasoning: m.Reasoning}
		if m.SizeB > 0 {
			size := m.SizeB
			r.SizeB = &size
		}
		if m.ContextWindow > 0 {
			n := int32(m.ContextWindow)
			r.ContextWindow = &n
		}
		if m.Price != nil {
			in, outp := m.Price.InputPerMTok, m.Price.OutputPerMTok
			r.InputUSDMTok, r.OutputUSDMTok = &in, &outp
		}
		out = append(out, r)
	}
	return out
}

// endpoints summarises each API model's endpoint from the generation rows
// gens and the journal's attempts: one row per model, in the study's order
// of model ids.
func endpoints(p *plan.Plan, st *State, runID string, gens []rows.Generation) []rows.Endpoint {
	s := p.Study
	modelOf := make(map[string]string, len(p.Generations))
	for _, g := range p.Generations {
		modelOf[g.ID] = g.Model
	}
	calls, errs := map[string]int{}, map[string]int{}
	for id, rec := range st.Generations {
		m := modelOf[id]
		calls[m] += rec.Attempts
		if rec.Attempts > 1 {
			errs[m] += rec.Attempts - 1
		}
	}
	for _, f := range st.Failures {
		if f.Unit == StageGenerate {
			calls[modelOf[f.ID]] += f.Attempts
			errs[modelOf[f.ID]] += f.Attempts
		}
	}
	type measures struct {
		latency, ttft, speed, cost []float64
		generations, truncated     int32
	}
	byModel := map[string]*measures{}
	for _, g := range gens {
		if g.CodeSHA256 == "" {
			continue // not generated
		}
		ms := byModel[g.Model]
		if ms == nil {
			ms = &measures{}
			byModel[g.Model] = ms
		}
		ms.generations++
		if g.FinishReason == llm.FinishLength {
			ms.truncated++
		}
		for _, x := range []struct {
			v   *float64
			dst *[]float64
		}{{g.LatencyMS, &ms.latency}, {g.TTFTMS, &ms.ttft}, {g.TokensPerS, &ms.speed}, {g.CostUSD, &ms.cost}} {
			if x.v != nil {
				*x.dst = append(*x.dst, *x.v)
			}
		}
	}
	quantile := func(xs []float64, q float64) *float64 {
		if len(xs) == 0 {
			return nil
		}
		v := stats.Quantile(xs, q)
		return &v
	}
	var out []rows.Endpoint
	for _, id := range schema.SortedKeys(s.Models) {
		m := s.Models[id]
		if !m.CallsAPI() {
			continue
		}
		r := rows.Endpoint{Study: s.Name, RunID: runID, Model: id, Provider: m.Provider,
			Calls: int32(calls[id]), Errors: int32(errs[id])}
		if u, err := url.Parse(llm.BaseURL(m.Provider, m.BaseURL)); err == nil {
			r.Host = u.Host
		}
		if r.Calls > 0 {
			v := float64(r.Errors) / float64(r.Calls)
			r.ErrorRate = &v
		}
		if ms := byModel[id]; ms != nil {
			r.Generations, r.Truncated = ms.generations, ms.truncated
			r.LatencyP50MS, r.LatencyP95MS = quantile(ms.latency, 0.5), quantile(ms.latency, 0.95)
			r.TTFTP50MS, r.TTFTP95MS = quantile(ms.ttft, 0.5), quantile(ms.ttft, 0.95)
			r.TokensPerSP50 = quantile(ms.speed, 0.5)
			if len(ms.cost) > 0 {
				v := stats.Mean(ms.cost)
				r.CostPerCallUSD = &v
			}
		}
		out = append(out, r)
	}
	return out
}

// modeName is a cell's mode as the cells table says it: warm unless cold.
func modeName(mode string) string {
	if mode == "cold" {
		return "cold"
	}
	return "warm"
}

// samples are the measurements of one cell that its statistics use.
type samples struct {
	ms       []float64     // function time of each measured call
	usage    pricing.Usage // summed per call: Lambda bills each call's own rounding
	filtered int32         // calls left out by the CPU-model filter
	cold     bool          // the cell's platform runs in cold mode: cold calls count
}

// cellSamples collects each cell's measured calls: not warm-ups, not
// failed, in warm mode (the cell's platform's, else the matrix's) not cold
// starts, and on the CPU the filter names.
func cellSamples(p *plan.Plan, each func(func(rows.Invocation) error) error) (map[string]*samples, error) {
	s := p.Study
	prices := p.PriceTable()
	byID := make(map[string]*samples, len(p.Cells))
	cellOf := make(map[string]plan.Cell, len(p.Cells))
	for _, c := range p.Cells {
		byID[c.ID] = &samples{cold: s.ModeOf(c.Platform) == "cold"}
		cellOf[c.ID] = c
	}
	err := each(func(inv rows.Invocation) error {
		sm, ok := byID[inv.CellID]
		if !ok || inv.Warmup || inv.Status != string(platform.StatusOK) || (inv.Cold && !sm.cold) {
			return nil
		}
		// The filter is applied here, not read from the row's cpu_match,
		// so that journals written before that column still filter.
		if f := s.Matrix.CPUFilter; f != "" && !strings.Contains(inv.CPUModel, f) {
			sm.filtered++
			return nil
		}
		sm.ms = append(sm.ms, inv.DurationMS)
		c := cellOf[inv.CellID]
		sm.usage.Add(prices, callOf(s, c, inv), 1)
		return nil
	})
	return byID, err
}

// callOf is invocation inv of cell c as Lambda bills it (billing.call).
func callOf(s *schema.Study, c plan.Cell, inv rows.Invocation) pricing.Call {
	b := billing{InitMS: inv.InitMS, BilledMS: inv.BilledMS, BilledEstMS: inv.BilledEstMS}
	return b.call(c.Arch, c.MemoryMB, schema.EphemeralMB(s.Tasks[c.Task], s.Platforms[c.Platform]),
		inv.DurationMS, inv.StartedAt, inv.Cold)
}

// modelVersions is a JSON object of each model's versions as the APIs
// returned them, sorted.
func modelVersions(p *plan.Plan, st *State) string {
	seen := map[string][]string{}
	for _, g := range p.Generations {
		if rec, ok := st.Generations[g.ID]; ok && rec.ModelVersion != "" && !slices.Contains(seen[g.Model], rec.ModelVersion) {
			seen[g.Model] = append(seen[g.Model], rec.ModelVersion)
		}
	}
	for _, v := range seen {
		slices.Sort(v)
	}
	b, _ := json.Marshal(seen) // maps marshal with sorted keys
	return string(b)
}

// classError is the class of an artifact that could not be generated.
const classError = "ERROR"

// endClass is the class of a cell whose benchmark call ended with status,
// in the check classes' words.
func endClass(status string) string {
	switch platform.Status(status) {
	case platform.StatusTimeout:
		return string(check.ClassTimeout)
	case platform.StatusCrash:
		return string(check.ClassCrash)
	case platform.StatusInitError:
		return string(check.ClassInit)
	}
	return string(check.ClassFD)
}

// compareWithReference sets each cell's reference mean and % difference:
// against the reference model's cells of the same task on the same
// platform, architecture and memory (Table 4 of the WoSC '25 study).
func compareWithReference(p *plan.Plan, cells []rows.Cell) {
	type key struct {
		task, platform, arch string
		mem                  int32
	}
	sum := map[key]float64{}
	n := map[key]int{}
	for _, c := range cells {
		if p.Study.Models[c.Model].Provider != "reference" || c.MeanMS == nil {
			continue
		}
		k := key{c.Task, c.Platform, c.Arch, c.MemoryMB}
		sum[k] += *c.MeanMS * float64(c.N)
		n[k] += int(c.N)
	}
	for i := range cells {
		c := &cells[i]
		k := key{c.Task, c.Platform, c.Arch, c.MemoryMB}
		if n[k] == 0 || c.MeanMS == nil {
			continue
		}
		ref := sum[k] / float64(n[k])
		c.RefMeanMS = &ref
		if pct, ok := stats.PctDiff(*c.MeanMS, ref); ok {
			c.PctDiffVsRef = &pct
		}
	}
}

// summarize fills a cell's statistics of ms (function time, milliseconds).
func summarize(r *rows.Cell, ms []float64) {
	r.N = int32(len(ms))
	if len(ms) == 0 {
		return
	}
	d := stats.Describe(ms)
	f := func(x float64) *float64 { return &x }
	r.MeanMS, r.SDMS = f(d.Mean), f(d.SD)
	if cv, ok := d.CV(); ok {
		r.CV = f(cv)
	}
	r.MedianMS, r.P95MS = f(d.Median), f(d.P95)
	r.MinMS, r.MaxMS = f(d.Min), f(d.Max)
	if d.HasCI95 {
		r.CI95LowMS, r.CI95HighMS = f(d.CI95.Low), f(d.CI95.High)
	}
}

// Export writes the run's tables to Dir/tables in every format of exps,
// from the journal as it stands, and returns a one-line summary of them.
// It reads the journal without locking it, so it may run beside a live
// run; invocations stream from the file, once per format.
//
// The tables of one export appear together: they are written to a new
// directory that then takes the place of Dir/tables in one rename.
func (e *Engine) Export(ctx context.Context, exps []exporters.Exporter) (string, error) {
	path := filepath.Join(e.Dir, "journal.jsonl")
	st, err := ReadJournal(path)
	if err != nil {
		return "", err
	}
	runID := filepath.Base(e.Dir)
	each := func(fn func(rows.Invocation) error) error { return EachInvocation(path, st, fn) }
	t, err := Tables(e.Plan, st, runID, each)
	if err != nil {
		return "", err
	}
	src := exporters.FromTables(t)
	src.Invocations = func(yield func(rows.Invocation, error) bool) {
		errStop := errors.New("stop")
		err := each(func(inv rows.Invocation) error {
			inv.Study, inv.RunID = e.Plan.Study.Name, runID
			if !yield(inv, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			yield(rows.Invocation{}, err)
		}
	}
	tmp, err := os.MkdirTemp(e.Dir, ".tables-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // after the swap, the old tables
	for _, x := range exps {
		if err := x.Export(ctx, tmp, src); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := swapDir(tmp, filepath.Join(e.Dir, "tables")); err != nil {
		return "", err
	}
	return Summary(t, TallyInvocations(e.Plan, st)), durable.SyncDir(e.Dir)
}

// swapDir puts the directory src at dst in one step: dst's old content (if
// any) moves to src, for the caller to remove.
func swapDir(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) { // no old tables yet
		return os.Rename(src, dst)
	}
	return err
}

// Summary is one line on a run's outcome: classes of the generations and
// how much was measured, in cells and in invocations (made of planned,
// and why the others were not made).
func Summary(t *rows.Tables, invocations Tally) string {
	classes := map[string]int{}
	for _, g := range t.Generations {
		classes[g.Class]++
	}
	var parts []string
	for _, c := range []string{string(check.ClassOK), string(check.ClassFD), string(check.ClassTruncated), string(check.ClassNoCode), string(check.ClassSE), string(check.ClassInit),
		string(check.ClassTimeout), string(check.ClassCrash), classError, ""} {
		if n := classes[c]; n > 0 {
			if c == "" {
				c = "not checked"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	measured := 0
	for _, c := range t.Cells {
		if c.N > 0 {
			measured++
		}
	}
	cells := fmt.Sprintf("%d of %d cells measured", measured, len(t.Cells))
	if pipes, measuredPipes := pipelineCounts(t); pipes > 0 {
		cells += fmt.Sprintf(", %d of %d pipelines", measuredPipes, pipes)
	}
	return fmt.Sprintf("%d generations (%s); %s, %s",
		len(t.Generations), strings.Join(parts, ", "), cells, invocations)
}
