package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/llmtest"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// scriptedGenerator is a fake API generator: its n-th call returns
// script(n), and it keeps the requests it was given.
type scriptedGenerator struct {
	script func(n int) (llm.Result, error)

	mu   sync.Mutex
	reqs []llm.Request
}

func (g *scriptedGenerator) Generate(ctx context.Context, req llm.Request) (llm.Result, error) {
	g.mu.Lock()
	n := len(g.reqs)
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
	return g.script(n)
}

// checkedEngine is generateEngine with gen as the generator and a checker
// on checkToolsPlatform, whose candidates answer what the reference does.
func checkedEngine(t *testing.T, gen llm.Generator) (*Engine, *checkToolsPlatform) {
	t.Helper()
	e := generateEngine(t, nil, llm.Store{Dir: t.TempDir()})
	e.Generators = func(string) (llm.Generator, error) { return gen, nil }
	pl := &checkToolsPlatform{t: t, deploys: map[string]int{}}
	e.Checker = &check.Checker{Platform: pl}
	e.CheckMemoryMB, e.CheckArch = 1024, "x86_64"
	task := e.Plan.Study.Tasks["a"]
	task.Reference, task.Runtime = "ref.py", "python3.12"
	task.Tests = []schema.Test{{Name: "small", Event: map[string]any{"n": 2}, Compare: "json"}, {Name: "big", Event: map[string]any{"n": 3}, Compare: "json"}}
	e.Plan.Study.Tasks["a"] = task
	if err := os.WriteFile(e.Plan.Study.Path("ref.py"), []byte("def handler(e, c):\n    return {'n': 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, pl
}

// TestTruncatedIsNeitherCheckedNorMeasured: an answer cut at the token
// limit, even one whose code would pass, is classed TRUNCATED: its code is
// never deployed, checked or measured, and every table says why.
func TestTruncatedIsNeitherCheckedNorMeasured(t *testing.T) {
	answer := "```python\ndef handler(event, context):\n    return {'n': 4}\n```\nThis function also"
	gen := &scriptedGenerator{script: func(int) (llm.Result, error) {
		return llm.Result{Files: map[string][]byte{"handler.py": []byte(llm.ExtractCode(answer))}, Raw: answer,
			InputTokens: 10, OutputTokens: 512, Latency: time.Second, FinishReason: llm.FinishLength}, nil
	}}
	e, pl := checkedEngine(t, gen)
	measured := &fakePlatform{}
	e.Platforms = func(string) (platform.Platform, error) { return measured, nil }
	if err := e.Run(context.Background(), StageGenerate, StageCheck, StageMeasure); err != nil {
		t.Fatal(err)
	}
	if n := pl.deploys["handler.handler"] + pl.deploys["faaslab_check.handler"]; n != 0 {
		t.Errorf("a truncated answer was deployed %d times by the check", n)
	}
	st := state(t, e)
	measured.mu.Lock()
	deploys := measured.deploys
	measured.mu.Unlock()
	if len(st.Invocations) != 0 || deploys != 0 {
		t.Errorf("a truncated answer was measured: %d cells with invocations, %d deployments", len(st.Invocations), deploys)
	}
	tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := tables.Generations[0]
	if g.Class != string(check.ClassTruncated) || g.FinishReason != "length" || !strings.Contains(g.Error, "token limit (512 output tokens)") {
		t.Errorf("generation row: class %q finish %q error %q; want TRUNCATED, length, and the token count", g.Class, g.FinishReason, g.Error)
	}
	if g.Cyclomatic != nil || g.PylintScore != nil || !strings.Contains(g.MetricsNote, "truncated") {
		t.Errorf("generation row has metrics %v/%v, note %q; want none, and why", g.Cyclomatic, g.PylintScore, g.MetricsNote)
	}
	if len(tables.Checks) != 2 {
		t.Fatalf("check rows %+v, want one per test", tables.Checks)
	}
	for _, c := range tables.Checks {
		if c.Class != string(check.ClassTruncated) || !strings.HasPrefix(c.Detail, "not run: truncated") || c.DurationMS != nil {
			t.Errorf("check row %+v, want TRUNCATED, not run", c)
		}
	}
	for _, c := range tables.Cells {
		if c.Class != string(check.ClassTruncated) || c.N != 0 {
			t.Errorf("cell %s: class %q n %d, want TRUNCATED and unmeasured", c.CellID, c.Class, c.N)
		}
	}
	if sum := Summary(tables, Tally{}); !strings.Contains(sum, "(1 TRUNCATED)") {
		t.Errorf("outcome line %q does not count the generation as TRUNCATED", sum)
	}
	if ep := tables.Endpoints; len(ep) != 1 || ep[0].Truncated != 1 {
		t.Errorf("endpoints %+v, want one that counts the truncation", ep)
	}
}

// TestGenerationMetadata: the study's streaming and reasoning settings
// reach the generator; what the API reported reaches the journal, the
// generations table and the endpoints table; failed attempts count as
// errors of the endpoint.
func TestGenerationMetadata(t *testing.T) {
	gen := &scriptedGenerator{script: func(n int) (llm.Result, error) {
		if n == 0 {
			return llm.Result{}, fmt.Errorf("fake 503: %w", llm.ErrRetryable)
		}
		r := code(n)
		r.OutputTokens, r.ReasoningTokens, r.CachedTokens = 100, 30, 8
		r.Latency, r.TTFT, r.FinishReason = 1200*time.Millisecond, 200*time.Millisecond, "stop"
		return r, nil
	}}
	e := generateEngine(t, nil, llm.Store{Dir: t.TempDir()})
	e.Generators = func(string) (llm.Generator, error) { return gen, nil }
	limit := 4096
	m := e.Plan.Study.Models["m"]
	m.Model, m.Reasoning, m.BaseURL = "o3-mini", true, "http://127.0.0.1:8000/v1"
	m.Params = schema.Params{MaxCompletionTokens: &limit, ReasoningEffort: "high"}
	m.Price = &schema.Price{InputPerMTok: 1, OutputPerMTok: 4}
	e.Plan.Study.Models["m"] = m
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}

	req := gen.reqs[len(gen.reqs)-1]
	if !req.Stream || !req.Reasoning || req.Params.MaxCompletionTokens == nil || *req.Params.MaxCompletionTokens != limit || req.Params.ReasoningEffort != "high" {
		t.Errorf("request %+v, want streamed, reasoning, with the study's limit and effort", req)
	}
	st := state(t, e)
	rec := st.Generations[e.Plan.Generations[0].ID]
	if rec.TTFTMS != 200 || rec.ReasoningTokens != 30 || rec.CachedTokens != 8 || rec.FinishReason != "stop" {
		t.Errorf("generation record %+v, want the result's metadata", rec)
	}
	tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := tables.Generations[0]
	if g.TTFTMS == nil || *g.TTFTMS != 200 || g.TokensPerS == nil || *g.TokensPerS != 100 ||
		g.ReasoningTokens == nil || *g.ReasoningTokens != 30 || g.CachedTokens == nil || *g.CachedTokens != 8 ||
		g.FinishReason != "stop" || g.ReasoningEffort != "high" || g.MaxCompletionTokens == nil || *g.MaxCompletionTokens != int32(limit) {
		t.Errorf("generation row %+v; want ttft 200, 100 tokens/s (100 tokens in the 1 s after the first), 30 reasoning, 8 cached, stop, high, %d", g, limit)
	}
	if len(tables.Endpoints) != 1 {
		t.Fatalf("endpoints %+v, want one", tables.Endpoints)
	}
	ep := tables.Endpoints[0]
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }
	if ep.Model != "m" || ep.Provider != "openai" || ep.Host != "127.0.0.1:8000" || ep.Generations != 1 || ep.Calls != 2 || ep.Errors != 1 ||
		!near(ep.ErrorRate, 0.5) || !near(ep.LatencyP50MS, 1200) || !near(ep.LatencyP95MS, 1200) ||
		!near(ep.TTFTP50MS, 200) || !near(ep.TTFTP95MS, 200) || !near(ep.TokensPerSP50, 100) || !near(ep.CostPerCallUSD, (10*1+100*4)/1e6) {
		t.Errorf("endpoint row %+v", ep)
	}
}

// TestNotStreamedModel: stream: false reaches the generator, and an
// answer that was not streamed has no time to first token; its speed is
// over the whole call.
func TestNotStreamedModel(t *testing.T) {
	gen := &scriptedGenerator{script: func(n int) (llm.Result, error) {
		r := code(n)
		r.OutputTokens, r.Latency, r.FinishReason = 50, 500*time.Millisecond, "stop"
		return r, nil
	}}
	e := generateEngine(t, nil, llm.Store{Dir: t.TempDir()})
	e.Generators = func(string) (llm.Generator, error) { return gen, nil }
	no := false
	m := e.Plan.Study.Models["m"]
	m.Stream = &no
	e.Plan.Study.Models["m"] = m
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if gen.reqs[0].Stream {
		t.Error("stream: false, but the request asks for a stream")
	}
	st := state(t, e)
	tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
	if err != nil {
		t.Fatal(err)
	}
	g, ep := tables.Generations[0], tables.Endpoints[0]
	if g.TTFTMS != nil || g.TokensPerS == nil || *g.TokensPerS != 100 {
		t.Errorf("generation row: ttft %v tokens/s %v; want null and 100", g.TTFTMS, g.TokensPerS)
	}
	if ep.TTFTP50MS != nil || ep.Host != "api.openai.com" || ep.Calls != 1 || ep.Errors != 0 || ep.ErrorRate == nil || *ep.ErrorRate != 0 || ep.CostPerCallUSD != nil {
		t.Errorf("endpoint row %+v; want no TTFT, the default host, 1 call, no error, no price", ep)
	}
}

// TestStreamedAnswersFromFakeAPI runs the generate and check stages with
// the OpenAI-compatible generator against a fake streaming server: a
// reasoning model's thinking stays in the stored answer and out of the
// code, the stream's metadata reaches the tables, and an answer the
// server cuts at the token limit is TRUNCATED.
func TestStreamedAnswersFromFakeAPI(t *testing.T) {
	thought := "Draft:\n```python\ndef handler(event, context):\n    # a first draft, longer than the answer, never the code\n    return None\n```"
	code := "def handler(event, context):\n    return {'n': 4}\n"
	answer := "```python\n" + code + "```"
	for _, tt := range []struct {
		name  string
		serve func(*llmtest.FakeOpenAI)
		class check.Class
	}{
		{"thinking", func(s *llmtest.FakeOpenAI) { s.Think(thought, answer) }, check.ClassOK},
		{"truncated", func(s *llmtest.FakeOpenAI) { s.Truncate("```python\n" + code[:30]) }, check.ClassTruncated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := llmtest.NewFakeOpenAI(t)
			tt.serve(svc)
			gen, err := llm.New("openai-compatible", nil, svc.Client())
			if err != nil {
				t.Fatal(err)
			}
			e, _ := checkedEngine(t, gen)
			m := e.Plan.Study.Models["m"]
			m.Provider, m.Model, m.BaseURL, m.Reasoning = "openai-compatible", "fake-r1", svc.URL+"/v1", true
			m.Params = schema.Params{ReasoningEffort: "low"}
			e.Plan.Study.Models["m"] = m
			if err := e.Run(context.Background(), StageGenerate, StageCheck); err != nil {
				t.Fatal(err)
			}
			got, _ := svc.Last()
			if !got.Stream || !got.IncludeUsage || got.Temperature != nil || got.ReasoningEffort != "low" {
				t.Errorf("the server received %+v; want a stream with usage, no temperature, effort low", got)
			}
			st := state(t, e)
			tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
			if err != nil {
				t.Fatal(err)
			}
			g := tables.Generations[0]
			if g.Class != string(tt.class) || g.TTFTMS == nil || g.ModelVersion != "fake-model-1" || g.CachedTokens == nil || *g.CachedTokens != llmtest.CachedTokens {
				t.Errorf("generation row %+v; want class %s, a TTFT, the API's version and cached tokens", g, tt.class)
			}
			if tt.class != check.ClassOK {
				return
			}
			if g.ReasoningTokens == nil || *g.ReasoningTokens != llmtest.ReasoningTokens || g.FinishReason != "stop" {
				t.Errorf("generation row: reasoning tokens %v, finish %q", g.ReasoningTokens, g.FinishReason)
			}
			res, ok, err := e.Store.Get(context.Background(), st.Generations[g.GenerationID].Key)
			if err != nil || !ok {
				t.Fatalf("stored answer: %v, %v", ok, err)
			}
			if !strings.Contains(res.Raw, thought) || string(res.Files["handler.py"]) != code {
				t.Errorf("stored answer %q with code %q; want the thinking kept and the answer's code alone", res.Raw, res.Files["handler.py"])
			}
		})
	}
}
