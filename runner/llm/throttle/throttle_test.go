package throttle

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
)

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

var epoch = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeTimer{c.now.Add(d), ch})
	return ch
}

// Set moves the clock to t and fires the timers due.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func (c *fakeClock) timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// step is one action on a limiter at a time after the epoch: an acquire
// (want: the wait it must be told, 0 = granted) or the done of the n-th
// permit granted (outcome), checked against the state wanted after it.
type step struct {
	at      time.Duration
	tokens  int
	want    time.Duration
	done    int // 1-based index of the permit granted; 0: an acquire
	outcome *Outcome
	conc    float64 // when set, the effective concurrency wanted after
}

var throttled = &Outcome{Rate: llm.NoRateInfo, Throttled: true}
var ok = &Outcome{Rate: llm.NoRateInfo}

func rate(f func(*llm.RateInfo)) *Outcome {
	r := llm.NoRateInfo
	f(&r)
	return &Outcome{Rate: r}
}

func TestLimiter(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"no limits", Limits{}, []step{{at: 0}, {at: 0}, {at: 0}}},
		{"rpm spaces requests evenly", Limits{RPM: 60}, []step{
			{at: 0}, {at: 0, want: s}, {at: 500 * ms, want: 500 * ms}, {at: s}, {at: s, want: s},
			// Late, the next may follow sooner: two requests of catch-up.
			{at: 5 * s}, {at: 5 * s}, {at: 5 * s}, {at: 5 * s, want: s}}},
		{"no minute holds more than rpm requests", Limits{RPM: 3}, []step{
			{at: 0}, {at: 20 * s}, {at: 40 * s}, {at: 60 * s, want: 600 * ms}, {at: 60*s + 600*ms},
			// A burst of catch-up after an idle spell, and the minute after
			// it may hold no more than 3.
			{at: 300 * s}, {at: 300 * s}, {at: 300 * s}, {at: 300 * s, want: 60*s + 600*ms}}},
		{"concurrency waits for a permit to be done", Limits{Concurrency: 2}, []step{
			{at: 0}, {at: 0}, {at: 0, want: forever}, {at: s, done: 1, outcome: ok}, {at: s}, {at: s, want: forever}}},
		{"tpm charges the estimate", Limits{TPM: 6000}, []step{ // 100 tokens a second, bucket of 100
			{at: 0, tokens: 60}, {at: 0, tokens: 60, want: 200 * ms}, {at: 200 * ms, tokens: 60}, {at: 200 * ms, tokens: 1, want: 10 * ms}}},
		{"a request larger than the bucket runs into debt", Limits{TPM: 6000}, []step{
			{at: 0, tokens: 1000}, {at: 0, tokens: 10, want: 9100 * ms}, {at: 9100 * ms, tokens: 10}}},
		{"actual usage refunds an overestimate", Limits{TPM: 6000}, []step{
			{at: 0, tokens: 100}, {at: 0, done: 1, outcome: &Outcome{Rate: llm.NoRateInfo, Tokens: 40}}, {at: 0, tokens: 60}}},
		{"actual usage charges an underestimate", Limits{TPM: 6000}, []step{
			{at: 0, tokens: 10}, {at: 0, done: 1, outcome: &Outcome{Rate: llm.NoRateInfo, Tokens: 110}}, {at: 0, tokens: 1, want: 110 * ms}}},
		{"retry-after pauses", Limits{}, []step{
			{at: 0}, {at: 0, done: 1, outcome: rate(func(r *llm.RateInfo) { r.RetryAfter = 3 * s })}, {at: s, want: 2 * s}, {at: 3 * s}}},
		{"no requests remaining waits for the reset", Limits{}, []step{
			{at: 0}, {at: 0, done: 1, outcome: rate(func(r *llm.RateInfo) { r.RemainingRequests, r.ResetRequests = 0, 20*ms })},
			{at: 0, want: 20 * ms}, {at: 20 * ms}}},
		{"no tokens remaining waits for the reset", Limits{}, []step{
			{at: 0}, {at: 0, done: 1, outcome: rate(func(r *llm.RateInfo) { r.RemainingTokens, r.ResetTokens = 0, 6*time.Minute })},
			{at: time.Minute, want: 5 * time.Minute}}},
		{"a failure follows its headers and adapts nothing", Limits{Concurrency: 2}, []step{
			{at: 0}, {at: 0, done: 1, outcome: &Outcome{Rate: llm.RateInfo{RetryAfter: s, RemainingRequests: -1, RemainingTokens: -1}, Failed: true}, conc: 2},
			{at: 0, want: s}, {at: s}}},
		{"requests remaining do not pause", Limits{}, []step{
			{at: 0}, {at: 0, done: 1, outcome: rate(func(r *llm.RateInfo) { r.RemainingRequests, r.ResetRequests = 3, 20*ms })}, {at: 0}}},
		{"429 halves the rate", Limits{RPM: 60}, []step{
			{at: 0}, {at: 0, done: 1, outcome: throttled}, {at: 0, want: 2 * s}, {at: 2 * s},
			{at: 2 * s, want: forever}}}, // and one in flight was half the load
		{"success raises the rate back", Limits{RPM: 60}, []step{
			{at: 0}, {at: 0, done: 1, outcome: throttled}, {at: 2 * s}, {at: 2 * s, done: 2, outcome: ok}, {at: 2 * s, want: time.Duration(float64(s) / (0.5 + increase))}}},
		{"429 halves concurrency", Limits{Concurrency: 4}, []step{
			{at: 0}, {at: 0}, {at: 0}, {at: 0}, {at: 0, done: 1, outcome: throttled, conc: 2},
			{at: 0, done: 2, outcome: throttled, conc: 2}, // sent before the cut: the same overload
			{at: 0, want: forever}, {at: 0, done: 3, outcome: ok, conc: 2.5}, {at: 0}, {at: 0, want: forever},
			{at: 0, done: 4, outcome: ok, conc: 2.9}, {at: 0}, {at: 0, want: forever}}},
		{"429 without a study limit caps concurrency at half the load", Limits{}, []step{
			{at: 0}, {at: 0}, {at: 0}, {at: 0}, {at: 0, done: 1, outcome: throttled, conc: 2}, {at: 0, want: forever}}},
		{"concurrency never falls below one", Limits{Concurrency: 1}, []step{
			{at: 0}, {at: 0, done: 1, outcome: throttled, conc: 1}, {at: 0}, {at: 0, done: 2, outcome: throttled, conc: 1}, {at: 0}}},
		{"concurrency never rises past the study's", Limits{Concurrency: 2}, []step{
			{at: 0}, {at: 0, done: 1, outcome: ok, conc: 2}}},
	}
	for _, tt := range tests {
		clock := newFakeClock()
		l := New(tt.limits, clock)
		var permits []*Permit
		for i, st := range tt.steps {
			now := epoch.Add(st.at)
			clock.Set(now)
			if st.done > 0 {
				permits[st.done-1].Done(*st.outcome)
			} else {
				l.mu.Lock()
				got := l.take(now, st.tokens)
				l.mu.Unlock()
				if got == 0 {
					permits = append(permits, &Permit{l: l, tokens: st.tokens, acquired: now})
				}
				if diff := got - st.want; diff < -time.Microsecond || diff > time.Microsecond {
					t.Errorf("%s: step %d: wait %v, want %v", tt.name, i, got, st.want)
				}
			}
			if st.conc != 0 {
				if got := l.State().Concurrency; math.Abs(got-st.conc) > 1e-9 {
					t.Errorf("%s: step %d: concurrency %v, want %v", tt.name, i, got, st.conc)
				}
			}
		}
	}
}

func TestLimiterFactorBounds(t *testing.T) {
	clock := newFakeClock()
	l := New(Limits{RPM: 600}, clock)
	for i := 0; i < 20; i++ {
		clock.Set(clock.Now().Add(time.Hour))
		p, err := l.Acquire(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		p.Done(*throttled)
	}
	if f := l.State().Factor; f != minFactor {
		t.Errorf("factor after 20 429s %v, want %v", f, minFactor)
	}
	for i := 0; i < 40; i++ {
		clock.Set(clock.Now().Add(time.Hour))
		p, _ := l.Acquire(context.Background(), 0)
		p.Done(*ok)
	}
	if f := l.State().Factor; f != 1 {
		t.Errorf("factor after 40 successes %v, want 1", f)
	}
}

// TestAcquireWaits checks that Acquire blocks until its time comes on the
// clock, or a permit is done, and that cancelling ends the wait.
func TestAcquireWaits(t *testing.T) {
	clock := newFakeClock()
	l := New(Limits{RPM: 60, Concurrency: 1}, clock)
	ctx := context.Background()
	first, err := l.Acquire(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Permit)
	go func() {
		p, err := l.Acquire(ctx, 0)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	select {
	case <-got:
		t.Fatal("a second request went past a concurrency of 1")
	case <-time.After(50 * time.Millisecond):
	}
	first.Done(*ok) // the concurrency frees; the rate still waits a second
	waitFor(t, func() bool { return clock.timers() > 0 })
	select {
	case <-got:
		t.Fatal("a second request went past 60 rpm")
	case <-time.After(50 * time.Millisecond):
	}
	clock.Set(epoch.Add(time.Second))
	select {
	case p := <-got:
		p.Release()
	case <-time.After(10 * time.Second):
		t.Fatal("the second request never got its permit")
	}

	ctx, cancel := context.WithCancel(ctx)
	clock.Set(epoch.Add(2 * time.Second))
	p, _ := l.Acquire(context.Background(), 0) // hold the only slot
	errc := make(chan error)
	go func() { _, err := l.Acquire(ctx, 0); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v, want context.Canceled", err)
	}
	p.Release()
	if n := l.State().InFlight; n != 0 {
		t.Errorf("%d in flight after every permit returned", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAcquireAllReleasesOnError(t *testing.T) {
	clock := newFakeClock()
	model := New(Limits{Concurrency: 1}, clock)
	provider := New(Limits{Concurrency: 1}, clock)
	held, _ := provider.Acquire(context.Background(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := AcquireAll(ctx, 0, model, nil, provider); err == nil {
		t.Fatal("acquired past a full provider")
	}
	if n := model.State().InFlight; n != 0 {
		t.Errorf("model holds %d permits after a failed AcquireAll", n)
	}
	held.Release()
	ps, err := AcquireAll(context.Background(), 0, model, provider)
	if err != nil || len(ps) != 2 {
		t.Fatalf("AcquireAll: %v, %d permits", err, len(ps))
	}
	ps.Done(*ok)
	ps.Done(*ok) // a second Done does nothing
	if model.State().InFlight != 0 || provider.State().InFlight != 0 {
		t.Error("permits still in flight after Done")
	}
}

// TestConcurrentUse hammers one limiter from many goroutines (run with
// -race) and checks that the cap on requests in flight held throughout.
func TestConcurrentUse(t *testing.T) {
	l := New(Limits{Concurrency: 3}, nil)
	var mu sync.Mutex
	inflight, peak := 0, 0
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				p, err := l.Acquire(context.Background(), 0)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inflight++
				peak = max(peak, inflight)
				mu.Unlock()
				mu.Lock()
				inflight--
				mu.Unlock()
				p.Done(Outcome{Rate: llm.NoRateInfo, Throttled: (g+i)%7 == 0})
			}
		}(g)
	}
	wg.Wait()
	if peak > 3 {
		t.Errorf("%d requests in flight, cap 3", peak)
	}
}
