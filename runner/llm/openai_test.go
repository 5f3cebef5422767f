package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOpenAI is a fake OpenAI-compatible server. It records the requests
// it gets and answers with status and body.
type fakeOpenAI struct {
	*httptest.Server
	status int
	body   string
	delay  time.Duration

	mu       sync.Mutex
	requests []fakeOpenAIRequest
}

// fakeOpenAIRequest is one request the fake received.
type fakeOpenAIRequest struct {
	path          string
	authorization string
	body          map[string]any
}

const fakeCompletion = `{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
  "choices": [{"index": 0, "finish_reason": "stop",
    "message": {"role": "assistant", "content": "Here:\n` + "```python\\ndef handler(event, context):\\n    return 42\\n```" + `\nDone."}}],
  "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
}`

func newFakeOpenAI(t *testing.T, status int, body string) *fakeOpenAI {
	f := &fakeOpenAI{status: status, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("fake OpenAI: request body %q: %v", b, err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeOpenAIRequest{path: r.URL.Path, authorization: r.Header.Get("Authorization"), body: m})
		f.mu.Unlock()
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

// last returns the last request the fake received.
func (f *fakeOpenAI) last(t *testing.T) fakeOpenAIRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("fake OpenAI got no request")
	}
	return f.requests[len(f.requests)-1]
}

// fakeEnv is an environment holding only the fake API key.
func fakeEnv(name string) string {
	if name == "OPENAI_API_KEY" {
		return "sk-fake-secret"
	}
	return ""
}

func openAIRequest(baseURL string) Request {
	req := baseRequest()
	req.BaseURL = baseURL + "/v1"
	return req
}

func TestOpenAIRequestAndResult(t *testing.T) {
	fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
	gen, err := New("openai", fakeEnv, fake.Client())
	if err != nil {
		t.Fatal(err)
	}
	res, err := gen.Generate(context.Background(), openAIRequest(fake.URL))
	if err != nil {
		t.Fatal(err)
	}

	got := fake.last(t)
	if got.path != "/v1/chat/completions" {
		t.Errorf("path %q, want /v1/chat/completions", got.path)
	}
	if got.authorization != "Bearer sk-fake-secret" {
		t.Errorf("Authorization %q, want the key from OPENAI_API_KEY", got.authorization)
	}
	b := got.body
	wantFields := map[string]any{
		"model": "gpt-4o-2024-08-06", "max_tokens": 2048.0, "seed": 42.0,
		"stop": []any{"###"}, "stream": false,
	}
	for k, want := range wantFields {
		if g, _ := json.Marshal(b[k]); string(g) != mustJSON(want) {
			t.Errorf("body %s = %s, want %s", k, g, mustJSON(want))
		}
	}
	if v, _ := b["temperature"].(float64); float32(v) != 0.2 {
		t.Errorf("body temperature = %v, want 0.2", b["temperature"])
	}
	if v, _ := b["top_p"].(float64); float32(v) != 0.9 {
		t.Errorf("body top_p = %v, want 0.9", b["top_p"])
	}
	wantMessages := `[{"content":"You are a careful engineer.","role":"system"},{"content":"Write a PageRank function.","role":"user"}]`
	if g := mustJSON(b["messages"]); g != wantMessages {
		t.Errorf("body messages = %s, want %s", g, wantMessages)
	}

	if code := string(res.Files["handler.py"]); code != "def handler(event, context):\n    return 42\n" {
		t.Errorf("handler.py = %q", code)
	}
	if len(res.Files) != 1 {
		t.Errorf("files %q, want handler.py only", res.Files)
	}
	if res.ModelVersion != "gpt-4o-2024-08-06" || res.InputTokens != 12 || res.OutputTokens != 34 {
		t.Errorf("model version %q, tokens %d/%d; want gpt-4o-2024-08-06, 12/34", res.ModelVersion, res.InputTokens, res.OutputTokens)
	}
	if !strings.Contains(res.Raw, "Here:\n```python") || res.Latency <= 0 {
		t.Errorf("Raw %q, Latency %v", res.Raw, res.Latency)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestOpenAIZeroTemperatureIsSent(t *testing.T) {
	fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
	gen, _ := New("openai", fakeEnv, fake.Client())
	req := openAIRequest(fake.URL)
	req.Params = Params{Temperature: ptr(0.0)}
	if _, err := gen.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := fake.last(t).body
	v, ok := b["temperature"].(float64)
	if !ok || v <= 0 || v > 1e-44 {
		t.Errorf("temperature %v, want the smallest positive float32", b["temperature"])
	}
	for _, k := range []string{"top_p", "max_tokens", "seed", "stop"} {
		if _, ok := b[k]; ok {
			t.Errorf("unset parameter %s sent as %v", k, b[k])
		}
	}
}

func TestOpenAIReasoningModelMaxTokens(t *testing.T) {
	fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
	gen, _ := New("openai", fakeEnv, fake.Client())
	req := openAIRequest(fake.URL)
	req.ModelName = "o3-mini"
	req.Params = Params{MaxTokens: ptr(1000)}
	if _, err := gen.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := fake.last(t).body
	if _, ok := b["max_tokens"]; ok || b["max_completion_tokens"] != 1000.0 {
		t.Errorf("max_tokens %v, max_completion_tokens %v; want only max_completion_tokens 1000", b["max_tokens"], b["max_completion_tokens"])
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		retryable bool
	}{
		{http.StatusTooManyRequests, `{"error":{"message":"Rate limit reached","type":"requests"}}`, true},
		{http.StatusInternalServerError, `{"error":{"message":"The server had an error","type":"server_error"}}`, true},
		{http.StatusBadGateway, `<html>bad gateway</html>`, true},
		{http.StatusRequestTimeout, `{"error":{"message":"timeout"}}`, true},
		{http.StatusBadRequest, `{"error":{"message":"Invalid max_tokens","type":"invalid_request_error"}}`, false},
		{http.StatusUnauthorized, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`, false},
		{http.StatusNotFound, `{"error":{"message":"The model does not exist"}}`, false},
	}
	for _, tt := range tests {
		fake := newFakeOpenAI(t, tt.status, tt.body)
		gen, _ := New("openai", fakeEnv, fake.Client())
		_, err := gen.Generate(context.Background(), openAIRequest(fake.URL))
		if err == nil {
			t.Errorf("HTTP %d: no error", tt.status)
			continue
		}
		if got := errors.Is(err, ErrRetryable); got != tt.retryable {
			t.Errorf("HTTP %d: retryable %v, want %v (error %v)", tt.status, got, tt.retryable, err)
		}
		if !strings.Contains(err.Error(), "gpt-4o-2024-08-06") {
			t.Errorf("HTTP %d: error %q does not name the model", tt.status, err)
		}
		if strings.Contains(err.Error(), "sk-fake-secret") {
			t.Errorf("HTTP %d: error %q shows the API key", tt.status, err)
		}
	}
}

func TestOpenAITransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
		url := fake.URL
		fake.Close()
		gen, _ := New("openai", fakeEnv, nil)
		_, err := gen.Generate(context.Background(), openAIRequest(url))
		if !errors.Is(err, ErrRetryable) {
			t.Errorf("error %v, want ErrRetryable", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
		fake.delay = 5 * time.Second
		gen, _ := New("openai", fakeEnv, fake.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := gen.Generate(ctx, openAIRequest(fake.URL))
		if !errors.Is(err, ErrRetryable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want ErrRetryable and context.DeadlineExceeded", err)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
		fake.delay = 5 * time.Second
		client := fake.Client()
		client.Timeout = 50 * time.Millisecond
		gen, _ := New("openai", fakeEnv, client)
		_, err := gen.Generate(context.Background(), openAIRequest(fake.URL))
		if !errors.Is(err, ErrRetryable) {
			t.Errorf("error %v, want ErrRetryable", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
		gen, _ := New("openai", fakeEnv, fake.Client())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := gen.Generate(ctx, openAIRequest(fake.URL))
		if err == nil || errors.Is(err, ErrRetryable) || !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled and not ErrRetryable", err)
		}
	})
}

func TestOpenAIAPIKeys(t *testing.T) {
	fake := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
	noEnv := func(string) string { return "" }

	tests := []struct {
		provider, keyEnv, wantVar string
	}{
		{provider: "openai", wantVar: "OPENAI_API_KEY"},
		{provider: "deepseek", wantVar: "DEEPSEEK_API_KEY"},
		{provider: "xai", wantVar: "XAI_API_KEY"},
		{provider: "gemini", wantVar: "GEMINI_API_KEY"},
		{provider: "openai", keyEnv: "MY_OPENAI_KEY", wantVar: "MY_OPENAI_KEY"},
		{provider: "vllm", keyEnv: "VLLM_KEY", wantVar: "VLLM_KEY"},
	}
	for _, tt := range tests {
		gen, err := New(tt.provider, noEnv, fake.Client())
		if err != nil {
			t.Fatal(err)
		}
		req := openAIRequest(fake.URL)
		req.Provider, req.APIKeyEnv = tt.provider, tt.keyEnv
		_, err = gen.Generate(context.Background(), req)
		if !errors.Is(err, ErrMissingAPIKey) || !strings.Contains(err.Error(), tt.wantVar) {
			t.Errorf("%s with key variable %q: error %v, want ErrMissingAPIKey naming %s", tt.provider, tt.keyEnv, err, tt.wantVar)
		}
	}
	if n := len(fake.requests); n != 0 {
		t.Errorf("%d requests sent without a key", n)
	}

	// Local servers need no key and get no Authorization header.
	for _, provider := range []string{"ollama", "vllm", "openai-compatible"} {
		gen, _ := New(provider, noEnv, fake.Client())
		req := openAIRequest(fake.URL)
		req.Provider, req.APIKeyEnv = provider, ""
		if _, err := gen.Generate(context.Background(), req); err != nil {
			t.Errorf("%s: %v", provider, err)
			continue
		}
		if a := fake.last(t).authorization; a != "" {
			t.Errorf("%s: Authorization %q, want none", provider, a)
		}
	}

	// A configured variable is read through env.
	env := func(name string) string {
		if name == "MY_KEY" {
			return "sk-mine"
		}
		return ""
	}
	gen, _ := New("deepseek", env, fake.Client())
	req := openAIRequest(fake.URL)
	req.Provider, req.APIKeyEnv = "deepseek", "MY_KEY"
	if _, err := gen.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if a := fake.last(t).authorization; a != "Bearer sk-mine" {
		t.Errorf("Authorization %q, want Bearer sk-mine", a)
	}
}

func TestOpenAICompatibleNeedsBaseURL(t *testing.T) {
	gen, _ := New("openai-compatible", nil, nil)
	req := baseRequest()
	req.Provider, req.BaseURL = "openai-compatible", ""
	_, err := gen.Generate(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "no base URL") {
		t.Errorf("error %v, want one about the missing base URL", err)
	}
}

func TestOpenAIDefaultBaseURLs(t *testing.T) {
	want := map[string]string{
		"openai":   "https://api.openai.com/v1",
		"deepseek": "https://api.deepseek.com/v1",
		"xai":      "https://api.x.ai/v1",
		"gemini":   "https://generativelanguage.googleapis.com/v1beta/openai",
		"ollama":   "http://localhost:11434/v1",
		"vllm":     "http://localhost:8000/v1",
	}
	for provider, url := range want {
		if got := effectiveBaseURL(provider, ""); got != url {
			t.Errorf("%s: base URL %q, want %q", provider, got, url)
		}
	}
}

func TestChatRequestReasoning(t *testing.T) {
	temp, topP := 0.2, 0.9
	tests := []struct {
		name                string
		req                 Request
		maxTokens, maxCompl int
		sampling            bool
		effort              string
	}{
		{"chat model", Request{ModelName: "gpt-4o", Params: Params{Temperature: &temp, TopP: &topP, MaxTokens: ptr(100)}},
			100, 0, true, ""},
		{"reasoning model, max_tokens as the completion limit", Request{ModelName: "deepseek-reasoner", Reasoning: true,
			Params: Params{Temperature: &temp, TopP: &topP, MaxTokens: ptr(100), ReasoningEffort: "low"}}, 0, 100, false, "low"},
		{"reasoning model, max_completion_tokens wins", Request{ModelName: "qwen3", Reasoning: true,
			Params: Params{MaxTokens: ptr(100), MaxCompletionTokens: ptr(5000)}}, 0, 5000, false, ""},
		{"chat model given max_completion_tokens", Request{ModelName: "gpt-4o",
			Params: Params{MaxTokens: ptr(100), MaxCompletionTokens: ptr(300)}}, 0, 300, false, ""},
	}
	for _, tt := range tests {
		c := chatRequest(tt.req)
		if c.MaxTokens != tt.maxTokens || c.MaxCompletionTokens != tt.maxCompl || c.ReasoningEffort != tt.effort {
			t.Errorf("%s: max_tokens %d max_completion_tokens %d effort %q; want %d, %d, %q", tt.name,
				c.MaxTokens, c.MaxCompletionTokens, c.ReasoningEffort, tt.maxTokens, tt.maxCompl, tt.effort)
		}
		if sent := c.Temperature != 0 || c.TopP != 0; sent != tt.sampling {
			t.Errorf("%s: temperature %v top_p %v sent: %v, want %v", tt.name, c.Temperature, c.TopP, sent, tt.sampling)
		}
	}
}
