package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// Pipelines on platforms that host storage themselves (local).
//
// A pipeline cell gets an object store of its own (runner/objstore) with
// one bucket, PipelineBucket. Stage i reads the keys under
// InputPrefix(t, i) and writes under InputPrefix(t, i+1), the next
// stage's input: each stage's Function.S3 is the store's REST API limited
// to exactly those two prefixes, and its environment names the output
// (OUTPUT_BUCKET, OUTPUT_PREFIX), as a Lambda function's configuration
// would. faaslab delivers the events itself: it uploads a run's input
// object, invokes stage 0 with the S3 event of that object, watches the
// stage's output prefix for the object the run's stage wrote, and invokes
// the next stage with that object's event. On AWS, S3 bucket
// notifications deliver the same events.

// PipelineBucket is the bucket of a pipeline cell's objects.
const PipelineBucket = "faaslab-pipeline"

// Environment variables that tell a stage where to write its output.
const (
	EnvOutputBucket = "OUTPUT_BUCKET"
	EnvOutputPrefix = "OUTPUT_PREFIX"
)

// outputWait bounds the wait for a stage's output object after the stage
// returned: a stage writes it before it returns.
const outputWait = 10 * time.Second

// InputPrefix is the key prefix of stage i's input objects: "0-input/"
// for the first stage, "<i>-<name of stage i-1>/" after. Stage i writes
// under InputPrefix(t, i+1).
func InputPrefix(t schema.Task, i int) string {
	if i == 0 {
		return "0-input/"
	}
	return fmt.Sprintf("%d-%s/", i, t.Stages[i-1].Name)
}

// stem is a key's file name without its extension: the run's instance id
// (or a check's test name) that every object of the run carries, whatever
// format a stage writes.
func stem(key string) string {
	base := path.Base(key)
	if i := strings.IndexByte(base, '.'); i > 0 {
		return base[:i]
	}
	return base
}

// object is one object of a pipeline run: its file name and contents.
type object struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// stageFunction is generation g's stage as a function: the stage's
// handler, runtime, packages and timeout, at memoryMB, reading in and
// writing out of store's bucket.
func (e *Engine) stageFunction(dir string, t schema.Task, stage int, arch string, memoryMB int, store *objstore.Store, in, out string) platform.Function {
	st := t.StageTask(stage)
	return platform.Function{CodeDir: dir, Handler: st.Handler, Runtime: st.Runtime, MemoryMB: memoryMB, Arch: arch,
		Timeout: time.Duration(st.TimeoutS) * time.Second, Packages: st.Packages, EphemeralMB: schema.EphemeralMB(st, schema.Platform{}),
		Env: map[string]string{EnvOutputBucket: PipelineBucket, EnvOutputPrefix: out},
		S3:  store.Handler(objstore.Scope{Bucket: PipelineBucket, Read: []string{in}, Write: []string{out}})}
}

// findOutput returns the object under prefix whose stem is want, if any.
func findOutput(ctx context.Context, store *objstore.Store, prefix, want string) (objstore.Object, bool, error) {
	objs, err := store.List(ctx, PipelineBucket, prefix)
	if err != nil {
		return objstore.Object{}, false, err
	}
	for _, o := range objs {
		if stem(o.Key) == want {
			return o, true, nil
		}
	}
	return objstore.Object{}, false, nil
}

// runStage runs fn (a stage function of dir) once on the object in, in a
// store of its own, and returns the object it wrote. A stage that fails
// or writes nothing is an error: runStage runs references, whose failure
// is the study's problem, not a class of the code.
func (e *Engine) runStage(ctx context.Context, pl platform.Platform, dir string, t schema.Task, stage int, in object) (object, error) {
	store := objstore.New()
	const inPrefix, outPrefix = "in/", "out/"
	key := inPrefix + in.Name
	if err := store.Put(ctx, PipelineBucket, key, in.Data); err != nil {
		return object{}, err
	}
	fn := e.stageFunction(dir, t, stage, e.CheckArch, e.CheckMemoryMB, store, inPrefix, outPrefix)
	fn.Name = "ref-" + t.Stages[stage].Name
	event, err := store.Notification(ctx, PipelineBucket, key)
	if err != nil {
		return object{}, err
	}
	var inv platform.Invocation
	_, err = e.retry(ctx, isInfrastructure, func() error {
		dep, err := pl.Deploy(ctx, fn)
		if err != nil {
			return err
		}
		defer dep.Close(context.WithoutCancel(ctx))
		inv, err = dep.Invoke(ctx, event)
		if err == nil && inv.InitTimedOut {
			// Trusted code that cannot start in time: a busy host.
			return fmt.Errorf("%s: init timed out: %w", fn.Name, platform.ErrInfrastructure)
		}
		return err
	})
	if err != nil {
		return object{}, err
	}
	if inv.Status != platform.StatusOK {
		return object{}, fmt.Errorf("%s on %s: %s: %s %s", t.Stages[stage].Name, in.Name, inv.Status, inv.ErrorType, inv.ErrorMessage)
	}
	o, ok, err := findOutput(ctx, store, outPrefix, stem(in.Name))
	if err != nil {
		return object{}, err
	}
	if !ok {
		return object{}, fmt.Errorf("%s on %s wrote no object under $%s named %s.*", t.Stages[stage].Name, in.Name, EnvOutputPrefix, stem(in.Name))
	}
	data, _, err := store.Get(ctx, PipelineBucket, o.Key)
	return object{Name: path.Base(o.Key), Data: data}, err
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
	if e.refObjects == nil {
		e.refObjects = map[string][]object{}
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
	store := objstore.New()
	const inPrefix, outPrefix = "in/", "out/"
	cmp := objectCompare(st.Compare)
	var tests []check.ObjectTest
	names, rules := []string{}, []string{}
	for _, in := range inputs {
		key := inPrefix + in.name + path.Ext(in.in.Name)
		if err := store.Put(ctx, PipelineBucket, key, in.in.Data); err != nil {
			return check.Report{}, nil, nil, err
		}
		event, err := store.Notification(ctx, PipelineBucket, key)
		if err != nil {
			return check.Report{}, nil, nil, err
		}
		name := in.name
		tests = append(tests, check.ObjectTest{Name: name, Event: event, Want: in.want.Data, Compare: cmp,
			Output: func(ctx context.Context) ([]byte, bool, error) {
				o, ok, err := findOutput(ctx, store, outPrefix, name)
				if err != nil || !ok {
					return nil, ok, err
				}
				data, _, err := store.Get(ctx, PipelineBucket, o.Key)
				return data, true, err
			}})
		names, rules = append(names, name), append(rules, cmp.Rule)
	}
	cand := e.stageFunction(candDir, t, g.StageIndex, e.CheckArch, e.CheckMemoryMB, store, inPrefix, outPrefix)
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

// stageRun is one stage's deployment in a pipeline cell.
type stageRun struct {
	fn  platform.Function
	dep platform.Deployment
}

// pipelineRun carries a pipeline cell's measurement: its store, its
// stages' deployments and what every run needs.
type pipelineRun struct {
	e      *Engine
	pc     plan.Pipeline
	task   schema.Task
	pl     platform.Platform
	store  *objstore.Store
	stages []*stageRun
	input  object
}

func (r *pipelineRun) close(ctx context.Context) {
	for _, st := range r.stages {
		if st.dep != nil {
			st.dep.Close(context.WithoutCancel(ctx))
			st.dep = nil
		}
	}
}

// ready deploys stage i when it has no deployment.
func (r *pipelineRun) ready(ctx context.Context, i int) error {
	st := r.stages[i]
	if st.dep != nil {
		return nil
	}
	dep, err := r.pl.Deploy(ctx, st.fn)
	if err != nil {
		return err
	}
	st.dep = dep
	return nil
}

// run makes one pipeline run, seq, and returns its rows and the final
// object's key (empty when the run failed). Only infrastructure failures
// past their retries and a cancelled ctx are errors.
func (r *pipelineRun) run(ctx context.Context, seq int, warmup bool) (PipelineRunRecord, string, error) {
	e, pc, t := r.e, r.pc, r.task
	s := e.Plan.Study
	instance := fmt.Sprintf("%s-%04d", pc.ID, seq)
	ext := path.Ext(r.input.Name)
	key := InputPrefix(t, 0) + instance + ext
	if err := r.store.Put(ctx, PipelineBucket, key, r.input.Data); err != nil {
		return PipelineRunRecord{}, "", err
	}
	_, uploaded, err := r.store.Get(ctx, PipelineBucket, key)
	if err != nil {
		return PipelineRunRecord{}, "", err
	}
	rec := PipelineRunRecord{Pipeline: rows.Pipeline{Study: s.Name, RunID: e.Facts.RunID, CellID: pc.ID, Pipeline: pc.Task,
		Instance: instance, Seq: int32(seq), Warmup: warmup, Model: pc.Model, Variant: pc.Variant, Platform: pc.Platform,
		Arch: pc.Arch, MemoryMB: int32(pc.MemoryMB), StartedAt: uploaded.UTC(), Status: string(platform.StatusOK)}}
	bytesStored := int64(len(r.input.Data))
	last := uploaded
	stagesMS, costUSD := 0.0, e.Plan.PriceTable().S3USD(1, 0, 0)
	for i := range t.Stages {
		out := InputPrefix(t, i+1)
		wctx, cancel := context.WithCancel(ctx)
		watch := r.store.Watch(wctx, PipelineBucket, out)
		event, err := r.store.Notification(ctx, PipelineBucket, key)
		if err != nil {
			cancel()
			return PipelineRunRecord{}, "", err
		}
		var inv platform.Invocation
		_, err = e.retry(ctx, isInfrastructure, func() error {
			if err := r.ready(ctx, i); err != nil {
				return err
			}
			var err error
			inv, err = r.stages[i].dep.Invoke(ctx, event)
			if err == nil && inv.InitTimedOut {
				// Lambda starts the environment again on the next call
				// after an init past its limit; so does the run.
				inv, err = r.stages[i].dep.Invoke(ctx, event)
			}
			if isInfrastructure(err) {
				r.stages[i].dep.Close(context.WithoutCancel(ctx))
				r.stages[i].dep = nil
			}
			return err
		})
		if err != nil {
			cancel()
			return PipelineRunRecord{}, "", err
		}
		row := stageRow(rec.Pipeline, t.Stages[i].Name, i, pc.StageMemoryMB[i], inv)
		var written objstore.Object
		if inv.Status == platform.StatusOK {
			var ok bool
			written, ok = waitOutput(ctx, watch, instance)
			if !ok && ctx.Err() == nil {
				row.Status = statusNoOutput
				row.Error = fmt.Sprintf("returned without writing an object named %s.* under $%s (%s)", instance, EnvOutputPrefix, out)
			}
		}
		cancel()
		if err := ctx.Err(); err != nil {
			return PipelineRunRecord{}, "", err
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
		bytesStored += written.Size
		key, last = written.Key, written.Modified
	}
	if w := t.Workload; w != nil {
		costUSD += e.Plan.PriceTable().S3USD(0, 0, float64(bytesStored)/(1<<30)*w.RetentionH/(30*24))
	}
	endToEnd := float64(last.Sub(uploaded)) / float64(time.Millisecond)
	overhead := endToEnd - stagesMS
	rec.Pipeline.EndToEndMS, rec.Pipeline.StagesMS, rec.Pipeline.OverheadMS = &endToEnd, &stagesMS, &overhead
	rec.Pipeline.CostUSD = &costUSD
	return rec, key, nil
}

// statusNoOutput is a stage that returned but wrote no output object.
const statusNoOutput = "no_output"

// waitOutput returns the first object reported by watch whose stem is
// instance, waiting at most outputWait.
func waitOutput(ctx context.Context, watch <-chan objstore.Object, instance string) (objstore.Object, bool) {
	timer := time.NewTimer(outputWait)
	defer timer.Stop()
	for {
		select {
		case o, ok := <-watch:
			if !ok {
				return objstore.Object{}, false
			}
			if stem(o.Key) == instance {
				return o, true
			}
		case <-timer.C:
			return objstore.Object{}, false
		case <-ctx.Done():
			return objstore.Object{}, false
		}
	}
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
		Seq: p.Seq, Warmup: p.Warmup, Stage: stage, StageIndex: int32(i), Model: p.Model, Variant: p.Variant,
		Platform: p.Platform, Arch: p.Arch, MemoryMB: int32(memoryMB), StartedAt: inv.Start.UTC(),
		DurationMS: ms(inv.Duration), Cold: inv.Cold, Status: string(inv.Status)}
	b := billingOf(inv)
	r.InitMS, r.BilledMS, r.BilledEstMS, r.MaxMemoryUsedMB = b.InitMS, b.BilledMS, b.BilledEstMS, b.MaxMemoryUsedMB
	if inv.Status != platform.StatusOK {
		r.Error = inv.ErrorType + ": " + inv.ErrorMessage
	}
	return r
}

// measurePipeline makes the pipeline cell's remaining runs on one
// deployment per stage, journaling each run as it finishes, and checks
// the cell end to end on its first successful run of this session.
func (e *Engine) measurePipeline(ctx context.Context, pc plan.Pipeline, bar *Bar) (bool, error) {
	var (
		done, checkedOK int
		ended, e2eDone  bool
		gens            = make([]GenerationRecord, len(pc.Generations))
	)
	e.journal.View(func(s *State) {
		done = len(s.PipelineRuns[pc.ID])
		_, ended = s.PipelineEnded(pc.ID)
		_, e2eDone = s.PipelineChecks[pc.ID]
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
	if pl.Name() == "aws" {
		// The seam for it: stageFunction's S3 handler is ignored there;
		// a bucket per cell, its notifications and the Lambda permission
		// they need take the place of the objstore and of run's delivery.
		return fail(done, 0, fmt.Errorf("pipeline %s on platform %s: pipelines do not run on AWS Lambda yet (S3 buckets and notifications); run them on a local platform", pc.Task, pc.Platform))
	}
	refs, err := e.referenceObjects(ctx, pc.Task)
	if err != nil {
		return fail(done, 0, err)
	}
	r := &pipelineRun{e: e, pc: pc, task: t, pl: pl, store: objstore.New(), input: refs[0]}
	defer r.close(ctx)
	for i, gi := range pc.Generations {
		dir, err := e.functionDir(ctx, e.Plan.Generations[gi], gens[i])
		if err != nil {
			return fail(done, 0, err)
		}
		fn := e.stageFunction(dir, t, i, pc.Arch, pc.StageMemoryMB[i], r.store, InputPrefix(t, i), InputPrefix(t, i+1))
		fn.Name = fmt.Sprintf("%s-%d", pc.ID, i)
		fn.Cold = s.ModeOf(pc.Platform) == "cold"
		fn.Tags = map[string]string{platform.TagStudy: s.Name, platform.TagRun: e.Facts.RunID, platform.TagCell: pc.ID}
		r.stages = append(r.stages, &stageRun{fn: fn})
	}
	// A resumed cell past its warm-up is warmed by one unrecorded run,
	// so that no cold start is recorded as a warm run.
	if s.ModeOf(pc.Platform) != "cold" && done > 0 && done >= pc.Warmup {
		if _, _, err := r.run(ctx, -1, true); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return fail(done, 0, err)
		}
	}
	for seq := done; seq < total; seq++ {
		rec, final, err := r.run(ctx, seq, seq < pc.Warmup)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return fail(seq, 0, err)
		}
		if err := e.journal.Append(Record{PipelineRun: &rec}); err != nil {
			return false, err
		}
		bar.AddN(len(rec.Stages))
		if rec.Pipeline.Status != string(platform.StatusOK) {
			e.Log.Warn("pipeline cell ended early", "cell", pc.ID, "seq", seq, "stage", rec.Pipeline.FailedStage,
				"status", rec.Pipeline.Status)
			bar.Skip((total-seq)*stages - len(rec.Stages))
			return false, nil
		}
		if !e2eDone {
			chk, err := e.checkEndToEnd(ctx, pc, r.store, final, refs[len(refs)-1])
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				return fail(seq+1, 0, err)
			}
			if err := e.journal.Append(Record{PipelineCheck: &chk}); err != nil {
				return false, err
			}
			e2eDone = true
		}
	}
	e.Log.Info("measured pipeline", "cell", pc.ID, "model", pc.Model, "task", pc.Task, "variant", pc.Variant,
		"platform", pc.Platform, "arch", pc.Arch, "memory_mb", pc.MemoryMB, "runs", total-done)
	return false, nil
}

// checkEndToEnd compares a run's final object with the reference
// pipeline's, by the task's compare (an image by PSNR ≥ 30 dB unless it
// says otherwise).
func (e *Engine) checkEndToEnd(ctx context.Context, pc plan.Pipeline, store *objstore.Store, key string, want object) (PipelineCheckRecord, error) {
	t := e.Plan.Study.Tasks[pc.Task]
	got, _, err := store.Get(ctx, PipelineBucket, key)
	if err != nil {
		return PipelineCheckRecord{}, err
	}
	cmp := check.Compare{Rule: check.RuleImage, Metric: check.MetricPSNR}
	if t.Compare != nil {
		cmp = objectCompare(*t.Compare)
	}
	like := platform.Function{Runtime: t.Runtime, Arch: e.CheckArch}
	rec := PipelineCheckRecord{ID: pc.ID, Class: string(check.ClassOK)}
	var equal bool
	var detail string
	_, err = e.retry(ctx, isInfrastructure, func() error {
		equal, detail, err = e.Checker.CompareObjects(ctx, like, cmp, got, want.Data)
		return err
	})
	if err != nil {
		return PipelineCheckRecord{}, fmt.Errorf("end-to-end check: %w", err)
	}
	if !equal {
		rec.Class, rec.Detail = string(check.ClassFD), "final object "+path.Base(key)+": "+detail
	}
	return rec, nil
}

// refState holds the reference pipelines' objects of an engine.
type refState struct {
	refMu      sync.Mutex
	refObjects map[string][]object
}
