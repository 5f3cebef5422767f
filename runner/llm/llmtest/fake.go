package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Service is a fake model API that a generator under test talks to. The
// suite steers it (Answer, Fail, Hang) and reads what it received.
// Implementations are safe for concurrent use.
type Service interface {
	// Answer makes later requests succeed with text as the model's whole
	// answer.
	Answer(text string)
	// Fail makes later requests fail with the HTTP status and the error
	// body the real API sends with it.
	Fail(status int)
	// Hang makes later requests wait, unanswered, until the client gives
	// up or the service closes.
	Hang()
	// Requests is how many generation requests the service received.
	Requests() int
	// Last is the last generation request the service received; ok is
	// false when it received none.
	Last() (r Received, ok bool)
}

// Received is a generation request as a fake service decoded it. Pointers
// are nil when the request did not carry the parameter.
type Received struct {
	Model       string
	System      string
	Prompt      string
	Temperature *float64
	TopP        *float64
	MaxTokens   *int
	Seed        *int
	Stop        []string
	// Authorization is the request's Authorization header.
	Authorization string
}

// fakeService is what both fake APIs share: the script of answers and the
// requests received, and a loopback HTTP server.
type fakeService struct {
	*httptest.Server

	mu       sync.Mutex
	answer   string
	status   int // 0: answer
	hang     bool
	received []Received
}

func (f *fakeService) Answer(text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer, f.status, f.hang = text, 0, false
}

func (f *fakeService) Fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.hang = status, false
}

func (f *fakeService) Hang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = true
}

func (f *fakeService) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.received)
}

func (f *fakeService) Last() (Received, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.received) == 0 {
		return Received{}, false
	}
	return f.received[len(f.received)-1], true
}

// serve records r, then answers it as the script says: with write's
// success body, an error, or not at all until the client gives up.
func (f *fakeService) serve(w http.ResponseWriter, r *http.Request, rec Received,
	success func(answer string) any, failure func(w http.ResponseWriter, status int)) {
	f.mu.Lock()
	f.received = append(f.received, rec)
	answer, status, hang := f.answer, f.status, f.hang
	f.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		failure(w, status)
		return
	}
	json.NewEncoder(w).Encode(success(answer))
}

// newServer starts a loopback server for handler; it closes when t ends.
func newServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	s := httptest.NewServer(handler)
	t.Cleanup(s.Close)
	return s
}

// FakeOpenAI is a fake OpenAI-compatible chat completions API: POST
// <URL>/v1/chat/completions. It answers "fake-model-1" as the model
// version and 12 prompt and 34 completion tokens as the usage.
type FakeOpenAI struct{ fakeService }

var _ Service = (*FakeOpenAI)(nil)

// NewFakeOpenAI starts a FakeOpenAI on loopback that answers "" until told
// otherwise; it closes when t ends. Generators reach it at URL + "/v1".
func NewFakeOpenAI(t *testing.T) *FakeOpenAI {
	f := &FakeOpenAI{}
	f.Server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			t.Errorf("fake OpenAI: unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		var body struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			Temperature         *float64 `json:"temperature"`
			TopP                *float64 `json:"top_p"`
			MaxTokens           *int     `json:"max_tokens"`
			MaxCompletionTokens *int     `json:"max_completion_tokens"`
			Seed                *int     `json:"seed"`
			Stop                []string `json:"stop"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("fake OpenAI: request body: %v", err)
		}
		rec := Received{Model: body.Model, Temperature: body.Temperature, TopP: body.TopP, MaxTokens: body.MaxTokens,
			Seed: body.Seed, Stop: body.Stop, Authorization: r.Header.Get("Authorization")}
		if body.MaxCompletionTokens != nil {
			rec.MaxTokens = body.MaxCompletionTokens
		}
		for _, m := range body.Messages {
			switch m.Role {
			case "system":
				rec.System += m.Content
			case "user":
				rec.Prompt += m.Content
			}
		}
		f.serve(w, r, rec, func(answer string) any {
			return map[string]any{
				"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "fake-model-1",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
					"message": map[string]any{"role": "assistant", "content": answer}}},
				"usage": map[string]any{"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
			}
		}, func(w http.ResponseWriter, status int) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"fake failure %d","type":"fake_error"}}`, status)
		})
	})
	return f
}

// FakeBedrock is a fake Amazon Bedrock runtime endpoint speaking the
// Converse API: POST <URL>/model/<model id>/converse. It answers 21 input
// and 55 output tokens as the usage. It does not check signatures.
type FakeBedrock struct{ fakeService }

var _ Service = (*FakeBedrock)(nil)

// NewFakeBedrock starts a FakeBedrock on loopback that answers "" until
// told otherwise; it closes when t ends. Generators reach it with URL as
// the request's BaseURL.
func NewFakeBedrock(t *testing.T) *FakeBedrock {
	f := &FakeBedrock{}
	f.Server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.EscapedPath()
		id, ok := strings.CutPrefix(path, "/model/")
		id, ok2 := strings.CutSuffix(id, "/converse")
		if r.Method != http.MethodPost || !ok || !ok2 {
			t.Errorf("fake Bedrock: unexpected %s %s", r.Method, path)
			http.NotFound(w, r)
			return
		}
		model, err := url.PathUnescape(id)
		if err != nil {
			t.Errorf("fake Bedrock: model id %q: %v", id, err)
		}
		type text struct {
			Text string `json:"text"`
		}
		var body struct {
			System   []text `json:"system"`
			Messages []struct {
				Role    string `json:"role"`
				Content []text `json:"content"`
			} `json:"messages"`
			InferenceConfig *struct {
				MaxTokens     *int     `json:"maxTokens"`
				Temperature   *float64 `json:"temperature"`
				TopP          *float64 `json:"topP"`
				StopSequences []string `json:"stopSequences"`
			} `json:"inferenceConfig"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("fake Bedrock: request body %q: %v", b, err)
		}
		rec := Received{Model: model, Authorization: r.Header.Get("Authorization")}
		for _, s := range body.System {
			rec.System += s.Text
		}
		for _, m := range body.Messages {
			if m.Role == "user" {
				for _, c := range m.Content {
					rec.Prompt += c.Text
				}
			}
		}
		if c := body.InferenceConfig; c != nil {
			rec.MaxTokens, rec.Temperature, rec.TopP, rec.Stop = c.MaxTokens, c.Temperature, c.TopP, c.StopSequences
		}
		f.serve(w, r, rec, func(answer string) any {
			return map[string]any{
				"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"text": answer}}}},
				"stopReason": "end_turn",
				"usage":      map[string]any{"inputTokens": 21, "outputTokens": 55, "totalTokens": 76},
				"metrics":    map[string]any{"latencyMs": 120},
			}
		}, func(w http.ResponseWriter, status int) {
			w.Header().Set("X-Amzn-ErrorType", bedrockErrorType(status))
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"message":"fake failure %d"}`, status)
		})
	})
	return f
}

// bedrockErrorType is the exception Bedrock names for an HTTP status.
func bedrockErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "ValidationException"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "AccessDeniedException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	}
	return "InternalServerException"
}
