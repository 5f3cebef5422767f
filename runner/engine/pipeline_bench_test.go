package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/local"
	"github.com/faaslab/faaslab/schema"
)

// BenchmarkPipelineOverhead measures what faaslab adds to a pipeline on
// the local platform, with a five-stage pipeline of no-op stages (each
// reads its input object with boto3 and writes it back unchanged under its
// output prefix), warm, in its own sandboxes at 512 MB:
//
//   - overhead/stage: the time a run spends outside its stages' handlers
//     (event delivery: watching for the output object, building the next
//     event, invoking; and the object hand-off), per stage, as a share of
//     a stage's own duration (the handler's wall time, boto3 calls
//     included);
//   - e2e/5-singles: the run's end-to-end time (input upload to last
//     object) against five warm calls, one after the other, of a no-op
//     function that touches no storage, made in the same loop so that
//     both see the same machine.
//
// It needs the local platform (root, bubblewrap): go test -run '^$'
// -bench PipelineOverhead ./runner/engine/
func BenchmarkPipelineOverhead(b *testing.B) {
	// boto3's import can pass Lambda's 10 s init limit in a sandbox on a
	// loaded host; the benchmark measures warm runs, not init.
	pl, err := local.New(local.Options{InitTimeout: 3 * time.Minute})
	if local.IsUnavailable(err) {
		b.Skipf("local platform unavailable: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	const stages, memoryMB = 5, 512
	task := schema.Task{Runtime: "python3.11", TimeoutS: 60, Packages: []string{"boto3"}, Input: "in.bin"}
	for i := range stages {
		task.Stages = append(task.Stages, schema.Stage{Name: fmt.Sprintf("noop%d", i+1), Handler: "handler.handler"})
	}
	e := &Engine{Plan: &plan.Plan{Study: &schema.Study{Name: "bench"}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Facts: rows.Manifest{RunID: "bench"}, Retries: 2, Backoff: time.Second}
	pc := plan.Pipeline{Cell: plan.Cell{ID: "bench", Task: "images", Platform: "local", Arch: platform.HostArch(), MemoryMB: memoryMB}}
	var dirs []string
	for range stages {
		pc.StageMemoryMB = append(pc.StageMemoryMB, memoryMB)
		dirs = append(dirs, "testdata/noop_stage")
	}
	r := &pipelineRun{e: e, pc: pc, task: task, input: object{Name: "in.bin", Data: make([]byte, 64<<10)},
		stageModels: make([]string, stages), chain: e.pipelineChain(pc, task, dirs)}
	ctx := context.Background()
	if _, err := r.deploy(ctx, pl); err != nil {
		b.Fatal(err)
	}
	defer r.close(ctx)
	var singles []platform.Deployment
	for i := range stages {
		d, err := pl.Deploy(ctx, platform.Function{Name: fmt.Sprintf("bench-noop-%d", i), CodeDir: "testdata/noop",
			Handler: "handler.handler", Runtime: "python3.11", MemoryMB: memoryMB, Arch: pc.Arch, Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close(ctx)
		singles = append(singles, d)
	}
	fiveSingles := func() time.Duration {
		start := time.Now()
		for _, d := range singles {
			inv, err := d.Invoke(ctx, []byte(`{}`))
			if err != nil || inv.Status != platform.StatusOK {
				b.Fatalf("single call: %v %s %s", err, inv.Status, inv.ErrorMessage)
			}
		}
		return time.Since(start)
	}
	run := func(seq int) PipelineRunRecord {
		rec, _, _, err := r.run(ctx, seq, false)
		if err != nil || rec.Pipeline.Status != "ok" {
			b.Fatalf("pipeline run: %v %+v", err, rec)
		}
		return rec
	}
	run(-1) // cold starts and boto3's first client, not measured
	fiveSingles()
	var e2e, inStages, single float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := run(i)
		e2e += *rec.Pipeline.EndToEndMS
		inStages += *rec.Pipeline.StagesMS
		single += float64(fiveSingles()) / float64(time.Millisecond)
	}
	b.StopTimer()
	n := float64(b.N)
	overhead := (e2e - inStages) / n / stages
	stageMS := inStages / n / stages
	b.ReportMetric(e2e/n, "e2e-ms")
	b.ReportMetric(single/n, "5-singles-ms")
	b.ReportMetric(stageMS, "stage-ms")
	b.ReportMetric(overhead, "overhead-ms/stage")
	b.ReportMetric(overhead/stageMS, "overhead/stage")
	b.ReportMetric(e2e/single, "e2e/5-singles")
	if os.Getenv("FAASLAB_BENCH_VERBOSE") != "" {
		b.Logf("per run: end to end %.1f ms, in stages %.1f ms, five single calls %.1f ms", e2e/n, inStages/n, single/n)
	}
}
