// Package llm turns a task's prompt into the code of a serverless function.
//
// A Generator produces the files of one generation: the handler module and,
// for imported code, whatever other files sit beside it. The generators are
// "reference" (the task's reference implementation), "files" (code written
// elsewhere, read from a directory), the OpenAI-compatible chat APIs (OpenAI,
// DeepSeek, xAI, Gemini, Ollama, vLLM and any other server given a base URL)
// and Amazon Bedrock's Converse API.
//
// # Files layout
//
// The "files" provider reads one model's code under its FilesDir:
//
//	<FilesDir>/<task>/<variant>/<sample>/   every file of sample <sample>
//	<FilesDir>/<task>/<variant>/            every file of sample 0, when it has no numbered directories
//	<FilesDir>/<task>/<variant>.py          the handler module of sample 0
//
// They are tried in this order. A directory is copied whole (hidden files
// and directories, whose names start with ".", excepted), so functions of
// several files work; it must hold the handler module (see HandlerFile). A
// single .py file becomes the handler module.
//
// # Streaming and reasoning models
//
// A Request with Stream set asks for the answer as a stream (server-sent
// events with a final usage chunk on OpenAI-compatible APIs, an AWS event
// stream from Bedrock's ConverseStream), which times the first token
// (Result.TTFT). A stream silent for longer than DefaultStallTimeout, one
// that breaks, or one that ends before the model said why it stopped is a
// retryable error; a chunk that is not JSON is a permanent one, naming the
// provider and model. An answer cut at the token limit is a Result whose
// FinishReason is "length" (see ErrTruncated), never an error. A
// reasoning model's thinking, whether sent apart (reasoning_content,
// reasoningContent) or inline (<think>...</think>), is kept in Result.Raw
// and never reaches the code (ExtractCode).
//
// The package never retries: an error that a retry may cure wraps
// ErrRetryable, and the engine decides how often and how long to wait. It
// never reads the process environment either; New receives a lookup
// function, so the command layer passes os.Getenv and tests pass a map.
package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// Params are the generation parameters of a model. A nil pointer leaves the
// provider's default in force; a set pointer is sent even when it is zero
// (a zero temperature or top_p as 1e-45 to OpenAI-compatible APIs, whose
// client drops zeros). Bedrock's Converse API has no seed, so Seed is not
// sent there.
type Params struct {
	Temperature *float64
	TopP        *float64
	MaxTokens   *int
	Seed        *int
	Stop        []string
	// MaxCompletionTokens caps a reasoning model's output, thinking
	// included (OpenAI's max_completion_tokens; Bedrock's maxTokens).
	MaxCompletionTokens *int
	// ReasoningEffort is "minimal", "low", "medium" or "high"; "" leaves
	// the provider's default.
	ReasoningEffort string
}

// Request is one generation: one model, one prompt variant of one task and
// one sample index. A Request is a value; generators never modify it.
type Request struct {
	// Model is the study's model id, e.g. "gpt-4o".
	Model string
	// Provider selects the generator: "reference", "files", "openai",
	// "openai-compatible", "ollama", "deepseek", "xai", "gemini", "vllm" or
	// "bedrock".
	Provider string
	// ModelName is the provider's name of the model, e.g. "gpt-4o-2024-08-06".
	ModelName string
	// BaseURL overrides the provider's default endpoint. It is required for
	// "openai-compatible"; for "bedrock" it replaces the regional endpoint.
	BaseURL string
	// APIKeyEnv is the name of the environment variable that holds the API
	// key, never the key itself. Empty means the provider's default variable.
	APIKeyEnv string
	Params    Params
	// System is the system prompt common to all tasks.
	System string
	// Prompt is the full prompt text of the variant.
	Prompt  string
	Task    string
	Variant string
	Sample  int
	// Handler is "module.function" as in Lambda's Handler setting; the
	// module names the file the code is written to (see HandlerFile).
	Handler string
	// ReferenceFile is the path of the task's reference implementation,
	// read by the "reference" provider.
	ReferenceFile string
	// FilesDir is the root of the code read by the "files" provider, laid
	// out as the package documentation says.
	FilesDir string
	// Stream asks for the answer as a stream of chunks, which times the
	// first token (Result.TTFT); false sends one request and waits for the
	// whole answer, for servers that cannot stream.
	Stream bool
	// Reasoning marks a reasoning model (o-series, gpt-5, DeepSeek-R1,
	// Qwen3 thinking, ...): temperature and top_p are never sent, and the
	// output limit goes as max_completion_tokens.
	Reasoning bool
}

// Result is one generated function. The caller owns it; generators keep no
// reference to it.
type Result struct {
	// Files maps slash-separated relative file names to their content. It
	// always holds the handler module, which is empty when a model's answer
	// held no code (a refusal, prose only, no text: see ExtractCode); the
	// check classes such code NOCODE.
	Files map[string][]byte
	// ModelVersion is the model version the API reported (the "model" field
	// of an OpenAI response), or "" when the API reports none.
	ModelVersion string
	// InputTokens and OutputTokens are the usage the API reported, 0 when
	// unknown.
	InputTokens  int
	OutputTokens int
	// Latency is the time the generation took, API round trip included.
	Latency time.Duration
	// Raw is the model's response text, kept for audit; "" for the "files"
	// and "reference" providers. A reasoning model's thinking (DeepSeek's
	// reasoning_content, Bedrock's reasoningContent) is kept there too,
	// inside <think>...</think> before the answer; ExtractCode never sees it.
	Raw string
	// TTFT is the time from sending the request to the first chunk of
	// content (or thinking); 0 when the answer was not streamed.
	TTFT time.Duration
	// ReasoningTokens and CachedTokens are the thinking tokens (part of
	// OutputTokens) and the prompt tokens served from the provider's cache
	// (part of InputTokens), as the API reported them; 0 when unknown.
	ReasoningTokens int
	CachedTokens    int
	// FinishReason is why the model stopped, as the API said it: "stop",
	// "length" (cut at the token limit: see ErrTruncated),
	// "content_filter", "tool_calls"; "" when unknown. Bedrock's stop
	// reasons are mapped to these ("end_turn" is "stop", "max_tokens"
	// "length").
	FinishReason string
	// Rate is what the response's headers said of rate limits.
	Rate RateInfo
}

// Truncated reports whether the answer was cut at the token limit.
func (r Result) Truncated() bool { return r.FinishReason == FinishLength }

// FinishLength is the FinishReason of an answer cut at the token limit.
const FinishLength = "length"

// Generator produces the code of one Request. Implementations are safe for
// concurrent use by several goroutines. An error wraps ErrRetryable when a
// later attempt may succeed (rate limits, server errors, timeouts); any
// other error is permanent for that Request.
type Generator interface {
	Generate(ctx context.Context, req Request) (Result, error)
}

// ErrRetryable marks generation failures that a later attempt may cure:
// HTTP 408, 429 and 5xx answers, timeouts and broken connections.
var ErrRetryable = errors.New("retryable generation failure")

// ErrTruncated describes an answer cut at the token limit (FinishReason
// "length"). Generators return such a Result with a nil error, its code
// extracted from what arrived; the engine classes it TRUNCATED and never
// checks or measures it, so that a cut answer is never taken for code.
var ErrTruncated = errors.New("answer truncated at the token limit")

// ErrMissingAPIKey reports that the environment variable naming an API key
// is unset or empty.
var ErrMissingAPIKey = errors.New("missing API key")

// openAIEndpoint is a provider's default base URL and API key variable. An
// empty keyEnv means the server needs no key.
type openAIEndpoint struct {
	baseURL string
	keyEnv  string
}

// openAIProviders are the providers served by the OpenAI-compatible
// generator, with their defaults.
var openAIProviders = map[string]openAIEndpoint{
	"openai":            {"https://api.openai.com/v1", "OPENAI_API_KEY"},
	"deepseek":          {"https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
	"xai":               {"https://api.x.ai/v1", "XAI_API_KEY"},
	"gemini":            {"https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY"},
	"ollama":            {"http://localhost:11434/v1", ""},
	"vllm":              {"http://localhost:8000/v1", ""},
	"openai-compatible": {"", ""},
}

// New returns the Generator of provider. env looks up environment variables
// (API keys); the command layer passes os.Getenv. httpClient carries the
// requests of the API generators; nil means a default client. The "bedrock"
// generator loads region and credentials from the AWS SDK's default chain
// when it first generates.
func New(provider string, env func(string) string, httpClient *http.Client) (Generator, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	switch provider {
	case "reference":
		return referenceGenerator{}, nil
	case "files":
		return filesGenerator{}, nil
	case "bedrock":
		return newDefaultBedrock(httpClient), nil
	}
	if _, ok := openAIProviders[provider]; ok {
		return &openAIGenerator{provider: provider, env: env, httpClient: httpClient}, nil
	}
	return nil, fmt.Errorf("unknown model provider %q", provider)
}

// HandlerFile returns the file that holds the module of a Lambda handler
// setting: "handler.handler" is "handler.py", "pkg.app.main" is
// "pkg/app.py" and "src/app.main" is "src/app.py".
func HandlerFile(handler string) (string, error) {
	i := strings.LastIndex(handler, ".")
	if i <= 0 || i == len(handler)-1 {
		return "", fmt.Errorf("handler %q: want module.function", handler)
	}
	module := strings.ReplaceAll(handler[:i], ".", "/")
	name := module + ".py"
	if path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("handler %q: module is not a relative path", handler)
	}
	return name, nil
}

// checkProvider reports a Request meant for another generator.
func checkProvider(want string, req Request) error {
	if req.Provider != "" && req.Provider != want {
		return fmt.Errorf("request for provider %q given to the %q generator", req.Provider, want)
	}
	return nil
}
