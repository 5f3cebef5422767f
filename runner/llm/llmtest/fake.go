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

	"github.com/aws/smithy-go/eventstream"
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
	// Stream says the request asked for a streamed answer, IncludeUsage
	// that it asked for the usage in the stream (OpenAI's
	// stream_options.include_usage).
	Stream       bool
	IncludeUsage bool
	// MaxCompletionTokens and ReasoningEffort are the reasoning
	// parameters an OpenAI-compatible request carried (MaxTokens holds
	// max_completion_tokens too, as the limit the model got).
	MaxCompletionTokens *int
	ReasoningEffort     string
}

// Faults are the answers of a fake service beyond success, failure and
// hanging: what a streaming, reasoning model API does. FakeOpenAI and
// FakeBedrock implement it, in both streaming and non-streaming modes.
type Faults interface {
	// Truncate makes later requests answer text cut at the token limit
	// (finish_reason "length"; Bedrock's stopReason "max_tokens").
	Truncate(text string)
	// Think makes later requests answer text after thinking thought, sent
	// apart from the answer (DeepSeek's reasoning_content, Bedrock's
	// reasoningContent), with reasoning tokens in the usage.
	Think(thought, text string)
	// Stall makes later streamed requests send the first part of text and
	// then nothing, until the client gives up; unstreamed ones hang.
	Stall(text string)
	// Break makes later streamed requests send the first part of text and
	// then end the stream early: OpenAI's connection closes without a
	// finish reason, Bedrock's stream carries a ThrottlingException.
	Break(text string)
	// Malformed makes later requests answer a body (or, streamed, a chunk)
	// that is not JSON.
	Malformed()
	// Header makes later answers, successes and failures, carry header
	// (rate-limit headers, Retry-After).
	Header(h http.Header)
}

// Usage the fakes report: CachedTokens prompt tokens served from cache,
// and ReasoningTokens thinking tokens when told to Think.
const (
	CachedTokens    = 8
	ReasoningTokens = 5
)

// fakeService is what both fake APIs share: the script of answers and the
// requests received, and a loopback HTTP server.
type fakeService struct {
	*httptest.Server

	mu       sync.Mutex
	answer   string
	status   int // 0: answer
	hang     bool
	fault    fault
	thought  string
	header   http.Header
	received []Received
}

// fault is how a fake service spoils a successful answer.
type fault int

const (
	faultNone fault = iota
	faultTruncate
	faultStall
	faultBreak
	faultMalformed
)

// script is what a fake service does with one request.
type script struct {
	answer, thought string
	status          int
	hang            bool
	fault           fault
	header          http.Header
}

func (f *fakeService) set(answer, thought string, fl fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer, f.thought, f.fault, f.status, f.hang = answer, thought, fl, 0, false
}

func (f *fakeService) Truncate(text string)       { f.set(text, "", faultTruncate) }
func (f *fakeService) Think(thought, text string) { f.set(text, thought, faultNone) }
func (f *fakeService) Stall(text string)          { f.set(text, "", faultStall) }
func (f *fakeService) Break(text string)          { f.set(text, "", faultBreak) }
func (f *fakeService) Malformed()                 { f.set("", "", faultMalformed) }

func (f *fakeService) Header(h http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.header = h.Clone()
}

// record keeps rec and returns the script for its request.
func (f *fakeService) record(rec Received) script {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received = append(f.received, rec)
	return script{answer: f.answer, thought: f.thought, status: f.status, hang: f.hang, fault: f.fault, header: f.header}
}

// setHeader copies the script's headers into w.
func (s script) setHeader(w http.ResponseWriter) {
	for k, vs := range s.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
}

// parts splits text in up to three pieces, as a stream sends it.
func parts(text string) []string {
	r := []rune(text)
	if len(r) < 3 {
		if text == "" {
			return nil
		}
		return []string{text}
	}
	a, b := len(r)/3, 2*len(r)/3
	return []string{string(r[:a]), string(r[a:b]), string(r[b:])}
}

func (f *fakeService) Answer(text string) { f.set(text, "", faultNone) }

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

// serve answers r as sc says, unstreamed: with success's body, an error,
// or not at all until the client gives up.
func serve(w http.ResponseWriter, r *http.Request, sc script,
	success func(sc script) any, failure func(w http.ResponseWriter, status int)) {
	if sc.hang || sc.fault == faultStall {
		<-r.Context().Done()
		return
	}
	sc.setHeader(w)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case sc.status != 0:
		failure(w, sc.status)
	case sc.fault == faultMalformed:
		io.WriteString(w, `{"id": "fake", "choices": [nope]}`)
	default:
		json.NewEncoder(w).Encode(success(sc))
	}
}

// newServer starts a loopback server for handler; it closes when t ends.
func newServer(t testing.TB, handler http.HandlerFunc) *httptest.Server {
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
func NewFakeOpenAI(t testing.TB) *FakeOpenAI {
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
			Stream              bool     `json:"stream"`
			StreamOptions       *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
			ReasoningEffort string `json:"reasoning_effort"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("fake OpenAI: request body: %v", err)
		}
		rec := Received{Model: body.Model, Temperature: body.Temperature, TopP: body.TopP, MaxTokens: body.MaxTokens,
			Seed: body.Seed, Stop: body.Stop, Authorization: r.Header.Get("Authorization"),
			Stream: body.Stream, IncludeUsage: body.StreamOptions != nil && body.StreamOptions.IncludeUsage,
			MaxCompletionTokens: body.MaxCompletionTokens, ReasoningEffort: body.ReasoningEffort}
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
		sc := f.record(rec)
		if body.Stream && sc.status == 0 && !sc.hang {
			f.stream(w, r, sc, rec.IncludeUsage)
			return
		}
		serve(w, r, sc, func(sc script) any {
			msg := map[string]any{"role": "assistant", "content": sc.answer}
			if sc.thought != "" {
				msg["reasoning_content"] = sc.thought
			}
			return map[string]any{
				"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "fake-model-1",
				"choices": []any{map[string]any{"index": 0, "finish_reason": openAIFinish(sc), "message": msg}},
				"usage":   openAIUsage(sc),
			}
		}, func(w http.ResponseWriter, status int) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"fake failure %d","type":"fake_error"}}`, status)
		})
	})
	return f
}

// openAIFinish is the finish reason of sc's answer.
func openAIFinish(sc script) string {
	if sc.fault == faultTruncate {
		return "length"
	}
	return "stop"
}

// openAIUsage is the usage object the fake reports for sc.
func openAIUsage(sc script) map[string]any {
	reasoning := 0
	if sc.thought != "" {
		reasoning = ReasoningTokens
	}
	return map[string]any{"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
		"prompt_tokens_details":     map[string]any{"cached_tokens": CachedTokens},
		"completion_tokens_details": map[string]any{"reasoning_tokens": reasoning}}
}

// stream answers sc as server-sent events: a role chunk, the thinking and
// the answer in pieces, a chunk with the finish reason, the usage chunk
// when asked for, and [DONE]; or the fault sc says.
func (f *FakeOpenAI) stream(w http.ResponseWriter, r *http.Request, sc script, includeUsage bool) {
	sc.setHeader(w)
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fake-model-1",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if sc.fault == faultMalformed {
		io.WriteString(w, "data: {\"id\": \"chatcmpl-fake\", \"choices\": [nope]}\n\n")
		return
	}
	for _, p := range parts(sc.thought) {
		send(chunk(map[string]any{"reasoning_content": p}, nil))
	}
	for i, p := range parts(sc.answer) {
		send(chunk(map[string]any{"content": p}, nil))
		if i == 0 && sc.fault == faultStall {
			<-r.Context().Done()
			return
		}
		if i == 0 && sc.fault == faultBreak {
			return // the body ends: no finish reason, no [DONE]
		}
	}
	send(chunk(map[string]any{}, openAIFinish(sc)))
	if includeUsage {
		send(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fake-model-1",
			"choices": []any{}, "usage": openAIUsage(sc)})
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// FakeBedrock is a fake Amazon Bedrock runtime endpoint speaking the
// Converse API: POST <URL>/model/<model id>/converse. It answers 21 input
// and 55 output tokens as the usage. It does not check signatures.
type FakeBedrock struct{ fakeService }

var _ Service = (*FakeBedrock)(nil)

// NewFakeBedrock starts a FakeBedrock on loopback that answers "" until
// told otherwise; it closes when t ends. Generators reach it with URL as
// the request's BaseURL.
func NewFakeBedrock(t testing.TB) *FakeBedrock {
	f := &FakeBedrock{}
	f.Server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.EscapedPath()
		id, ok := strings.CutPrefix(path, "/model/")
		id, streamed := strings.CutSuffix(id, "/converse-stream")
		id, ok2 := strings.CutSuffix(id, "/converse")
		ok2 = ok2 || streamed
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
		rec.Stream = streamed
		sc := f.record(rec)
		failure := func(w http.ResponseWriter, status int) {
			w.Header().Set("X-Amzn-ErrorType", bedrockErrorType(status))
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"message":"fake failure %d"}`, status)
		}
		if streamed && sc.status == 0 && !sc.hang {
			f.stream(w, r, sc)
			return
		}
		serve(w, r, sc, func(sc script) any {
			content := []any{}
			if sc.thought != "" {
				content = append(content, map[string]any{"reasoningContent": map[string]any{"reasoningText": map[string]any{"text": sc.thought}}})
			}
			content = append(content, map[string]any{"text": sc.answer})
			return map[string]any{
				"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
				"stopReason": bedrockStop(sc),
				"usage":      bedrockUsage(),
				"metrics":    map[string]any{"latencyMs": 120},
			}
		}, failure)
	})
	return f
}

// bedrockStop is the stop reason of sc's answer.
func bedrockStop(sc script) string {
	if sc.fault == faultTruncate {
		return "max_tokens"
	}
	return "end_turn"
}

// bedrockUsage is the usage the fake reports.
func bedrockUsage() map[string]any {
	return map[string]any{"inputTokens": 21, "outputTokens": 55, "totalTokens": 76, "cacheReadInputTokens": CachedTokens}
}

// stream answers sc as ConverseStream does: an AWS event stream of binary
// frames (messageStart, contentBlockDelta..., contentBlockStop,
// messageStop, metadata), or the fault sc says.
func (f *FakeBedrock) stream(w http.ResponseWriter, r *http.Request, sc script) {
	sc.setHeader(w)
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	flusher, _ := w.(http.Flusher)
	enc := eventstream.NewEncoder()
	frame := func(kind, name string, payload []byte) {
		var h eventstream.Headers
		h.Set(eventstream.MessageTypeHeader, eventstream.StringValue(kind))
		if kind == eventstream.ExceptionMessageType {
			h.Set(eventstream.ExceptionTypeHeader, eventstream.StringValue(name))
		} else {
			h.Set(eventstream.EventTypeHeader, eventstream.StringValue(name))
		}
		h.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
		enc.Encode(w, eventstream.Message{Headers: h, Payload: payload})
		if flusher != nil {
			flusher.Flush()
		}
	}
	event := func(name string, v any) {
		b, _ := json.Marshal(v)
		frame(eventstream.EventMessageType, name, b)
	}
	event("messageStart", map[string]any{"role": "assistant"})
	if sc.fault == faultMalformed {
		frame(eventstream.EventMessageType, "contentBlockDelta", []byte(`{"contentBlockIndex": 0, "delta": nope}`))
		return
	}
	block := 0
	if sc.thought != "" {
		for _, p := range parts(sc.thought) {
			event("contentBlockDelta", map[string]any{"contentBlockIndex": block,
				"delta": map[string]any{"reasoningContent": map[string]any{"text": p}}})
		}
		event("contentBlockStop", map[string]any{"contentBlockIndex": block})
		block++
	}
	for i, p := range parts(sc.answer) {
		event("contentBlockDelta", map[string]any{"contentBlockIndex": block, "delta": map[string]any{"text": p}})
		if i == 0 && sc.fault == faultStall {
			<-r.Context().Done()
			return
		}
		if i == 0 && sc.fault == faultBreak {
			frame(eventstream.ExceptionMessageType, "throttlingException", []byte(`{"message":"fake throttling mid-stream"}`))
			return
		}
	}
	event("contentBlockStop", map[string]any{"contentBlockIndex": block})
	event("messageStop", map[string]any{"stopReason": bedrockStop(sc)})
	event("metadata", map[string]any{"usage": bedrockUsage(), "metrics": map[string]any{"latencyMs": 120}})
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
