package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// ---- generate ----

// request is the llm.Request of generation g.
func (e *Engine) request(g plan.Generation) llm.Request {
	s := e.Plan.Study
	m := s.Models[g.Model]
	t := e.Plan.Function(g)
	pr := e.Plan.Prompts[g.PromptSHA256]
	req := llm.Request{
		Model: g.Model, Provider: m.Provider, ModelName: m.Model, BaseURL: m.BaseURL, APIKeyEnv: m.APIKeyEnv,
		Params: llm.Params{Temperature: m.Params.Temperature, TopP: m.Params.TopP, MaxTokens: m.Params.MaxTokens,
			Seed: m.Params.Seed, Stop: m.Params.Stop,
			MaxCompletionTokens: m.Params.MaxCompletionTokens, ReasoningEffort: m.Params.ReasoningEffort},
		Stream: m.Streams(), Reasoning: m.Reasoning,
		System: pr.System, Prompt: pr.User, Task: checkTask(g), Variant: g.Variant, Sample: g.Sample,
		Handler: t.Handler, ReferenceFile: s.Path(t.Reference),
	}
	if m.Dir != "" {
		req.FilesDir = s.Path(m.Dir)
	}
	return req
}

func (e *Engine) generate(ctx context.Context) (int, error) {
	gens := e.Plan.Generations
	bar := e.Progress.Stage(StageGenerate, len(gens))
	defer bar.Done()
	e.journal.View(func(s *State) { e.spend = newSpendLimit(e.Plan, s) })
	sc := e.newScheduler()
	failed, err := sc.run(ctx, bar, func(ctx context.Context, i int) (bool, error) {
		g := gens[i]
		var done bool
		e.journal.View(func(s *State) { _, done = s.Generations[g.ID] })
		if done {
			bar.Resume(1)
			return false, nil
		}
		req := e.request(g)
		if done, failed, err := e.replayed(ctx, g, req, bar); done {
			return failed, err
		}
		res, key, cached, attempts, err := e.obtain(ctx, sc, g, req)
		if errors.Is(err, ErrSpendLimit) {
			bar.Skip(1) // stopped cleanly: the stage's error says why
			return false, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, e.fail(bar, 1, StageGenerate, g.ID, attempts, err)
		}
		rec := &GenerationRecord{ID: g.ID, Key: key, CodeSHA256: llm.CodeHash(res.Files), ModelVersion: res.ModelVersion,
			InputTokens: res.InputTokens, OutputTokens: res.OutputTokens,
			LatencyMS: float64(res.Latency) / float64(time.Millisecond), Attempts: attempts, CreatedAt: time.Now().UTC()}
		rec.setResultMetadata(res)
		if err := e.journal.Append(Record{Generation: rec}); err != nil {
			return false, err
		}
		e.Log.Info("generated", "generation", g.ID, "model", g.Model, "task", g.Task, "variant", g.Variant,
			"sample", g.Sample, "cached", cached, "attempts", attempts, "finish_reason", res.FinishReason)
		if res.Truncated() {
			e.Log.Warn("answer truncated at the token limit: it will not be checked", "generation", g.ID, "model", g.Model,
				"output_tokens", res.OutputTokens)
		}
		bar.Add()
		return false, nil
	})
	if err == nil {
		if err = e.spend.err(); err != nil {
			e.Log.Warn("generation stopped by the spend limit", "error", err)
		}
	}
	return failed, err
}

// setResultMetadata copies res's timing and usage details into r.
func (r *GenerationRecord) setResultMetadata(res llm.Result) {
	r.TTFTMS = float64(res.TTFT) / float64(time.Millisecond)
	r.ReasoningTokens, r.CachedTokens, r.FinishReason = res.ReasoningTokens, res.CachedTokens, res.FinishReason
}

// obtain returns the code req (generation g) asks for and its key in the
// artifact store: from the store when an API generation was made before
// (failures are never stored), else by generating it under sc's limiters,
// with retries, and storing it. An API request that could pass the budget
// is not sent: the error wraps ErrSpendLimit.
func (e *Engine) obtain(ctx context.Context, sc *scheduler, g plan.Generation, req llm.Request) (res llm.Result, key string, cached bool, attempts int, err error) {
	gen, err := e.Generators(req.Provider)
	if err != nil {
		return res, "", false, 0, err
	}
	api := e.Plan.Study.Models[req.Model].CallsAPI()
	if api {
		key = llm.CacheKey(req)
		if e.Refresh {
			key = "" // set below from the new answer
		} else if res, cached, err = e.Store.Get(ctx, key); err != nil || cached {
			return res, key, cached, 0, err
		}
	}
	res, attempts, err = e.generateWithRetries(ctx, sc, gen, g, req)
	if err != nil {
		return res, "", false, attempts, err
	}
	if !api {
		// Code read from disk is keyed by its content, not cached by
		// request: the files may change between runs.
		key = llm.CodeHash(res.Files)
	} else if e.Refresh {
		key = recordedKey(llm.CacheKey(req), res)
	}
	return res, key, false, attempts, e.Store.Put(ctx, key, res)
}

// ---- functions on disk ----

// functionDir returns the directory holding generation g's code and its
// task's inputs, making it from the artifact store on first use.
func (e *Engine) functionDir(ctx context.Context, g plan.Generation, rec GenerationRecord) (string, error) {
	dir := filepath.Join(e.Dir, "functions", g.ID)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	res, ok, err := e.Store.Get(ctx, rec.Key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("generation %s: artifact %s is missing from %s", g.ID, rec.Key, e.Store.Dir)
	}
	return dir, e.writeFunction(dir, res.Files, e.Plan.Function(g))
}

// referenceDir returns the directory of task's reference implementation.
func (e *Engine) referenceDir(task string) (string, error) {
	t := e.Plan.Study.Tasks[task]
	dir := filepath.Join(e.Dir, "functions", "reference-"+task)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	code, err := os.ReadFile(e.Plan.Study.Path(t.Reference))
	if err != nil {
		return "", fmt.Errorf("tasks.%s.reference: %w", task, err)
	}
	file, err := llm.HandlerFile(t.Handler)
	if err != nil {
		return "", fmt.Errorf("tasks.%s.handler: %w", task, err)
	}
	return dir, e.writeFunction(dir, map[string][]byte{file: code}, t)
}

// writeFunction lays files and the task's inputs out in dir, atomically:
// a half-written function directory is never seen.
func (e *Engine) writeFunction(dir string, files map[string][]byte, t schema.Task) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-function-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	put := func(name string, b []byte) error {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
	for name, b := range files {
		if err := put(name, b); err != nil {
			return err
		}
	}
	for _, in := range t.Inputs {
		b, err := os.ReadFile(e.Plan.Study.Path(in))
		if err != nil {
			return fmt.Errorf("input %s: %w", in, err)
		}
		if err := put(in, b); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // another worker made it first
		}
		return err
	}
	return nil
}

// ---- check ----

func (e *Engine) check(ctx context.Context) (int, error) {
	gens := e.Plan.Generations
	bar := e.Progress.Stage(StageCheck, len(gens))
	defer bar.Done()
	defer e.Checker.Close(context.WithoutCancel(ctx))
	// Checks fan out on a platform that runs functions apart (AWS
	// Lambda); the static metrics stay in the local sandbox, at most
	// CheckParallel at once.
	workers := max(e.CheckParallel, 1)
	if par, ok := e.Checker.Platform.(platform.Parallel); ok {
		workers = max(workers, par.MaxParallel())
	}
	metricsSlots := make(chan struct{}, max(e.CheckParallel, 1))
	return forEach(ctx, len(gens), workers, func(ctx context.Context, i int) (bool, error) {
		g := gens[i]
		var gen GenerationRecord
		var generated, done bool
		e.journal.View(func(s *State) {
			gen, generated = s.Generations[g.ID]
			_, done = s.Checks[g.ID]
		})
		if done {
			bar.Resume(1)
			return false, nil
		}
		if !generated { // its generation failed: counted there
			bar.Skip(1)
			return false, nil
		}
		t := e.Plan.Function(g)
		if gen.FinishReason == llm.FinishLength {
			// A cut answer is never checked, so never measured: its code
			// (if any) is not what the model would have written.
			if err := e.journal.Append(Record{Check: truncatedCheck(g, gen, e.Plan.StageTests(g), testRules(e.Plan, g))}); err != nil {
				return false, err
			}
			e.Log.Info("checked", "generation", g.ID, "model", g.Model, "task", g.Task, "variant", g.Variant,
				"class", check.ClassTruncated)
			bar.Add()
			return false, nil
		}
		candDir, err := e.functionDir(ctx, g, gen)
		if err != nil {
			return true, e.fail(bar, 1, StageCheck, g.ID, 0, err)
		}
		cand := e.checkFunction(candDir, t)
		start := time.Now()
		var (
			rep          check.Report
			names, rules []string
			attempts     int
		)
		if g.Stage != "" {
			rep, names, rules, err = e.checkStage(ctx, g, candDir)
		} else {
			var refDir string
			var tests []check.Test
			if refDir, err = e.referenceDir(g.Task); err != nil {
				return true, e.fail(bar, 1, StageCheck, g.ID, 0, err)
			}
			if tests, err = checkTests(g.Task, t); err != nil {
				return true, e.fail(bar, 1, StageCheck, g.ID, 0, err)
			}
			for _, tt := range tests {
				names, rules = append(names, tt.Name), append(rules, tt.Compare.Rule)
			}
			ref := e.checkFunction(refDir, t)
			attempts, err = e.retry(ctx, isInfrastructure, func() error {
				rep, err = e.Checker.Check(ctx, cand, ref, tests)
				return err
			})
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, e.fail(bar, 1, StageCheck, g.ID, attempts, err)
		}
		if rep.Class == check.ClassNoCode {
			rep.Detail = e.noCodeDetail(ctx, g, gen.Key, rep.Detail)
		}
		select {
		case metricsSlots <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		m := e.Checker.StaticMetrics(ctx, cand)
		<-metricsSlots
		if ctx.Err() != nil { // metrics cut short by Ctrl-C must be made again
			return false, ctx.Err()
		}
		rec := &CheckRecord{ID: g.ID, Class: string(rep.Class), Detail: rep.Detail,
			Cyclomatic: m.Cyclomatic, Halstead: m.Halstead, Maintain: m.Maintainability, PylintScore: m.PylintScore,
			MetricsNote: m.Note}
		now := time.Now().UTC()
		if len(rep.Tests) == 0 { // NOCODE and SE run no test; their rows still say why
			for _, name := range names {
				rep.Tests = append(rep.Tests, check.TestResult{Name: name, Class: rep.Class, Detail: "not run: " + rep.Detail})
			}
		}
		for i, tr := range rep.Tests {
			ms := float64(tr.Duration) / float64(time.Millisecond)
			rec.Tests = append(rec.Tests, rows.Check{GenerationID: g.ID, Model: g.Model, Task: checkTask(g), Variant: g.Variant,
				Sample: int32(g.Sample), Test: tr.Name, Class: string(tr.Class), Compare: rules[i],
				DiffPath: tr.Path, Detail: tr.Detail, CheckedAt: now})
			if tr.Duration > 0 {
				rec.Tests[i].DurationMS = &ms
			}
		}
		if err := e.journal.Append(Record{Check: rec}); err != nil {
			return false, err
		}
		e.Log.Info("checked", "generation", g.ID, "model", g.Model, "task", g.Task, "variant", g.Variant,
			"class", rep.Class, "detail", rep.Detail, "seconds", time.Since(start).Seconds())
		bar.Add()
		return false, nil
	})
}

// truncatedCheck is the check record of generation g, whose answer was
// cut at the token limit: class TRUNCATED, no metrics, and one row per
// test saying it did not run.
func truncatedCheck(g plan.Generation, gen GenerationRecord, tests, rules []string) *CheckRecord {
	detail := fmt.Sprintf("truncated: the answer reached the token limit (%d output tokens); its code was not checked", gen.OutputTokens)
	rec := &CheckRecord{ID: g.ID, Class: string(check.ClassTruncated), Detail: detail,
		MetricsNote: "truncated: the answer was cut, so its code is not measured"}
	now := time.Now().UTC()
	for i, name := range tests {
		rec.Tests = append(rec.Tests, rows.Check{GenerationID: g.ID, Model: g.Model, Task: checkTask(g), Variant: g.Variant,
			Sample: int32(g.Sample), Test: name, Class: string(check.ClassTruncated), Compare: rules[i],
			Detail: "not run: " + detail, CheckedAt: now})
	}
	return rec
}

// noCodeDetail says why generation g has no code: the start of the
// model's answer, as the artifact store keeps it, so that a reader of the
// tables tells a refusal from an explanation without opening the store.
// Code read from disk has no answer: detail, the check's, stays.
func (e *Engine) noCodeDetail(ctx context.Context, g plan.Generation, key, detail string) string {
	if !e.Plan.Study.Models[g.Model].CallsAPI() {
		return detail
	}
	res, ok, err := e.Store.Get(ctx, key)
	if err != nil || !ok {
		return detail
	}
	answer := strings.Join(strings.Fields(res.Raw), " ")
	if answer == "" {
		return "no code: the model's answer was empty"
	}
	const limit = 200
	if r := []rune(answer); len(r) > limit {
		answer = string(r[:limit]) + "…"
	}
	return fmt.Sprintf("no code in the model's answer: %q", answer)
}

// checkTask is the task column of generation g's rows: its task, or
// "<pipeline>/<stage>" for a stage of a pipeline.
func checkTask(g plan.Generation) string {
	if g.Stage == "" {
		return g.Task
	}
	return g.Task + "/" + g.Stage
}

// testRules is the compare rule of each of generation g's tests.
func testRules(p *plan.Plan, g plan.Generation) []string {
	t := p.Study.Tasks[g.Task]
	var rules []string
	if g.Stage == "" {
		for _, tt := range t.Tests {
			rules = append(rules, tt.Compare)
		}
		return rules
	}
	for range p.StageTests(g) {
		rules = append(rules, t.Stages[g.StageIndex].Compare.Rule)
	}
	return rules
}

func isInfrastructure(err error) bool { return errors.Is(err, platform.ErrInfrastructure) }

// checkFunction is the function a check deploys: on the checks' platform,
// at the check memory size, with the task's timeout and /tmp, tagged with
// the study and run so that a platform that keeps deployments (AWS
// Lambda) finds its leftovers.
func (e *Engine) checkFunction(dir string, t schema.Task) platform.Function {
	s := e.Plan.Study
	return platform.Function{CodeDir: dir, Handler: t.Handler, Runtime: t.Runtime, MemoryMB: e.CheckMemoryMB,
		Arch: e.CheckArch, Timeout: time.Duration(t.TimeoutS) * time.Second, Packages: t.Packages,
		EphemeralMB: schema.EphemeralMB(t, s.Platforms[s.Checks.Platform]),
		Tags:        map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID}}
}

// checkTests converts task's tests to the checker's.
func checkTests(task string, t schema.Task) ([]check.Test, error) {
	out := make([]check.Test, len(t.Tests))
	for i, tt := range t.Tests {
		ev, err := json.Marshal(tt.Event)
		if err != nil {
			return nil, fmt.Errorf("tasks.%s.tests[%d].event: %w", task, i, err)
		}
		c := check.Compare{Rule: tt.Compare, FoldCase: tt.FoldCase, Field: tt.Field, Metric: tt.Metric}
		if tt.Tolerance != nil {
			c.Tolerance = *tt.Tolerance
		}
		if tt.RelTolerance != nil {
			c.RelTolerance = *tt.RelTolerance
		}
		if tt.Threshold != nil {
			c.Threshold = *tt.Threshold
		}
		out[i] = check.Test{Name: tt.Name, Event: ev, Compare: c}
	}
	return out, nil
}

// ---- measure ----

// measure measures every cell. Each platform's cells run on workers of
// their own, the platforms at once: MeasureParallel workers on a platform
// whose cells disturb each other's timings (the local sandbox), and
// MaxParallel on one that isolates them (platform.Parallel: AWS Lambda).
func (e *Engine) measure(ctx context.Context) (int, error) {
	cells := e.Plan.Cells
	bar := e.Progress.Stage(StageMeasure, e.Plan.Invocations())
	defer bar.Done()
	// Units are the cells, then the pipeline cells, grouped by platform:
	// each platform measures on workers of its own.
	pipelines := e.Plan.Pipelines
	var names []string
	byPlatform := map[string][]int{}
	for i := range len(cells) + len(pipelines) {
		name := ""
		if i < len(cells) {
			name = cells[i].Platform
		} else {
			name = pipelines[i-len(cells)].Platform
		}
		if byPlatform[name] == nil {
			names = append(names, name)
		}
		byPlatform[name] = append(byPlatform[name], i)
	}
	var (
		mu       sync.Mutex
		failures int
		first    error
		wg       sync.WaitGroup
	)
	for _, name := range names {
		idx := byPlatform[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := forEach(ctx, len(idx), e.measureWorkers(name), func(ctx context.Context, i int) (bool, error) {
				if u := idx[i]; u >= len(cells) {
					return e.measurePipeline(ctx, pipelines[u-len(cells)], bar)
				}
				return e.measureCell(ctx, cells[idx[i]], bar)
			})
			mu.Lock()
			defer mu.Unlock()
			failures += n
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return failures, first
}

// measureWorkers is how many cells of the study's platform name are
// measured at once: its MaxParallel when it implements platform.Parallel,
// else MeasureParallel. A platform that cannot be opened gets one worker:
// each of its cells fails with the reason.
func (e *Engine) measureWorkers(name string) int {
	n := max(e.MeasureParallel, 1)
	if pl, err := e.Platforms(name); err == nil {
		if par, ok := pl.(platform.Parallel); ok {
			n = max(par.MaxParallel(), 1)
		}
	}
	return n
}

// measureCell makes the cell's remaining invocations, one at a time on one
// deployment, journaling each as it finishes. Under matrix.cpu_filter the
// cell goes on past its planned calls until enough ran on the wanted CPU
// (see cellComplete); every call is journaled.
func (e *Engine) measureCell(ctx context.Context, c plan.Cell, bar *Bar) (bool, error) {
	g := e.Plan.Generations[c.Generation]
	s := e.Plan.Study
	var (
		gen     GenerationRecord
		chk     CheckRecord
		checked bool
		done    int
		matched int
		ended   bool
	)
	e.journal.View(func(st *State) {
		gen = st.Generations[g.ID]
		chk, checked = st.Checks[g.ID]
		done = st.Made[c.ID]
		matched = st.Matched[c.ID]
		_, ended = st.Ended(c.ID)
	})
	total := c.Invocations()
	filter := s.Matrix.CPUFilter
	// progress is how many of the cell's planned calls the made ones
	// stand for: under a filter, warm-ups and matching calls only.
	progress := func(made, matched int) int {
		if filter == "" {
			return min(made, total)
		}
		return min(made, c.Warmup) + min(matched, c.Repetitions)
	}
	switch {
	case cellComplete(s, c, done, matched) || ended:
		p := progress(done, matched)
		bar.Resume(p)
		bar.Skip(total - p)
		return false, nil
	case !checked || chk.Class != string(check.ClassOK):
		// Only correct code is measured, as in the studies faaslab
		// reproduces; a failed check was counted in its stage.
		bar.Skip(total)
		return false, nil
	}
	bar.Resume(progress(done, matched))
	left := func(made, matched int) int { return total - progress(made, matched) }
	t := s.Tasks[c.Task]
	pl, err := e.Platforms(c.Platform)
	if err != nil {
		return true, e.fail(bar, left(done, matched), StageMeasure, c.ID, 0, err)
	}
	dir, err := e.functionDir(ctx, g, gen)
	if err != nil {
		return true, e.fail(bar, left(done, matched), StageMeasure, c.ID, 0, err)
	}
	event, err := json.Marshal(t.Benchmark.Event)
	if err != nil {
		return true, e.fail(bar, left(done, matched), StageMeasure, c.ID, 0, fmt.Errorf("tasks.%s.benchmark.event: %w", c.Task, err))
	}
	fn := platform.Function{Name: c.ID, CodeDir: dir, Handler: t.Handler, Runtime: t.Runtime, MemoryMB: c.MemoryMB,
		Arch: c.Arch, Timeout: time.Duration(t.TimeoutS) * time.Second, Packages: t.Packages, Cold: s.ModeOf(c.Platform) == "cold",
		EphemeralMB: schema.EphemeralMB(t, s.Platforms[c.Platform]),
		Tags:        map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID, platform.TagCell: c.ID}}

	var dep platform.Deployment
	defer func() {
		if dep != nil {
			dep.Close(context.WithoutCancel(ctx))
		}
	}()
	// ready deploys the function when it has no deployment, before the
	// recorded call seq. Past the planned warm-up a new deployment is warmed
	// by one unrecorded call, so that no cold start (a resumed cell, or one
	// redeployed after a platform failure) is recorded as a warm call.
	ready := func(seq int) error {
		if dep != nil {
			return nil
		}
		d, err := pl.Deploy(ctx, fn)
		if err != nil {
			return err
		}
		dep = d
		if !fn.Cold && seq > 0 && seq >= c.Warmup {
			if _, err := dep.Invoke(ctx, event); err != nil {
				dep.Close(context.WithoutCancel(ctx))
				dep = nil
				return err
			}
		}
		return nil
	}
	seq := done
	for ; !cellComplete(s, c, seq, matched); seq++ {
		var inv platform.Invocation
		attempts, err := e.retry(ctx, isInfrastructure, func() error {
			if err := ready(seq); err != nil {
				return err
			}
			var err error
			inv, err = dep.Invoke(ctx, event)
			if isInfrastructure(err) {
				dep.Close(context.WithoutCancel(ctx))
				dep = nil // the next attempt starts a new one
			}
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, e.fail(bar, left(seq, matched), StageMeasure, c.ID, attempts, err)
		}
		warmup := seq < c.Warmup
		row := invocationRow(c, g, seq, warmup, inv, filter)
		if err := e.journal.Append(Record{Invocation: &row}); err != nil {
			return false, err
		}
		switch {
		case matches(warmup, row.CPUMatch, row.Status):
			matched++
			bar.Add()
		case warmup || filter == "":
			bar.Add()
		}
		if inv.Status != platform.StatusOK {
			// The code passed its checks but fails on the benchmark input:
			// further calls would fail alike (and may each run to timeout).
			// The failed call, journaled last, ends the cell (State.Ended).
			e.Log.Warn("cell ended early", "cell", c.ID, "seq", seq, "status", inv.Status, "error", inv.ErrorMessage)
			bar.Skip(left(seq+1, matched))
			return false, nil
		}
	}
	if n := left(seq, matched); n > 0 { // the CPU filter's cap ended the cell
		e.Log.Warn("cell reached cpu_filter_cap", "cell", c.ID, "cpu_filter", filter, "matching", matched,
			"repetitions", c.Repetitions, "calls", seq-c.Warmup)
		bar.Skip(n)
	}
	e.Log.Info("measured", "cell", c.ID, "model", c.Model, "task", c.Task, "variant", c.Variant,
		"platform", c.Platform, "arch", c.Arch, "memory_mb", c.MemoryMB, "invocations", seq-done)
	return false, nil
}

// cellComplete reports whether cell c needs no further call after made
// calls of which matched count toward its repetitions (State.Matched).
// Without matrix.cpu_filter a cell makes its planned calls. With one it
// makes its warm-ups and then calls until repetitions of them ran on the
// wanted CPU, or cpu_filter_cap calls past the warm-ups were made.
func cellComplete(s *schema.Study, c plan.Cell, made, matched int) bool {
	if s.Matrix.CPUFilter == "" {
		return made >= c.Invocations()
	}
	return made >= c.Warmup && (matched >= c.Repetitions || made-c.Warmup >= CPUFilterCap(s, c))
}

// CPUFilterCap is how many calls past its warm-ups cell c makes at most
// under matrix.cpu_filter: matrix.cpu_filter_cap, else 5 × repetitions.
func CPUFilterCap(s *schema.Study, c plan.Cell) int {
	if s.Matrix.CPUFilterCap > 0 {
		return s.Matrix.CPUFilterCap
	}
	return 5 * c.Repetitions
}

// invocationRow is the table row of one measured invocation.
// cpuFilter is matrix.cpu_filter: the row's CPUMatch says whether the
// call ran on a CPU whose model contains it (always, when it is empty).
func invocationRow(c plan.Cell, g plan.Generation, seq int, warmup bool, inv platform.Invocation, cpuFilter string) rows.Invocation {
	r := rows.Invocation{
		CellID: c.ID, GenerationID: g.ID, Model: c.Model, Task: c.Task, Variant: c.Variant, Sample: int32(c.Sample),
		Platform: c.Platform, Arch: c.Arch, MemoryMB: int32(c.MemoryMB), Seq: int32(seq), Warmup: warmup, Cold: inv.Cold,
		Status: string(inv.Status), StartedAt: inv.Start.UTC(), DurationMS: ms(inv.Duration), RoundTripMS: ms(inv.RoundTrip),
		MaxRSSKB: inv.MaxRSSKB, MinorFaults: inv.MinorFaults, MajorFaults: inv.MajorFaults,
		CPUUserS: inv.EnvCPUUser, CPUSystemS: inv.EnvCPUSystem,
		CPUThrottledMS: ms(inv.CPUThrottled), CPUThrottledPeriods: inv.CPUThrottledPeriods, CPUQuotaVCPUs: inv.CPUQuotaVCPUs,
		HostCPUUserS: inv.CPUUser, HostCPUSystemS: inv.CPUSystem, HostCPUIdleS: inv.CPUIdle, HostCPUIOWaitS: inv.CPUIOWait, HostCPUStealS: inv.CPUSteal,
		ContainerID: inv.ContainerID, CPUModel: inv.CPUModel, CPUArch: inv.CPUArch,
		CPUMatch: strings.Contains(inv.CPUModel, cpuFilter),
	}
	b := billingOf(inv)
	r.InitMS, r.BilledMS, r.BilledEstMS, r.MaxMemoryUsedMB = b.InitMS, b.BilledMS, b.BilledEstMS, b.MaxMemoryUsedMB
	if inv.RestoreDuration > 0 {
		v := ms(inv.RestoreDuration)
		r.RestoreMS = &v
	}
	r.RequestID = inv.RequestID
	if inv.Duration > 0 {
		v := (inv.EnvCPUUser + inv.EnvCPUSystem) / inv.Duration.Seconds()
		r.CPUShare = &v
	}
	if inv.Status != platform.StatusOK {
		r.Error = inv.ErrorType + ": " + inv.ErrorMessage
	}
	return r
}
