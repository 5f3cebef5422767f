package llm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/llmtest"
)

// The conformance suite runs against every provider: reference and files
// on disk, every OpenAI-compatible provider against a fake chat
// completions API, and Bedrock against a fake Converse endpoint, all on
// loopback.

func TestReferenceConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Fixture {
		gen, err := llm.New("reference", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Fixture{
			Generator: gen,
			Answer: func(t *testing.T, text string) llm.Request {
				path := filepath.Join(t.TempDir(), "reference.py")
				writeFile(t, path, text)
				return llm.Request{Model: "reference", Provider: "reference", Task: "square", Variant: "long", ReferenceFile: path}
			},
			Missing: func(t *testing.T) llm.Request {
				return llm.Request{Model: "reference", Provider: "reference", Task: "square", Variant: "long",
					ReferenceFile: filepath.Join(t.TempDir(), "missing.py")}
			},
		}
	})
}

func TestFilesConformance(t *testing.T) {
	llmtest.Run(t, func(t *testing.T) llmtest.Fixture {
		gen, err := llm.New("files", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return llmtest.Fixture{
			Generator: gen,
			Answer: func(t *testing.T, text string) llm.Request {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "square", "long.py"), text)
				return llm.Request{Model: "chat", Provider: "files", Task: "square", Variant: "long", FilesDir: dir}
			},
			Missing: func(t *testing.T) llm.Request {
				return llm.Request{Model: "chat", Provider: "files", Task: "square", Variant: "long", FilesDir: t.TempDir()}
			},
		}
	})
}

// testStall is the stall timeout of the generators under the suite: long
// enough that a loaded machine never takes it between two chunks of a fake
// that sends them at once, short enough to keep the Stalled case quick.
const testStall = 3 * time.Second

// modes are the suite's two ways of asking: streamed and not.
var modes = []struct {
	name   string
	stream bool
}{{"stream", true}, {"nostream", false}}

func TestOpenAICompatibleConformance(t *testing.T) {
	for _, provider := range []string{"openai", "deepseek", "xai", "gemini", "ollama", "vllm", "openai-compatible"} {
		for _, mode := range modes {
			t.Run(provider+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				llmtest.Run(t, func(t *testing.T) llmtest.Fixture {
					svc := llmtest.NewFakeOpenAI(t)
					gen, err := llm.New(provider, fakeKeys, svc.Client())
					if err != nil {
						t.Fatal(err)
					}
					llm.SetStallTimeout(gen, testStall)
					return llmtest.Fixture{
						Generator:            gen,
						Service:              svc,
						Model:                true,
						SendsSeed:            true,
						SendsReasoningEffort: true,
						Stream:               mode.stream,
						Answer: func(t *testing.T, text string) llm.Request {
							svc.Answer(text)
							return llm.Request{Model: "m", Provider: provider, ModelName: "fake-model", BaseURL: svc.URL + "/v1",
								Task: "square", Variant: "long", Prompt: "Write a function that squares n.", Stream: mode.stream}
						},
					}
				})
			})
		}
	}
}

func TestBedrockConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			llmtest.Run(t, func(t *testing.T) llmtest.Fixture {
				svc := llmtest.NewFakeBedrock(t)
				gen := llm.NewBedrock(aws.Config{
					Region:     "us-east-1",
					HTTPClient: svc.Client(),
					Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
						return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret", Source: "test"}, nil
					}),
				})
				llm.SetStallTimeout(gen, testStall)
				return llmtest.Fixture{
					Generator: gen,
					Service:   svc,
					Model:     true,
					Stream:    mode.stream,
					Answer: func(t *testing.T, text string) llm.Request {
						svc.Answer(text)
						return llm.Request{Model: "claude", Provider: "bedrock", ModelName: "anthropic.claude-3-5-sonnet-20240620-v1:0",
							BaseURL: svc.URL, Task: "square", Variant: "long", Prompt: "Write a function that squares n.", Stream: mode.stream}
					},
				}
			})
		})
	}
}

// fakeKeys is an environment holding a fake key in every API key variable.
func fakeKeys(name string) string {
	if strings.HasSuffix(name, "_API_KEY") {
		return "sk-fake-" + strings.ToLower(name)
	}
	return ""
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
