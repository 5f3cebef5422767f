package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// checkToolsPlatform is a fake platform for the check stage. Its
// functions answer {"n": 4} to any event, so every candidate that runs
// matches the reference; the checker's own tools module compiles code for
// real, with the host's Python outside any sandbox, so the tests must give
// it only code they wrote themselves. Compiling runs nothing of the code;
// static metrics (pylint imports the code) are never made on the host.
type checkToolsPlatform struct {
	t  *testing.T
	mu sync.Mutex
	// deploys counts deployments by handler.
	deploys map[string]int
}

func (p *checkToolsPlatform) Name() string { return "fake" }

func (p *checkToolsPlatform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deploys[fn.Handler]++
	return &checkToolsDeployment{p: p, fn: fn}, nil
}

type checkToolsDeployment struct {
	p  *checkToolsPlatform
	fn platform.Function
}

func (d *checkToolsDeployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	if d.fn.Handler != "faaslab_check.handler" {
		return platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"n":4}`)}, nil
	}
	var req struct{ Op string }
	json.Unmarshal(event, &req)
	if req.Op != "compile" {
		return platform.Invocation{Status: platform.StatusError, ErrorType: "Fake", ErrorMessage: "the fake platform only compiles"}, nil
	}
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		d.p.t.Skipf("no %s to compile with: %v", python, err)
	}
	script := "import json, sys\nsys.path.insert(0, sys.argv[1])\nimport faaslab_check\n" +
		"json.dump(faaslab_check.handler(json.load(sys.stdin), None), sys.stdout)"
	cmd := exec.CommandContext(ctx, python, "-I", "-c", script, d.fn.CodeDir)
	cmd.Env = []string{}
	cmd.Stdin = bytes.NewReader(event)
	out, err := cmd.Output()
	if err != nil {
		return platform.Invocation{}, err
	}
	return platform.Invocation{Status: platform.StatusOK, Result: out}, nil
}

func (d *checkToolsDeployment) Close(ctx context.Context) error { return nil }

// answerGenerator is a fake API generator: it answers every request with
// text and extracts the code from it as the API generators do.
type answerGenerator struct{ text string }

func (g answerGenerator) Generate(ctx context.Context, req llm.Request) (llm.Result, error) {
	return llm.Result{Files: map[string][]byte{"handler.py": []byte(llm.ExtractCode(g.text))}, Raw: g.text,
		ModelVersion: "fake-1", InputTokens: 10, OutputTokens: 20}, nil
}

// TestAnswersWithoutCodeAreNOCODE generates and checks one answer of each
// kind: a refusal and a prose-only answer have no code (NOCODE), while
// broken code stays a syntax error (SE) and working code is OK.
func TestAnswersWithoutCodeAreNOCODE(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		class  check.Class
		detail string
	}{
		{"refusal", "I'm sorry, but I can't help with writing that function.", check.ClassNoCode,
			`no code in the model's answer: "I'm sorry, but I can't help`},
		{"prose only", "To rank the pages, start every node at 1/N and spread its rank over its links\n" +
			"until the ranks settle. networkx's pagerank function does this for you.", check.ClassNoCode,
			`no code in the model's answer: "To rank the pages`},
		{"empty answer", "", check.ClassNoCode, "no code: the model's answer was empty"},
		{"broken code", "```python\ndef handler(event, context)\n    return {'n': 4}\n```", check.ClassSE, "handler.py:1:"},
		{"unfenced broken code", "def handler(event, context)\n    return {'n': 4}\n", check.ClassSE, "handler.py:1:"},
		{"working code", "```python\ndef handler(event, context):\n    return {'n': 4}\n```", check.ClassOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := generateEngine(t, nil, llm.Store{Dir: t.TempDir()})
			e.Generators = func(string) (llm.Generator, error) { return answerGenerator{tt.answer}, nil }
			pl := &checkToolsPlatform{t: t, deploys: map[string]int{}}
			e.Checker = &check.Checker{Platform: pl}
			e.CheckMemoryMB, e.CheckArch = 1024, "x86_64"
			task := e.Plan.Study.Tasks["a"]
			task.Reference, task.Runtime = "ref.py", "python3.12"
			task.Tests = []schema.Test{{Name: "small", Event: map[string]any{"n": 2}, Compare: "json"}}
			e.Plan.Study.Tasks["a"] = task
			if err := os.WriteFile(e.Plan.Study.Path("ref.py"), []byte("def handler(e, c):\n    return {'n': 4}\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			if err := e.Run(context.Background(), StageGenerate, StageCheck); err != nil {
				t.Fatal(err)
			}
			st := state(t, e)
			tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
			if err != nil {
				t.Fatal(err)
			}
			g := tables.Generations[0]
			if g.Class != string(tt.class) || !strings.Contains(g.Error, tt.detail) {
				t.Errorf("generation row: class %q error %q; want %s with %q", g.Class, g.Error, tt.class, tt.detail)
			}
			if len(tables.Checks) != 1 || tables.Checks[0].Class != string(tt.class) {
				t.Fatalf("check rows %+v, want one of class %s", tables.Checks, tt.class)
			}
			if tt.class != check.ClassOK && !strings.HasPrefix(tables.Checks[0].Detail, "not run: ") {
				t.Errorf("check row detail %q, want it to say the test did not run", tables.Checks[0].Detail)
			}
			if c := tables.Cells[0]; c.Class != string(tt.class) {
				t.Errorf("cell class %q, want %s", c.Class, tt.class)
			}
			if sum := Summary(tables, Tally{}); !strings.Contains(sum, "(1 "+string(tt.class)+")") {
				t.Errorf("outcome line %q does not count the generation as %s", sum, tt.class)
			}
			if tt.class == check.ClassNoCode {
				if n := pl.deploys["handler.handler"] + pl.deploys["faaslab_check.handler"]; n != 0 {
					t.Errorf("an answer without code was deployed %d times", n)
				}
				if !strings.Contains(st.Checks[e.Plan.Generations[0].ID].MetricsNote, "no code") {
					t.Errorf("metrics note %q, want it to say there is no code", st.Checks[e.Plan.Generations[0].ID].MetricsNote)
				}
			}
		})
	}
}
