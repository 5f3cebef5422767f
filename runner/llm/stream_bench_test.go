package llm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/llmtest"
)

// BenchmarkOpenAIGenerate compares a streamed generation with a whole one
// against the fake server on loopback, for an answer of about 4 KiB: what
// streaming costs the client (SSE parsing, the stall watchdog). Compare
// the two sub-benchmarks' ns/op side by side.
func BenchmarkOpenAIGenerate(b *testing.B) {
	answer := "```python\n" + strings.Repeat("x = compute(1)  # a line of code\n", 128) + "```"
	for _, mode := range []struct {
		name   string
		stream bool
	}{{"whole", false}, {"stream", true}} {
		b.Run(mode.name, func(b *testing.B) {
			svc := llmtest.NewFakeOpenAI(b)
			svc.Answer(answer)
			gen, err := llm.New("openai-compatible", nil, svc.Client())
			if err != nil {
				b.Fatal(err)
			}
			req := llm.Request{Model: "m", Provider: "openai-compatible", ModelName: "fake-model", BaseURL: svc.URL + "/v1",
				Handler: "app.handler", Prompt: "p", Stream: mode.stream}
			for b.Loop() {
				if _, err := gen.Generate(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
