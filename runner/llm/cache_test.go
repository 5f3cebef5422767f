package llm

import (
	"regexp"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// baseRequest returns a request with every generation parameter set.
func baseRequest() Request {
	return Request{
		Model:     "gpt-4o",
		Provider:  "openai",
		ModelName: "gpt-4o-2024-08-06",
		APIKeyEnv: "OPENAI_API_KEY",
		Params: Params{
			Temperature: ptr(0.2),
			TopP:        ptr(0.9),
			MaxTokens:   ptr(2048),
			Seed:        ptr(42),
			Stop:        []string{"###"},
		},
		System:  "You are a careful engineer.",
		Prompt:  "Write a PageRank function.",
		Task:    "pagerank",
		Variant: "long",
		Sample:  0,
		Handler: "handler.handler",
	}
}

func TestCacheKeyStable(t *testing.T) {
	key := CacheKey(baseRequest())
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
		t.Fatalf("CacheKey = %q, want 64 hex digits", key)
	}
	if again := CacheKey(baseRequest()); again != key {
		t.Errorf("CacheKey changed between calls: %s, then %s", key, again)
	}
	// The pinned value catches accidental changes of the encoding, which
	// would orphan every stored artifact; change it only together with
	// cacheKeyVersion.
	const pinned = "afd422eab5df792e81237b6ef33fdf0ebd86bf47a12fd64f1cc5ecea398bb40e"
	if key != pinned {
		t.Errorf("CacheKey(baseRequest()) = %s, want the pinned %s", key, pinned)
	}
}

func TestCacheKeySensitive(t *testing.T) {
	changes := map[string]func(*Request){
		"provider":          func(r *Request) { r.Provider = "openai-compatible"; r.BaseURL = "https://api.openai.com/v1" },
		"base URL":          func(r *Request) { r.BaseURL = "https://proxy.example/v1" },
		"model name":        func(r *Request) { r.ModelName = "gpt-4o-2024-11-20" },
		"handler":           func(r *Request) { r.Handler = "main.handler" },
		"temperature":       func(r *Request) { r.Params.Temperature = ptr(0.3) },
		"temperature unset": func(r *Request) { r.Params.Temperature = nil },
		"temperature zero":  func(r *Request) { r.Params.Temperature = ptr(0.0) },
		"top_p":             func(r *Request) { r.Params.TopP = ptr(1.0) },
		"max tokens":        func(r *Request) { r.Params.MaxTokens = ptr(4096) },
		"seed":              func(r *Request) { r.Params.Seed = ptr(43) },
		"seed unset":        func(r *Request) { r.Params.Seed = nil },
		"stop":              func(r *Request) { r.Params.Stop = []string{"###", "END"} },
		"system":            func(r *Request) { r.System += " " },
		"prompt":            func(r *Request) { r.Prompt = "Write a PageRank function!" },
		"system/prompt cut": func(r *Request) { r.System += "W"; r.Prompt = r.Prompt[1:] },
		"sample":            func(r *Request) { r.Sample = 1 },
		"reasoning":         func(r *Request) { r.Reasoning = true },
		"max completion":    func(r *Request) { r.Params.MaxCompletionTokens = ptr(8192) },
		"reasoning effort":  func(r *Request) { r.Params.ReasoningEffort = "high" },
	}
	base := CacheKey(baseRequest())
	seen := map[string]string{base: "base"}
	for name, change := range changes {
		req := baseRequest()
		change(&req)
		key := CacheKey(req)
		if other, ok := seen[key]; ok {
			t.Errorf("changing %s gives the key of %s", name, other)
		}
		seen[key] = name
	}
}

func TestCacheKeyInsensitive(t *testing.T) {
	changes := map[string]func(*Request){
		"API key variable":      func(r *Request) { r.APIKeyEnv = "OTHER_OPENAI_KEY" },
		"no API key variable":   func(r *Request) { r.APIKeyEnv = "" },
		"study model id":        func(r *Request) { r.Model = "gpt-4o-again" },
		"task and variant name": func(r *Request) { r.Task, r.Variant = "pr", "l" },
		"default base URL":      func(r *Request) { r.BaseURL = "https://api.openai.com/v1/" },
		"empty stop list":       func(r *Request) { r.Params.Stop = []string{} },
		"streamed or not":       func(r *Request) { r.Stream = !r.Stream },
	}
	base := baseRequest()
	base.Params.Stop = nil
	want := CacheKey(base)
	for name, change := range changes {
		req := base
		change(&req)
		if got := CacheKey(req); got != want {
			t.Errorf("changing %s changed the key", name)
		}
	}
}

func TestCacheKeyFilesSource(t *testing.T) {
	req := Request{Provider: "files", FilesDir: "generated/chatgpt", Task: "pagerank", Variant: "long", Handler: "handler.handler"}
	other := req
	other.Variant = "short"
	if CacheKey(req) == CacheKey(other) {
		t.Error("files: keys of two variants with the same prompt are equal")
	}
}

func TestCodeHash(t *testing.T) {
	a := CodeHash(map[string][]byte{"handler.py": []byte("x = 1\n"), "util.py": []byte("y = 2\n")})
	if b := CodeHash(map[string][]byte{"util.py": []byte("y = 2\n"), "handler.py": []byte("x = 1\n")}); a != b {
		t.Error("CodeHash depends on map order")
	}
	distinct := []map[string][]byte{
		{"handler.py": []byte("x = 1\n")},
		{"handler.py": []byte("x = 2\n")},
		{"handler2.py": []byte("x = 1\n")},
		{"ab": []byte("c")},
		{"a": []byte("bc")},
		{"a": []byte("b"), "c": nil},
		{},
	}
	seen := map[string]int{}
	for i, files := range distinct {
		h := CodeHash(files)
		if j, ok := seen[h]; ok {
			t.Errorf("CodeHash of sets %d and %d are equal", j, i)
		}
		seen[h] = i
	}
}
