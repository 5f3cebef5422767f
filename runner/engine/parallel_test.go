package engine

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// parallelPlatform is a fakePlatform that says it measures max cells at
// once (platform.Parallel). Each deployment's first call waits until
// wait deployments are alive (or a generous timeout passes), so a test
// sees whether the engine really measured cells side by side, with no
// timing assumption.
type parallelPlatform struct {
	platform.Platform
	max, wait int
	// skip, when set, exempts deployments from the wait (and the count).
	skip func(platform.Function) bool

	mu         sync.Mutex
	once       sync.Once
	live, peak int
	enough     chan struct{} // closed when wait deployments were alive at once
}

var _ platform.Parallel = (*parallelPlatform)(nil)

func (p *parallelPlatform) MaxParallel() int { return p.max }

func (p *parallelPlatform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	d, err := p.Platform.Deploy(ctx, fn)
	if err != nil || p.skip != nil && p.skip(fn) {
		return d, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live++
	if p.live > p.peak {
		p.peak = p.live
	}
	if p.live >= p.wait {
		p.once.Do(func() { close(p.enough) })
	}
	return &parallelDeployment{Deployment: d, p: p}, nil
}

type parallelDeployment struct {
	platform.Deployment
	p      *parallelPlatform
	waited bool
}

func (d *parallelDeployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	if !d.waited {
		d.waited = true
		select {
		case <-d.p.enough:
		case <-time.After(20 * time.Second):
		case <-ctx.Done():
		}
	}
	return d.Deployment.Invoke(ctx, event)
}

func (d *parallelDeployment) Close(ctx context.Context) error {
	d.p.mu.Lock()
	d.p.live--
	d.p.mu.Unlock()
	return d.Deployment.Close(ctx)
}

// withMemory replans e's study with one cell per memory size (the same
// generation, already checked OK).
func withMemory(t testing.TB, e *Engine, p *plan.Plan, sizes ...int) *plan.Plan {
	t.Helper()
	p.Study.Matrix.MemoryMB = sizes
	p2, err := plan.New(p.Study)
	if err != nil {
		t.Fatal(err)
	}
	e.Plan = p2
	return p2
}

func TestMeasureParallelPlatform(t *testing.T) {
	pl := &parallelPlatform{Platform: &fakePlatform{}, max: 3, wait: 3, enough: make(chan struct{})}
	e, p := measureEngine(t, nil)
	e.Platforms = func(string) (platform.Platform, error) { return pl, nil }
	e.MeasureParallel = 1 // the local default: a Parallel platform ignores it
	p = withMemory(t, e, p, 512, 1024, 1536, 2048, 3008)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	if pl.peak != 3 {
		t.Errorf("%d cells measured at once, want MaxParallel, 3", pl.peak)
	}
	st := state(t, e)
	for _, c := range p.Cells {
		if n := len(st.Invocations[c.ID]); n != c.Invocations() {
			t.Errorf("cell %s: %d invocations, want %d", c.ID, n, c.Invocations())
		}
	}
	noColdWarmCalls(t, st)
}

// TestMeasureOneAtATimeElsewhere checks that a platform without
// platform.Parallel (the local sandbox) measures one cell at a time, so
// that cells do not disturb each other's timings.
func TestMeasureOneAtATimeElsewhere(t *testing.T) {
	pl := &parallelPlatform{Platform: &fakePlatform{}, wait: 2, enough: make(chan struct{})}
	pl.once.Do(func() { close(pl.enough) }) // nothing to wait for
	e, p := measureEngine(t, nil)
	serial := struct{ platform.Platform }{pl} // hides MaxParallel
	e.Platforms = func(string) (platform.Platform, error) { return serial, nil }
	withMemory(t, e, p, 512, 1024, 1536)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	if pl.peak != 1 {
		t.Errorf("%d cells measured at once on a platform without Parallel, want 1", pl.peak)
	}
}

// TestChecksFanOutOnParallelPlatform checks a study whose checks run on a
// platform.Parallel platform: candidates are checked side by side there,
// beyond CheckParallel, while the tools stay on the local platform.
func TestChecksFanOutOnParallelPlatform(t *testing.T) {
	e := generateEngine(t, nil, llm.Store{Dir: t.TempDir()})
	e.Generators = func(string) (llm.Generator, error) {
		return answerGenerator{"```python\ndef handler(event, context):\n    return {'n': 4}\n```"}, nil
	}
	s := e.Plan.Study
	s.Matrix.Samples, s.Matrix.MemoryMB = 4, []int{512}
	task := s.Tasks["a"]
	task.Reference, task.Runtime = "ref.py", "python3.12"
	task.Tests = []schema.Test{{Name: "small", Event: map[string]any{"n": 2}, Compare: "json"}}
	s.Tasks["a"] = task
	if err := os.WriteFile(s.Path("ref.py"), []byte("def handler(e, c):\n    return {'n': 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	e.Plan = p
	local := &checkToolsPlatform{t: t, deploys: map[string]int{}}
	remote := &parallelPlatform{Platform: &checkToolsPlatform{t: t, deploys: map[string]int{}}, max: 4, wait: 3, enough: make(chan struct{}),
		// The reference runs once, alone, before the candidates: not counted.
		skip: func(fn platform.Function) bool { return strings.Contains(fn.CodeDir, "reference-") }}
	e.Checker = &check.Checker{Platform: remote, Tools: local}
	e.CheckMemoryMB, e.CheckArch, e.CheckParallel = 1024, "x86_64", 1
	if err := e.Run(context.Background(), StageGenerate, StageCheck); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	for _, g := range p.Generations {
		if c := st.Checks[g.ID]; c.Class != string(check.ClassOK) {
			t.Errorf("generation %s: class %q (%s), want OK", g.ID, c.Class, c.Detail)
		}
	}
	if remote.peak < 3 {
		t.Errorf("%d checks' functions alive at once on the parallel platform, want at least 3", remote.peak)
	}
	if local.deploys["handler.handler"] != 0 || local.deploys["faaslab_check.handler"] == 0 {
		t.Errorf("local platform deployed %v: want the checker's tools only", local.deploys)
	}
}
