package llm

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
)

// bedrockGenerator asks Amazon Bedrock's Converse API. It creates its
// client on first use and is safe for concurrent use.
type bedrockGenerator struct {
	loadConfig func(context.Context) (aws.Config, error)

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

	start := time.Now()
	out, err := client.Converse(ctx, converseInput(req), opts...)
	latency := time.Since(start)
	if err != nil {
		err = apiError("bedrock", err, bedrockRate(err, middleware.Metadata{}))
		return Result{}, fmt.Errorf("bedrock: model %s: %w", req.ModelName, classify(err))
	}
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return Result{}, fmt.Errorf("bedrock: model %s: response holds no message", req.ModelName)
	}
	var raw strings.Builder
	for _, block := range msg.Value.Content {
		if text, ok := block.(*types.ContentBlockMemberText); ok {
			raw.WriteString(text.Value)
		}
	}
	res := Result{
		Files:   map[string][]byte{handler: []byte(ExtractCode(raw.String()))},
		Latency: latency,
		Raw:     raw.String(),
		Rate:    bedrockRate(nil, out.ResultMetadata),
	}
	if u := out.Usage; u != nil {
		res.InputTokens = int(aws.ToInt32(u.InputTokens))
		res.OutputTokens = int(aws.ToInt32(u.OutputTokens))
	}
	if t := out.Trace; t != nil && t.PromptRouter != nil {
		res.ModelVersion = aws.ToString(t.PromptRouter.InvokedModelId)
	}
	return res, nil
}

// converseInput translates req into a Converse request.
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
