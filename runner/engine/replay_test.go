package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
)

// fakeReplay replays the generations it holds, by ID, and counts lookups.
type fakeReplay struct {
	mu    sync.Mutex
	recs  map[string]GenerationRecord
	res   map[string]llm.Result
	calls int
}

func (f *fakeReplay) Generation(ctx context.Context, g plan.Generation, req llm.Request) (GenerationRecord, llm.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	rec, ok := f.recs[g.ID]
	if !ok {
		return GenerationRecord{}, llm.Result{}, fmt.Errorf("generation %s/%s/%s/%d is not in the lock: %w", g.Model, g.Task, g.Variant, g.Sample, ErrNotReplayed)
	}
	return rec, f.res[g.ID], nil
}

// recorded is a replay holding sample 0 of e's plan as made on a day long
// past, with tokens and timings of its own.
func recorded(e *Engine) (*fakeReplay, GenerationRecord) {
	g := e.Plan.Generations[0]
	res := code(100)
	res.Raw = "```python\n" + string(res.Files["handler.py"]) + "```\n"
	rec := GenerationRecord{ID: g.ID, Key: "ignored", CodeSHA256: llm.CodeHash(res.Files), ModelVersion: "gpt-4o-2024-05-13",
		InputTokens: 111, OutputTokens: 222, LatencyMS: 1234.5, Attempts: 2, CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &fakeReplay{recs: map[string]GenerationRecord{g.ID: rec}, res: map[string]llm.Result{g.ID: res}}, rec
}

func TestLockedReplaysAndNeverCallsTheAPI(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 1000) // four samples; the replay holds the first
	r, want := recorded(e)
	e.Replay, e.Locked = r, true
	err := e.Run(context.Background(), StageGenerate)
	if !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("err = %v, want ErrUnitsFailed for the three generations not in the lock", err)
	}
	if g.calls != 0 {
		t.Errorf("the API was called %d times with Locked", g.calls)
	}
	st := state(t, e)
	got, ok := st.Generations[want.ID]
	if !ok {
		t.Fatal("the replayed generation is not journaled")
	}
	wantKey := recordedKey(llm.CacheKey(e.request(e.Plan.Generations[0])), r.res[want.ID])
	if got.Key != wantKey {
		t.Errorf("key %s, want the recorded key %s", got.Key, wantKey)
	}
	got.Key, want.Key = "", ""
	if got != want {
		t.Errorf("journaled %+v, want the record as made %+v", got, want)
	}
	res, ok, err := e.Store.Get(context.Background(), wantKey)
	if err != nil || !ok || res.Raw != r.res[want.ID].Raw || llm.CodeHash(res.Files) != want.CodeSHA256 {
		t.Errorf("store entry %+v %v %v: want the replayed code and answer", res, ok, err)
	}
	if len(st.Failures) != 3 {
		t.Fatalf("%d failures, want 3", len(st.Failures))
	}
	for _, f := range st.Failures {
		if !strings.Contains(f.Error, "is not in the lock") || !strings.Contains(f.Error, "m/a/long/") {
			t.Errorf("failure %q does not name the generation missing from the lock", f.Error)
		}
	}
}

func TestReplayBeforeCacheAndAPI(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 1000)
	r, want := recorded(e)
	e.Replay = r // not Locked: what the replay lacks is generated
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	if g.calls != 3 || len(st.Generations) != 4 || st.Generations[want.ID].OutputTokens != 222 {
		t.Errorf("%d API calls, %d generations, replayed tokens %d; want 3, 4 and 222",
			g.calls, len(st.Generations), st.Generations[want.ID].OutputTokens)
	}
}

func TestRefreshReadsNeitherReplayNorCache(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 1000)
	if err := e.Run(context.Background(), StageGenerate); err != nil { // fills the cache
		t.Fatal(err)
	}
	e2 := spendEngine(t, g, 1000)
	e2.Store = e.Store
	r, _ := recorded(e2)
	e2.Replay, e2.Refresh = r, true
	if err := e2.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if r.calls != 0 || g.calls != 8 {
		t.Errorf("replay read %d times, %d API calls; want 0 and 8 (4 + 4 anew)", r.calls, g.calls)
	}
	// The new answers are what the run's functions are made from, though
	// the cache keeps the first answer under each request's key.
	st := state(t, e2)
	for _, gen := range e2.Plan.Generations {
		rec := st.Generations[gen.ID]
		res, ok, err := e2.Store.Get(context.Background(), rec.Key)
		if err != nil || !ok || llm.CodeHash(res.Files) != rec.CodeSHA256 {
			t.Errorf("generation %s: store entry %s does not hold its new code (%v %v)", gen.ID, rec.Key, ok, err)
		}
		if rec.Key == llm.CacheKey(e2.request(gen)) {
			t.Errorf("generation %s: refreshed answer stored under the cache key, which still holds the old", gen.ID)
		}
	}
}
