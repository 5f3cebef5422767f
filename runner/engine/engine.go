// Package engine runs a plan: generate → check → measure for every cell,
// with a durable journal so that a run killed at any moment finishes, when
// started again, with nothing lost and nothing done twice.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/throttle"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
)

// Stage names, in the order they run.
const (
	StageGenerate = "generate"
	StageCheck    = "check"
	StageMeasure  = "measure"
)

// Stages lists every stage in order.
var Stages = []string{StageGenerate, StageCheck, StageMeasure}

// Engine runs one plan into one run directory. Fields are set before Run
// and not changed after.
type Engine struct {
	Plan *plan.Plan
	// Dir is the run directory: journal, log, functions and tables.
	Dir string
	// Store keeps generated code content-addressed, shared between runs.
	Store llm.Store
	// Generators returns the generator of a provider.
	Generators func(provider string) (llm.Generator, error)
	// Platforms returns the platform of a study platform name.
	Platforms func(name string) (platform.Platform, error)
	// Checker runs checks (on the local platform).
	Checker *check.Checker
	// CheckMemoryMB and CheckArch configure the functions that checks run.
	CheckMemoryMB int
	CheckArch     string
	// Parallel bounds how many units of a stage run at once. Measurement
	// defaults to 1 so that cells do not disturb each other's timings.
	// Generation runs each model on workers of its own: GenerateParallel
	// is their number for a model whose limits and provider's rate_limits
	// give no concurrency (see generate.go).
	GenerateParallel, CheckParallel, MeasureParallel int
	// Clock paces the generation limiters; nil is the system's.
	Clock throttle.Clock
	// Retries is how many times an infrastructure failure of a check or a
	// measurement is retried; a generation's retries are the study's
	// generation.retries.
	Retries int
	// Backoff is the first retry's wait; it doubles with each retry (up to
	// the study's generation.max_backoff_s for generations).
	Backoff  time.Duration
	Log      *slog.Logger
	Progress *Progress
	// Facts describe the host and build, for the session's manifest row.
	Facts rows.Manifest
	// Replay, when set, supplies API models' generations before the
	// artifact store and the model are asked (a study's lock).
	Replay Replay
	// Locked makes Replay the only source of API models' generations: one
	// it lacks fails, and no model API is called.
	Locked bool
	// Refresh makes API models' generations anew: neither Replay nor the
	// artifact store's cached answers are read.
	Refresh bool

	journal *Journal
	spend   *spendLimit
	refState
}

// ErrUnitsFailed says some units failed past their retries; running the
// same command again retries them.
var ErrUnitsFailed = errors.New("some units failed")

// Run runs the stages named (all when none) and returns when they are done,
// ctx is cancelled, or the journal cannot be written. Units that failed past
// their retries make Run return ErrUnitsFailed after every other unit ran.
func (e *Engine) Run(ctx context.Context, stages ...string) error {
	if len(stages) == 0 {
		stages = Stages
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return err
	}
	j, err := OpenJournal(filepath.Join(e.Dir, "journal.jsonl"))
	if err != nil {
		return err
	}
	defer j.Close()
	e.journal = j
	facts := e.Facts
	if err := j.Append(Record{Session: &SessionRecord{Facts: &facts}}); err != nil {
		return err
	}
	err = e.runStages(ctx, stages)
	outcome := "done"
	switch {
	case ctx.Err() != nil:
		outcome = "interrupted"
	case err != nil:
		outcome = "failed"
	}
	if jerr := j.Append(Record{Session: &SessionRecord{Outcome: outcome}}); err == nil {
		err = jerr
	}
	return err
}

func (e *Engine) runStages(ctx context.Context, stages []string) error {
	failed := 0
	for _, st := range stages {
		var n int
		var err error
		switch st {
		case StageGenerate:
			n, err = e.generate(ctx)
		case StageCheck:
			n, err = e.check(ctx)
		case StageMeasure:
			n, err = e.measure(ctx)
		default:
			return fmt.Errorf("unknown stage %q", st)
		}
		failed += n
		if err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d units failed (see %s): %w", failed, filepath.Join(e.Dir, "log.jsonl"), ErrUnitsFailed)
	}
	return nil
}

// forEach runs work for each of n units with at most parallel at once. A
// unit's error is a failure to record (journal, context); it stops the
// stage. It returns how many units failed past their retries.
func forEach(ctx context.Context, n, parallel int, work func(ctx context.Context, i int) (failed bool, err error)) (int, error) {
	if parallel < 1 {
		parallel = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		failures int
		first    error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				failed, err := work(ctx, i)
				mu.Lock()
				if failed {
					failures++
				}
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return failures, first
	}
	return failures, ctx.Err() // the caller's cancellation, if any
}

// retry runs f until it succeeds, fails with an error that is not worth
// retrying, or has run e.Retries+1 times. It returns the attempts made.
func (e *Engine) retry(ctx context.Context, retryable func(error) bool, f func() error) (int, error) {
	wait := e.Backoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !retryable(err) || attempt > e.Retries || ctx.Err() != nil {
			return attempt, err
		}
		// Full jitter keeps parallel workers from retrying in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		e.Log.Warn("retrying", "attempt", attempt, "wait", d, "error", err)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return attempt, ctx.Err()
		}
		wait *= 2
	}
}

// fail records a unit that failed past its retries, and the n units of
// the progress bar that it leaves undone.
func (e *Engine) fail(bar *Bar, n int, unit, id string, attempts int, err error) error {
	bar.FailN(n)
	e.Log.Error("unit failed", "unit", unit, "id", id, "attempts", attempts, "error", err)
	return e.journal.Append(Record{Failure: &FailureRecord{Unit: unit, ID: id, Attempts: attempts, Error: err.Error()}})
}
