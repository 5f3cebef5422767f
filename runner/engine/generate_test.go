package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// fakeAPI is a fake generator of one provider: answer decides each call's
// result; it counts the calls and the peak of calls in flight.
type fakeAPI struct {
	answer func(n int, req llm.Request) (llm.Result, error)

	mu       sync.Mutex
	calls    int
	inflight int
	peak     int
}

func (f *fakeAPI) Generate(ctx context.Context, req llm.Request) (llm.Result, error) {
	f.mu.Lock()
	n := f.calls
	f.calls++
	f.inflight++
	f.peak = max(f.peak, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	return f.answer(n, req)
}

func (f *fakeAPI) stats() (calls, peak int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.peak
}

// apiEngine is an engine over a study of the given API models, one task
// and samples samples each, whose providers' generators are gens.
func apiEngine(t testing.TB, models map[string]schema.Model, samples int, gens map[string]llm.Generator, edit func(*schema.Study)) *Engine {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("prompt"), 0o644)
	s := &schema.Study{
		Name:      "t",
		Models:    models,
		Tasks:     map[string]schema.Task{"a": {Handler: "handler.handler", TimeoutS: 5, Variants: map[string]schema.Variant{"long": {Prompt: "p.md"}}, Benchmark: schema.Benchmark{Event: map[string]any{"n": 1}}}},
		Platforms: map[string]schema.Platform{"local": {Kind: "local"}},
		Matrix:    schema.Matrix{MemoryMB: []int{512}, Arch: []string{"x86_64"}, Platforms: []string{"local"}, Samples: samples, Repetitions: 1},
		Budget:    schema.Budget{USD: 1000},
		Source:    schema.Source{Dir: dir},
	}
	if edit != nil {
		edit(s)
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Plan: p, Dir: filepath.Join(dir, "run"), Store: llm.Store{Dir: filepath.Join(dir, "artifacts")},
		Generators: func(provider string) (llm.Generator, error) {
			if g, ok := gens[provider]; ok {
				return g, nil
			}
			return nil, fmt.Errorf("no fake for provider %q", provider)
		},
		Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// attempts reads the attempt records of a run's journal.
func attempts(t testing.TB, e *Engine) []AttemptRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(e.Dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []AttemptRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Attempt != nil {
			out = append(out, *rec.Attempt)
		}
	}
	return out
}

func throttledError(retryAfter time.Duration) error {
	return &llm.APIError{Provider: "openai", Status: 429, Err: errors.New("fake rate limit"),
		Rate: llm.RateInfo{RetryAfter: retryAfter, RemainingRequests: 0, RemainingTokens: -1}}
}

func TestGenerateJournalsEveryAttempt(t *testing.T) {
	api := &fakeAPI{answer: func(n int, req llm.Request) (llm.Result, error) {
		switch n {
		case 0:
			return llm.Result{}, fmt.Errorf("openai: %w", throttledError(30*time.Millisecond))
		case 1:
			return llm.Result{}, fmt.Errorf("broken stream: %w", llm.ErrRetryable)
		}
		return code(n), nil
	}}
	e := apiEngine(t, map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o"}}, 1,
		map[string]llm.Generator{"openai": api}, nil)
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	g := e.Plan.Generations[0]
	if rec := state(t, e).Generations[g.ID]; rec.Attempts != 3 {
		t.Errorf("generation record says %d attempts, want 3", rec.Attempts)
	}
	got := attempts(t, e)
	if len(got) != 3 {
		t.Fatalf("%d attempt records, want 3: %+v", len(got), got)
	}
	for i, a := range got {
		if a.ID != g.ID || a.Model != "gpt" || a.Attempt != i+1 {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	if a := got[0]; a.Status != 429 || a.Error == "" || a.WaitMS < 30 {
		t.Errorf("first attempt %+v: want status 429, its error, and a wait of at least the Retry-After (30 ms)", a)
	}
	if a := got[1]; a.Status != 0 || a.Error == "" || a.WaitMS <= 0 {
		t.Errorf("second attempt %+v: want no status, its error and a wait", a)
	}
	if a := got[2]; a.Status != 0 || a.Error != "" || a.WaitMS != 0 {
		t.Errorf("last attempt %+v: want a success without wait", a)
	}
}

func TestGenerateRetriesAreBounded(t *testing.T) {
	api := &fakeAPI{answer: func(int, llm.Request) (llm.Result, error) {
		return llm.Result{}, &llm.APIError{Provider: "openai", Status: 503, Err: errors.New("fake overload"), Rate: llm.NoRateInfo}
	}}
	e := apiEngine(t, map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o"}}, 1,
		map[string]llm.Generator{"openai": api}, func(s *schema.Study) {
			r := 2
			s.Generation.Retries = &r
		})
	if err := e.Run(context.Background(), StageGenerate); !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("err = %v, want ErrUnitsFailed", err)
	}
	st := state(t, e)
	if calls, _ := api.stats(); calls != 3 || len(st.Failures) != 1 || st.Failures[0].Attempts != 3 {
		t.Errorf("calls %d, failures %+v; want 3 calls and one failure of 3 attempts", calls, st.Failures)
	}
	if n := len(attempts(t, e)); n != 3 {
		t.Errorf("%d attempt records, want 3", n)
	}
}

func TestBackoff(t *testing.T) {
	ra := func(d time.Duration) *llm.APIError { return &llm.APIError{Rate: llm.RateInfo{RetryAfter: d}} }
	tests := []struct {
		wait, max time.Duration
		apiErr    *llm.APIError
		lo, hi    time.Duration
	}{
		{time.Second, time.Minute, nil, 500 * time.Millisecond, time.Second},
		{time.Hour, 10 * time.Second, nil, 5 * time.Second, 10 * time.Second},                    // capped
		{time.Second, time.Minute, ra(7 * time.Second), 7 * time.Second, 7 * time.Second},        // the server's wait
		{time.Second, 2 * time.Second, ra(30 * time.Second), 30 * time.Second, 30 * time.Second}, // past the cap too
		{time.Second, time.Minute, ra(time.Millisecond), 500 * time.Millisecond, time.Second},
		{0, time.Minute, nil, 0, time.Millisecond},
	}
	for _, tt := range tests {
		for i := 0; i < 50; i++ {
			if d := backoff(tt.wait, tt.max, tt.apiErr); d < tt.lo || d > tt.hi {
				t.Errorf("backoff(%v, %v, %v) = %v, want in [%v, %v]", tt.wait, tt.max, tt.apiErr, d, tt.lo, tt.hi)
				break
			}
		}
	}
}

// TestGenerateGivesUpAFailingModel checks that a model whose generations
// keep failing is given up after giveUpAfter of them, its others journaled
// as failed untried, while another model's all succeed; and that the next
// run tries the given-up generations again.
func TestGenerateGivesUpAFailingModel(t *testing.T) {
	broken := true
	var mu sync.Mutex
	bad := &fakeAPI{answer: func(n int, req llm.Request) (llm.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return llm.Result{}, &llm.APIError{Provider: "openai", Status: 401, Err: errors.New("fake: invalid key"), Rate: llm.NoRateInfo}
		}
		return code(n), nil
	}}
	good := &fakeAPI{answer: func(n int, req llm.Request) (llm.Result, error) { return code(1000 + n), nil }}
	e := apiEngine(t, map[string]schema.Model{
		"gpt":      {Provider: "openai", Model: "gpt-4o"},
		"deepseek": {Provider: "deepseek", Model: "deepseek-chat"},
	}, 8, map[string]llm.Generator{"openai": bad, "deepseek": good}, nil)
	err := e.Run(context.Background(), StageGenerate)
	if !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("err = %v, want ErrUnitsFailed", err)
	}
	st := state(t, e)
	badCalls, _ := bad.stats()
	goodCalls, _ := good.stats()
	if badCalls != giveUpAfter {
		t.Errorf("the failing model was called %d times, want %d", badCalls, giveUpAfter)
	}
	if goodCalls != 8 || len(st.Generations) != 8 {
		t.Errorf("the other model: %d calls, %d generations; want 8 and 8", goodCalls, len(st.Generations))
	}
	untried := 0
	for _, f := range st.Failures {
		if f.Attempts == 0 {
			untried++
		}
	}
	if len(st.Failures) != 8 || untried != 8-giveUpAfter {
		t.Errorf("%d failures, %d untried; want 8 and %d", len(st.Failures), untried, 8-giveUpAfter)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	if n := len(state(t, e).Generations); n != 16 {
		t.Errorf("%d generations after the next run, want 16", n)
	}
}

// TestGenerateRunsProvidersAtOnce checks that two providers generate at the
// same time, each bounded by a concurrency of 1: each fake answers only
// once the other has a request in flight too.
func TestGenerateRunsProvidersAtOnce(t *testing.T) {
	var both sync.WaitGroup
	both.Add(2)
	meet := func(n int) error {
		if n > 0 {
			return nil
		}
		both.Done()
		done := make(chan struct{})
		go func() { both.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the other provider never sent a request: providers ran one after the other")
		}
	}
	answer := func(n int, req llm.Request) (llm.Result, error) {
		if err := meet(n); err != nil {
			return llm.Result{}, err
		}
		return code(n), nil
	}
	a, b := &fakeAPI{answer: answer}, &fakeAPI{answer: answer}
	e := apiEngine(t, map[string]schema.Model{
		"gpt":      {Provider: "openai", Model: "gpt-4o"},
		"deepseek": {Provider: "deepseek", Model: "deepseek-chat"},
	}, 3, map[string]llm.Generator{"openai": a, "deepseek": b}, func(s *schema.Study) {
		s.RateLimits = map[string]schema.Limits{"openai": {Concurrency: 1}, "deepseek": {Concurrency: 1}}
	})
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*fakeAPI{"openai": a, "deepseek": b} {
		if _, peak := f.stats(); peak != 1 {
			t.Errorf("%s: %d requests in flight at once, concurrency 1", name, peak)
		}
	}
}

func TestGenerateConcurrencyLimits(t *testing.T) {
	slow := func(n int, req llm.Request) (llm.Result, error) {
		time.Sleep(5 * time.Millisecond)
		return code(n), nil
	}
	tests := []struct {
		name     string
		models   map[string]schema.Model
		rate     map[string]schema.Limits
		parallel int
		want     int // the most requests in flight wanted
	}{
		{"a model's concurrency", map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o", Limits: &schema.Limits{Concurrency: 2}}},
			nil, 8, 2},
		{"a provider's concurrency across its models", map[string]schema.Model{
			"gpt": {Provider: "openai", Model: "gpt-4o", Limits: &schema.Limits{Concurrency: 3}},
			"o3":  {Provider: "openai", Model: "o3", Limits: &schema.Limits{Concurrency: 3}}},
			map[string]schema.Limits{"openai": {Concurrency: 3}}, 8, 3},
		{"GenerateParallel when the study says nothing", map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o"}},
			nil, 2, 2},
	}
	for _, tt := range tests {
		api := &fakeAPI{answer: slow}
		e := apiEngine(t, tt.models, 12, map[string]llm.Generator{"openai": api}, func(s *schema.Study) { s.RateLimits = tt.rate })
		e.GenerateParallel = tt.parallel
		if err := e.Run(context.Background(), StageGenerate); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, peak := api.stats(); peak > tt.want {
			t.Errorf("%s: %d requests in flight, want at most %d", tt.name, peak, tt.want)
		}
	}
}

// TestGenerateFollowsRetryAfter checks that a 429's Retry-After holds back
// the model's other requests too, not only the retry.
func TestGenerateFollowsRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	api := &fakeAPI{answer: func(n int, req llm.Request) (llm.Result, error) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 0 {
			return llm.Result{}, throttledError(200 * time.Millisecond)
		}
		return code(n), nil
	}}
	e := apiEngine(t, map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o", Limits: &schema.Limits{Concurrency: 1}}}, 3,
		map[string]llm.Generator{"openai": api}, nil)
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if len(times) != 4 {
		t.Fatalf("%d calls, want 4", len(times))
	}
	for i, at := range times[1:] {
		if d := at.Sub(times[0]); d < 200*time.Millisecond {
			t.Errorf("call %d sent %v after the 429, within its Retry-After of 200ms", i+1, d)
		}
	}
}

func TestGenerateCancelledWhileWaiting(t *testing.T) {
	api := &fakeAPI{answer: func(n int, req llm.Request) (llm.Result, error) {
		return llm.Result{}, throttledError(time.Hour)
	}}
	e := apiEngine(t, map[string]schema.Model{"gpt": {Provider: "openai", Model: "gpt-4o"}}, 2,
		map[string]llm.Generator{"openai": api}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, StageGenerate) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled run kept waiting for an hour's Retry-After")
	}
	if st := state(t, e); len(st.Failures) != 0 || len(st.Generations) != 0 {
		t.Errorf("a cancelled run journaled %d failures and %d generations", len(st.Failures), len(st.Generations))
	}
}

// TestGenerateThroughTheOpenAIGenerator sends generations through the real
// OpenAI-compatible generator to a fake server that refuses the first two
// requests with 429 and retry-after-ms: the engine waits as told, and
// journals each attempt with its status.
func TestGenerateThroughTheOpenAIGenerator(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		refuse := n <= 2
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if refuse {
			w.Header().Set("retry-after-ms", "80")
			w.Header().Set("x-ratelimit-remaining-requests", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"fake rate limit","type":"requests"}}`)
			return
		}
		io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"fake-1",
 "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"def handler(e, c):\n    return 1\n"}}],
 "usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}}`)
	}))
	defer srv.Close()
	gen, err := llm.New("openai-compatible", nil, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	noStream := false // the fake answers in one JSON document
	e := apiEngine(t, map[string]schema.Model{"m": {Provider: "openai-compatible", Model: "fake", BaseURL: srv.URL + "/v1", Stream: &noStream}}, 1,
		map[string]llm.Generator{"openai-compatible": gen}, nil)
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	got := attempts(t, e)
	if len(got) != 3 || got[0].Status != 429 || got[1].Status != 429 || got[2].Status != 0 {
		t.Fatalf("attempts %+v, want 429, 429, success", got)
	}
	for _, a := range got[:2] {
		if a.WaitMS < 80 {
			t.Errorf("attempt %d waited %.1f ms, want at least the 80 ms the server asked", a.Attempt, a.WaitMS)
		}
	}
}

func TestTokensEstimate(t *testing.T) {
	mt := 300
	e := apiEngine(t, map[string]schema.Model{
		"capped": {Provider: "openai", Model: "gpt-4o", Params: schema.Params{MaxTokens: &mt}},
		"open":   {Provider: "openai", Model: "gpt-4o"},
	}, 1, nil, nil)
	for _, g := range e.Plan.Generations {
		in := (g.PromptBytes + plan.BytesPerToken - 1) / plan.BytesPerToken
		want := in + plan.DefaultOutputTokens
		if g.Model == "capped" {
			want = in + mt
		}
		if got := e.tokens(g); got != want || in == 0 {
			t.Errorf("%s: estimate %d, want %d (prompt %d bytes)", g.Model, got, want, g.PromptBytes)
		}
	}
}
