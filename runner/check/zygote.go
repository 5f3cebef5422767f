package check

import (
	"context"
	"errors"
	"fmt"

	"github.com/faaslab/faaslab/runner/platform"
)

// zygotePrimeRequest primes a tools container as a zygote: radon and
// pylint imported, and the fork server started, before any candidate's
// code reaches it. It carries no candidate's code or data.
var zygotePrimeRequest = []byte(`{"op":"prime","zygote":true}`)

// A zygote is a primed tools deployment that measures many artifacts'
// code, one at a time, each in a process of its own that the tools fork
// from a process that has never seen a candidate's code, confine with
// Landlock and seccomp to a new directory, and kill with everything it
// started before the next artifact's (see tools/faaslab_check.py,
// "The zygote"). A measurement then costs neither a container's start
// nor pylint's import, which spares (one container per artifact) pay.
//
// The tools say at priming whether the sandbox's kernel can confine a
// measurement (Landlock ABI 6, Linux 6.12, and a seccomp filter for the
// architecture); where it cannot, the Checker measures in spares.
//
// Zygotes live in c.spares, under its lock: byKey holds those idle or
// priming, as spares; missing says why a key's tools cannot confine, and
// confirmed that they can. Until one or the other is known, probe holds
// the first zygote's priming, which other callers wait for rather than
// prime zygotes of their own that may be of no use.
type zygotes struct {
	byKey     map[toolsKey][]*spare
	missing   map[toolsKey]string
	confirmed map[toolsKey]bool
	probe     map[toolsKey]*spare
}

// noConfinement is a zygote's priming error when the tools cannot
// confine a measurement; the caller measures in a spare instead.
type noConfinement struct{ why string }

func (e *noConfinement) Error() string { return "cannot confine a measurement: " + e.why }

// prepareZygoteLocked starts priming a zygote for key unless one is idle
// or priming. It returns false when key's tools cannot confine, so that
// the caller prepares spares instead. c.spares.mu must be held.
func (c *Checker) prepareZygoteLocked(key toolsKey) bool {
	c.sparesContextLocked()
	if _, missing := c.spares.zygotes.missing[key]; missing {
		return false
	}
	if len(c.spares.zygotes.byKey[key]) == 0 {
		c.primeZygoteLocked(key)
	}
	return true
}

// primeZygoteLocked starts priming a new zygote for key and adds it to
// the pool. c.spares.mu must be held.
func (c *Checker) primeZygoteLocked(key toolsKey) {
	ctx := c.sparesContextLocked()
	z := &c.spares.zygotes
	s := &spare{ready: make(chan struct{})}
	z.byKey[key] = append(z.byKey[key], s)
	if !z.confirmed[key] && z.probe[key] == nil {
		z.probe[key] = s
	}
	c.spares.running.Add(1)
	go func() {
		defer c.spares.running.Done()
		td, err := c.primeZygote(ctx, key)
		c.spares.mu.Lock()
		var nc *noConfinement
		switch {
		case errors.As(err, &nc):
			z.missing[key] = nc.why
		case err == nil:
			z.confirmed[key] = true
		}
		if z.probe[key] == s {
			delete(z.probe, key)
		}
		s.td, s.err = td, err
		close(s.ready)
		c.spares.mu.Unlock()
	}()
}

// primeZygote deploys a tools function for key and primes it as a
// zygote. When the tools cannot confine, it tears the deployment down
// and returns a *noConfinement.
func (c *Checker) primeZygote(ctx context.Context, key toolsKey) (*toolDeployment, error) {
	td, err := c.deployTools(ctx, key, metricsMemory)
	if err != nil {
		return nil, err
	}
	var res struct {
		OK      bool   `json:"ok"`
		Confine bool   `json:"confine"`
		Why     string `json:"why"`
	}
	inv, err := td.invoke(ctx, zygotePrimeRequest, &res)
	switch {
	case err != nil:
	case inv.Status != platform.StatusOK || !res.OK:
		err = fmt.Errorf("check tools: prime zygote: %s", failure(string(inv.Status), inv))
	case !res.Confine:
		why := res.Why
		if why == "" {
			why = "the tools did not say why"
		}
		err = &noConfinement{why: why}
	}
	if err != nil {
		c.retireTools(context.WithoutCancel(ctx), td)
		return nil, err
	}
	return td, nil
}

// takeZygote returns a primed zygote for fn's runtime and architecture,
// for the caller's use until it calls releaseZygote or retireSpare: an
// idle one, else one priming, else a new one. It returns nil and no
// error when the tools cannot confine, so that the caller measures in a
// spare instead.
func (c *Checker) takeZygote(ctx context.Context, fn platform.Function) (*toolDeployment, error) {
	key := toolsKey{runtime: fn.Runtime, arch: fn.Arch}
	c.spares.mu.Lock()
	for {
		if _, missing := c.spares.zygotes.missing[key]; missing {
			c.spares.mu.Unlock()
			return nil, nil
		}
		c.sparesContextLocked()
		probe := c.spares.zygotes.probe[key]
		if probe == nil || c.spares.zygotes.confirmed[key] {
			break
		}
		c.spares.mu.Unlock()
		select {
		case <-probe.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.spares.mu.Lock()
	}
	pool := c.spares.zygotes.byKey[key]
	kept := pool[:0]
	for _, s := range pool {
		if !s.failed() {
			kept = append(kept, s)
		}
	}
	pool = kept
	// An idle zygote if there is one, else the first still priming.
	pick := -1
	for i, s := range pool {
		if s.primed() {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	c.spares.zygotes.byKey[key] = pool
	if pick < 0 {
		c.primeZygoteLocked(key)
		pool = c.spares.zygotes.byKey[key]
		pick = len(pool) - 1
	}
	s := pool[pick]
	c.spares.zygotes.byKey[key] = append(pool[:pick:pick], pool[pick+1:]...)
	c.spares.mu.Unlock()

	select {
	case <-s.ready:
	case <-ctx.Done():
		// Untouched by this caller: the next one may have it.
		c.spares.mu.Lock()
		if c.spares.ctx != nil {
			c.spares.zygotes.byKey[key] = append(c.spares.zygotes.byKey[key], s)
		}
		c.spares.mu.Unlock()
		return nil, ctx.Err()
	}
	var nc *noConfinement
	if errors.As(s.err, &nc) {
		return nil, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.td, nil
}

// releaseZygote makes a zygote that measured cleanly idle again, unless
// the Checker was closed meanwhile (Close tore it down then).
func (c *Checker) releaseZygote(td *toolDeployment) {
	c.spares.mu.Lock()
	defer c.spares.mu.Unlock()
	if c.spares.ctx == nil {
		return
	}
	s := &spare{ready: make(chan struct{}), td: td}
	close(s.ready)
	c.spares.zygotes.byKey[td.key] = append(c.spares.zygotes.byKey[td.key], s)
}

// measureInZygote sends a confined metrics request to td and decides its
// fate: idle again after a clean measurement, torn down after anything
// else (the platform failed, the tools failed or timed out, or they
// could not clean up), since the next artifact must find it as primed.
func (c *Checker) measureInZygote(ctx context.Context, td *toolDeployment, event []byte) Metrics {
	var res metricsResult
	inv, err := td.invoke(ctx, event, &res)
	if err != nil || inv.Status != platform.StatusOK || res.Retire {
		c.retireSpare(td)
	} else {
		c.releaseZygote(td)
	}
	return metricsFrom(inv, err, res)
}
