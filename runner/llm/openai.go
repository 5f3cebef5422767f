package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// openAIGenerator asks an OpenAI-compatible chat completions API. It holds
// no connection state of its own and is safe for concurrent use.
type openAIGenerator struct {
	provider   string
	env        func(string) string
	httpClient *http.Client // nil: go-openai's default
}

// Generate sends one chat completion with the system prompt and the
// variant's prompt as messages and extracts the code from the answer.
func (g *openAIGenerator) Generate(ctx context.Context, req Request) (Result, error) {
	if err := checkProvider(g.provider, req); err != nil {
		return Result{}, err
	}
	handler, err := HandlerFile(req.Handler)
	if err != nil {
		return Result{}, fmt.Errorf("%s: task %q: %w", g.provider, req.Task, err)
	}
	if req.ModelName == "" {
		return Result{}, fmt.Errorf("%s: model %q has no model name", g.provider, req.Model)
	}
	baseURL := effectiveBaseURL(g.provider, req.BaseURL)
	if baseURL == "" {
		return Result{}, fmt.Errorf("%s: model %q has no base URL", g.provider, req.Model)
	}
	key, err := g.apiKey(req)
	if err != nil {
		return Result{}, err
	}
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = baseURL
	cfg.HTTPClient = recordingClient(g.httpClient)
	client := openai.NewClientWithConfig(cfg)

	ctx, slot := withRateSlot(ctx)
	start := time.Now()
	resp, err := client.CreateChatCompletion(ctx, chatRequest(req))
	latency := time.Since(start)
	if err != nil {
		err = apiError(g.provider, err, slot.Rate())
		return Result{}, fmt.Errorf("%s: model %s at %s: %w", g.provider, req.ModelName, baseURL, classify(err))
	}
	if len(resp.Choices) == 0 {
		return Result{}, fmt.Errorf("%s: model %s at %s: response has no choices", g.provider, req.ModelName, baseURL)
	}
	raw := resp.Choices[0].Message.Content
	return Result{
		Files:        map[string][]byte{handler: []byte(ExtractCode(raw))},
		ModelVersion: resp.Model,
		InputTokens:  resp.Usage.PromptTokens,
		OutputTokens: resp.Usage.CompletionTokens,
		Latency:      latency,
		Raw:          raw,
		Rate:         slot.Rate(),
	}, nil
}

// apiKey reads the key of req from the variable req.APIKeyEnv, or from the
// provider's default variable. Providers without a default variable need a
// key only when req names a variable.
func (g *openAIGenerator) apiKey(req Request) (string, error) {
	name := req.APIKeyEnv
	if name == "" {
		name = openAIProviders[g.provider].keyEnv
	}
	if name == "" {
		return "", nil
	}
	key := g.env(name)
	if key == "" {
		return "", fmt.Errorf("%s: %w: environment variable %s is not set", g.provider, ErrMissingAPIKey, name)
	}
	return key, nil
}

// effectiveBaseURL returns baseURL, or the provider's default when baseURL
// is empty, without trailing slashes.
func effectiveBaseURL(provider, baseURL string) string {
	if baseURL == "" {
		baseURL = openAIProviders[provider].baseURL
	}
	return strings.TrimRight(baseURL, "/")
}

// chatRequest translates req into a chat completion request.
//
// go-openai omits a temperature or top_p of 0 from the JSON body, which
// would leave the server's default (1) in force; a zero is therefore sent
// as the smallest positive float32 (1e-45), which samples greedily too.
// MaxTokens is sent as max_tokens, which every compatible server knows,
// except to the reasoning models (o1, o3, o4, gpt-5, ...) that accept only
// max_completion_tokens.
func chatRequest(req Request) openai.ChatCompletionRequest {
	c := openai.ChatCompletionRequest{
		Model: req.ModelName,
		Stop:  req.Params.Stop,
		Seed:  req.Params.Seed,
	}
	if req.System != "" {
		c.Messages = append(c.Messages, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: req.System})
	}
	c.Messages = append(c.Messages, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: req.Prompt})
	if p := req.Params.Temperature; p != nil {
		c.Temperature = nonZeroFloat32(*p)
	}
	if p := req.Params.TopP; p != nil {
		c.TopP = nonZeroFloat32(*p)
	}
	if p := req.Params.MaxTokens; p != nil {
		if acceptsMaxTokens(req.ModelName) {
			c.MaxTokens = *p
		} else {
			c.MaxCompletionTokens = *p
		}
	}
	return c
}

// nonZeroFloat32 converts v, turning 0 into the smallest positive float32
// so that go-openai does not omit it.
func nonZeroFloat32(v float64) float32 {
	if v == 0 {
		return math.SmallestNonzeroFloat32
	}
	return float32(v)
}

// acceptsMaxTokens reports whether go-openai lets model use max_tokens.
func acceptsMaxTokens(model string) bool {
	err := openai.NewReasoningValidator().Validate(openai.ChatCompletionRequest{Model: model, MaxTokens: 1})
	return !errors.Is(err, openai.ErrReasoningModelMaxTokensDeprecated)
}

// classify wraps err in ErrRetryable when a later attempt may succeed: HTTP
// 408, 429 and 5xx answers, timeouts, and connections that failed or broke.
// A cancelled context is never retryable.
func classify(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if status := httpStatus(err); status != 0 {
		if status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 {
			return fmt.Errorf("%w: %w", ErrRetryable, err)
		}
		return err
	}
	var netErr net.Error
	var opErr *net.OpError
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &opErr) ||
		(errors.As(err, &netErr) && netErr.Timeout()) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	}
	return err
}

// httpStatus returns the HTTP status code an error carries, or 0.
func httpStatus(err error) int {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return reqErr.HTTPStatusCode
	}
	var withStatus interface{ HTTPStatusCode() int } // the AWS SDK's response errors
	if errors.As(err, &withStatus) {
		return withStatus.HTTPStatusCode()
	}
	return 0
}
