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

	"github.com/aws/aws-sdk-go-v2/aws"
)

// fakeBedrock is a fake Bedrock runtime endpoint that speaks the Converse
// JSON shape. It records the requests it gets and answers with status, the
// error type header errType (when set) and body.
type fakeBedrock struct {
	*httptest.Server
	status  int
	errType string
	body    string

	mu       sync.Mutex
	requests []fakeBedrockRequest
}

// fakeBedrockRequest is one request the fake received.
type fakeBedrockRequest struct {
	method, path, authorization string
	body                        map[string]any
}

const fakeConverse = `{
  "output": {"message": {"role": "assistant", "content": [
    {"text": "Here is the function:\n` + "```python\\ndef handler(event, context):\\n    return 7\\n```" + `"}
  ]}},
  "stopReason": "end_turn",
  "usage": {"inputTokens": 21, "outputTokens": 55, "totalTokens": 76},
  "metrics": {"latencyMs": 120}
}`

func newFakeBedrock(t *testing.T, status int, errType, body string) *fakeBedrock {
	f := &fakeBedrock{status: status, errType: errType, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("fake Bedrock: request body %q: %v", b, err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeBedrockRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), m})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if f.errType != "" {
			w.Header().Set("X-Amzn-ErrorType", f.errType)
		}
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

// fakeAWSConfig returns a configuration with fake static credentials that
// sends its requests through client.
func fakeAWSConfig(client *http.Client) aws.Config {
	return aws.Config{
		Region:     "us-east-1",
		HTTPClient: client,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret", Source: "test"}, nil
		}),
	}
}

func bedrockRequest(baseURL string) Request {
	req := baseRequest()
	req.Provider = "bedrock"
	req.ModelName = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	req.BaseURL = baseURL
	return req
}

func TestBedrockRequestAndResult(t *testing.T) {
	fake := newFakeBedrock(t, http.StatusOK, "", fakeConverse)
	gen := NewBedrock(fakeAWSConfig(fake.Client()))
	res, err := gen.Generate(context.Background(), bedrockRequest(fake.URL))
	if err != nil {
		t.Fatal(err)
	}

	if len(fake.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(fake.requests))
	}
	got := fake.requests[0]
	if got.method != http.MethodPost || got.path != "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse" {
		t.Errorf("request %s %s, want POST /model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse", got.method, got.path)
	}
	if !strings.HasPrefix(got.authorization, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/") {
		t.Errorf("Authorization %q, want a SigV4 signature with the fake credentials", got.authorization)
	}
	wantBody := map[string]string{
		"messages":        `[{"content":[{"text":"Write a PageRank function."}],"role":"user"}]`,
		"system":          `[{"text":"You are a careful engineer."}]`,
		"inferenceConfig": `{"maxTokens":2048,"stopSequences":["###"],"temperature":0.2,"topP":0.9}`,
	}
	for k, want := range wantBody {
		if g := mustJSON(got.body[k]); g != want {
			t.Errorf("body %s = %s, want %s", k, g, want)
		}
	}
	if len(got.body) != len(wantBody) {
		t.Errorf("body has fields %v, want only %v", keys(got.body), keys(wantBody))
	}

	if code := string(res.Files["handler.py"]); code != "def handler(event, context):\n    return 7\n" {
		t.Errorf("handler.py = %q", code)
	}
	if res.InputTokens != 21 || res.OutputTokens != 55 {
		t.Errorf("tokens %d/%d, want 21/55", res.InputTokens, res.OutputTokens)
	}
	if res.ModelVersion != "" || !strings.HasPrefix(res.Raw, "Here is the function:") {
		t.Errorf("ModelVersion %q, Raw %q", res.ModelVersion, res.Raw)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestBedrockNoParams(t *testing.T) {
	fake := newFakeBedrock(t, http.StatusOK, "", fakeConverse)
	gen := NewBedrock(fakeAWSConfig(fake.Client()))
	req := bedrockRequest(fake.URL)
	req.Params, req.System = Params{}, ""
	if _, err := gen.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	body := fake.requests[0].body
	for _, k := range []string{"system", "inferenceConfig"} {
		if _, ok := body[k]; ok {
			t.Errorf("body has %s = %s, want none", k, mustJSON(body[k]))
		}
	}
}

func TestBedrockErrors(t *testing.T) {
	tests := []struct {
		status    int
		errType   string
		retryable bool
	}{
		{http.StatusTooManyRequests, "ThrottlingException", true},
		{http.StatusServiceUnavailable, "ServiceUnavailableException", true},
		{http.StatusInternalServerError, "InternalServerException", true},
		{http.StatusRequestTimeout, "ModelTimeoutException", true},
		{http.StatusBadRequest, "ValidationException", false},
		{http.StatusForbidden, "AccessDeniedException", false},
	}
	for _, tt := range tests {
		fake := newFakeBedrock(t, tt.status, tt.errType, `{"message":"fake `+tt.errType+`"}`)
		gen := NewBedrock(fakeAWSConfig(fake.Client()))
		_, err := gen.Generate(context.Background(), bedrockRequest(fake.URL))
		if err == nil {
			t.Errorf("%s: no error", tt.errType)
			continue
		}
		if got := errors.Is(err, ErrRetryable); got != tt.retryable {
			t.Errorf("%s: retryable %v, want %v (error %v)", tt.errType, got, tt.retryable, err)
		}
		if !strings.Contains(err.Error(), tt.errType) {
			t.Errorf("%s: error %q does not name the exception", tt.errType, err)
		}
		if n := len(fake.requests); n != 1 {
			t.Errorf("%s: %d attempts, want 1: the engine retries, not the SDK", tt.errType, n)
		}
	}
}

func TestBedrockNeedsRegion(t *testing.T) {
	gen := NewBedrock(aws.Config{})
	_, err := gen.Generate(context.Background(), bedrockRequest("http://127.0.0.1:1"))
	if err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("error %v, want one about the missing region", err)
	}
}
