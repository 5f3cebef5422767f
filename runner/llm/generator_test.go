package llm

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
)

// TestGeneratorContract runs the same checks against every generator: the
// result holds the handler module, concurrent use is safe (run with -race)
// and a cancelled context fails the generation without ErrRetryable.
func TestGeneratorContract(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"refs/pagerank.py":            "def handler(e, c):\n    return 0\n",
		"code/pagerank/long/app.py":   "def handler(e, c):\n    return 1\n",
		"code/pagerank/long/util.py":  "X = 1\n",
		"code/pagerank/short/app.py":  "unused = 1\n",
		"code/thumbnail/long/0/x.txt": "unused\n",
	})
	openAI := newFakeOpenAI(t, http.StatusOK, fakeCompletion)
	bedrock := newFakeBedrock(t, http.StatusOK, "", fakeConverse)

	newOpenAI, _ := New("openai", fakeEnv, openAI.Client())
	newReference, _ := New("reference", nil, nil)
	newFiles, _ := New("files", nil, nil)
	generators := []struct {
		name string
		gen  Generator
		req  Request
	}{
		{"reference", newReference, Request{Provider: "reference", ReferenceFile: filepath.Join(root, "refs", "pagerank.py")}},
		{"files", newFiles, Request{Provider: "files", FilesDir: filepath.Join(root, "code")}},
		{"openai", newOpenAI, Request{Provider: "openai", ModelName: "gpt-4o-2024-08-06", BaseURL: openAI.URL + "/v1"}},
		{"bedrock", NewBedrock(fakeAWSConfig(bedrock.Client())), Request{Provider: "bedrock", ModelName: "amazon.nova-pro-v1:0", BaseURL: bedrock.URL}},
	}
	for _, g := range generators {
		t.Run(g.name, func(t *testing.T) {
			req := g.req
			req.Model, req.Task, req.Variant, req.Handler = "m", "pagerank", "long", "app.handler"
			req.Prompt = "Write PageRank."

			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := g.gen.Generate(context.Background(), req)
					if err != nil {
						t.Error(err)
						return
					}
					if len(res.Files["app.py"]) == 0 {
						t.Errorf("files %q lack a non-empty handler module app.py", res.Files)
					}
				}()
			}
			wg.Wait()

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := g.gen.Generate(ctx, req); err == nil || errors.Is(err, ErrRetryable) {
				t.Errorf("cancelled context: error %v, want a permanent error", err)
			}
		})
	}
}
