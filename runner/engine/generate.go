package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/throttle"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// Generation scheduling. Each model's generations run in plan order on
// workers of their own, twice as many as the model's or its provider's
// concurrency allows (the smaller; GenerateParallel when the study gives
// neither), so the providers work at once and a slow or limited one holds
// no other back. Every API request first takes a permit of its model's
// limiter and then of its provider's (package throttle), which keep it
// within the study's rates and the server's headers. A failed request is
// retried with exponential backoff and full jitter, never sooner than the
// server's Retry-After; each attempt is journaled. A model whose
// generations keep failing is given up for the run: reported once, its
// remaining generations journaled as failed (so the next run tries them
// again), while the other models go on.

// giveUpAfter is how many generations of a model must fail in a row, past
// their retries or permanently, before the model is given up for the run.
const giveUpAfter = 3

// AttemptRecord is one API request of a generation, successful or not.
// Records of attempts are an audit trail; they mark nothing done.
type AttemptRecord struct {
	ID      string `json:"id"` // the generation's
	Model   string `json:"model"`
	Attempt int    `json:"attempt"` // from 1
	// Status is the HTTP status of an API error, 0 for a success or an
	// error without one (a broken connection, a timeout).
	Status    int     `json:"status,omitempty"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	// QueuedMS is how long the request waited for its limiters' permits.
	QueuedMS float64 `json:"queued_ms"`
	// WaitMS is the backoff before the next attempt, 0 when there is none.
	WaitMS float64 `json:"wait_ms,omitempty"`
}

// scheduler holds a generate stage's limiters and each model's run of
// failures.
type scheduler struct {
	e         *Engine
	models    map[string]*throttle.Limiter // by model id, API models only
	providers map[string]*throttle.Limiter // by provider, API providers only

	mu      sync.Mutex
	failing map[string]int   // consecutive failed generations, by model
	gaveUp  map[string]error // models given up, with the last failure
}

// newScheduler makes the limiters of the study's API models and their
// providers. A provider whose rate_limits give no concurrency gets
// GenerateParallel.
func (e *Engine) newScheduler() *scheduler {
	s := e.Plan.Study
	sc := &scheduler{e: e, models: map[string]*throttle.Limiter{}, providers: map[string]*throttle.Limiter{},
		failing: map[string]int{}, gaveUp: map[string]error{}}
	for _, id := range schema.SortedKeys(s.Models) {
		m := s.Models[id]
		if !m.CallsAPI() {
			continue
		}
		var ml throttle.Limits
		if m.Limits != nil {
			ml = throttleLimits(*m.Limits)
		}
		sc.models[id] = throttle.New(ml, e.Clock)
		if _, ok := sc.providers[m.Provider]; !ok {
			pl := throttleLimits(s.RateLimits[m.Provider])
			if pl.Concurrency == 0 {
				pl.Concurrency = max(e.GenerateParallel, 1)
			}
			sc.providers[m.Provider] = throttle.New(pl, e.Clock)
		}
	}
	return sc
}

func throttleLimits(l schema.Limits) throttle.Limits {
	return throttle.Limits{RPM: l.RPM, TPM: l.TPM, Concurrency: l.Concurrency}
}

// workers returns how many of model's generations are under way at once.
// For an API model that is twice the requests its limiters let it have in
// flight: a generation spends time outside its request too (the journal,
// the artifact store, a backoff), and the spare workers keep the limit
// busy meanwhile; the limiters, not the workers, bound the requests.
func (sc *scheduler) workers(model string) int {
	n := max(sc.e.GenerateParallel, 1)
	if _, api := sc.models[model]; !api {
		return n
	}
	m := sc.e.Plan.Study.Models[model]
	n = sc.providers[m.Provider].Limits().Concurrency
	if m.Limits != nil && m.Limits.Concurrency > 0 {
		n = min(n, m.Limits.Concurrency)
	}
	return 2 * n
}

// run calls work for every generation of the plan, each model's on its own
// workers, and returns how many failed past their retries (skipped ones
// included). A work error (the journal, the context) stops the stage.
func (sc *scheduler) run(ctx context.Context, bar *Bar, work func(ctx context.Context, i int) (failed bool, err error)) (int, error) {
	gens := sc.e.Plan.Generations
	byModel := map[string][]int{}
	var order []string
	for i, g := range gens {
		if _, ok := byModel[g.Model]; !ok {
			order = append(order, g.Model)
		}
		byModel[g.Model] = append(byModel[g.Model], i)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		failures int
		first    error
		wg       sync.WaitGroup
	)
	for _, model := range order {
		idx := byModel[model]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := forEach(ctx, len(idx), sc.workers(model), func(ctx context.Context, j int) (bool, error) {
				if last := sc.givenUp(model); last != nil {
					return true, sc.skip(bar, gens[idx[j]], last)
				}
				return work(ctx, idx[j]) // counted by generateWithRetries
			})
			mu.Lock()
			defer mu.Unlock()
			failures += n
			if err != nil && first == nil {
				first = err
				cancel() // the other models stop too
			}
		}()
	}
	wg.Wait()
	return failures, first
}

// count notes a finished generation of model; the giveUpAfter-th failure
// in a row gives the model up, and says so once.
func (sc *scheduler) count(model string, failed bool) {
	if sc == nil {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !failed {
		sc.failing[model] = 0
		return
	}
	sc.failing[model]++
	if sc.failing[model] == giveUpAfter && sc.gaveUp[model] == nil {
		err := fmt.Errorf("model %s gave up for this run after %d generations failed in a row (see the failures before); run again to retry its generations", model, giveUpAfter)
		sc.gaveUp[model] = err
		sc.e.Log.Error("model given up", "model", model, "failed_in_a_row", giveUpAfter)
	}
}

// givenUp returns why model was given up, or nil; a nil scheduler gives
// up nothing.
func (sc *scheduler) givenUp(model string) error {
	if sc == nil {
		return nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.gaveUp[model]
}

// skip journals generation g as failed without trying it, as its model was
// given up: the next run tries it.
func (sc *scheduler) skip(bar *Bar, g plan.Generation, why error) error {
	var done bool
	sc.e.journal.View(func(s *State) { _, done = s.Generations[g.ID] })
	if done {
		bar.Resume(1)
		return nil
	}
	bar.FailN(1)
	return sc.e.journal.Append(Record{Failure: &FailureRecord{Unit: StageGenerate, ID: g.ID, Error: "not tried: " + why.Error()}})
}

// tokens estimates what a request of g costs against a tokens-per-minute
// limit: its prompt, as the plan estimates it, and the completion's worst
// case (max_tokens, or the plan's default).
func (e *Engine) tokens(g plan.Generation) int {
	out := plan.DefaultOutputTokens
	if p := e.Plan.Study.Models[g.Model].Params.MaxTokens; p != nil {
		out = *p
	}
	return (g.PromptBytes+plan.BytesPerToken-1)/plan.BytesPerToken + out
}

// generateWithRetries makes generation g's API request, under its limiters,
// until it succeeds, fails permanently, or has failed generation.retries+1
// times, journaling each attempt. It returns the attempts made. Each
// request of an API model books its worst cost against the spend limit once
// it holds its permits, just before it is sent, and settles it with what it
// cost as soon as it is answered; a request the limit refuses is not sent,
// and the error wraps ErrSpendLimit.
func (e *Engine) generateWithRetries(ctx context.Context, sc *scheduler, gen llm.Generator, g plan.Generation, req llm.Request) (llm.Result, int, error) {
	s := e.Plan.Study
	retries := schema.DefaultRetries
	if r := s.Generation.Retries; r != nil {
		retries = *r
	}
	maxBackoff := time.Duration(schema.DefaultMaxBackoffS * float64(time.Second))
	if m := s.Generation.MaxBackoffS; m != nil {
		maxBackoff = time.Duration(*m * float64(time.Second))
	}
	var limiters []*throttle.Limiter
	if sc != nil {
		limiters = []*throttle.Limiter{sc.models[req.Model], sc.providers[req.Provider]}
	}
	m := s.Models[g.Model]
	book := m.CallsAPI() && e.spend != nil
	worst := worstCost(m, g)
	wait := e.Backoff
	for attempt := 1; ; attempt++ {
		queued := time.Now()
		permits, err := throttle.AcquireAll(ctx, e.tokens(g), limiters...)
		if err != nil {
			return llm.Result{}, attempt - 1, err
		}
		if why := sc.givenUp(g.Model); why != nil { // while this one waited
			permits.Release()
			return llm.Result{}, attempt - 1, fmt.Errorf("not tried: %w", why)
		}
		if book {
			if err := e.spend.reserve(worst); err != nil {
				permits.Release()
				return llm.Result{}, attempt - 1, err
			}
		}
		start := time.Now()
		res, err := gen.Generate(ctx, req)
		if book {
			actual := 0.0 // a failed request is not billed, or its cost is unknown
			if err == nil {
				actual = recordCost(m, GenerationRecord{InputTokens: res.InputTokens, OutputTokens: res.OutputTokens})
			}
			e.spend.settle(worst, actual)
		}
		rec := AttemptRecord{ID: g.ID, Model: g.Model, Attempt: attempt,
			LatencyMS: millis(time.Since(start)), QueuedMS: millis(start.Sub(queued))}
		cancelled := err != nil && ctx.Err() != nil
		retry := err != nil && errors.Is(err, llm.ErrRetryable) && attempt <= retries
		if !retry && !cancelled {
			// Counted before the permits go back, so that a request
			// waiting for them sees the model given up.
			sc.count(g.Model, err != nil)
		}
		var apiErr *llm.APIError
		switch {
		case err == nil:
			permits.Done(throttle.Outcome{Rate: res.Rate, Tokens: res.InputTokens + res.OutputTokens})
		case errors.As(err, &apiErr):
			rec.Status = apiErr.Status
			permits.Done(throttle.Outcome{Rate: apiErr.Rate, Throttled: apiErr.Status == 429, Failed: true})
		default:
			permits.Release()
		}
		if cancelled {
			return res, attempt, ctx.Err() // cut short by the user: not an attempt worth a record
		}
		var d time.Duration
		if retry {
			d = backoff(wait, maxBackoff, apiErr)
			rec.WaitMS = millis(d)
			wait *= 2
		}
		if err != nil {
			rec.Error = err.Error()
		}
		if jerr := e.journal.Append(Record{Attempt: &rec}); jerr != nil {
			return res, attempt, jerr
		}
		if !retry {
			return res, attempt, err
		}
		e.Log.Warn("retrying generation", "generation", g.ID, "model", g.Model, "attempt", attempt, "wait", d, "error", err)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return res, attempt, ctx.Err()
		}
	}
}

// backoff is the wait before a retry: a random time in [wait/2, wait]
// (jitter keeps parallel workers from retrying in lockstep), at most
// maxBackoff, and never shorter than the server's Retry-After.
func backoff(wait, maxBackoff time.Duration, apiErr *llm.APIError) time.Duration {
	wait = min(max(wait, time.Millisecond), maxBackoff)
	d := wait/2 + rand.N(wait/2+1)
	if apiErr != nil && apiErr.Rate.RetryAfter > d {
		d = apiErr.Rate.RetryAfter
	}
	return d
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
