package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/chain"
	"github.com/faaslab/faaslab/schema"
)

// Pipelines run as chains (platform.Chain): a pipeline cell's stages
// deployed together on a platform that implements platform.Chainer. Stage
// i reads the keys under InputPrefix(t, i) and writes under
// InputPrefix(t, i+1), the next stage's input; the platform wires the
// storage events between them (on the local platform faaslab delivers
// them from an object store of the chain's own, see
// runner/platform/chain; on AWS Lambda S3 bucket notifications do). The
// references and the per-stage checks run as one-stage chains on the
// checks' platform, so they work wherever pipelines do.
//
// Infrastructure failures are retried here, a run at a time: a run that
// hit one is run again whole (the chain deploys a crashed stage anew), and
// only finished runs are journaled.

// InputPrefix is the key prefix of stage i's input objects: "0-input/"
// for the first stage, "<i>-<name of stage i-1>/" after. Stage i writes
// under InputPrefix(t, i+1).
func InputPrefix(t schema.Task, i int) string {
	if i == 0 {
		return "0-input/"
	}
	return fmt.Sprintf("%d-%s/", i, t.Stages[i-1].Name)
}

// checkPrefixes are the key prefixes of a one-stage chain that runs a
// reference or checks a candidate stage.
var checkPrefixes = []string{"in/", "out/"}

// object is one object of a pipeline run: its file name and contents.
type object struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// stageFunction is the stage function of code in dir: the stage's
// handler, runtime, packages and timeout, at memoryMB. The platform that
// deploys it in a chain sets its storage and output location.
func (e *Engine) stageFunction(dir string, t schema.Task, stage int, arch string, memoryMB int) platform.Function {
	st := t.StageTask(stage)
	return platform.Function{CodeDir: dir, Handler: st.Handler, Runtime: st.Runtime, MemoryMB: memoryMB, Arch: arch,
		Timeout: time.Duration(st.TimeoutS) * time.Second, Packages: st.Packages, EphemeralMB: schema.EphemeralMB(st, schema.Platform{})}
}

// chainer is pl as a platform that deploys chains.
func chainer(pl platform.Platform) (platform.Chainer, error) {
	c, ok := pl.(platform.Chainer)
	if !ok {
		return nil, fmt.Errorf("platform %s cannot run pipelines: it does not deploy chained functions (platform.Chainer)", pl.Name())
	}
	return c, nil
}

// runTimeout bounds a run of chain c: every stage's own timeout, and for
// each a cold start that may be made twice (Lambda's init limit) on a busy
// host and the wait for its output object. It is a guard against events
// that never arrive, not a measurement.
func runTimeout(c platform.Chain) time.Duration {
	d := time.Duration(0)
	for _, fn := range c.Stages {
		d += fn.Timeout + 5*time.Minute
	}
	return d
}

// runStage runs fn (a stage function of dir) once on the object in, as a
// one-stage chain on pl, and returns the object it wrote. A stage that
// fails or writes nothing is an error: runStage runs references, whose
// failure is the study's problem, not a class of the code.
func (e *Engine) runStage(ctx context.Context, pl platform.Platform, dir string, t schema.Task, stage int, in object) (object, error) {
	cr, err := chainer(pl)
	if err != nil {
		return object{}, err
	}
	fn := e.stageFunction(dir, t, stage, e.CheckArch, e.CheckMemoryMB)
	fn.Name = "ref-" + t.Stages[stage].Name
	s := e.Plan.Study
	c := platform.Chain{Name: fn.Name, Stages: []platform.Function{fn}, Prefixes: checkPrefixes,
		Tags: map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID}}
	var run platform.ChainRun
	var out object
	_, err = e.retry(ctx, isInfrastructure, func() error {
		out = object{}
		dep, err := cr.DeployChain(ctx, c)
		if err != nil {
			return err
		}
		defer dep.Close(context.WithoutCancel(ctx))
		if run, err = dep.Run(ctx, in.Name, in.Data, runTimeout(c)); err != nil {
			return err
		}
		if len(run.Stages) == 0 {
			// The run's timeout passed before the stage was invoked.
			return fmt.Errorf("%s on %s: not invoked within %s: %w", fn.Name, in.Name, runTimeout(c), platform.ErrInfrastructure)
		}
		st := run.Stages[0]
		if inv := st.Invocation; inv.InitTimedOut {
			// Trusted code that cannot start in time: a busy host.
			return fmt.Errorf("%s: init timed out: %w", fn.Name, platform.ErrInfrastructure)
		}
		if st.Output == nil {
			return nil
		}
		data, err := dep.Get(ctx, st.Output.Key)
		out = object{Name: path.Base(st.Output.Key), Data: data}
		return err
	})
	if err != nil {
		return object{}, err
	}
	inv := run.Stages[0].Invocation
	if inv.Status != platform.StatusOK {
		return object{}, fmt.Errorf("%s on %s: %s: %s %s", t.Stages[stage].Name, in.Name, inv.Status, inv.ErrorType, inv.ErrorMessage)
	}
	if out.Name == "" {
		return object{}, fmt.Errorf("%s on %s wrote no object under $%s named %s.*", t.Stages[stage].Name, in.Name, platform.EnvOutputPrefix, chain.Stem(in.Name))
	}
	return out, nil
}

// referenceObjects returns the reference pipeline's objects for task's
// input: [0] is the input, [i+1] what stage i's reference wrote. They are
// made once per run directory and kept in it.
func (e *Engine) referenceObjects(ctx context.Context, task string) ([]object, error) {
	e.refMu.Lock()
	defer e.refMu.Unlock()
	if objs, ok := e.refObjects[task]; ok {
		return objs, nil
	}
	if e.refObjects == nil {
		e.refObjects = map[string][]object{}
	}
	cache := filepath.Join(e.Dir, "functions", "reference-"+task, "objects.json")
	var objs []object
	if b, err := os.ReadFile(cache); err == nil && json.Unmarshal(b, &objs) == nil {
		e.refObjects[task] = objs
		return objs, nil
	}
	s := e.Plan.Study
	t := s.Tasks[task]
	data, err := os.ReadFile(s.Path(t.Input))
	if err != nil {
		return nil, fmt.Errorf("tasks.%s.input: %w", task, err)
	}
	objs = []object{{Name: "input" + path.Ext(t.Input), Data: data}}
	for i := range t.Stages {
		out, err := e.referenceStage(ctx, task, i, objs[i])
		if err != nil {
			return nil, err
		}
		objs = append(objs, out)
	}
	b, err := json.Marshal(objs)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cache, b, 0o644); err != nil {
		return nil, err
	}
	e.refObjects[task] = objs
	return objs, nil
}

// referenceStage runs stage i's reference on in.
func (e *Engine) referenceStage(ctx context.Context, task string, i int, in object) (object, error) {
	t := e.Plan.Study.Tasks[task]
	dir, err := e.stageReferenceDir(task, i)
	if err != nil {
		return object{}, err
	}
	out, err := e.runStage(ctx, e.Checker.Platform, dir, t, i, in)
	if err != nil {
		return object{}, fmt.Errorf("tasks.%s.stages[%d].reference: %w", task, i, err)
	}
	return out, nil
}

// stageReferenceDir is the function directory of stage i's reference.
func (e *Engine) stageReferenceDir(task string, i int) (string, error) {
	t := e.Plan.Study.Tasks[task]
	st := t.StageTask(i)
	dir := filepath.Join(e.Dir, "functions", "reference-"+task, t.Stages[i].Name)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	code, err := os.ReadFile(e.Plan.Study.Path(st.Reference))
	if err != nil {
		return "", fmt.Errorf("tasks.%s.stages[%d].reference: %w", task, i, err)
	}
	file, err := llm.HandlerFile(st.Handler)
	if err != nil {
		return "", fmt.Errorf("tasks.%s.stages[%d].handler: %w", task, i, err)
	}
	return dir, e.writeFunction(dir, map[string][]byte{file: code}, st)
}

// checkStage checks stage generation g's code in candDir: on the object
// the reference pipeline hands the stage (so that a defective stage
// before it does not count against it), and on each of the stage's own
// tests, against the stage's reference on the same input.
func (e *Engine) checkStage(ctx context.Context, g plan.Generation, candDir string) (check.Report, []string, []string, error) {
	s := e.Plan.Study
	t := s.Tasks[g.Task]
	st := t.Stages[g.StageIndex]
	refs, err := e.referenceObjects(ctx, g.Task)
	if err != nil {
		return check.Report{}, nil, nil, err
	}
	type input struct {
		name     string
		in, want object
	}
	inputs := []input{{name: plan.PipelineTest, in: refs[g.StageIndex], want: refs[g.StageIndex+1]}}
	for _, tt := range st.Tests {
		data, err := os.ReadFile(s.Path(tt.Input))
		if err != nil {
			return check.Report{}, nil, nil, fmt.Errorf("tasks.%s.stages[%d].tests: %w", g.Task, g.StageIndex, err)
		}
		in := object{Name: tt.Name + path.Ext(tt.Input), Data: data}
		want, err := e.referenceStage(ctx, g.Task, g.StageIndex, in)
		if err != nil {
			return check.Report{}, nil, nil, err
		}
		inputs = append(inputs, input{name: tt.Name, in: in, want: want})
	}
	cmp := objectCompare(st.Compare)
	var tests []check.ObjectTest
	names, rules := []string{}, []string{}
	for _, in := range inputs {
		tests = append(tests, check.ObjectTest{Name: in.name, Input: in.in.Data, InputName: in.name + path.Ext(in.in.Name),
			Want: in.want.Data, Compare: cmp})
		names, rules = append(names, in.name), append(rules, cmp.Rule)
	}
	cand := e.stageFunction(candDir, t, g.StageIndex, e.CheckArch, e.CheckMemoryMB)
	cand.Tags = map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID}
	var rep check.Report
	attempts, err := e.retry(ctx, isInfrastructure, func() error {
		rep, err = e.Checker.CheckObjects(ctx, cand, tests)
		return err
	})
	if err != nil {
		return check.Report{}, nil, nil, fmt.Errorf("after %d attempts: %w", attempts, err)
	}
	return rep, names, rules, nil
}

// objectCompare is the checker's comparison of a schema.ObjectCompare.
func objectCompare(c schema.ObjectCompare) check.Compare {
	out := check.Compare{Rule: c.Rule, Metric: c.Metric}
	if c.Threshold != nil {
		out.Threshold = *c.Threshold
	}
	return out
}

// ---- measure ----

// pipelineRun carries a pipeline cell's measurement: its chain and what
// every run needs.
type pipelineRun struct {
	e     *Engine
	pc    plan.Pipeline
	task  schema.Task
	chain platform.Chain
	dep   platform.ChainDeployment
	input object
	// stageModels is each stage's generation's model: the cell's model,
	// or a mix's model for the stage.
	stageModels []string
}

// pipelineChain is pipeline cell pc's chain: stage i the code in dirs[i].
func (e *Engine) pipelineChain(pc plan.Pipeline, t schema.Task, dirs []string) platform.Chain {
	s := e.Plan.Study
	c := platform.Chain{Name: pc.ID,
		Tags: map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID, platform.TagCell: pc.ID}}
	for i, dir := range dirs {
		fn := e.stageFunction(dir, t, i, pc.Arch, pc.StageMemoryMB[i])
		fn.Name = fmt.Sprintf("%s-%d", pc.ID, i)
		fn.Cold = s.ModeOf(pc.Platform) == "cold"
		fn.Tags = c.Tags
		c.Stages = append(c.Stages, fn)
		c.Prefixes = append(c.Prefixes, InputPrefix(t, i))
	}
	c.Prefixes = append(c.Prefixes, InputPrefix(t, len(dirs)))
	return c
}

// deploy deploys r's chain on pl, retrying infrastructure failures.
func (r *pipelineRun) deploy(ctx context.Context, pl platform.Platform) (int, error) {
	cr, err := chainer(pl)
	if err != nil {
		return 0, err
	}
	return r.e.retry(ctx, isInfrastructure, func() error {
		r.dep, err = cr.DeployChain(ctx, r.chain)
		return err
	})
}

func (r *pipelineRun) close(ctx context.Context) {
	if r.dep != nil {
		r.dep.Close(context.WithoutCancel(ctx))
		r.dep = nil
	}
}

// statusNoOutput is a stage that returned but wrote no output object.
const statusNoOutput = "no_output"

// run makes one pipeline run, seq, retrying it whole after an
// infrastructure failure, and returns its rows and the final object's key
// (empty when the run failed). Only infrastructure failures past their
// retries and a cancelled ctx are errors.
func (r *pipelineRun) run(ctx context.Context, seq int, warmup bool) (PipelineRunRecord, string, int, error) {
	var (
		rec   PipelineRunRecord
		final string
	)
	attempts, err := r.e.retry(ctx, isInfrastructure, func() error {
		var err error
		rec, final, err = r.runOnce(ctx, seq, warmup)
		return err
	})
	return rec, final, attempts, err
}

func (r *pipelineRun) runOnce(ctx context.Context, seq int, warmup bool) (PipelineRunRecord, string, error) {
	e, pc, t := r.e, r.pc, r.task
	s := e.Plan.Study
	instance := fmt.Sprintf("%s-%04d", pc.ID, seq)
	run, err := r.dep.Run(ctx, instance+path.Ext(r.input.Name), r.input.Data, runTimeout(r.chain))
	if err != nil {
		return PipelineRunRecord{}, "", err
	}
	rec := PipelineRunRecord{Pipeline: rows.Pipeline{Study: s.Name, RunID: e.Facts.RunID, CellID: pc.ID, Pipeline: pc.Task,
		Instance: instance, Seq: int32(seq), Warmup: warmup, Model: pc.Model, Variant: pc.Variant, Platform: pc.Platform,
		Arch: pc.Arch, MemoryMB: int32(pc.MemoryMB), StartedAt: run.Uploaded.UTC(), Status: string(platform.StatusOK)}}
	bytesStored := int64(len(r.input.Data))
	last, key := run.Uploaded, ""
	stagesMS, costUSD := 0.0, e.Plan.PriceTable().S3USD(1, 0, 0)
	for i, st := range run.Stages {
		row := stageRow(rec.Pipeline, t.Stages[i].Name, i, pc.StageMemoryMB[i], st.Invocation)
		row.StageModel = r.stageModels[i]
		if row.Status == string(platform.StatusOK) && st.Output == nil {
			row.Status = statusNoOutput
			row.Error = fmt.Sprintf("returned without writing an object named %s.* under $%s (%s)", instance, platform.EnvOutputPrefix, InputPrefix(t, i+1))
			if run.TimedOut {
				row.Status = string(platform.StatusTimeout)
				row.Error = "the run's timeout passed before its output object appeared"
			}
		}
		if row.Status != string(platform.StatusOK) {
			rec.Stages = append(rec.Stages, row)
			rec.Pipeline.Status, rec.Pipeline.FailedStage = row.Status, row.Stage
			return rec, "", nil
		}
		cost := e.stageCost(pc.Arch, row)
		row.CostUSD = &cost
		rec.Stages = append(rec.Stages, row)
		stagesMS += row.DurationMS
		costUSD += cost
		bytesStored += st.Output.Size
		key, last = st.Output.Key, st.Output.Modified
	}
	if n := len(run.Stages); n < len(t.Stages) {
		// The run's timeout passed before stage n was invoked.
		rec.Pipeline.Status, rec.Pipeline.FailedStage = string(platform.StatusTimeout), t.Stages[n].Name
		return rec, "", nil
	}
	if w := t.Workload; w != nil {
		costUSD += e.Plan.PriceTable().S3USD(0, 0, float64(bytesStored)/(1<<30)*w.RetentionH/(30*24))
	}
	endToEnd := float64(last.Sub(run.Uploaded)) / float64(time.Millisecond)
	overhead := endToEnd - stagesMS
	rec.Pipeline.EndToEndMS, rec.Pipeline.StagesMS, rec.Pipeline.OverheadMS = &endToEnd, &stagesMS, &overhead
	rec.Pipeline.CostUSD = &costUSD
	return rec, key, nil
}

// stageCost is a stage invocation's price on AWS by the plan's price
// table: Lambda's billed (else estimated) duration, billed INIT and
// request, and S3's GET of the input and PUT of the output.
func (e *Engine) stageCost(arch string, row rows.Stage) float64 {
	b := billing{InitMS: row.InitMS, BilledMS: row.BilledMS, BilledEstMS: row.BilledEstMS}
	prices := e.Plan.PriceTable()
	return prices.CallUSD(b.call(arch, int(row.MemoryMB), 0, row.DurationMS, row.StartedAt, row.Cold)) + prices.S3USD(1, 1, 0)
}

// stageRow is the table row of stage i's invocation in run p.
func stageRow(p rows.Pipeline, stage string, i, memoryMB int, inv platform.Invocation) rows.Stage {
	r := rows.Stage{Study: p.Study, RunID: p.RunID, CellID: p.CellID, Pipeline: p.Pipeline, Instance: p.Instance,
		Seq: p.Seq, Warmup: p.Warmup, Stage: stage, StageIndex: int32(i), Model: p.Model, StageModel: p.Model, Variant: p.Variant,
		Platform: p.Platform, Arch: p.Arch, MemoryMB: int32(memoryMB), StartedAt: inv.Start.UTC(),
		DurationMS: ms(inv.Duration), Cold: inv.Cold, Status: string(inv.Status)}
	b := billingOf(inv)
	r.InitMS, r.BilledMS, r.BilledEstMS, r.MaxMemoryUsedMB = b.InitMS, b.BilledMS, b.BilledEstMS, b.MaxMemoryUsedMB
	if inv.Status != platform.StatusOK {
		r.Error = inv.ErrorType + ": " + inv.ErrorMessage
	}
	return r
}

// measurePipeline makes the pipeline cell's remaining runs on one chain
// deployment, checking each run's final object against the reference
// pipeline's and journaling each run as it finishes.
func (e *Engine) measurePipeline(ctx context.Context, pc plan.Pipeline, bar *Bar) (bool, error) {
	var (
		done, checkedOK int
		ended           bool
		gens            = make([]GenerationRecord, len(pc.Generations))
	)
	e.journal.View(func(s *State) {
		done = len(s.PipelineRuns[pc.ID])
		_, ended = s.PipelineEnded(pc.ID)
		for i, gi := range pc.Generations {
			id := e.Plan.Generations[gi].ID
			gens[i] = s.Generations[id]
			if chk, ok := s.Checks[id]; ok && chk.Class == string(check.ClassOK) {
				checkedOK++
			}
		}
	})
	stages := len(pc.Generations)
	total := pc.Invocations()
	switch {
	case done >= total || ended:
		bar.Resume(pc.StageInvocations())
		return false, nil
	case checkedOK < stages:
		// Only pipelines whose every stage passed its checks are measured.
		bar.Skip(pc.StageInvocations())
		return false, nil
	}
	bar.Resume(done * stages)
	s := e.Plan.Study
	t := s.Tasks[pc.Task]
	fail := func(seq, attempts int, err error) (bool, error) {
		return true, e.fail(bar, (total-seq)*stages, StageMeasure, pc.ID, attempts, err)
	}
	pl, err := e.Platforms(pc.Platform)
	if err != nil {
		return fail(done, 0, err)
	}
	if _, err := chainer(pl); err != nil {
		return fail(done, 0, fmt.Errorf("pipeline %s on platform %s: %w", pc.Task, pc.Platform, err))
	}
	refs, err := e.referenceObjects(ctx, pc.Task)
	if err != nil {
		return fail(done, 0, err)
	}
	r := &pipelineRun{e: e, pc: pc, task: t, input: refs[0]}
	var dirs []string
	for i, gi := range pc.Generations {
		dir, err := e.functionDir(ctx, e.Plan.Generations[gi], gens[i])
		if err != nil {
			return fail(done, 0, err)
		}
		dirs = append(dirs, dir)
		r.stageModels = append(r.stageModels, e.Plan.Generations[gi].Model)
	}
	r.chain = e.pipelineChain(pc, t, dirs)
	if attempts, err := r.deploy(ctx, pl); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return fail(done, attempts, err)
	}
	defer r.close(ctx)
	// A resumed cell past its warm-up is warmed by one unrecorded run,
	// so that no cold start is recorded as a warm run.
	if s.ModeOf(pc.Platform) != "cold" && done > 0 && done >= pc.Warmup {
		if _, _, attempts, err := r.run(ctx, -1, true); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return fail(done, attempts, err)
		}
	}
	for seq := done; seq < total; seq++ {
		rec, final, attempts, err := r.run(ctx, seq, seq < pc.Warmup)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return fail(seq, attempts, err)
		}
		var checkErr error
		if final != "" {
			checkErr = e.checkRun(ctx, pc, r.dep, final, refs[len(refs)-1], &rec.Pipeline)
			if checkErr != nil && ctx.Err() != nil {
				return false, ctx.Err()
			}
			if checkErr != nil {
				// The run was measured: keep it, with no verdict, and
				// end the cell as for any infrastructure failure.
				rec.Pipeline.EndToEndDetail = checkErr.Error()
			}
		}
		if err := e.journal.Append(Record{PipelineRun: &rec}); err != nil {
			return false, err
		}
		if checkErr != nil {
			bar.AddN(len(rec.Stages))
			return fail(seq+1, 0, checkErr)
		}
		bar.AddN(len(rec.Stages))
		if rec.Pipeline.Status != string(platform.StatusOK) {
			e.Log.Warn("pipeline cell ended early", "cell", pc.ID, "seq", seq, "stage", rec.Pipeline.FailedStage,
				"status", rec.Pipeline.Status)
			bar.Skip((total-seq)*stages - len(rec.Stages))
			return false, nil
		}
	}
	e.Log.Info("measured pipeline", "cell", pc.ID, "model", pc.Model, "task", pc.Task, "variant", pc.Variant,
		"platform", pc.Platform, "arch", pc.Arch, "memory_mb", pc.MemoryMB, "runs", total-done)
	return false, nil
}

// checkRun sets row's end-to-end verdict: the run's final object (key in
// dep) against the reference pipeline's, by the task's compare (an image
// by PSNR ≥ 30 dB unless it says otherwise). Final objects byte-identical
// to one already compared for the task take its verdict.
func (e *Engine) checkRun(ctx context.Context, pc plan.Pipeline, dep platform.ChainDeployment, key string, want object, row *rows.Pipeline) error {
	got, err := dep.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("end-to-end check: read %s: %w", key, err)
	}
	sum := sha256.Sum256(got)
	vk := verdictKey{task: pc.Task, sum: hex.EncodeToString(sum[:])}
	e.refMu.Lock()
	v, ok := e.verdicts[vk]
	e.refMu.Unlock()
	if !ok {
		t := e.Plan.Study.Tasks[pc.Task]
		cmp := check.Compare{Rule: check.RuleImage, Metric: check.MetricPSNR}
		if t.Compare != nil {
			cmp = objectCompare(*t.Compare)
		}
		like := platform.Function{Runtime: t.Runtime, Arch: e.CheckArch}
		var equal bool
		var detail string
		_, err = e.retry(ctx, isInfrastructure, func() error {
			equal, detail, err = e.Checker.CompareObjects(ctx, like, cmp, got, want.Data)
			return err
		})
		if err != nil {
			return fmt.Errorf("end-to-end check: %w", err)
		}
		v = verdict{class: string(check.ClassOK)}
		if !equal {
			v = verdict{class: string(check.ClassFD), detail: "final object: " + detail}
		}
		e.refMu.Lock()
		if e.verdicts == nil {
			e.verdicts = map[verdictKey]verdict{}
		}
		e.verdicts[vk] = v
		e.refMu.Unlock()
	}
	row.EndToEndClass, row.EndToEndDetail = v.class, v.detail
	return nil
}

// verdictKey is a final object of a pipeline task, by its SHA-256.
type verdictKey struct{ task, sum string }

// verdict is an end-to-end check's outcome.
type verdict struct{ class, detail string }

// refState holds the reference pipelines' objects of an engine, and the
// end-to-end verdicts of the final objects compared with them.
type refState struct {
	refMu      sync.Mutex
	refObjects map[string][]object
	verdicts   map[verdictKey]verdict
}
