package plan_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// planStudy loads and plans experiments/<name> with tags.
func planStudy(t *testing.T, name string, tags ...string) *plan.Plan {
	t.Helper()
	s, err := schema.Load(filepath.Join("../../experiments", name), schema.Options{HostArch: platform.HostArch(), Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// generationsPerModel counts the plan's generations by model.
func generationsPerModel(p *plan.Plan) map[string]int {
	n := map[string]int{}
	for _, g := range p.Generations {
		n[g.Model]++
	}
	return n
}

// TestWosc25Matrix: the WoSC '25 study plans the matrix of its paper, 14
// models x 16 prompt variants = 224 generations (plus the reference, once
// per task), 100 warm repetitions per cell at 3008 MB on x86_64.
func TestWosc25Matrix(t *testing.T) {
	p := planStudy(t, "wosc25.cue")
	perModel := generationsPerModel(p)
	if len(perModel) != 15 || perModel["reference"] != 10 {
		t.Fatalf("generations per model %v: want 14 models of 16 and the reference's 10", perModel)
	}
	llm := 0
	for m, n := range perModel {
		if m == "reference" {
			continue
		}
		if n != 16 {
			t.Errorf("model %s: %d generations, want 16", m, n)
		}
		llm += n
	}
	if llm != 224 || len(p.Generations) != 234 {
		t.Errorf("%d LLM generations (%d in all), want 14 x 16 = 224 (234 with the reference)", llm, len(p.Generations))
	}
	variants := map[string]int{}
	for _, task := range p.Study.Tasks {
		for v := range task.Variants {
			variants[v]++
		}
	}
	if len(p.Study.Tasks) != 10 || variants["long"] != 10 || variants["short"] != 2 || variants["nolib_long"] != 2 || variants["nolib_short"] != 2 {
		t.Errorf("%d tasks with variants %v: want 10 tasks, 16 prompts (PageRank and Thumbnailer in four variants)", len(p.Study.Tasks), variants)
	}
	for _, c := range p.Cells {
		if c.Repetitions != 100 || c.Warmup != 1 || c.MemoryMB != 3008 || c.Arch != "x86_64" || c.Platform != "local" {
			t.Fatalf("cell %+v: want 100 repetitions after 1 warm-up, 3008 MB, x86_64, local", c)
		}
	}
	if p.Study.Matrix.Mode != "warm" || p.Study.Matrix.CPUFilter != "" {
		t.Errorf("matrix mode %q, cpu filter %q: want warm and no filter on the local platform", p.Study.Matrix.Mode, p.Study.Matrix.CPUFilter)
	}
	for id, m := range p.Study.Models {
		if id == "reference" {
			continue
		}
		if !m.CallsAPI() || m.Model == "" || m.Vendor == "" || m.Class == "" || m.Hosting == "" || m.Style == "" ||
			m.ContextWindow == 0 || m.ReleaseDate == "" {
			t.Errorf("model %s lacks Table 1's metadata or an API: %+v", id, m)
		}
		if m.Reasoning != (m.Style == "reasoning") {
			t.Errorf("model %s: reasoning %v but style %s", id, m.Reasoning, m.Style)
		}
	}
	if e := p.Estimate(); e.TotalUSD <= 0 {
		t.Errorf("estimate %+v: the API models cost something", e)
	}
}

// TestWosc25OnAWS: -t platform=aws is the paper's setting: us-west-2,
// layers for the tasks' packages, and the Xeon Platinum 8259CL filter.
func TestWosc25OnAWS(t *testing.T) {
	p := planStudy(t, "wosc25.cue", "platform=aws")
	if f := p.Study.Matrix.CPUFilter; f != "Xeon(R) Platinum 8259CL" {
		t.Errorf("cpu filter %q", f)
	}
	aws := p.Study.Platforms["aws"]
	if aws.Kind != "aws" || aws.Region != "us-west-2" || aws.Role == "" {
		t.Errorf("aws platform %+v", aws)
	}
	provided := map[string]bool{}
	for _, l := range aws.Layers["x86_64"] {
		for _, pkg := range l.Packages {
			provided[pkg] = true
		}
	}
	for id, task := range p.Study.Tasks {
		for _, pkg := range task.Packages {
			if !provided[pkg] {
				t.Errorf("task %s needs %s, which no x86_64 layer provides", id, pkg)
			}
		}
	}
	for _, c := range p.Cells {
		if c.Platform != "aws" {
			t.Fatalf("cell on %s, want aws", c.Platform)
		}
	}
}

// TestWosc25Offline: -t models=offline replaces every model by hand-written
// code that exists for each task and variant, and -t reps sets the
// repetitions.
func TestWosc25Offline(t *testing.T) {
	p := planStudy(t, "wosc25.cue", "models=offline", "reps=3")
	if len(p.Generations) != 234 {
		t.Errorf("%d generations offline, want the same 234", len(p.Generations))
	}
	for _, c := range p.Cells {
		if c.Repetitions != 3 {
			t.Fatalf("cell %s: %d repetitions, want 3 (-t reps=3)", c.ID, c.Repetitions)
		}
	}
	for _, g := range p.Generations {
		m := p.Study.Models[g.Model]
		if g.Model == "reference" {
			continue
		}
		if m.Provider != "files" || m.CallsAPI() {
			t.Fatalf("model %s offline: provider %q", g.Model, m.Provider)
		}
		code := filepath.Join(p.Study.Source.Dir, m.Dir, g.Task, g.Variant+".py")
		if _, err := os.Stat(code); err != nil {
			t.Errorf("offline model %s has no code for %s/%s: %v", g.Model, g.Task, g.Variant, err)
		}
	}
	if e := p.Estimate(); e.TotalUSD != 0 {
		t.Errorf("offline estimate $%.2f, want nothing to pay", e.TotalUSD)
	}
}

// TestWosc25OfflineTreeIsAssembled: the committed offline stand-ins are what
// wosc25/offline/assemble.py makes from the pool, the references and Table 4.
func TestWosc25OfflineTreeIsAssembled(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	cmd := exec.Command(python, "wosc25/offline/assemble.py", "--check")
	cmd.Dir = "../../experiments"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("assemble.py --check: %v\n%s", err, out)
	}
}

// TestColdstartMatrix: the cold-start study measures both implementations
// on a warm and a cold platform at five memory sizes.
func TestColdstartMatrix(t *testing.T) {
	for _, tc := range []struct {
		tags       []string
		warm, cold string
		reps       int
	}{
		{nil, "local-warm", "local-cold", 20},
		{[]string{"platform=aws", "reps=5"}, "aws-warm", "aws-cold", 5},
	} {
		p := planStudy(t, "coldstart.cue", tc.tags...)
		if len(p.Generations) != 2 || len(p.Cells) != 20 {
			t.Fatalf("%v: %d generations, %d cells; want 2 and 2 models x 2 modes x 5 sizes = 20", tc.tags, len(p.Generations), len(p.Cells))
		}
		cells := map[string]int{}
		sizes := map[int]bool{}
		for _, c := range p.Cells {
			cells[p.Study.ModeOf(c.Platform)+" "+c.Platform]++
			sizes[c.MemoryMB] = true
			if c.Repetitions != tc.reps || c.Warmup != 1 {
				t.Errorf("%v: cell %s has %d repetitions after %d warm-ups, want %d after 1", tc.tags, c.ID, c.Repetitions, c.Warmup, tc.reps)
			}
		}
		if cells["warm "+tc.warm] != 10 || cells["cold "+tc.cold] != 10 || len(sizes) != 5 {
			t.Errorf("%v: cells by mode and platform %v, sizes %v", tc.tags, cells, sizes)
		}
	}
}

// TestEndpointsMatrix: every endpoint answers the same prompts five times;
// offline, hand-written stand-ins answer once.
func TestEndpointsMatrix(t *testing.T) {
	p := planStudy(t, "endpoints.cue")
	perModel := generationsPerModel(p)
	providers := map[string]bool{}
	for id, n := range perModel {
		want := 25
		if id == "reference" {
			want = 5
		}
		if n != want {
			t.Errorf("model %s: %d generations, want %d", id, n, want)
		}
		providers[p.Study.Models[id].Provider] = true
	}
	if len(perModel) != 11 {
		t.Errorf("%d models, want 10 endpoints and the reference", len(perModel))
	}
	for _, want := range []string{"bedrock", "openai-compatible", "vllm", "ollama", "openai", "deepseek"} {
		if !providers[want] {
			t.Errorf("no endpoint of provider %s", want)
		}
	}

	p = planStudy(t, "endpoints.cue", "models=offline")
	if len(p.Generations) != 55 {
		t.Errorf("offline: %d generations, want 10 x 5 + 5", len(p.Generations))
	}
	for _, g := range p.Generations {
		m := p.Study.Models[g.Model]
		if m.CallsAPI() {
			t.Fatalf("offline model %s calls %s", g.Model, m.Provider)
		}
		if m.Provider == "files" {
			if _, err := os.Stat(filepath.Join(p.Study.Source.Dir, m.Dir, g.Task, g.Variant+".py")); err != nil {
				t.Errorf("offline model %s: %v", g.Model, err)
			}
		}
	}
}

// TestWosc25References: the reference implementations give the answers
// known independently of them (the problems' published examples, sums
// computed with other tools, invariants), with Debian's interpreter, which
// has the packages they import.
func TestWosc25References(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import igraph, PIL").Run(); err != nil {
		t.Skipf("%s cannot import igraph and PIL (scripts/install-deps installs them): %v", python, err)
	}
	cmd := exec.Command(python, "wosc25/check_references.py")
	cmd.Dir = "../../experiments"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("check_references.py: %v\n%s", err, out)
	}
}
