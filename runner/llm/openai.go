package llm

import (
	"context"
	"encoding/json"
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
	httpClient *http.Client  // nil: go-openai's default
	stall      time.Duration // bound between stream chunks; 0: DefaultStallTimeout
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
	if req.Stream {
		return g.stream(ctx, client, req, handler, baseURL, slot)
	}
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
	msg := resp.Choices[0].Message
	raw := withThinking(msg.ReasoningContent, msg.Content)
	res := Result{
		Files:        map[string][]byte{handler: []byte(ExtractCode(raw))},
		ModelVersion: resp.Model,
		Latency:      latency,
		Raw:          raw,
		FinishReason: string(resp.Choices[0].FinishReason),
		Rate:         slot.Rate(),
	}
	setUsage(&res, &resp.Usage)
	return res, nil
}

// DefaultStallTimeout is how long a streamed answer may go without a chunk
// before the generation is abandoned as stalled (a retryable error). It
// runs from the moment the stream opens, so a reasoning model that thinks
// silently before its first token must finish thinking within it.
const DefaultStallTimeout = 5 * time.Minute

// errStalled is the cause of a stream abandoned for want of chunks.
var errStalled = errors.New("stream stalled")

// stallTimeout is g's bound between chunks.
func (g *openAIGenerator) stallTimeout() time.Duration {
	if g.stall > 0 {
		return g.stall
	}
	return DefaultStallTimeout
}

// stream asks for the answer as server-sent events with the usage in a last
// chunk (stream_options.include_usage), timing the first token. A stream
// that stalls (no chunk within the stall timeout), breaks, or ends without
// a finish reason is retryable; a chunk that is not valid JSON is not.
func (g *openAIGenerator) stream(ctx context.Context, client *openai.Client, req Request, handler, baseURL string, slot *rateSlot) (Result, error) {
	where := fmt.Sprintf("%s: model %s at %s", g.provider, req.ModelName, baseURL)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cr := chatRequest(req)
	cr.Stream = true
	cr.StreamOptions = &openai.StreamOptions{IncludeUsage: true}

	start := time.Now()
	s, err := client.CreateChatCompletionStream(ctx, cr)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", where, classify(apiError(g.provider, err, slot.Rate())))
	}
	defer s.Close()
	stall := g.stallTimeout()
	watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer watchdog.Stop()

	var (
		res              Result
		content, thought strings.Builder
		usage            *openai.Usage
	)
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", where, streamError(ctx, err, stall))
		}
		watchdog.Reset(stall)
		if chunk.Model != "" {
			res.ModelVersion = chunk.Model
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue
			}
			if res.TTFT == 0 && (c.Delta.Content != "" || c.Delta.ReasoningContent != "") {
				res.TTFT = time.Since(start)
			}
			content.WriteString(c.Delta.Content)
			thought.WriteString(c.Delta.ReasoningContent)
			if c.FinishReason != "" {
				res.FinishReason = string(c.FinishReason)
			}
		}
	}
	res.Latency = time.Since(start)
	if res.FinishReason == "" {
		// Every complete stream ends its choice with a finish reason; the
		// body ended early (the connection closed mid-answer).
		return Result{}, fmt.Errorf("%s: %w: the stream ended without a finish reason", where, ErrRetryable)
	}
	res.Raw = withThinking(thought.String(), content.String())
	res.Rate = slot.Rate()
	res.Files = map[string][]byte{handler: []byte(ExtractCode(res.Raw))}
	if usage != nil {
		setUsage(&res, usage)
	}
	return res, nil
}

// streamError classifies an error that ended a stream after it opened: a
// malformed chunk is permanent; a stall, a broken connection or an error
// event in the stream is retryable; a cancelled context is neither.
func streamError(ctx context.Context, err error, stall time.Duration) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(context.Cause(ctx), errStalled):
		return fmt.Errorf("%w: %w: no chunk for %v", ErrRetryable, errStalled, stall)
	case errors.As(err, &syntaxErr) || errors.As(err, &typeErr):
		return fmt.Errorf("malformed stream chunk: %w", err)
	case errors.Is(err, context.Canceled), errors.Is(err, ErrRetryable):
		return err
	}
	if c := classify(err); errors.Is(c, ErrRetryable) {
		return c
	}
	return fmt.Errorf("%w: stream broke: %w", ErrRetryable, err)
}

// setUsage copies an OpenAI usage report into res.
func setUsage(res *Result, u *openai.Usage) {
	res.InputTokens, res.OutputTokens = u.PromptTokens, u.CompletionTokens
	if d := u.CompletionTokensDetails; d != nil {
		res.ReasoningTokens = d.ReasoningTokens
	}
	if d := u.PromptTokensDetails; d != nil {
		res.CachedTokens = d.CachedTokens
	}
}

// withThinking is a model's answer with its separate thinking text (DeepSeek's
// reasoning_content, Bedrock's reasoningContent) put before it in a
// <think>...</think> section, as reasoning models that think inline write
// it: Raw keeps both, and ExtractCode drops the section.
func withThinking(thinking, answer string) string {
	if thinking == "" {
		return answer
	}
	return "<think>\n" + thinking + "\n</think>\n\n" + answer
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

// BaseURL returns the endpoint that requests of provider with baseURL (a
// study's base_url, possibly empty) go to: baseURL, else the provider's
// default, without trailing slashes; "" for Bedrock's regional endpoint
// and for providers that call no API.
func BaseURL(provider, baseURL string) string { return effectiveBaseURL(provider, baseURL) }

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
// max_completion_tokens. A reasoning model (req.Reasoning) gets no
// temperature or top_p, and its token limit (MaxCompletionTokens, else
// MaxTokens) as max_completion_tokens; reasoning_effort is sent when set.
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
	c.ReasoningEffort = req.Params.ReasoningEffort
	if p := req.Params.MaxCompletionTokens; p != nil {
		c.MaxCompletionTokens = *p
	}
	if req.Reasoning {
		// A reasoning model takes no sampling parameters, and counts its
		// thinking in max_completion_tokens.
		if p := req.Params.MaxTokens; p != nil && c.MaxCompletionTokens == 0 {
			c.MaxCompletionTokens = *p
		}
		return c
	}
	if p := req.Params.Temperature; p != nil {
		c.Temperature = nonZeroFloat32(*p)
	}
	if p := req.Params.TopP; p != nil {
		c.TopP = nonZeroFloat32(*p)
	}
	if p := req.Params.MaxTokens; p != nil && c.MaxCompletionTokens == 0 {
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
