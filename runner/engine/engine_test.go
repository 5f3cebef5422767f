package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// fakePlatform is a platform whose invocations follow a script: invoke
// returns the outcome of the n-th call (0-based) across all deployments.
type fakePlatform struct {
	mu      sync.Mutex
	calls   int
	deploys int
	closes  int
	deploy  func(n int) error
	invoke  func(n int) (platform.Invocation, error)
}

func (f *fakePlatform) Name() string { return "fake" }

func (f *fakePlatform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deploys++
	if f.deploy != nil {
		if err := f.deploy(f.deploys - 1); err != nil {
			return nil, err
		}
	}
	return &fakeDeployment{f: f}, nil
}

// fakeDeployment is one container: its first call is cold.
type fakeDeployment struct {
	f     *fakePlatform
	calls int
}

func (d *fakeDeployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	d.f.mu.Lock()
	n := d.f.calls
	d.f.calls++
	d.f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return platform.Invocation{}, err
	}
	d.calls++
	inv, err := ok(n), error(nil)
	if d.f.invoke != nil {
		inv, err = d.f.invoke(n)
	}
	inv.Cold = d.calls == 1
	return inv, err
}

// noColdWarmCalls fails when a recorded call past the warm-up is cold.
func noColdWarmCalls(t *testing.T, st runState) {
	t.Helper()
	for cell, invs := range st.Invocations {
		for _, inv := range invs {
			if !inv.Warmup && inv.Cold {
				t.Errorf("cell %s: call %d is a cold start recorded as a warm sample", cell, inv.Seq)
			}
		}
	}
}

func (d *fakeDeployment) Close(ctx context.Context) error {
	d.f.mu.Lock()
	d.f.closes++
	d.f.mu.Unlock()
	return nil
}

func ok(n int) platform.Invocation {
	return platform.Invocation{Status: platform.StatusOK, Start: time.Now(), Duration: time.Duration(n+1) * time.Millisecond,
		Result: []byte(`{"ok":true}`)}
}

// measureEngine is an engine over a one-task study of two cells (512 and
// 1024 MB) whose generation is already generated and checked OK, so tests
// exercise the measure stage alone.
func measureEngine(t testing.TB, pl *fakePlatform) (*Engine, *plan.Plan) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("prompt"), 0o644)
	s := &schema.Study{
		Name:      "t",
		Models:    map[string]schema.Model{"m": {Provider: "files"}},
		Tasks:     map[string]schema.Task{"a": {Handler: "handler.handler", TimeoutS: 5, Variants: map[string]schema.Variant{"long": {Prompt: "p.md"}}, Benchmark: schema.Benchmark{Event: map[string]any{"n": 1}}}},
		Platforms: map[string]schema.Platform{"local": {Kind: "local"}},
		Matrix:    schema.Matrix{MemoryMB: []int{512, 1024}, Arch: []string{"x86_64"}, Platforms: []string{"local"}, Samples: 1, Repetitions: 5, Warmup: 1},
		Budget:    schema.Budget{USD: 1},
		Source:    schema.Source{Dir: dir},
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	store := llm.Store{Dir: filepath.Join(dir, "artifacts")}
	files := map[string][]byte{"handler.py": []byte("def handler(e, c):\n    return {}\n")}
	key := llm.CodeHash(files)
	if err := store.Put(context.Background(), key, llm.Result{Files: files}); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Plan: p, Dir: filepath.Join(dir, "run"), Store: store,
		Platforms: func(string) (platform.Platform, error) { return pl, nil },
		Retries:   2, Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	os.MkdirAll(e.Dir, 0o755)
	j, err := OpenJournal(filepath.Join(e.Dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	g := p.Generations[0]
	j.Append(Record{Generation: &GenerationRecord{ID: g.ID, Key: key, CodeSHA256: key}})
	j.Append(Record{Check: &CheckRecord{ID: g.ID, Class: "OK"}})
	j.Close()
	return e, p
}

// runState is a run's journal as a test reads it: the state, and every
// invocation read back from the file as export reads it.
type runState struct {
	State
	Invocations map[string][]rows.Invocation
}

func state(t *testing.T, e *Engine) runState {
	t.Helper()
	path := filepath.Join(e.Dir, "journal.jsonl")
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	rs := runState{State: *st, Invocations: map[string][]rows.Invocation{}}
	err = EachInvocation(path, st, func(inv rows.Invocation) error {
		rs.Invocations[inv.CellID] = append(rs.Invocations[inv.CellID], inv)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for cell, invs := range rs.Invocations {
		if len(invs) != st.Made[cell] {
			t.Fatalf("cell %s: %d invocations in the file, %d counted", cell, len(invs), st.Made[cell])
		}
	}
	return rs
}

func TestMeasureAllInvocationsWithWarmupFlagged(t *testing.T) {
	pl := &fakePlatform{}
	e, p := measureEngine(t, pl)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	for _, c := range p.Cells {
		invs := st.Invocations[c.ID]
		if len(invs) != 6 {
			t.Fatalf("cell %s: %d invocations, want 6", c.ID, len(invs))
		}
		for i, inv := range invs {
			if int(inv.Seq) != i || inv.Warmup != (i == 0) || inv.MemoryMB != int32(c.MemoryMB) {
				t.Errorf("invocation %d: %+v", i, inv)
			}
		}
	}
	if pl.deploys != 2 || pl.closes != 2 {
		t.Errorf("deploys %d closes %d, want one of each per cell", pl.deploys, pl.closes)
	}
}

func TestMeasureRetriesInfrastructureFailures(t *testing.T) {
	pl := &fakePlatform{invoke: func(n int) (platform.Invocation, error) {
		if n == 2 || n == 3 { // two failures in a row, then it recovers
			return platform.Invocation{}, fmt.Errorf("sandbox vanished: %w", platform.ErrInfrastructure)
		}
		return ok(n), nil
	}}
	e, p := measureEngine(t, pl)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	if n := len(st.Invocations[p.Cells[0].ID]); n != 6 {
		t.Errorf("%d invocations after retries, want 6", n)
	}
	noColdWarmCalls(t, st)
	if pl.deploys != 2+2 { // each failure redeploys
		t.Errorf("%d deploys, want 4", pl.deploys)
	}
}

func TestMeasureGivesUpAfterRetriesAndNextRunFinishes(t *testing.T) {
	broken := true
	pl := &fakePlatform{deploy: func(int) error {
		if broken {
			return fmt.Errorf("no cgroup: %w", platform.ErrInfrastructure)
		}
		return nil
	}}
	e, p := measureEngine(t, pl)
	err := e.Run(context.Background(), StageMeasure)
	if !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("err = %v, want ErrUnitsFailed", err)
	}
	st := state(t, e)
	if len(st.Failures) != 2 || st.Failures[0].Attempts != 3 {
		t.Fatalf("failures %+v, want 2 of 3 attempts each", st.Failures)
	}
	broken = false
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st = state(t, e)
	for _, c := range p.Cells {
		if len(st.Invocations[c.ID]) != 6 {
			t.Errorf("cell %s: %d invocations after the retrying run", c.ID, len(st.Invocations[c.ID]))
		}
	}
}

func TestMeasureEndsCellWhenFunctionFails(t *testing.T) {
	pl := &fakePlatform{invoke: func(n int) (platform.Invocation, error) {
		if n == 3 {
			return platform.Invocation{Status: platform.StatusTimeout, ErrorMessage: "Task timed out after 5.00 seconds"}, nil
		}
		return ok(n), nil
	}}
	e, p := measureEngine(t, pl)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	first := p.Cells[0].ID
	if n := len(st.Invocations[first]); n != 4 {
		t.Errorf("%d invocations of the failing cell, want 4 (it stops at the failure)", n)
	}
	if status, ended := st.Ended(first); !ended || status != "timeout" {
		t.Errorf("Ended = %q, %v; want the cell ended by its timeout", status, ended)
	}
	calls := pl.calls
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	if pl.calls != calls {
		t.Errorf("a second run made %d more calls; an ended cell is final", pl.calls-calls)
	}
	tables, err := Tables(p, &st.State, "r", fromSlices(st.Invocations))
	if err != nil {
		t.Fatal(err)
	}
	if c := tables.Cells[0]; c.Class != "TIMEOUT" || c.N != 2 {
		t.Errorf("ended cell row: class %s n %d, want TIMEOUT with the 2 measured calls before it", c.Class, c.N)
	}
}

func TestMeasureResumesAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pl := &fakePlatform{}
	pl.invoke = func(n int) (platform.Invocation, error) {
		if n == 3 {
			cancel() // Ctrl-C in the middle of the first cell
		}
		return ok(n), nil
	}
	e, p := measureEngine(t, pl)
	if err := e.Run(ctx, StageMeasure); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st := state(t, e)
	done := len(st.Invocations[p.Cells[0].ID])
	if done != 4 {
		t.Fatalf("%d invocations journaled before the cancel, want 4", done)
	}
	pl.invoke = nil
	calls := pl.calls
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st = state(t, e)
	for _, c := range p.Cells {
		if len(st.Invocations[c.ID]) != 6 {
			t.Errorf("cell %s: %d invocations, want 6", c.ID, len(st.Invocations[c.ID]))
		}
	}
	noColdWarmCalls(t, st)
	// The resumed cell re-warms its new container once, unrecorded.
	if want := (6 - done) + 1 + 6; pl.calls-calls != want {
		t.Errorf("resume made %d calls, want %d", pl.calls-calls, want)
	}
}

func TestUncheckedOrFailedCodeIsNotMeasured(t *testing.T) {
	for _, class := range []string{"FD", ""} { // "": the check never finished
		pl := &fakePlatform{}
		e, p := measureEngine(t, pl)
		g := p.Generations[0]
		path := filepath.Join(e.Dir, "journal.jsonl")
		os.Remove(path)
		j, _ := OpenJournal(path)
		j.Append(Record{Generation: &GenerationRecord{ID: g.ID}})
		if class != "" {
			j.Append(Record{Check: &CheckRecord{ID: g.ID, Class: class}})
		}
		j.Close()
		if err := e.Run(context.Background(), StageMeasure); err != nil {
			t.Fatal(err)
		}
		if pl.deploys != 0 {
			t.Errorf("class %q: code was deployed %d times", class, pl.deploys)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	p := NewProgress(&b, false, false)
	bar := p.Stage("measure", 100)
	bar.start = time.Now().Add(-10 * time.Second)
	bar.Resume(20)
	bar.Skip(10)
	for i := 0; i < 20; i++ {
		bar.Add()
	}
	bar.FailN(1)
	b.Reset()
	bar.draw(false)
	// 20 made in 10 s is 2/s; 49 left take 24.5 s.
	if got, want := b.String(), "measure  51/100 (20 resumed, 10 not to be made, 1 failed) 2.0/s ETA 25s\n"; got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
	var quiet *Progress = NewProgress(&b, false, true)
	quiet.Stage("x", 1).Add() // a quiet progress shows nothing and does not panic
}

func TestMeasureSurvivesAFailedRedeploy(t *testing.T) {
	pl := &fakePlatform{}
	pl.invoke = func(n int) (platform.Invocation, error) {
		if n == 1 {
			return platform.Invocation{}, fmt.Errorf("pipe closed: %w", platform.ErrInfrastructure)
		}
		return ok(n), nil
	}
	pl.deploy = func(n int) error {
		if n == 1 { // the redeploy after the failed call fails too, once
			return fmt.Errorf("cgroup busy: %w", platform.ErrInfrastructure)
		}
		return nil
	}
	e, p := measureEngine(t, pl)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	if n := len(state(t, e).Invocations[p.Cells[0].ID]); n != 6 {
		t.Errorf("%d invocations, want 6", n)
	}
}

// fakeGenerator answers from a script by call number.
type fakeGenerator struct {
	mu    sync.Mutex
	calls int
	gen   func(n int) (llm.Result, error)
}

func (f *fakeGenerator) Generate(ctx context.Context, req llm.Request) (llm.Result, error) {
	f.mu.Lock()
	n := f.calls
	f.calls++
	f.mu.Unlock()
	return f.gen(n)
}

func code(n int) llm.Result {
	return llm.Result{Files: map[string][]byte{"handler.py": []byte(fmt.Sprintf("def handler(e, c):\n    return %d\n", n))},
		ModelVersion: "gpt-4o-2024-08-06", InputTokens: 10, OutputTokens: 20}
}

// generateEngine is an engine over one API model's single generation.
func generateEngine(t *testing.T, g *fakeGenerator, store llm.Store) *Engine {
	t.Helper()
	e, _ := measureEngine(t, &fakePlatform{})
	m := e.Plan.Study.Models["m"]
	m.Provider, m.Model = "openai", "gpt-4o"
	e.Plan.Study.Models["m"] = m
	os.Remove(filepath.Join(e.Dir, "journal.jsonl"))
	e.Store = store
	e.Generators = func(string) (llm.Generator, error) { return g, nil }
	return e
}

func TestGenerateRetriesRetryableErrors(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) {
		if n < 2 {
			return llm.Result{}, fmt.Errorf("429 slow down: %w", llm.ErrRetryable)
		}
		return code(n), nil
	}}
	e := generateEngine(t, g, llm.Store{Dir: t.TempDir()})
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	rec := state(t, e).Generations[e.Plan.Generations[0].ID]
	if rec.Attempts != 3 || rec.ModelVersion != "gpt-4o-2024-08-06" || rec.OutputTokens != 20 {
		t.Errorf("generation record %+v, want 3 attempts and the API's version and usage", rec)
	}
}

func TestGeneratePermanentErrorIsNotRetriedNorStored(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) {
		if n == 0 {
			return llm.Result{}, errors.New("400 model not found")
		}
		return code(n), nil
	}}
	store := llm.Store{Dir: t.TempDir()}
	e := generateEngine(t, g, store)
	if err := e.Run(context.Background(), StageGenerate); !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("err = %v, want ErrUnitsFailed", err)
	}
	st := state(t, e)
	if g.calls != 1 || len(st.Generations) != 0 || len(st.Failures) != 1 {
		t.Fatalf("calls %d, generations %d, failures %d; want 1, 0, 1", g.calls, len(st.Generations), len(st.Failures))
	}
	if entries, _ := os.ReadDir(store.Dir); len(entries) != 0 {
		t.Errorf("a failed generation left %d entries in the store", len(entries))
	}
	// The table row names the failure.
	tables, err := Tables(e.Plan, &st.State, "r", fromSlices(nil))
	if err != nil {
		t.Fatal(err)
	}
	if row := tables.Generations[0]; row.Class != "ERROR" || row.Error != "400 model not found" || row.CreatedAt.IsZero() {
		t.Errorf("generation row: class %q error %q created %v", row.Class, row.Error, row.CreatedAt)
	}
	// The next run tries again.
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if g.calls != 2 {
		t.Errorf("%d calls after the retrying run, want 2", g.calls)
	}
}

func TestGenerateUsesStoredAPIResults(t *testing.T) {
	store := llm.Store{Dir: t.TempDir()}
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	if err := generateEngine(t, g, store).Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	// A second run directory (another study file, same model and prompt)
	// finds the generation in the shared store and calls no API.
	e2 := generateEngine(t, g, store)
	if err := e2.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if g.calls != 1 {
		t.Errorf("%d API calls, want 1: the second run must use the store", g.calls)
	}
	if rec := state(t, e2).Generations[e2.Plan.Generations[0].ID]; rec.CodeSHA256 != llm.CodeHash(code(0).Files) {
		t.Errorf("stored generation has code %s", rec.CodeSHA256)
	}
}

func TestSummary(t *testing.T) {
	tables := &rows.Tables{
		Generations: []rows.Generation{{Class: "OK"}, {Class: "OK"}, {Class: "FD"}, {Class: "SE"}, {Class: "ERROR"}},
		Cells:       []rows.Cell{{N: 10}, {N: 0}, {N: 3}},
	}
	want := "5 generations (2 OK, 1 FD, 1 SE, 1 ERROR); 2 of 3 cells measured, 13 of 30 planned invocations made (" +
		"11 not to be made: only code that passes its checks is measured, and a cell ends at its first failed call; " +
		"6 left to make: run the same command again)"
	if got := Summary(tables, Tally{Planned: 30, Made: 13, NotToBeMade: 11, Left: 6}); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}
