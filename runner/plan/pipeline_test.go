package plan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faaslab/faaslab/schema"
)

// withPipeline adds to s the pipeline task p of stages s1 (at 256 MB) and
// s2, with variants long and short.
func withPipeline(t *testing.T, s *schema.Study) {
	for _, f := range []string{"s1_long.md", "s1_short.md", "s2_long.md", "s2_short.md"} {
		if err := os.WriteFile(filepath.Join(s.Source.Dir, f), []byte("prompt "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stage := func(name string, mem *int) schema.Stage {
		return schema.Stage{Name: name, Handler: "handler.handler", MemoryMB: mem, Tests: []schema.StageTest{{Name: "more", Input: "x.png"}},
			Variants: map[string]schema.Variant{"long": {Prompt: name + "_long.md"}, "short": {Prompt: name + "_short.md"}}}
	}
	s.Tasks["p"] = schema.Task{Input: "in.png", Stages: []schema.Stage{stage("s1", ptr(256)), stage("s2", nil)}}
}

func TestPipelineExpand(t *testing.T) {
	s := testStudy(t)
	withPipeline(t, s)
	s.Matrix.Exclude = []schema.Pattern{{Variant: ptr("short")}, {Task: ptr("b")}}
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	// Single functions: task a, long, 2 models × 2 memory sizes.
	if len(p.Cells) != 4 {
		t.Errorf("%d cells, want 4: %v", len(p.Cells), cellNames(p))
	}
	if len(p.Pipelines) != 4 {
		t.Fatalf("%d pipelines, want 4 (2 models × 2 memory sizes)", len(p.Pipelines))
	}
	stageGens := 0
	for _, g := range p.Generations {
		if g.Task == "p" {
			stageGens++
			if g.Stage == "" || g.Variant != "long" {
				t.Errorf("pipeline generation %+v", g)
			}
		}
	}
	if stageGens != 4 { // 2 models × 2 stages, shared by both memory sizes
		t.Errorf("%d stage generations, want 4", stageGens)
	}
	pc := p.Pipelines[1]
	if pc.Model != "m1" || pc.MemoryMB != 1024 || len(pc.Generations) != 2 || pc.StageMemoryMB[0] != 256 || pc.StageMemoryMB[1] != 1024 {
		t.Errorf("pipeline %+v", pc)
	}
	if g0, g1 := p.Generations[pc.Generations[0]], p.Generations[pc.Generations[1]]; g0.Stage != "s1" || g1.Stage != "s2" || g1.StageIndex != 1 || g0.ID == g1.ID {
		t.Errorf("stages' generations %+v %+v", g0, g1)
	}
	if got := p.StageTests(p.Generations[pc.Generations[0]]); len(got) != 2 || got[0] != PipelineTest || got[1] != "more" {
		t.Errorf("StageTests = %v", got)
	}
	// Checks: a's 2 tests × 2 generations, and 2 per stage generation.
	if n := p.Checks(); n != 4+8 {
		t.Errorf("Checks() = %d, want 12", n)
	}
	// Invocations: 4 cells × 11, and 4 pipelines × 11 runs × 2 stages.
	if n, m := p.Invocations(), p.StageInvocations(); n != 44+88 || m != 88 {
		t.Errorf("Invocations() = %d, StageInvocations() = %d", n, m)
	}
	// IDs are distinct and stable.
	q, _ := New(s)
	seen := map[string]bool{}
	for i, pc := range p.Pipelines {
		if pc.ID != q.Pipelines[i].ID || seen[pc.ID] {
			t.Errorf("pipeline %d: ID %s unstable or repeated", i, pc.ID)
		}
		seen[pc.ID] = true
	}
	// A stage's memory is part of its pipeline's identity.
	s.Tasks["p"].Stages[0].MemoryMB = ptr(512)
	r, _ := New(s)
	if r.Pipelines[0].ID == p.Pipelines[0].ID {
		t.Error("a stage's memory size does not change the pipeline's ID")
	}
	// An include that names a pipeline's coordinates overrides its runs.
	s.Matrix.Include = []schema.Pattern{{Task: ptr("p"), MemoryMB: ptr(512), Repetitions: ptr(3)}}
	r, _ = New(s)
	for _, pc := range r.Pipelines {
		if want := map[int]int{512: 3, 1024: 10}[pc.MemoryMB]; pc.Repetitions != want {
			t.Errorf("pipeline at %d MB: %d repetitions, want %d", pc.MemoryMB, pc.Repetitions, want)
		}
	}
	sum := p.Summarize(true)
	if sum.Counts.Pipelines != 4 || sum.Counts.StageInvocations != 88 || len(sum.Pipelines) != 4 || len(sum.Pipelines[0].Stages) != 2 {
		t.Errorf("summary counts %+v, %d pipelines listed", sum.Counts, len(sum.Pipelines))
	}
}

// TestPipelineMix: a mix is planned like a model, on the named models'
// generations of each stage (shared, not made twice), with IDs of its own.
func TestPipelineMix(t *testing.T) {
	s := testStudy(t)
	withPipeline(t, s)
	s.Matrix.Exclude = []schema.Pattern{{Variant: ptr("short")}, {Task: ptr("b")}, {Task: ptr("a")}}
	p0, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	task := s.Tasks["p"]
	task.Mixes = map[string]map[string]string{"crossed": {"s1": "m2", "s2": "m1"}}
	s.Tasks["p"] = task
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pipelines) != 6 || len(p.Generations) != len(p0.Generations) {
		t.Fatalf("%d pipelines and %d generations, want 6 (3 models or mixes × 2 memory sizes) and %d", len(p.Pipelines), len(p.Generations), len(p0.Generations))
	}
	for i, pc := range p0.Pipelines {
		if p.Pipelines[i].ID != pc.ID {
			t.Errorf("pipeline %d of a model changed ID with a mix added", i)
		}
	}
	seen := map[string]bool{}
	for _, pc := range p.Pipelines {
		if seen[pc.ID] {
			t.Errorf("repeated pipeline ID %s", pc.ID)
		}
		seen[pc.ID] = true
		if pc.Model != "crossed" {
			continue
		}
		g0, g1 := p.Generations[pc.Generations[0]], p.Generations[pc.Generations[1]]
		if g0.Model != "m2" || g0.Stage != "s1" || g1.Model != "m1" || g1.Stage != "s2" {
			t.Errorf("mix's stages' generations: %+v %+v", g0, g1)
		}
	}
	// The summary counts the mix under its own name, after the models.
	sum := p.Summarize(true)
	models := sum.Dimensions["model"]
	if n := len(models); n != 3 || models[2].Value != "crossed" || models[2].Generations != 0 || models[2].Cells != 2 || models[0].Cells != 2 {
		t.Errorf("model dimension %+v", models)
	}
	for _, ps := range sum.Pipelines {
		if ps.Model == "crossed" && (ps.Stages[0].Model != "m2" || ps.Stages[1].Model != "m1") {
			t.Errorf("mix's stages in the summary: %+v", ps.Stages)
		}
	}
	// A mix of one model for every stage is a cell apart from the model's.
	task.Mixes = map[string]map[string]string{"same": {"s1": "m1", "s2": "m1"}}
	s.Tasks["p"] = task
	if p, err = New(s); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, pc := range p.Pipelines {
		if ids[pc.ID] {
			t.Errorf("mix %s has the ID of a model's pipeline", pc.Model)
		}
		ids[pc.ID] = true
	}
	// Patterns fix a mix like a model.
	s.Matrix.Exclude = append(s.Matrix.Exclude, schema.Pattern{Model: ptr("same"), MemoryMB: ptr(1024)})
	if p, err = New(s); err != nil || len(p.Pipelines) != 5 {
		t.Errorf("excluding a mix's cell: %d pipelines, %v; want 5", len(p.Pipelines), err)
	}
}
