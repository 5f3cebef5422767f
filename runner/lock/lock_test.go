package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// fixture is a study of one API model ("gpt"), one "files" model and two
// samples of one variant, with both API generations made: journal records
// and store entries, one answer with code and one without.
type fixture struct {
	plan  *plan.Plan
	st    *engine.State
	store llm.Store
	lock  *Lock
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("write a function"), 0o644)
	os.MkdirAll(filepath.Join(dir, "code"), 0o755)
	temp, max := 0.2, 500
	s := &schema.Study{
		Name: "demo",
		Models: map[string]schema.Model{
			"gpt":  {Provider: "openai", Model: "gpt-4o", BaseURL: "http://127.0.0.1:9/v1", Params: schema.Params{Temperature: &temp, MaxTokens: &max}},
			"hand": {Provider: "files", Dir: "code"},
		},
		Tasks:     map[string]schema.Task{"primes": {Handler: "handler.handler", TimeoutS: 5, Variants: map[string]schema.Variant{"long": {Prompt: "p.md"}}}},
		Platforms: map[string]schema.Platform{"local": {Kind: "local"}},
		Matrix:    schema.Matrix{MemoryMB: []int{512}, Arch: []string{"x86_64"}, Platforms: []string{"local"}, Samples: 2, Repetitions: 1},
		Budget:    schema.Budget{USD: 1},
		Source:    schema.Source{Dir: dir},
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{plan: p, st: &engine.State{Generations: map[string]engine.GenerationRecord{}},
		store: llm.Store{Dir: filepath.Join(dir, "artifacts")}, lock: &Lock{Dir: Dir(s), Plan: p}}
	answers := []string{"Here:\n```python\ndef handler(e, c):\n    return 2\n```\n", "I can't help with that."}
	for _, g := range p.Generations {
		if g.Model != "gpt" {
			continue
		}
		raw := answers[g.Sample]
		res := llm.Result{Files: map[string][]byte{"handler.py": []byte(llm.ExtractCode(raw))}, Raw: raw,
			ModelVersion: "gpt-4o-2024-08-06", InputTokens: 40 + g.Sample, OutputTokens: 90 + g.Sample}
		key := fmt.Sprintf("%064x", g.Sample+1)
		if err := f.store.Put(context.Background(), key, res); err != nil {
			t.Fatal(err)
		}
		f.st.Generations[g.ID] = engine.GenerationRecord{ID: g.ID, Key: key, CodeSHA256: llm.CodeHash(res.Files),
			ModelVersion: res.ModelVersion, InputTokens: res.InputTokens, OutputTokens: res.OutputTokens,
			LatencyMS: 812.25 + float64(g.Sample), Attempts: 1 + g.Sample, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)}
	}
	return f
}

func (f fixture) gen(t *testing.T, model string, sample int) plan.Generation {
	t.Helper()
	for _, g := range f.plan.Generations {
		if g.Model == model && g.Sample == sample {
			return g
		}
	}
	t.Fatalf("no generation %s sample %d", model, sample)
	return plan.Generation{}
}

func (f fixture) write(t *testing.T) {
	t.Helper()
	n, err := f.lock.Write(context.Background(), f.st, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("wrote %d generations, want the 2 of the API model", n)
	}
}

// tree reads every file under dir, by slash-separated relative name.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteLayout(t *testing.T) {
	f := newFixture(t)
	f.write(t)
	got := tree(t, f.lock.Dir)
	want := []string{
		"gpt/primes/long/0/handler.py", "gpt/primes/long/0.json", "gpt/primes/long/0.response.md",
		"gpt/primes/long/1/handler.py", "gpt/primes/long/1.json", "gpt/primes/long/1.response.md",
	}
	if len(got) != len(want) {
		t.Errorf("lock holds %d files, want %d: %v", len(got), len(want), got)
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("lock lacks %s", w)
		}
	}
	if got["gpt/primes/long/0/handler.py"] != "def handler(e, c):\n    return 2\n" || got["gpt/primes/long/1/handler.py"] != "" {
		t.Errorf("code files %q and %q: want the extracted code, and an empty module for the answer without code",
			got["gpt/primes/long/0/handler.py"], got["gpt/primes/long/1/handler.py"])
	}
	if got["gpt/primes/long/1.response.md"] != "I can't help with that." {
		t.Errorf("raw answer %q", got["gpt/primes/long/1.response.md"])
	}
	meta := got["gpt/primes/long/0.json"]
	g := f.gen(t, "gpt", 0)
	for _, w := range []string{
		`"attempts": 1,`, `"base_url": "http://127.0.0.1:9/v1",`, `"code_sha256": "` + f.st.Generations[g.ID].CodeSHA256 + `",`,
		`"created_at": "2026-01-02T03:04:05.000006789Z",`, `"id": "` + g.ID + `",`, `"input_tokens": 40,`, `"latency_ms": 812.25,`,
		`"model": "gpt",`, `"model_name": "gpt-4o",`, `"model_version": "gpt-4o-2024-08-06",`, `"output_tokens": 90,`,
		`"max_tokens": 500,`, `"temperature": 0.2`, `"prompt_sha256": "` + g.PromptSHA256 + `",`, `"provider": "openai",`,
		`"sample": 0,`, `"task": "primes",`, `"variant": "long"`, "\n\t\"files\": [\n\t\t{\n\t\t\t\"bytes\": 32,\n\t\t\t\"name\": \"handler.py\",",
	} {
		if !strings.Contains(meta, w) {
			t.Errorf("metadata lacks %q:\n%s", w, meta)
		}
	}
	if strings.Contains(meta, `"key"`) {
		t.Errorf("metadata names the run's artifact store key:\n%s", meta)
	}
	// Keys are sorted at every level.
	if i, j := strings.Index(meta, `"attempts"`), strings.Index(meta, `"variant"`); i < 0 || j < 0 || i > j {
		t.Errorf("keys not sorted:\n%s", meta)
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	f := newFixture(t)
	f.write(t)
	first := tree(t, f.lock.Dir)
	f.write(t)
	if second := tree(t, f.lock.Dir); fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("writing the lock twice changed it:\n%v\n%v", first, second)
	}
	// Written from a run that replayed the lock itself: the same bytes.
	st := &engine.State{Generations: map[string]engine.GenerationRecord{}}
	store := llm.Store{Dir: t.TempDir()}
	for _, g := range f.plan.Generations {
		if g.Model != "gpt" {
			continue
		}
		rec, res, err := f.lock.Generation(context.Background(), g, llm.Request{})
		if err != nil {
			t.Fatal(err)
		}
		rec.Key = fmt.Sprintf("%064x", 100+g.Sample)
		store.Put(context.Background(), rec.Key, res)
		st.Generations[g.ID] = rec
	}
	if _, err := f.lock.Write(context.Background(), st, store); err != nil {
		t.Fatal(err)
	}
	if third := tree(t, f.lock.Dir); fmt.Sprint(first) != fmt.Sprint(third) {
		t.Errorf("the lock written from its own replay differs:\n%v\n%v", first, third)
	}
	// No temporary or old directory is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(f.lock.Dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestGenerationReadsBack(t *testing.T) {
	f := newFixture(t)
	f.write(t)
	for _, sample := range []int{0, 1} {
		g := f.gen(t, "gpt", sample)
		rec, res, err := f.lock.Generation(context.Background(), g, llm.Request{})
		if err != nil {
			t.Fatal(err)
		}
		want := f.st.Generations[g.ID]
		want.Key = ""
		if rec != want {
			t.Errorf("sample %d: record %+v, want %+v", sample, rec, want)
		}
		orig, _, _ := f.store.Get(context.Background(), f.st.Generations[g.ID].Key)
		if llm.CodeHash(res.Files) != llm.CodeHash(orig.Files) || res.Raw != orig.Raw || res.ModelVersion != orig.ModelVersion ||
			res.InputTokens != orig.InputTokens || res.OutputTokens != orig.OutputTokens {
			t.Errorf("sample %d: result %+v, want %+v", sample, res, orig)
		}
	}
	if err := f.lock.Check(context.Background()); err != nil {
		t.Errorf("check of a whole lock: %v", err)
	}
}

// TestFilesModelReadsTheLock reads the lock's code with the "files"
// generator, as a files model whose dir is <lock>/<model> does.
func TestFilesModelReadsTheLock(t *testing.T) {
	f := newFixture(t)
	f.write(t)
	gen, err := llm.New("files", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sample := range []int{0, 1} {
		g := f.gen(t, "gpt", sample)
		res, err := gen.Generate(context.Background(), llm.Request{Model: "locked", Provider: "files", Task: g.Task, Variant: g.Variant,
			Sample: sample, Handler: "handler.handler", FilesDir: filepath.Join(f.lock.Dir, "gpt")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := llm.CodeHash(res.Files), f.st.Generations[g.ID].CodeSHA256; got != want {
			t.Errorf("sample %d: files model read code %s, want %s (%v)", sample, got, want, res.Files)
		}
	}
}

func TestGenerationErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		edit       func(t *testing.T, lockDir string)
		notInLock  bool // wraps engine.ErrNotReplayed
		wantSubstr string
	}{
		{"missing entry", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "gpt/primes/long/0.json"))
		}, true, "generation gpt/primes/long/0 is not in the lock"},
		{"made for another request", func(t *testing.T, d string) {
			replaceIn(t, filepath.Join(d, "gpt/primes/long/0.json"), `"id": "`, `"id": "0`)
		}, true, "generation gpt/primes/long/0 in the lock was made for another request"},
		{"code edited by hand", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "gpt/primes/long/0/handler.py"), []byte("def handler(e, c):\n    return 3\n"), 0o644)
		}, false, "handler.py does not match its SHA-256 (edited by hand?)"},
		{"code hash edited", func(t *testing.T, d string) {
			replaceIn(t, filepath.Join(d, "gpt/primes/long/0.json"), `"code_sha256": "`, `"code_sha256": "0`)
		}, false, "does not match code_sha256"},
		{"file added", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "gpt/primes/long/0/extra.py"), []byte("x = 1\n"), 0o644)
		}, false, "file extra.py is not listed"},
		{"file removed", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "gpt/primes/long/0/handler.py"))
		}, false, "file handler.py is missing"},
		{"link", func(t *testing.T, d string) {
			os.Symlink("/etc/hostname", filepath.Join(d, "gpt/primes/long/0/leak.py"))
		}, false, "is not a regular file"},
		{"bad JSON", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "gpt/primes/long/0.json"), []byte("{"), 0o644)
		}, false, "0.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.write(t)
			tt.edit(t, f.lock.Dir)
			_, _, err := f.lock.Generation(context.Background(), f.gen(t, "gpt", 0), llm.Request{})
			if err == nil || !strings.Contains(err.Error(), tt.wantSubstr) || errors.Is(err, engine.ErrNotReplayed) != tt.notInLock {
				t.Fatalf("err = %v; want one saying %q (not in the lock: %v)", err, tt.wantSubstr, tt.notInLock)
			}
			cerr := f.lock.Check(context.Background())
			if cerr == nil || !strings.Contains(cerr.Error(), "cannot replay 1 generations") || !strings.Contains(cerr.Error(), tt.wantSubstr) {
				t.Errorf("check: %v", cerr)
			}
		})
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
}

func TestHashCoversEveryFileOfTheAPIModels(t *testing.T) {
	f := newFixture(t)
	empty, err := f.lock.Hash()
	if err != nil {
		t.Fatalf("hash of a missing lock: %v", err)
	}
	f.write(t)
	base, err := f.lock.Hash()
	if err != nil || base == empty {
		t.Fatalf("hash %s (%v) of the written lock equals the missing lock's", base, err)
	}
	for _, tt := range []struct {
		name    string
		edit    func(d string)
		changes bool
	}{
		{"tokens edited", func(d string) {
			replaceIn(t, filepath.Join(d, "gpt/primes/long/1.json"), `"output_tokens": 91`, `"output_tokens": 9`)
		}, true},
		{"raw answer edited", func(d string) { os.WriteFile(filepath.Join(d, "gpt/primes/long/1.response.md"), []byte("x"), 0o644) }, true},
		{"code edited", func(d string) { os.WriteFile(filepath.Join(d, "gpt/primes/long/1/handler.py"), []byte("x"), 0o644) }, true},
		{"file added", func(d string) { os.WriteFile(filepath.Join(d, "gpt/primes/long/1/x.py"), nil, 0o644) }, true},
		{"another model's directory", func(d string) {
			os.MkdirAll(filepath.Join(d, "hand"), 0o755)
			os.WriteFile(filepath.Join(d, "hand/x"), nil, 0o644)
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.write(t) // afresh
			tt.edit(f.lock.Dir)
			got, err := f.lock.Hash()
			if err != nil {
				t.Fatal(err)
			}
			if (got != base) != tt.changes {
				t.Errorf("hash changed: %v, want %v", got != base, tt.changes)
			}
		})
	}
}

func TestWriteNeedsEveryGeneration(t *testing.T) {
	f := newFixture(t)
	f.write(t)
	before := tree(t, f.lock.Dir)
	delete(f.st.Generations, f.gen(t, "gpt", 1).ID)
	if _, err := f.lock.Write(context.Background(), f.st, f.store); err == nil || !strings.Contains(err.Error(), "gpt/primes/long/1 was not made") {
		t.Fatalf("err = %v, want one naming the generation not made", err)
	}
	if after := tree(t, f.lock.Dir); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Error("a failed write changed the lock")
	}
}
