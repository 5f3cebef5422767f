package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

func TestPipelineKeys(t *testing.T) {
	task := schema.Task{Stages: []schema.Stage{{Name: "grey"}, {Name: "rotate"}}}
	for i, want := range []string{"0-input/", "1-grey/", "2-rotate/"} {
		if got := InputPrefix(task, i); got != want {
			t.Errorf("InputPrefix(%d) = %q, want %q", i, got, want)
		}
	}
}

// objects is a chain deployment holding fixed objects, for checkRun.
type objects map[string][]byte

func (o objects) Run(context.Context, string, []byte, time.Duration) (platform.ChainRun, error) {
	return platform.ChainRun{}, errors.New("not a real chain")
}

func (o objects) Get(_ context.Context, key string) ([]byte, error) { return o[key], nil }

func (o objects) Close(context.Context) error { return nil }

// TestCheckRunSharesVerdicts: every run's final object is checked, and
// one byte-identical to an object already compared takes its verdict
// without another comparison.
func TestCheckRunSharesVerdicts(t *testing.T) {
	s := &schema.Study{Tasks: map[string]schema.Task{"p": {Compare: &schema.ObjectCompare{Rule: check.RuleBytes}}}}
	e := &Engine{Plan: &plan.Plan{Study: s}, Checker: &check.Checker{}}
	pc := plan.Pipeline{Cell: plan.Cell{ID: "c", Task: "p"}}
	dep := objects{"good-1": []byte("final"), "bad-1": []byte("wrong"), "good-2": []byte("final"), "bad-2": []byte("wrong")}
	want := object{Name: "input.png", Data: []byte("final")}
	ctx := context.Background()
	verdicts := map[string]string{}
	for i, key := range []string{"good-1", "bad-1", "good-2", "bad-2"} {
		if i == 2 {
			// Comparing again would need the checker.
			e.Checker = nil
		}
		var row rows.Pipeline
		if err := e.checkRun(ctx, pc, dep, key, want, &row); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		verdicts[key] = row.EndToEndClass
		if row.EndToEndClass == string(check.ClassFD) && row.EndToEndDetail == "" {
			t.Errorf("%s: FD without a detail", key)
		}
	}
	if verdicts["good-1"] != "OK" || verdicts["good-2"] != "OK" || verdicts["bad-1"] != "FD" || verdicts["bad-2"] != "FD" {
		t.Errorf("verdicts %v", verdicts)
	}
}

// TestPipelineTablesEndToEnd: the cell's end-to-end class is FD when any
// run's final object is, naming the first such run.
func TestPipelineTablesEndToEnd(t *testing.T) {
	s := &schema.Study{Name: "s", Tasks: map[string]schema.Task{"p": {Stages: []schema.Stage{{Name: "a"}}}}}
	p := &plan.Plan{Study: s, Generations: []plan.Generation{{ID: "g", Model: "m", Task: "p", Stage: "a"}},
		Pipelines: []plan.Pipeline{{Cell: plan.Cell{ID: "c", Task: "p", Model: "mix"}, Generations: []int{0}, StageMemoryMB: []int{512}}}}
	run := func(seq int, class string) PipelineRunRecord {
		e2e := 10.0
		return PipelineRunRecord{Pipeline: rows.Pipeline{CellID: "c", Instance: fmt.Sprintf("c-%04d", seq), Seq: int32(seq),
			Status: "ok", EndToEndMS: &e2e, EndToEndClass: class, EndToEndDetail: "differs"}}
	}
	for _, tc := range []struct {
		classes []string
		want    string
	}{
		{[]string{"OK", "OK"}, "OK"},
		{[]string{"OK", "FD", "FD"}, "FD"},
	} {
		st := &State{Checks: map[string]CheckRecord{"g": {Class: "OK"}}, Generations: map[string]GenerationRecord{"g": {}},
			PipelineRuns: map[string][]PipelineRunRecord{}, PipelineChecks: map[string]PipelineCheckRecord{}}
		for i, c := range tc.classes {
			st.PipelineRuns["c"] = append(st.PipelineRuns["c"], run(i, c))
		}
		var tables rows.Tables
		pipelineTables(p, st, "r", &tables)
		last := tables.PipelineCells[len(tables.PipelineCells)-1]
		if last.Stage != EndToEnd || last.Class != tc.want || tc.want == "FD" && last.Detail != "run c-0001: differs" {
			t.Errorf("runs %v: end to end %s %q, want %s", tc.classes, last.Class, last.Detail, tc.want)
		}
		if stage := tables.PipelineCells[0]; stage.StageModel != "m" || stage.Model != "mix" {
			t.Errorf("stage row's models: %q, %q", stage.Model, stage.StageModel)
		}
	}
}

// plain is a platform that deploys single functions only.
type plain struct{ platform.Platform }

func (plain) Name() string { return "plain" }

func TestPipelinesNeedAChainer(t *testing.T) {
	if _, err := chainer(plain{}); err == nil || !strings.Contains(err.Error(), "platform plain cannot run pipelines") {
		t.Errorf("chainer of a platform without chains: %v", err)
	}
}

// TestReferenceObjectsCached: a resumed run (a new engine) reads the
// reference pipeline's objects from the run directory.
func TestReferenceObjectsCached(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "functions", "reference-p", "objects.json")
	os.MkdirAll(filepath.Dir(cache), 0o755)
	if err := os.WriteFile(cache, []byte(`[{"name":"input.png","data":"aW4="},{"name":"input.png","data":"b3V0"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Dir: dir, Plan: &plan.Plan{Study: &schema.Study{}}}
	objs, err := e.referenceObjects(context.Background(), "p")
	if err != nil || len(objs) != 2 || string(objs[1].Data) != "out" {
		t.Fatalf("referenceObjects = %+v, %v", objs, err)
	}
}
