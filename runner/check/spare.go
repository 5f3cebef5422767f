package check

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// minSpares and maxSpares bound the spare metrics containers kept for
// one runtime and architecture. Each use of a spare starts a replacement,
// so the spares grow to the number of checks that measure at once, and no
// further; at least two are kept, so that priming one has the time of
// two artifacts' checks to finish.
const (
	minSpares = 2
	maxSpares = 4
)

// primeRequest asks a tools function to import radon and pylint; it
// carries no candidate's code or data.
var primeRequest = []byte(`{"op":"prime"}`)

// A spare is a tools deployment that serves one artifact's metrics
// request and is then torn down. Its container is started, and radon
// and pylint imported in it (the "prime" op), before any candidate's
// code reaches it, in the background while earlier work runs: the
// start-up that a cold container per measurement would pay on the
// critical path. The container has then run only trusted code, so
// handing it to one artifact isolates that artifact's checks from every
// other artifact's as a cold container would.
type spare struct {
	ready chan struct{} // closed when priming has ended
	td    *toolDeployment
	err   error
}

// failed says whether s has been primed without success.
func (s *spare) failed() bool {
	select {
	case <-s.ready:
		return s.err != nil
	default:
		return false
	}
}

// primed says whether s has been primed with success.
func (s *spare) primed() bool {
	select {
	case <-s.ready:
		return s.err == nil
	default:
		return false
	}
}

// spares is the Checker's pool of spare metrics containers.
type spares struct {
	mu        sync.Mutex
	ctx       context.Context    // ends priming; nil before first use and after stop
	cancel    context.CancelFunc //
	running   sync.WaitGroup     // priming and retiring goroutines
	byKey     map[toolsKey][]*spare
	retireErr []error // from tearing down used spares, for Close
	zygotes   zygotes
}

// prepareSpare starts priming a zygote for fn's runtime and
// architecture, unless one is idle or priming, or, when its tools cannot
// confine measurements, spares until minSpares are ready or on their
// way. It does not wait.
func (c *Checker) prepareSpare(fn platform.Function) {
	key := toolsKey{runtime: fn.Runtime, arch: fn.Arch}
	c.spares.mu.Lock()
	defer c.spares.mu.Unlock()
	if c.prepareZygoteLocked(key) {
		return
	}
	for len(c.spares.byKey[key]) < minSpares {
		c.primeSpareLocked(key)
	}
}

// takeSpare returns a primed tools deployment for fn's runtime and
// architecture, for the caller's sole use: the caller sends it one
// request and retires it (retireSpare). It starts a replacement, and
// more up to minSpares, so the next caller finds one primed or on its way. Spares whose priming has
// failed are dropped unseen; when the spare it waits for fails, it
// returns that error.
func (c *Checker) takeSpare(ctx context.Context, fn platform.Function) (*toolDeployment, error) {
	key := toolsKey{runtime: fn.Runtime, arch: fn.Arch}
	c.spares.mu.Lock()
	if c.spares.byKey != nil {
		kept := c.spares.byKey[key][:0]
		for _, s := range c.spares.byKey[key] {
			if !s.failed() {
				kept = append(kept, s)
			}
		}
		c.spares.byKey[key] = kept
	}
	if len(c.spares.byKey[key]) == 0 {
		c.primeSpareLocked(key)
	}
	s := c.spares.byKey[key][0]
	c.spares.byKey[key] = c.spares.byKey[key][1:]
	for n := 0; (n == 0 || len(c.spares.byKey[key]) < minSpares) && len(c.spares.byKey[key]) < maxSpares; n++ {
		c.primeSpareLocked(key)
	}
	c.spares.mu.Unlock()

	select {
	case <-s.ready:
	case <-ctx.Done():
		// Untouched by any candidate: the next caller may have it.
		c.spares.mu.Lock()
		if c.spares.ctx != nil {
			c.spares.byKey[key] = append([]*spare{s}, c.spares.byKey[key]...)
		}
		c.spares.mu.Unlock()
		return nil, ctx.Err()
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.td, nil
}

// primeSpareLocked starts priming a new spare for key and adds it to the
// pool. c.spares.mu must be held.
func (c *Checker) primeSpareLocked(key toolsKey) {
	ctx := c.sparesContextLocked()
	s := &spare{ready: make(chan struct{})}
	c.spares.byKey[key] = append(c.spares.byKey[key], s)
	c.spares.running.Add(1)
	go func() {
		defer c.spares.running.Done()
		defer close(s.ready)
		s.td, s.err = c.primeTools(ctx, key)
	}()
}

// sparesContextLocked returns the context that ends priming, making the
// pools on first use after New or Close. c.spares.mu must be held.
func (c *Checker) sparesContextLocked() context.Context {
	if c.spares.ctx == nil {
		c.spares.ctx, c.spares.cancel = context.WithCancel(context.Background())
		c.spares.byKey = map[toolsKey][]*spare{}
		c.spares.zygotes.byKey = map[toolsKey][]*spare{}
		c.spares.zygotes.probe = map[toolsKey]*spare{}
	}
	if c.spares.zygotes.missing == nil {
		c.spares.zygotes.missing = map[toolsKey]string{}
		c.spares.zygotes.confirmed = map[toolsKey]bool{}
	}
	return c.spares.ctx
}

// primeTools deploys a tools function for key and primes its container.
func (c *Checker) primeTools(ctx context.Context, key toolsKey) (*toolDeployment, error) {
	td, err := c.deployTools(ctx, key, metricsMemory)
	if err != nil {
		return nil, err
	}
	var res struct{ OK bool }
	inv, err := td.invoke(ctx, primeRequest, &res)
	if err == nil && (inv.Status != platform.StatusOK || !res.OK) {
		err = fmt.Errorf("check tools: prime: %s", failure(string(inv.Status), inv))
	}
	if err != nil {
		c.retireTools(context.WithoutCancel(ctx), td)
		return nil, err
	}
	return td, nil
}

// retireSpare tears down a spare that served its request, in the
// background: nothing is sent to it again, whenever it goes. Close waits
// for it and reports its errors.
func (c *Checker) retireSpare(td *toolDeployment) {
	c.spares.running.Add(1)
	go func() {
		defer c.spares.running.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.retireTools(ctx, td); err != nil {
			c.spares.mu.Lock()
			c.spares.retireErr = append(c.spares.retireErr, err)
			c.spares.mu.Unlock()
		}
	}()
}

// stopSpares stops priming and forgets the spares and zygotes (not what
// it learnt about confinement), waiting for priming and retiring in
// progress to end, and returns the errors of retiring.
// Close tears down the spares' deployments, which are registered among
// the Checker's tools.
func (c *Checker) stopSpares() error {
	c.spares.mu.Lock()
	if c.spares.cancel != nil {
		c.spares.cancel()
	}
	c.spares.ctx, c.spares.cancel, c.spares.byKey = nil, nil, nil
	c.spares.zygotes.byKey, c.spares.zygotes.probe = nil, nil
	c.spares.mu.Unlock()
	c.spares.running.Wait()
	c.spares.mu.Lock()
	defer c.spares.mu.Unlock()
	err := errors.Join(c.spares.retireErr...)
	c.spares.retireErr = nil
	return err
}
