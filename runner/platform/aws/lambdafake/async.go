package lambdafake

import (
	"context"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// Asynchronous invocation, as Lambda does it: Invoke with
// X-Amz-Invocation-Type Event (and every S3 event delivery) queues the
// event and answers 202; the function's one execution environment runs
// the queued events one after another (the fake models no concurrency);
// an attempt that ends in a function error is retried after a delay, up
// to the function's MaximumRetryAttempts (default 2), unless the event
// is older than its MaximumEventAgeInSeconds (default 6 hours). Every
// attempt keeps the event's request id, as Lambda's do.

// asyncEvent is one queued asynchronous event.
type asyncEvent struct {
	id      string
	payload []byte
	queued  time.Time
	attempt int // attempts made so far
}

// InvocationRecord is one invocation the fake ran, for tests.
type InvocationRecord struct {
	Function  string
	RequestID string
	// Async says the invocation was asynchronous (Invoke with
	// InvocationType Event, or an S3 event); Attempt counts its attempts
	// from 1.
	Async   bool
	Attempt int
	// Status is the REPORT line's status: "success", "error" or
	// "timeout"; FunctionError is Lambda's X-Amz-Function-Error
	// ("Unhandled"), empty when the function succeeded.
	Status        string
	FunctionError string
	// Expired says the event was discarded unrun, older than its
	// MaximumEventAgeInSeconds.
	Expired   bool
	Event     []byte
	LogStream string
}

// enqueue queues an asynchronous event for f and returns its request id.
func (s *Server) enqueue(f *function, payload []byte) string {
	ev := asyncEvent{id: requestID(), payload: payload, queued: time.Now()}
	s.push(f, ev)
	return ev.id
}

// push queues ev, starting f's queue runner when none runs.
func (s *Server) push(f *function, ev asyncEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.pending.Add(1)
	f.queue = append(f.queue, ev)
	if f.draining {
		return
	}
	f.draining = true
	s.closing.Add(1)
	go s.drain(f)
}

// drain runs f's queued events one after another until none is left.
func (s *Server) drain(f *function) {
	defer s.closing.Done()
	for {
		s.mu.Lock()
		if len(f.queue) == 0 || s.ctx.Err() != nil {
			s.pending.Add(-int64(len(f.queue)))
			f.queue, f.draining = nil, false
			s.mu.Unlock()
			return
		}
		ev := f.queue[0]
		f.queue = f.queue[1:]
		alive := s.functions[f.config.FunctionName] == f
		retries, maxAge := f.asyncLimits()
		s.mu.Unlock()
		if alive {
			s.attempt(f, ev, retries, time.Duration(maxAge)*s.opts.EventAgeUnit)
		}
		s.pending.Add(-1)
	}
}

// attempt runs one attempt of ev and schedules its retry when it failed.
func (s *Server) attempt(f *function, ev asyncEvent, retries int, maxAge time.Duration) {
	ev.attempt++
	name := f.config.FunctionName
	if time.Since(ev.queued) > maxAge {
		s.mu.Lock()
		s.invocations = append(s.invocations, InvocationRecord{Function: name, RequestID: ev.id, Async: true,
			Attempt: ev.attempt, Expired: true, Event: ev.payload})
		s.mu.Unlock()
		return
	}
	// A pending function's events wait for it to become active.
	for {
		s.mu.Lock()
		c := s.configOf(f)
		wait := time.Until(f.created.Add(s.opts.Activation))
		s.mu.Unlock()
		if c.State != "Pending" {
			break
		}
		select {
		case <-time.After(max(wait, time.Millisecond)):
		case <-s.ctx.Done():
			return
		}
	}
	s.mu.Lock()
	c := s.configOf(f)
	gen := f.generation
	s.mu.Unlock()
	inv, stream, err := s.run(s.ctx, f, c, gen, ev.payload)
	if err != nil {
		if s.ctx.Err() != nil {
			return
		}
		inv = platform.Invocation{Status: platform.StatusCrash, ErrorMessage: err.Error()}
	}
	out := s.outcomeOf(c, ev.id, inv)
	s.record(f, c, ev.id, inv, out, stream, InvocationRecord{Async: true, Attempt: ev.attempt, Event: ev.payload})
	if out.functionError == "" || ev.attempt > retries {
		return
	}
	// Lambda waits a minute, then two; the fake RetryDelay, then twice it.
	delay := s.opts.RetryDelay << (ev.attempt - 1)
	s.pending.Add(1)
	time.AfterFunc(delay, func() {
		defer s.pending.Add(-1)
		s.push(f, ev)
	})
}

// Idle says that no asynchronous work is left: no queued or running
// event, no retry or S3 event delivery waiting.
func (s *Server) Idle() bool { return s.pending.Load() == 0 }

// WaitIdle waits until Idle or ctx is done.
func (s *Server) WaitIdle(ctx context.Context) error {
	for !s.Idle() {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Invocations returns the invocations of the function name so far (all
// functions' when name is empty), in the order they ended.
func (s *Server) Invocations(name string) []InvocationRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []InvocationRecord
	for _, r := range s.invocations {
		if name == "" || r.Function == name {
			out = append(out, r)
		}
	}
	return out
}
