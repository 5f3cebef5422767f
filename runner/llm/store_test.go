package llm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func storeResult() Result {
	return Result{
		Files: map[string][]byte{
			"handler.py":   []byte("def handler(e, c):\n    return 1\n"),
			"lib/graph.py": []byte("EDGES = []\n"),
		},
		ModelVersion:    "gpt-4o-2024-08-06",
		InputTokens:     12,
		OutputTokens:    34,
		Latency:         1234567 * time.Microsecond,
		TTFT:            345678 * time.Microsecond,
		ReasoningTokens: 7,
		CachedTokens:    5,
		FinishReason:    "stop",
		Raw:             "```python\ndef handler(e, c):\n    return 1\n```",
	}
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := Store{Dir: filepath.Join(t.TempDir(), "artifacts")}
	key := CacheKey(baseRequest())

	if _, ok, err := s.Get(ctx, key); ok || err != nil {
		t.Fatalf("Get before Put: ok %v, error %v; want false, nil", ok, err)
	}
	want := storeResult()
	if err := s.Put(ctx, key, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, key)
	if err != nil || !ok {
		t.Fatalf("Get: ok %v, error %v", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v\nwant %+v", got, want)
	}

	b, err := os.ReadFile(filepath.Join(s.Dir, key, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta storeMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.CodeSHA256 != CodeHash(want.Files) || len(meta.Files) != 2 || meta.Files[0].Name != "handler.py" {
		t.Errorf("meta.json = %s", b)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 1 {
		t.Errorf("store holds %d entries, want 1 (no temporary directories)", len(entries))
	}
}

func TestStoreFirstPutWins(t *testing.T) {
	ctx := context.Background()
	s := Store{Dir: t.TempDir()}
	key := CacheKey(baseRequest())
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := storeResult()
			res.Files["handler.py"] = []byte(strings.Repeat("#", i+1) + "\n")
			errs[i] = s.Put(ctx, key, res)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	if _, ok, err := s.Get(ctx, key); !ok || err != nil {
		t.Errorf("Get: ok %v, error %v", ok, err)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 1 {
		t.Errorf("store holds %d entries, want 1", len(entries))
	}
}

func TestStoreFailedPutLeavesNothing(t *testing.T) {
	key := CacheKey(baseRequest())
	tests := map[string]struct {
		ctx func() context.Context
		res Result
	}{
		// "a.py" is written as a file first, so "a.py/b.py" fails half way.
		"write fails half way": {res: Result{Files: map[string][]byte{"a.py": []byte("a"), "a.py/b.py": []byte("b")}}},
		"file name escapes":    {res: Result{Files: map[string][]byte{"handler.py": nil, "../evil.py": []byte("x")}}},
		"absolute file name":   {res: Result{Files: map[string][]byte{"/etc/evil.py": []byte("x")}}},
		"no files":             {res: Result{}},
		"cancelled": {res: storeResult(), ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for name, tt := range tests {
		dir := t.TempDir()
		s := Store{Dir: dir}
		ctx := context.Background()
		if tt.ctx != nil {
			ctx = tt.ctx()
		}
		if err := s.Put(ctx, key, tt.res); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: store holds %v after a failed Put, want nothing", name, entries)
		}
		if _, ok, err := s.Get(context.Background(), key); ok || err != nil {
			t.Errorf("%s: Get after a failed Put: ok %v, error %v", name, ok, err)
		}
	}
}

func TestStoreDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	s := Store{Dir: t.TempDir()}
	key := CacheKey(baseRequest())
	if err := s.Put(ctx, key, storeResult()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, key, "files", "handler.py"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctx, key)
	if err == nil || !strings.Contains(err.Error(), "handler.py does not match its SHA-256") {
		t.Errorf("Get of an edited entry: error %v", err)
	}
}

func TestStoreRejectsBadKeys(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, key := range []string{"", "..", "../" + strings.Repeat("a", 61), strings.Repeat("A", 64), strings.Repeat("a", 63)} {
		if err := s.Put(context.Background(), key, storeResult()); err == nil {
			t.Errorf("Put with key %q succeeded", key)
		}
		if _, _, err := s.Get(context.Background(), key); err == nil {
			t.Errorf("Get with key %q succeeded", key)
		}
	}
}
