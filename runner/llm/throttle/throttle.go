// Package throttle keeps the requests sent to a model API within the
// provider's rate limits.
//
// A Limiter bounds one scope (a provider, or one model of it) by requests
// per minute, tokens per minute and requests in flight, the limits a study
// gives. Requests and tokens are token buckets that refill evenly. The
// requests bucket holds three requests, so requests are spaced 60/rpm
// seconds apart and a request sent late (a busy machine wakes its waiters
// late) lets the next two follow sooner, which keeps the rate at the limit;
// and the
// limiter remembers when its last rpm requests were sent, so that no
// minute, counted from any moment, holds more than rpm of them, as a server
// counting over a sliding window wants (with a margin of 1% of a minute for
// the requests' differing times on the way). The tokens bucket holds one
// second of tokens; a request larger than that waits for a full bucket and
// then runs it into debt, so the average stays within the limit whatever
// the sizes.
//
// A Limiter also follows what the server says (Permit.Done): it sends
// nothing until a Retry-After has passed, nor, when a response said no
// requests or tokens remain, until the window resets. It adapts to the
// limits the server enforces but the study did not give: a 429 halves its
// effective rate and concurrency (once per round of requests in flight),
// and each success raises them back additively, up to the study's limits.
//
// Every method is safe for concurrent use; every wait ends when its
// context is cancelled.
package throttle

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
)

// Limits are the limits of one scope; a zero field is no limit.
type Limits struct {
	RPM         int // requests per minute
	TPM         int // tokens per minute, prompt and completion
	Concurrency int // requests in flight
}

// Clock tells the time and waits; tests pass a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system's clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

const (
	// minFactor bounds how far 429s cut the rate: to 1/64 of the limit.
	minFactor = 1.0 / 64
	// increase is the rate factor a success adds back.
	increase = 1.0 / 16
)

// Limiter bounds the requests of one scope. The zero value is not usable;
// call New.
type Limiter struct {
	limits Limits
	clock  Clock

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a waiter may proceed
	// inflight counts the permits granted and not yet done.
	inflight int
	// conc is the effective concurrency cap: the study's, or +Inf when it
	// gives none, cut by 429s.
	conc float64
	// factor scales the rates of both buckets, in [minFactor, 1].
	factor float64
	// lastCut is when a 429 last cut conc and factor: a 429 of a request
	// sent before it answers the same overload and cuts nothing more.
	lastCut     time.Time
	pausedUntil time.Time
	reqs, toks  bucket
	// sent holds the times of the last RPM requests, a ring whose oldest
	// is at next.
	sent []time.Time
	next int
}

// window is the span over which the last RPM requests must spread.
const window = time.Minute + time.Minute/100

// bucket is a token bucket whose level may go below zero (debt).
type bucket struct {
	perMinute float64 // 0: no limit
	capacity  float64
	level     float64
	last      time.Time
}

func (b *bucket) refill(now time.Time, factor float64) {
	if b.perMinute == 0 {
		return
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.level = math.Min(b.capacity, b.level+dt.Minutes()*b.perMinute*factor)
	}
	b.last = now
}

// wait returns how long until cost may be taken: until the level reaches
// cost, or the full capacity when cost exceeds it.
func (b *bucket) wait(cost, factor float64) time.Duration {
	if b.perMinute == 0 {
		return 0
	}
	need := math.Min(cost, b.capacity)
	if b.level >= need {
		return 0
	}
	d := time.Duration((need - b.level) / (b.perMinute * factor) * float64(time.Minute))
	return max(d, time.Microsecond)
}

// New returns a Limiter of limits that tells time by clock (nil: the
// system's).
func New(limits Limits, clock Clock) *Limiter {
	if clock == nil {
		clock = RealClock{}
	}
	now := clock.Now()
	l := &Limiter{limits: limits, clock: clock, changed: make(chan struct{}), factor: 1, conc: math.Inf(1)}
	if limits.Concurrency > 0 {
		l.conc = float64(limits.Concurrency)
	}
	if limits.RPM > 0 {
		l.reqs = bucket{perMinute: float64(limits.RPM), capacity: 3, level: 1, last: now}
		l.sent = make([]time.Time, 0, limits.RPM)
	}
	if limits.TPM > 0 {
		c := math.Max(1, float64(limits.TPM)/60)
		l.toks = bucket{perMinute: float64(limits.TPM), capacity: c, level: c, last: now}
	}
	return l
}

// Limits returns the limits the Limiter was made with.
func (l *Limiter) Limits() Limits { return l.limits }

// Permit is the right to send one request. Its holder calls Done or
// Release exactly once.
type Permit struct {
	l        *Limiter
	tokens   int
	acquired time.Time
	once     sync.Once
}

// forever is the wait of a request that waits for a permit to be done.
const forever = time.Duration(math.MaxInt64)

// Acquire waits until a request of about tokens tokens (prompt and the
// completion's worst case; 0 when unknown) may be sent, and returns its
// permit, or ctx's error.
func (l *Limiter) Acquire(ctx context.Context, tokens int) (*Permit, error) {
	for {
		l.mu.Lock()
		now := l.clock.Now()
		d := l.take(now, tokens)
		ch := l.changed
		l.mu.Unlock()
		if d == 0 {
			return &Permit{l: l, tokens: tokens, acquired: now}, nil
		}
		var timer <-chan time.Time
		if d != forever {
			timer = l.clock.After(d)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		case <-timer:
		}
	}
}

// take grants a permit at now and returns 0, or returns how long to wait
// before trying again (forever: until a permit is done). l.mu is held.
func (l *Limiter) take(now time.Time, tokens int) time.Duration {
	if now.Before(l.pausedUntil) {
		return l.pausedUntil.Sub(now)
	}
	if float64(l.inflight) >= math.Max(1, math.Floor(l.conc)) {
		return forever
	}
	l.reqs.refill(now, l.factor)
	l.toks.refill(now, l.factor)
	d := max(l.reqs.wait(1, l.factor), l.toks.wait(float64(tokens), l.factor))
	if len(l.sent) == l.limits.RPM && l.limits.RPM > 0 {
		if w := l.sent[l.next].Add(window).Sub(now); w > d {
			d = w
		}
	}
	if d > 0 {
		return d
	}
	if l.reqs.perMinute > 0 {
		l.reqs.level--
		if len(l.sent) < l.limits.RPM {
			l.sent = append(l.sent, now)
		} else {
			l.sent[l.next] = now
			l.next = (l.next + 1) % len(l.sent)
		}
	}
	if l.toks.perMinute > 0 {
		l.toks.level -= float64(tokens)
	}
	l.inflight++
	return 0
}

// Outcome is what became of a request sent under a permit.
type Outcome struct {
	// Rate is what the response's headers said (llm.NoRateInfo: nothing).
	Rate llm.RateInfo
	// Throttled says the server refused the request for its rate (429).
	Throttled bool
	// Failed says the request failed otherwise (a 5xx, a broken
	// connection): its headers are followed, and nothing adapts.
	Failed bool
	// Tokens is the request's actual usage, prompt and completion; 0 when
	// unknown leaves the estimate charged.
	Tokens int
}

// Done returns the permit with what became of its request: the limiter
// pauses as the headers say, cuts its rate and concurrency on a 429 and
// raises them on any other answer. Calls after the first do nothing.
func (p *Permit) Done(o Outcome) {
	p.once.Do(func() { p.l.done(p, &o) })
}

// Release returns the permit of a request that was not sent, or whose
// answer says nothing of the server's limits (a cancelled context, an
// error before any response): nothing adapts.
func (p *Permit) Release() {
	p.once.Do(func() { p.l.done(p, nil) })
}

func (l *Limiter) done(p *Permit, o *Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	defer l.wake()
	if o == nil {
		return
	}
	now := l.clock.Now()
	r := o.Rate
	if r.RetryAfter > 0 {
		l.pause(now.Add(r.RetryAfter))
	}
	if r.RemainingRequests == 0 && r.ResetRequests > 0 {
		l.pause(now.Add(r.ResetRequests))
	}
	if r.RemainingTokens == 0 && r.ResetTokens > 0 {
		l.pause(now.Add(r.ResetTokens))
	}
	if o.Tokens > 0 && l.toks.perMinute > 0 {
		l.toks.refill(now, l.factor)
		l.toks.level += float64(p.tokens - o.Tokens)
		l.toks.level = math.Min(l.toks.level, l.toks.capacity)
	}
	l.reqs.refill(now, l.factor)
	l.toks.refill(now, l.factor)
	switch {
	case o.Failed && !o.Throttled:
	case o.Throttled && !p.acquired.After(l.lastCut):
		// Sent before the last cut: the same overload, already answered.
	case o.Throttled:
		l.lastCut = now
		l.factor = math.Max(minFactor, l.factor/2)
		l.conc = math.Max(1, math.Min(l.conc, float64(l.inflight+1))/2)
	default:
		l.factor = math.Min(1, l.factor+increase)
		if math.IsInf(l.conc, 1) {
			break
		}
		l.conc += 1 / math.Max(1, l.conc) // one more per round of successes
		if c := l.limits.Concurrency; c > 0 && l.conc > float64(c) {
			l.conc = float64(c)
		} else if c == 0 && l.conc > float64(l.inflight+1)*2 {
			l.conc = math.Inf(1) // grown past any load: no cap again
		}
	}
}

func (l *Limiter) pause(until time.Time) {
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}

// wake lets every waiter try again. l.mu is held.
func (l *Limiter) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// State is a Limiter's view of itself, for logs and tests.
type State struct {
	InFlight    int
	Concurrency float64 // effective cap; +Inf for none
	Factor      float64 // of the rates, in [1/64, 1]
	PausedUntil time.Time
}

// State returns the limiter's state now.
func (l *Limiter) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return State{InFlight: l.inflight, Concurrency: l.conc, Factor: l.factor, PausedUntil: l.pausedUntil}
}

// Permits are the permits of one request under several limiters.
type Permits []*Permit

// AcquireAll acquires a permit of each limiter in order (nil ones skipped),
// the narrowest scope first (a model, then its provider), so that a request
// waiting on its model's limit holds none of the provider's concurrency.
// On error it releases what it acquired.
func AcquireAll(ctx context.Context, tokens int, ls ...*Limiter) (Permits, error) {
	var ps Permits
	for _, l := range ls {
		if l == nil {
			continue
		}
		p, err := l.Acquire(ctx, tokens)
		if err != nil {
			ps.Release()
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Done calls Done on each permit, the widest scope first, so that a
// request woken by its model's permit finds its provider's free already.
func (ps Permits) Done(o Outcome) {
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Done(o)
	}
}

// Release calls Release on each permit, the widest scope first.
func (ps Permits) Release() {
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Release()
	}
}
