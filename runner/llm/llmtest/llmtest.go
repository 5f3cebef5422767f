// Package llmtest is the conformance suite for llm.Generator: what every
// generator does, whether its code comes from a model API, from disk
// (files) or from the task's reference. A generator's tests call Run.
//
// It also holds fake model services (FakeOpenAI, FakeBedrock) that listen
// on loopback only, so generators and the commands built on them can be
// tested without any network or key.
package llmtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
)

// Fixture is one generator under test and the means to steer what it
// produces. Run makes a new Fixture for every case.
type Fixture struct {
	// Generator is the generator under test.
	Generator llm.Generator
	// Answer arranges that the generator produces text for the request it
	// returns: a model service answers text, or the code on disk that the
	// request names holds text. The request is complete for the
	// generator (Provider, ModelName, BaseURL, FilesDir, ReferenceFile,
	// ...); the suite sets Handler, Prompt, System, Params, Task, Variant
	// and Sample on copies of it only where a case says so.
	Answer func(t *testing.T, text string) llm.Request
	// Model says that text is a model's answer, from which the generator
	// extracts the code (llm.ExtractCode) and which it keeps as
	// Result.Raw. Otherwise text is the code itself, kept as it is.
	Model bool
	// Service is the fake model API behind the generator; nil for
	// generators that call none.
	Service Service
	// SendsSeed says the API takes Params.Seed (Bedrock's Converse does
	// not).
	SendsSeed bool
	// Missing returns a request whose code does not exist, which the
	// generator must refuse with a permanent error; nil for generators
	// with a Service (their permanent errors come from the API).
	Missing func(t *testing.T) llm.Request
	// Stream says the requests Answer returns ask for a streamed answer
	// (Request.Stream), whose results time the first token.
	Stream bool
	// SendsReasoningEffort says the API takes Params.ReasoningEffort
	// (Bedrock's Converse has no common field for it).
	SendsReasoningEffort bool
}

// Handler is the handler setting of the suite's requests, and HandlerFile
// the handler module it names.
const (
	Handler     = "app.handler"
	HandlerFile = "app.py"
)

// Bound is how long the suite waits for a generation that should end: a
// call whose context was cancelled, or a concurrent batch. It bounds a
// hang, not a speed.
var Bound = 30 * time.Second

// Run runs the suite. newFixture is called once per case, which may run
// in parallel.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Fixture)
	}{
		{"Code", testCode},
		{"NoCode", testNoCode},
		{"ResultOwnedByCaller", testResultOwned},
		{"Concurrent", testConcurrent},
		{"Parameters", testParameters},
		{"UnsetParametersNotSent", testUnsetParameters},
		{"ZeroTemperatureSent", testZeroTemperature},
		{"Errors", testErrors},
		{"BadRequest", testBadRequest},
		{"CancelledBefore", testCancelledBefore},
		{"CancelledDuring", testCancelledDuring},
		{"Deadline", testDeadline},
		{"Metadata", testMetadata},
		{"Truncated", testTruncated},
		{"Thinking", testThinking},
		{"Reasoning", testReasoning},
		{"Stalled", testStalled},
		{"Broken", testBroken},
		{"Malformed", testMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newFixture(t))
		})
	}
}

// request is f's request for text, with the suite's handler.
func request(t *testing.T, f Fixture, text string) llm.Request {
	req := f.Answer(t, text)
	req.Handler = Handler
	return req
}

// generate runs one generation that must succeed, bounded by Bound.
func generate(t *testing.T, f Fixture, req llm.Request) llm.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	defer cancel()
	res, err := f.Generator.Generate(ctx, req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res
}

// handlerModule returns the handler module of res, failing when it is
// absent.
func handlerModule(t *testing.T, res llm.Result) string {
	t.Helper()
	code, ok := res.Files[HandlerFile]
	if !ok {
		t.Fatalf("result files %q lack the handler module %s", keys(res.Files), HandlerFile)
	}
	return string(code)
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

const code = "def handler(event, context):\n    return {\"n\": event[\"n\"] ** 2}\n"

// testCode: the code of an answer ends up as the handler module; a
// model's answer is kept as Raw and its usage reported.
func testCode(t *testing.T, f Fixture) {
	text := code
	if f.Model {
		text = "Here is the function:\n\n```python\n" + code + "```\n\nIt squares n."
	}
	res := generate(t, f, request(t, f, text))
	if got := handlerModule(t, res); got != code {
		t.Errorf("handler module %q, want %q", got, code)
	}
	if len(res.Files) != 1 {
		t.Errorf("files %q, want the handler module alone", keys(res.Files))
	}
	switch {
	case f.Model && res.Raw != text:
		t.Errorf("Raw %q, want the model's whole answer %q", res.Raw, text)
	case !f.Model && res.Raw != "":
		t.Errorf("Raw %q, want none for code read from disk", res.Raw)
	}
	if f.Service != nil && (res.InputTokens <= 0 || res.OutputTokens <= 0) {
		t.Errorf("tokens %d/%d, want the usage the API reported", res.InputTokens, res.OutputTokens)
	}
	if res.Latency < 0 {
		t.Errorf("Latency %v < 0", res.Latency)
	}
}

// testNoCode: an answer without code (a refusal, prose only, nothing) is
// a successful generation whose handler module is empty, which the check
// classes NOCODE; it is not an error, so it is stored and not retried.
func testNoCode(t *testing.T, f Fixture) {
	answers := []string{""}
	if f.Model {
		answers = append(answers,
			"I'm sorry, but I can't help with that.",
			"PageRank starts every node at 1/N and spreads each node's rank over its out-links until the ranks settle.\n"+
				"networkx's pagerank function does this for you.")
	}
	for _, text := range answers {
		res := generate(t, f, request(t, f, text))
		if got := handlerModule(t, res); got != "" {
			t.Errorf("answer %q: handler module %q, want it empty (no code)", text, got)
		}
		if f.Model && res.Raw != text {
			t.Errorf("answer %q: Raw %q, want the answer kept", text, res.Raw)
		}
	}
}

// testResultOwned: the caller owns a Result; changing it changes nothing
// that the generator returns later.
func testResultOwned(t *testing.T, f Fixture) {
	req := request(t, f, code)
	res := generate(t, f, req)
	for name, b := range res.Files {
		for i := range b {
			b[i] = '#'
		}
		res.Files[name] = nil
	}
	res.Files["extra.py"] = []byte("x = 1\n")
	again := generate(t, f, req)
	if len(again.Files) != 1 || handlerModule(t, again) != code {
		t.Errorf("after the caller changed a result, the next has files %q", again.Files)
	}
}

// testConcurrent: one generator serves several goroutines at once (run
// with -race).
func testConcurrent(t *testing.T, f Fixture) {
	req := request(t, f, code)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), Bound)
			defer cancel()
			res, err := f.Generator.Generate(ctx, req)
			switch {
			case err != nil:
				errs <- err
			case string(res.Files[HandlerFile]) != code:
				errs <- fmt.Errorf("handler module %q, want %q", res.Files[HandlerFile], code)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// sentParams are the parameters of the Parameters case.
func sentParams() llm.Params {
	temp, topP, maxTokens, seed := 0.2, 0.9, 2048, 42
	return llm.Params{Temperature: &temp, TopP: &topP, MaxTokens: &maxTokens, Seed: &seed, Stop: []string{"###", "END"}}
}

// last is the last request f's service received.
func last(t *testing.T, f Fixture) Received {
	t.Helper()
	r, ok := f.Service.Last()
	if !ok {
		t.Fatal("the service received no request")
	}
	return r
}

// near32 reports whether got carries want through a float32, as APIs'
// JSON numbers often do.
func near32(got *float64, want float64) bool {
	return got != nil && math.Abs(*got-want) <= 1e-6*math.Max(1, math.Abs(want))
}

// testParameters: the model name, system prompt, prompt and every set
// parameter reach the API.
func testParameters(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	req := request(t, f, code)
	req.System, req.Prompt, req.Params = "You are a careful engineer.", "Write a function that squares n.", sentParams()
	generate(t, f, req)
	got := last(t, f)
	p := req.Params
	if got.Model != req.ModelName || got.System != req.System || got.Prompt != req.Prompt {
		t.Errorf("model %q system %q prompt %q; want %q, %q, %q", got.Model, got.System, got.Prompt, req.ModelName, req.System, req.Prompt)
	}
	if !near32(got.Temperature, *p.Temperature) || !near32(got.TopP, *p.TopP) {
		t.Errorf("temperature %v top_p %v, want %v and %v", deref(got.Temperature), deref(got.TopP), *p.Temperature, *p.TopP)
	}
	if got.MaxTokens == nil || *got.MaxTokens != *p.MaxTokens {
		t.Errorf("max tokens %v, want %d", deref(got.MaxTokens), *p.MaxTokens)
	}
	if !slices.Equal(got.Stop, p.Stop) {
		t.Errorf("stop %q, want %q", got.Stop, p.Stop)
	}
	switch {
	case f.SendsSeed && (got.Seed == nil || *got.Seed != *p.Seed):
		t.Errorf("seed %v, want %d", deref(got.Seed), *p.Seed)
	case !f.SendsSeed && got.Seed != nil:
		t.Errorf("seed %d sent to an API that takes none", *got.Seed)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// testUnsetParameters: a parameter the study leaves unset is not sent, so
// the API's default holds; no system prompt, no system message.
func testUnsetParameters(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	req := request(t, f, code)
	req.System, req.Params = "", llm.Params{}
	generate(t, f, req)
	got := last(t, f)
	if got.Temperature != nil || got.TopP != nil || got.MaxTokens != nil || got.Seed != nil || got.Stop != nil || got.System != "" {
		t.Errorf("unset parameters sent: %+v", got)
	}
}

// testZeroTemperature: a temperature of 0 is sent (greedy decoding), not
// dropped as unset; it may arrive as the smallest positive float.
func testZeroTemperature(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	zero := 0.0
	req := request(t, f, code)
	req.Params = llm.Params{Temperature: &zero}
	generate(t, f, req)
	if got := last(t, f).Temperature; got == nil || *got < 0 || *got > 1e-6 {
		t.Errorf("temperature %v, want 0 (or the smallest positive float)", deref(got))
	}
}

// testErrors: failures a later attempt may cure wrap llm.ErrRetryable;
// others do not, and none is retried by the generator itself.
func testErrors(t *testing.T, f Fixture) {
	if f.Service == nil {
		req := f.Missing(t)
		req.Handler = Handler
		_, err := f.Generator.Generate(context.Background(), req)
		if err == nil || errors.Is(err, llm.ErrRetryable) {
			t.Errorf("missing code: error %v, want a permanent error", err)
		}
		return
	}
	req := request(t, f, code)
	for _, tt := range []struct {
		status    int
		retryable bool
	}{
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
	} {
		f.Service.Fail(tt.status)
		before := f.Service.Requests()
		_, err := f.Generator.Generate(context.Background(), req)
		if err == nil {
			t.Errorf("HTTP %d: no error", tt.status)
			continue
		}
		if got := errors.Is(err, llm.ErrRetryable); got != tt.retryable {
			t.Errorf("HTTP %d: retryable %v, want %v (error %v)", tt.status, got, tt.retryable, err)
		}
		if n := f.Service.Requests() - before; n != 1 {
			t.Errorf("HTTP %d: %d requests, want 1: the engine retries, not the generator", tt.status, n)
		}
	}
}

// testBadRequest: a request the generator cannot serve fails at once and
// permanently, without calling the API.
func testBadRequest(t *testing.T, f Fixture) {
	good := request(t, f, code)
	for name, change := range map[string]func(*llm.Request){
		"handler without a function": func(r *llm.Request) { r.Handler = "app" },
		"handler leading out":        func(r *llm.Request) { r.Handler = "../app.handler" },
		"another provider's request": func(r *llm.Request) { r.Provider = "no-such-provider" },
	} {
		req := good
		change(&req)
		before := 0
		if f.Service != nil {
			before = f.Service.Requests()
		}
		_, err := f.Generator.Generate(context.Background(), req)
		if err == nil || errors.Is(err, llm.ErrRetryable) {
			t.Errorf("%s: error %v, want a permanent error", name, err)
		}
		if f.Service != nil && f.Service.Requests() != before {
			t.Errorf("%s: the API was called", name)
		}
	}
}

// testCancelledBefore: a cancelled context fails the generation with
// context.Canceled, never ErrRetryable (Ctrl-C is not a failure to retry).
func testCancelledBefore(t *testing.T, f Fixture) {
	req := request(t, f, code)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Generator.Generate(ctx, req)
	if err == nil || errors.Is(err, llm.ErrRetryable) || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled and not ErrRetryable", err)
	}
}

// testCancelledDuring: cancelling the context of a generation waiting on
// the API ends it with context.Canceled, not ErrRetryable.
func testCancelledDuring(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	req := request(t, f, code)
	f.Service.Hang()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.Generator.Generate(ctx, req)
		done <- err
	}()
	waitFor(t, func() bool { return f.Service.Requests() > 0 }, "the request to reach the service")
	cancel()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, llm.ErrRetryable) || !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled and not ErrRetryable", err)
		}
	case <-time.After(Bound):
		t.Fatalf("Generate did not return within %v of its context's cancellation", Bound)
	}
}

// testDeadline: a generation past its context's deadline is retryable: the
// API may answer in time on the next attempt.
func testDeadline(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	req := request(t, f, code)
	f.Service.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.Generator.Generate(ctx, req)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, llm.ErrRetryable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want ErrRetryable and context.DeadlineExceeded", err)
		}
	case <-time.After(Bound):
		t.Fatalf("Generate did not return within %v of its deadline", Bound)
	}
}

// waitFor polls cond until it holds, failing after Bound.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(Bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", Bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faults returns f's service as Faults, skipping the case when f has none.
func faults(t *testing.T, f Fixture) Faults {
	t.Helper()
	fs, ok := f.Service.(Faults)
	if !ok {
		t.Skip("the generator calls no API with faults to inject")
	}
	return fs
}

// testMetadata: a model's result says why the model stopped, the usage
// in detail, and, streamed, the time to the first token; the request
// asks for the stream (and its usage) only when streaming.
func testMetadata(t *testing.T, f Fixture) {
	if f.Service == nil {
		res := generate(t, f, request(t, f, code))
		if res.TTFT != 0 || res.FinishReason != "" {
			t.Errorf("TTFT %v finish %q for code read from disk, want none", res.TTFT, res.FinishReason)
		}
		return
	}
	res := generate(t, f, request(t, f, "```python\n"+code+"```"))
	got := last(t, f)
	if res.FinishReason != "stop" || res.Truncated() {
		t.Errorf("FinishReason %q, want stop", res.FinishReason)
	}
	if res.CachedTokens != CachedTokens {
		t.Errorf("CachedTokens %d, want %d", res.CachedTokens, CachedTokens)
	}
	if got.Stream != f.Stream {
		t.Errorf("request streamed %v, want %v", got.Stream, f.Stream)
	}
	switch {
	case f.Stream && (res.TTFT <= 0 || res.TTFT > res.Latency):
		t.Errorf("TTFT %v with latency %v, want 0 < TTFT <= latency", res.TTFT, res.Latency)
	case !f.Stream && res.TTFT != 0:
		t.Errorf("TTFT %v for an answer not streamed, want 0", res.TTFT)
	}
	if res.InputTokens <= 0 || res.OutputTokens <= 0 {
		t.Errorf("tokens %d/%d, want the usage the API reported", res.InputTokens, res.OutputTokens)
	}
}

// testTruncated: an answer cut at the token limit is a result, not an
// error (the engine classes it TRUNCATED), that says so; its answer is
// kept.
func testTruncated(t *testing.T, f Fixture) {
	fs := faults(t, f)
	req := request(t, f, code)
	text := "```python\ndef handler(event, context):\n    return {\"n\": event["
	fs.Truncate(text)
	res := generate(t, f, req)
	if !res.Truncated() || res.FinishReason != llm.FinishLength {
		t.Errorf("FinishReason %q, want %q", res.FinishReason, llm.FinishLength)
	}
	if res.Raw != text {
		t.Errorf("Raw %q, want the cut answer %q", res.Raw, text)
	}
}

// testThinking: a reasoning model's thinking, sent apart from its answer,
// is kept in Raw and never taken for the code, even when it holds a
// draft in a code block larger than the answer's.
func testThinking(t *testing.T, f Fixture) {
	fs := faults(t, f)
	req := request(t, f, code)
	thought := "Let me draft it.\n```python\ndef handler(event, context):\n    # a long first draft, not the answer\n    n = event[\"n\"]\n    return {\"n\": n * n * 1}\n```\nGood."
	answer := "```python\n" + code + "```"
	fs.Think(thought, answer)
	res := generate(t, f, req)
	if got := handlerModule(t, res); got != code {
		t.Errorf("handler module %q, want the answer's code %q", got, code)
	}
	if !strings.Contains(res.Raw, thought) || !strings.Contains(res.Raw, answer) {
		t.Errorf("Raw %q, want the thinking and the answer kept", res.Raw)
	}
	if strings.Index(res.Raw, thought) > strings.Index(res.Raw, answer) {
		t.Errorf("Raw %q: the thinking comes after the answer", res.Raw)
	}
}

// testReasoning: a reasoning model gets no temperature or top_p, even
// when set, and its completion limit as the limit; reasoning_effort
// reaches APIs that take it.
func testReasoning(t *testing.T, f Fixture) {
	if f.Service == nil {
		t.Skip("the generator calls no API")
	}
	req := request(t, f, code)
	temp, topP, limit := 0.3, 0.9, 4096
	req.Reasoning = true
	req.Params = llm.Params{Temperature: &temp, TopP: &topP, MaxCompletionTokens: &limit, ReasoningEffort: "high"}
	generate(t, f, req)
	got := last(t, f)
	if got.Temperature != nil || got.TopP != nil {
		t.Errorf("temperature %v top_p %v sent to a reasoning model", deref(got.Temperature), deref(got.TopP))
	}
	if got.MaxTokens == nil || *got.MaxTokens != limit {
		t.Errorf("token limit %v, want %d", deref(got.MaxTokens), limit)
	}
	if f.SendsReasoningEffort && got.ReasoningEffort != "high" {
		t.Errorf("reasoning_effort %q, want high", got.ReasoningEffort)
	}
}

// testStalled: a stream that stops sending chunks is abandoned within
// the generator's stall timeout, as a retryable error.
func testStalled(t *testing.T, f Fixture) {
	fs := faults(t, f)
	if !f.Stream {
		t.Skip("not streamed: a silent server is the Deadline case")
	}
	req := request(t, f, code)
	fs.Stall("```python\n" + code + "```")
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	defer cancel()
	_, err := f.Generator.Generate(ctx, req)
	if !errors.Is(err, llm.ErrRetryable) || ctx.Err() != nil {
		t.Errorf("error %v (context %v), want ErrRetryable before the context's deadline", err, ctx.Err())
	}
}

// testBroken: a stream that ends before the answer does (a closed
// connection, an exception in the stream) is a retryable error, never a
// short answer.
func testBroken(t *testing.T, f Fixture) {
	fs := faults(t, f)
	if !f.Stream {
		t.Skip("not streamed")
	}
	req := request(t, f, code)
	fs.Break("```python\n" + code + "```")
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	defer cancel()
	res, err := f.Generator.Generate(ctx, req)
	if !errors.Is(err, llm.ErrRetryable) {
		t.Errorf("error %v (result %+v), want ErrRetryable", err, res)
	}
}

// testMalformed: an answer that is not JSON is a permanent error that
// names the provider and the model.
func testMalformed(t *testing.T, f Fixture) {
	fs := faults(t, f)
	req := request(t, f, code)
	fs.Malformed()
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	defer cancel()
	_, err := f.Generator.Generate(ctx, req)
	if err == nil || errors.Is(err, llm.ErrRetryable) {
		t.Fatalf("error %v, want a permanent error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, req.Provider) || !strings.Contains(msg, req.ModelName) {
		t.Errorf("error %q does not name provider %q and model %q", msg, req.Provider, req.ModelName)
	}
}
