package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// bedrockGenerator asks Amazon Bedrock's Converse API. It creates its
// client on first use and is safe for concurrent use.
type bedrockGenerator struct {
	loadConfig func(context.Context) (aws.Config, error)

	stall time.Duration // bound between stream events; 0: DefaultStallTimeout

	mu     sync.Mutex
	client *bedrockruntime.Client // nil until the first Generate loads it
}

// NewBedrock returns a Bedrock generator that uses cfg's region,
// credentials and HTTP client; New("bedrock", ...) loads them from the AWS
// SDK's default chain instead. A Request's BaseURL, when set, replaces the
// regional endpoint.
func NewBedrock(cfg aws.Config) Generator {
	return &bedrockGenerator{loadConfig: func(context.Context) (aws.Config, error) { return cfg, nil }}
}

// newDefaultBedrock returns a Bedrock generator configured by the AWS SDK's
// default chain (environment, shared files, instance role) and httpClient,
// when not nil.
func newDefaultBedrock(httpClient *http.Client) *bedrockGenerator {
	return &bedrockGenerator{loadConfig: func(ctx context.Context) (aws.Config, error) {
		var opts []func(*config.LoadOptions) error
		if httpClient != nil {
			opts = append(opts, config.WithHTTPClient(httpClient))
		}
		return config.LoadDefaultConfig(ctx, opts...)
	}}
}

// getClient returns the client, creating it on first use. A failed load is
// not remembered, so a later call tries again.
func (g *bedrockGenerator) getClient(ctx context.Context) (*bedrockruntime.Client, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil {
		return g.client, nil
	}
	cfg, err := g.loadConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION or a region in the AWS profile")
	}
	g.client = bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		o.Retryer = aws.NopRetryer{} // the engine retries, and counts the attempts
	})
	return g.client, nil
}

// Generate sends one Converse request with the system prompt, the variant's
// prompt as the user message and the parameters as inferenceConfig, and
// extracts the code from the answer. Converse has no seed, so Params.Seed
// is not sent. ModelVersion is the model a prompt router chose, else "" (a
// Bedrock model ID such as "anthropic.claude-3-5-sonnet-20240620-v1:0" is
// itself a version).
func (g *bedrockGenerator) Generate(ctx context.Context, req Request) (Result, error) {
	if err := checkProvider("bedrock", req); err != nil {
		return Result{}, err
	}
	handler, err := HandlerFile(req.Handler)
	if err != nil {
		return Result{}, fmt.Errorf("bedrock: task %q: %w", req.Task, err)
	}
	if req.ModelName == "" {
		return Result{}, fmt.Errorf("bedrock: model %q has no model name", req.Model)
	}
	client, err := g.getClient(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("bedrock: %w", err)
	}
	var opts []func(*bedrockruntime.Options)
	if req.BaseURL != "" {
		opts = append(opts, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(req.BaseURL) })
	}

	if req.Stream {
		return g.stream(ctx, client, req, handler, opts)
	}
	start := time.Now()
	out, err := client.Converse(ctx, converseInput(req), opts...)
	latency := time.Since(start)
	if err != nil {
		err = apiError("bedrock", err, bedrockRate(err, middleware.Metadata{}))
		return Result{}, fmt.Errorf("bedrock: model %s: %w", req.ModelName, classifyBedrock(err))
	}
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return Result{}, fmt.Errorf("bedrock: model %s: response holds no message", req.ModelName)
	}
	var answer, thought strings.Builder
	for _, block := range msg.Value.Content {
		switch b := block.(type) {
		case *types.ContentBlockMemberText:
			answer.WriteString(b.Value)
		case *types.ContentBlockMemberReasoningContent:
			if r, ok := b.Value.(*types.ReasoningContentBlockMemberReasoningText); ok {
				thought.WriteString(aws.ToString(r.Value.Text))
			}
		}
	}
	raw := withThinking(thought.String(), answer.String())
	res := Result{
		Files:        map[string][]byte{handler: []byte(ExtractCode(raw))},
		Latency:      latency,
		Raw:          raw,
		FinishReason: finishReason(out.StopReason),
		Rate:         bedrockRate(nil, out.ResultMetadata),
	}
	setBedrockUsage(&res, out.Usage)
	if t := out.Trace; t != nil && t.PromptRouter != nil {
		res.ModelVersion = aws.ToString(t.PromptRouter.InvokedModelId)
	}
	return res, nil
}

// stallTimeout is g's bound between stream events.
func (g *bedrockGenerator) stallTimeout() time.Duration {
	if g.stall > 0 {
		return g.stall
	}
	return DefaultStallTimeout
}

// stream sends one ConverseStream request and gathers its events, timing
// the first text (or reasoning) delta. A stream that stalls, breaks, ends
// without a messageStop event or carries a throttling, model-stream,
// internal-server or service-unavailable exception is retryable.
func (g *bedrockGenerator) stream(ctx context.Context, client *bedrockruntime.Client, req Request, handler string,
	opts []func(*bedrockruntime.Options)) (Result, error) {
	where := "bedrock: model " + req.ModelName
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := converseInput(req)
	// The client's protocol decodes event streams with one shared buffer,
	// which concurrent streams of one client race on (seen with -race in
	// smithy-go v1.28.8): every stream gets a protocol of its own.
	opts = append(slices.Clip(opts), func(o *bedrockruntime.Options) {
		o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
	})
	start := time.Now()
	out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId: in.ModelId, Messages: in.Messages, System: in.System, InferenceConfig: in.InferenceConfig,
	}, opts...)
	if err != nil {
		err = apiError("bedrock", err, bedrockRate(err, middleware.Metadata{}))
		return Result{}, fmt.Errorf("%s: %w", where, classifyBedrock(err))
	}
	es := out.GetStream()
	defer es.Close()
	stall := g.stallTimeout()
	timer := time.NewTimer(stall)
	defer timer.Stop()

	var (
		res             Result
		answer, thought strings.Builder
		stopped         bool
	)
	events := es.Events()
loop:
	for {
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%s: %w", where, classify(ctx.Err()))
		case <-timer.C:
			return Result{}, fmt.Errorf("%s: %w: %w: no event for %v", where, ErrRetryable, errStalled, stall)
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			timer.Reset(stall)
			switch e := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				var text string
				switch d := e.Value.Delta.(type) {
				case *types.ContentBlockDeltaMemberText:
					text = d.Value
					answer.WriteString(text)
				case *types.ContentBlockDeltaMemberReasoningContent:
					if r, ok := d.Value.(*types.ReasoningContentBlockDeltaMemberText); ok {
						text = r.Value
						thought.WriteString(text)
					}
				}
				if res.TTFT == 0 && text != "" {
					res.TTFT = time.Since(start)
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				res.FinishReason, stopped = finishReason(e.Value.StopReason), true
			case *types.ConverseStreamOutputMemberMetadata:
				setBedrockUsage(&res, e.Value.Usage)
				if t := e.Value.Trace; t != nil && t.PromptRouter != nil {
					res.ModelVersion = aws.ToString(t.PromptRouter.InvokedModelId)
				}
			}
		}
	}
	res.Latency = time.Since(start)
	if err := es.Err(); err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("%s: %w", where, classify(ctx.Err()))
		}
		return Result{}, fmt.Errorf("%s: %w", where, bedrockStreamError(err))
	}
	if !stopped {
		return Result{}, fmt.Errorf("%s: %w: the stream ended without a messageStop event", where, ErrRetryable)
	}
	res.Raw = withThinking(thought.String(), answer.String())
	res.Files = map[string][]byte{handler: []byte(ExtractCode(res.Raw))}
	res.Rate = bedrockRate(nil, out.ResultMetadata)
	return res, nil
}

// bedrockStreamError classifies an error that ended an event stream after
// it opened: Bedrock's exceptions as their names say, a broken connection
// or frame as retryable, a frame whose content does not decode as
// permanent.
func bedrockStreamError(err error) error {
	var (
		throttling  *types.ThrottlingException
		modelStream *types.ModelStreamErrorException
		internal    *types.InternalServerException
		unavailable *types.ServiceUnavailableException
		timeout     *types.ModelTimeoutException
		validation  *types.ValidationException
	)
	switch {
	case errors.As(err, &throttling), errors.As(err, &modelStream), errors.As(err, &internal),
		errors.As(err, &unavailable), errors.As(err, &timeout):
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	case errors.As(err, &validation):
		return err
	}
	if c := classify(err); errors.Is(c, ErrRetryable) {
		return c
	}
	if strings.Contains(err.Error(), "deserialize") {
		return fmt.Errorf("malformed stream event: %w", err)
	}
	return fmt.Errorf("%w: stream broke: %w", ErrRetryable, err)
}

// classifyBedrock is classify, which also knows Bedrock's throttling
// exception when it carries no HTTP status.
func classifyBedrock(err error) error {
	var throttling *types.ThrottlingException
	if errors.As(err, &throttling) && httpStatus(err) == 0 {
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	}
	return classify(err)
}

// finishReason maps Bedrock's stop reasons to the OpenAI-style names
// Result.FinishReason uses; others are kept as Bedrock says them.
func finishReason(r types.StopReason) string {
	switch r {
	case types.StopReasonEndTurn, types.StopReasonStopSequence:
		return "stop"
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return FinishLength
	case types.StopReasonContentFiltered, types.StopReasonGuardrailIntervened:
		return "content_filter"
	case types.StopReasonToolUse:
		return "tool_calls"
	}
	return string(r)
}

// setBedrockUsage copies Bedrock's token usage into res.
func setBedrockUsage(res *Result, u *types.TokenUsage) {
	if u == nil {
		return
	}
	res.InputTokens = int(aws.ToInt32(u.InputTokens))
	res.OutputTokens = int(aws.ToInt32(u.OutputTokens))
	res.CachedTokens = int(aws.ToInt32(u.CacheReadInputTokens))
}

// converseInput translates req into a Converse request. MaxCompletionTokens,
// when set, is sent as maxTokens; a reasoning model gets no temperature or
// topP. ReasoningEffort is not sent: Bedrock's models each take their own
// field for it.
func converseInput(req Request) *bedrockruntime.ConverseInput {
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(req.ModelName),
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: req.Prompt}},
		}},
	}
	if req.System != "" {
		in.System = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}}
	}
	p := req.Params
	if p.MaxCompletionTokens != nil {
		p.MaxTokens = p.MaxCompletionTokens
	}
	if req.Reasoning {
		p.Temperature, p.TopP = nil, nil
	}
	if p.Temperature == nil && p.TopP == nil && p.MaxTokens == nil && len(p.Stop) == 0 {
		return in
	}
	in.InferenceConfig = &types.InferenceConfiguration{StopSequences: p.Stop}
	if p.Temperature != nil {
		in.InferenceConfig.Temperature = aws.Float32(float32(*p.Temperature))
	}
	if p.TopP != nil {
		in.InferenceConfig.TopP = aws.Float32(float32(*p.TopP))
	}
	if p.MaxTokens != nil {
		in.InferenceConfig.MaxTokens = aws.Int32(int32(*p.MaxTokens))
	}
	return in
}
