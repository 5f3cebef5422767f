package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	t := s.Tasks[g.Task]
	pr := e.Plan.Prompts[g.PromptSHA256]
	req := llm.Request{
		Model: g.Model, Provider: m.Provider, ModelName: m.Model, BaseURL: m.BaseURL, APIKeyEnv: m.APIKeyEnv,
		Params: llm.Params{Temperature: m.Params.Temperature, TopP: m.Params.TopP, MaxTokens: m.Params.MaxTokens,
			Seed: m.Params.Seed, Stop: m.Params.Stop,
			MaxCompletionTokens: m.Params.MaxCompletionTokens, ReasoningEffort: m.Params.ReasoningEffort},
		Stream: m.Streams(), Reasoning: m.Reasoning,
		System: pr.System, Prompt: pr.User, Task: g.Task, Variant: g.Variant, Sample: g.Sample,
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
	return dir, e.writeFunction(dir, res.Files, e.Plan.Study.Tasks[g.Task])
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
	return forEach(ctx, len(gens), e.CheckParallel, func(ctx context.Context, i int) (bool, error) {
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
		t := e.Plan.Study.Tasks[g.Task]
		if gen.FinishReason == llm.FinishLength {
			// A cut answer is never checked, so never measured: its code
			// (if any) is not what the model would have written.
			if err := e.journal.Append(Record{Check: truncatedCheck(g, gen, t)}); err != nil {
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
		refDir, err := e.referenceDir(g.Task)
		if err != nil {
			return true, e.fail(bar, 1, StageCheck, g.ID, 0, err)
		}
		tests, err := checkTests(g.Task, t)
		if err != nil {
			return true, e.fail(bar, 1, StageCheck, g.ID, 0, err)
		}
		cand := e.checkFunction(candDir, t)
		ref := e.checkFunction(refDir, t)
		start := time.Now()
		var rep check.Report
		attempts, err := e.retry(ctx, isInfrastructure, func() error {
			rep, err = e.Checker.Check(ctx, cand, ref, tests)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, e.fail(bar, 1, StageCheck, g.ID, attempts, err)
		}
		if rep.Class == check.ClassNoCode {
			rep.Detail = e.noCodeDetail(ctx, g, gen.Key, rep.Detail)
		}
		m := e.Checker.StaticMetrics(ctx, cand)
		if ctx.Err() != nil { // metrics cut short by Ctrl-C must be made again
			return false, ctx.Err()
		}
		rec := &CheckRecord{ID: g.ID, Class: string(rep.Class), Detail: rep.Detail,
			Cyclomatic: m.Cyclomatic, Halstead: m.Halstead, Maintain: m.Maintainability, PylintScore: m.PylintScore,
			MetricsNote: m.Note}
		now := time.Now().UTC()
		if len(rep.Tests) == 0 { // NOCODE and SE run no test; their rows still say why
			for _, tt := range tests {
				rep.Tests = append(rep.Tests, check.TestResult{Name: tt.Name, Class: rep.Class, Detail: "not run: " + rep.Detail})
			}
		}
		for i, tr := range rep.Tests {
			ms := float64(tr.Duration) / float64(time.Millisecond)
			rec.Tests = append(rec.Tests, rows.Check{GenerationID: g.ID, Model: g.Model, Task: g.Task, Variant: g.Variant,
				Sample: int32(g.Sample), Test: tr.Name, Class: string(tr.Class), Compare: tests[i].Compare.Rule,
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
func truncatedCheck(g plan.Generation, gen GenerationRecord, t schema.Task) *CheckRecord {
	detail := fmt.Sprintf("truncated: the answer reached the token limit (%d output tokens); its code was not checked", gen.OutputTokens)
	rec := &CheckRecord{ID: g.ID, Class: string(check.ClassTruncated), Detail: detail,
		MetricsNote: "truncated: the answer was cut, so its code is not measured"}
	now := time.Now().UTC()
	for _, tt := range t.Tests {
		rec.Tests = append(rec.Tests, rows.Check{GenerationID: g.ID, Model: g.Model, Task: g.Task, Variant: g.Variant,
			Sample: int32(g.Sample), Test: tt.Name, Class: string(check.ClassTruncated), Compare: tt.Compare,
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

func isInfrastructure(err error) bool { return errors.Is(err, platform.ErrInfrastructure) }

// checkFunction is the function a check deploys: on the local platform, at
// the check memory size, with the task's timeout and /tmp.
func (e *Engine) checkFunction(dir string, t schema.Task) platform.Function {
	return platform.Function{CodeDir: dir, Handler: t.Handler, Runtime: t.Runtime, MemoryMB: e.CheckMemoryMB,
		Arch: e.CheckArch, Timeout: time.Duration(t.TimeoutS) * time.Second, Packages: t.Packages,
		EphemeralMB: schema.EphemeralMB(t, schema.Platform{})}
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

func (e *Engine) measure(ctx context.Context) (int, error) {
	cells := e.Plan.Cells
	bar := e.Progress.Stage(StageMeasure, e.Plan.Invocations())
	defer bar.Done()
	return forEach(ctx, len(cells), e.MeasureParallel, func(ctx context.Context, i int) (bool, error) {
		return e.measureCell(ctx, cells[i], bar)
	})
}

// measureCell makes the cell's remaining invocations, one at a time on one
// deployment, journaling each as it finishes.
func (e *Engine) measureCell(ctx context.Context, c plan.Cell, bar *Bar) (bool, error) {
	g := e.Plan.Generations[c.Generation]
	var (
		gen     GenerationRecord
		chk     CheckRecord
		checked bool
		done    int
		ended   bool
	)
	e.journal.View(func(s *State) {
		gen = s.Generations[g.ID]
		chk, checked = s.Checks[g.ID]
		done = s.Made[c.ID]
		_, ended = s.Ended(c.ID)
	})
	total := c.Invocations()
	switch {
	case done >= total || ended:
		bar.Resume(total)
		return false, nil
	case !checked || chk.Class != string(check.ClassOK):
		// Only correct code is measured, as in the studies faaslab
		// reproduces; a failed check was counted in its stage.
		bar.Skip(total)
		return false, nil
	}
	bar.Resume(done)
	s := e.Plan.Study
	t := s.Tasks[c.Task]
	pl, err := e.Platforms(c.Platform)
	if err != nil {
		return true, e.fail(bar, total-done, StageMeasure, c.ID, 0, err)
	}
	dir, err := e.functionDir(ctx, g, gen)
	if err != nil {
		return true, e.fail(bar, total-done, StageMeasure, c.ID, 0, err)
	}
	event, err := json.Marshal(t.Benchmark.Event)
	if err != nil {
		return true, e.fail(bar, total-done, StageMeasure, c.ID, 0, fmt.Errorf("tasks.%s.benchmark.event: %w", c.Task, err))
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
	for seq := done; seq < total; seq++ {
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
			return true, e.fail(bar, total-seq, StageMeasure, c.ID, attempts, err)
		}
		row := invocationRow(c, g, seq, seq < c.Warmup, inv)
		if err := e.journal.Append(Record{Invocation: &row}); err != nil {
			return false, err
		}
		bar.Add()
		if inv.Status != platform.StatusOK {
			// The code passed its checks but fails on the benchmark input:
			// further calls would fail alike (and may each run to timeout).
			// The failed call, journaled last, ends the cell (State.Ended).
			e.Log.Warn("cell ended early", "cell", c.ID, "seq", seq, "status", inv.Status, "error", inv.ErrorMessage)
			bar.Skip(total - seq - 1)
			return false, nil
		}
	}
	e.Log.Info("measured", "cell", c.ID, "model", c.Model, "task", c.Task, "variant", c.Variant,
		"platform", c.Platform, "arch", c.Arch, "memory_mb", c.MemoryMB, "invocations", total-done)
	return false, nil
}

// invocationRow is the table row of one measured invocation.
func invocationRow(c plan.Cell, g plan.Generation, seq int, warmup bool, inv platform.Invocation) rows.Invocation {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := rows.Invocation{
		CellID: c.ID, GenerationID: g.ID, Model: c.Model, Task: c.Task, Variant: c.Variant, Sample: int32(c.Sample),
		Platform: c.Platform, Arch: c.Arch, MemoryMB: int32(c.MemoryMB), Seq: int32(seq), Warmup: warmup, Cold: inv.Cold,
		Status: string(inv.Status), StartedAt: inv.Start.UTC(), DurationMS: ms(inv.Duration), RoundTripMS: ms(inv.RoundTrip),
		MaxRSSKB: inv.MaxRSSKB, MinorFaults: inv.MinorFaults, MajorFaults: inv.MajorFaults,
		CPUUserS: inv.EnvCPUUser, CPUSystemS: inv.EnvCPUSystem,
		CPUThrottledMS: ms(inv.CPUThrottled), CPUThrottledPeriods: inv.CPUThrottledPeriods, CPUQuotaVCPUs: inv.CPUQuotaVCPUs,
		HostCPUUserS: inv.CPUUser, HostCPUSystemS: inv.CPUSystem, HostCPUIdleS: inv.CPUIdle, HostCPUIOWaitS: inv.CPUIOWait, HostCPUStealS: inv.CPUSteal,
		ContainerID: inv.ContainerID, CPUModel: inv.CPUModel, CPUArch: inv.CPUArch,
	}
	if inv.Cold && inv.InitDuration > 0 {
		v := ms(inv.InitDuration)
		r.InitMS = &v
	}
	if inv.BilledDuration > 0 {
		v := ms(inv.BilledDuration)
		if inv.BilledEstimated {
			r.BilledEstMS = &v
		} else {
			r.BilledMS = &v
		}
	}
	if inv.MaxMemoryUsedMB > 0 {
		v := int32(inv.MaxMemoryUsedMB)
		r.MaxMemoryUsedMB = &v
	}
	if inv.Duration > 0 {
		v := (inv.EnvCPUUser + inv.EnvCPUSystem) / inv.Duration.Seconds()
		r.CPUShare = &v
	}
	if inv.Status != platform.StatusOK {
		r.Error = inv.ErrorType + ": " + inv.ErrorMessage
	}
	return r
}
