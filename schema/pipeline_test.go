package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePipeline writes a valid two-stage pipeline study with task (the
// pipeline's fields, appended to the task) and returns its path.
func writePipeline(t *testing.T, task string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"a.md", "b.md", "ref_a.py", "ref_b.py", "in.png", "more.png"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := `name: "t"
models: reference: provider: "reference"
tasks: pipe: {
	input: "in.png"
	stages: [
		{name: "grey", variants: long: prompt: "a.md", reference: "ref_a.py", tests: [{name: "more", input: "more.png"}]},
		{name: "rotate", variants: long: prompt: "b.md", reference: "ref_b.py", memory_mb: 256, compare: {rule: "bytes"}},
	]
` + task + `
}
platforms: local: kind: "local"
matrix: {memory_mb: [512], arch: ["x86_64"], repetitions: 10}
budget: usd: 1
`
	path := filepath.Join(dir, "study.cue")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPipelineLoads(t *testing.T) {
	s, err := Load(writePipeline(t, `workload: {count: 100000, unit: "images"}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Tasks["pipe"]
	if !p.IsPipeline() || len(p.Stages) != 2 || p.Input != "in.png" || p.Workload == nil || p.Workload.Count != 100000 {
		t.Fatalf("task decoded as %+v", p)
	}
	a, b := p.Stages[0], p.Stages[1]
	if a.Handler != "handler.handler" || a.Compare.Rule != "image" || a.Compare.Metric != "psnr" || a.MemoryMB != nil ||
		len(a.Tests) != 1 || b.Compare.Rule != "bytes" || b.MemoryMB == nil || *b.MemoryMB != 256 {
		t.Errorf("stages decoded as %+v", p.Stages)
	}
	if got := p.VariantNames(); len(got) != 1 || got[0] != "long" {
		t.Errorf("VariantNames = %v", got)
	}
	if st := p.StageTask(1); st.Reference != "ref_b.py" || st.TimeoutS != 300 || st.Runtime != "python3.12" {
		t.Errorf("StageTask(1) = %+v", st)
	}
	files, _, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("Files() = %v, want the prompts, references and both inputs", files)
	}
}

func TestPipelineErrors(t *testing.T) {
	tests := []struct{ task, want string }{
		{`reference: "ref_a.py"`, "tasks.pipe.reference: a pipeline's references are its stages'"},
		{`variants: long: prompt: "a.md"`, "tasks.pipe.variants: a pipeline's prompts are its stages'"},
		{`benchmark: event: {}`, "tasks.pipe.benchmark: a pipeline run is triggered by uploading input"},
		{`tests: [{name: "x", event: {}}]`, "tasks.pipe.tests: a pipeline is checked stage by stage"},
		{`input: "missing.png"`, "conflicting values"},
		{`stages: [{}, {variants: short: prompt: "a.md"}]`, `tasks.pipe.stages[1].variants: stage "rotate" has variants [long short], stage "grey" has [long]`},
		{`stages: [_, {name: "grey"}]`, `conflicting values`},
		{`stages: [{memory_mb: 64}, _]`, `tasks.pipe.stages[0].memory_mb: invalid value 64`},
		{`stages: [_, {compare: rule: "psnr"}]`, `tasks.pipe.stages[1].compare.rule`},
	}
	for _, tt := range tests {
		_, err := Load(writePipeline(t, tt.task), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant one containing %q", tt.task, err, tt.want)
		}
	}
	edits := []struct{ old, new, want string }{
		{`name: "rotate"`, `name: "grey"`, `tasks.pipe.stages[1].name: duplicate stage name "grey"`},
		{`reference: "ref_a.py"`, `reference: "nope.py"`, `tasks.pipe.stages[0].reference: file nope.py does not exist`},
		{`tests: [{name: "more", input: "more.png"}]`, `tests: [{name: "more", input: "more.png"}, {name: "more", input: "in.png"}]`,
			`tasks.pipe.stages[0].tests[1].name: duplicate test name "more"`},
	}
	for _, ed := range edits {
		path := writePipeline(t, "")
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), ed.old, ed.new, 1)), 0o644)
		if _, err := Load(path, Options{}); err == nil || !strings.Contains(err.Error(), ed.want) {
			t.Errorf("%s: %v, want %q", ed.new, err, ed.want)
		}
	}
	// A single function keeps needing its reference and benchmark.
	path := writeStudy(t, "", "")
	b, _ := os.ReadFile(path)
	src := strings.Replace(string(b), "\treference: \"ref.py\"\n", "", 1)
	src = strings.Replace(src, "\tbenchmark: event: {n: 3}\n", "\tinput: \"p.md\"\n", 1)
	os.WriteFile(path, []byte(src), 0o644)
	_, err := Load(path, Options{})
	for _, want := range []string{"tasks.sq.reference: a task needs a reference", "tasks.sq.benchmark: a task needs a benchmark event", "tasks.sq.input: input belongs to a pipeline task"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("single function: %v, want %q", err, want)
		}
	}
}

func TestPipelineArm64RefusedLocally(t *testing.T) {
	path := writePipeline(t, "")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `arch: ["x86_64"]`, `arch: ["x86_64", "arm64"]`, 1)), 0o644)
	_, err := Load(path, Options{HostArch: "x86_64"})
	if err == nil || !strings.Contains(err.Error(), `matrix.arch[1]: platform "local" is local and this host runs x86_64, not arm64`) {
		t.Errorf("got %v", err)
	}
}

func TestPipelineMixes(t *testing.T) {
	s, err := Load(writePipeline(t, `mixes: fast: {grey: "reference", rotate: "reference"}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Tasks["pipe"]
	if p.StageModel("fast", 1) != "reference" || p.StageModel("reference", 0) != "reference" {
		t.Errorf("mixes decoded as %v", p.Mixes)
	}
	for _, tt := range []struct{ task, want string }{
		{`mixes: fast: {grey: "reference", rotate: "reference", blur: "reference"}`, `tasks.pipe.mixes.fast.blur: no stage named "blur" (stages: [grey rotate])`},
		{`mixes: fast: {grey: "reference", rotate: "gpt"}`, `tasks.pipe.mixes.fast.rotate: no model named "gpt" (models: [reference])`},
		{`mixes: fast: {grey: "reference"}`, `tasks.pipe.mixes.fast: mix "fast" names no model for stage "rotate"`},
		{`mixes: reference: {grey: "reference", rotate: "reference"}`, `tasks.pipe.mixes.reference: mix "reference" has the name of a model`},
	} {
		_, err := Load(writePipeline(t, tt.task), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant one containing %q", tt.task, err, tt.want)
			continue
		}
		// The error names the file and line of the mix.
		if !strings.Contains(err.Error(), "study.cue:9:") {
			t.Errorf("%s: %v, want the position study.cue:9", tt.task, err)
		}
	}
	// A matrix pattern may name a mix as its model.
	path := writePipeline(t, `mixes: fast: {grey: "reference", rotate: "reference"}`)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "repetitions: 10}", `repetitions: 10, exclude: [{model: "fast"}, {model: "slow"}]}`, 1)), 0o644)
	if _, err := Load(path, Options{}); err == nil || !strings.Contains(err.Error(), `matrix.exclude[1].model: no model or mix named "slow"`) ||
		strings.Contains(err.Error(), "exclude[0]") {
		t.Errorf("patterns naming mixes: %v", err)
	}
	// A single function has no mixes.
	path = writeStudy(t, "", "")
	b, _ = os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "\treference: \"ref.py\"\n", "\treference: \"ref.py\"\n\tmixes: m: x: \"y\"\n", 1)), 0o644)
	if _, err := Load(path, Options{}); err == nil || !strings.Contains(err.Error(), "tasks.sq.mixes: mixes belong to a pipeline task") {
		t.Errorf("single function with mixes: %v", err)
	}
}
