package check

// These tests cover zygotes with the fake platform, which checks on every
// request that a zygote serves a zygote prime and then only confined
// metrics requests (see fakePlatform.runTools).

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
)

var fakeConfines = &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"ok": true, "confine": true}`)}

func TestZygoteReused(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square, "ok.handler": square})
	p.metrics, p.zygoteAnswer = fakeMeasured, fakeConfines
	c := &Checker{Platform: p}
	ref, cand := function(t, "ref.handler", nil), function(t, "ok.handler", nil)
	for i := 0; i < 3; i++ {
		if rep, err := c.Check(context.Background(), cand, ref, squareTests); err != nil || rep.Class != ClassOK {
			t.Fatalf("Check = %+v, %v", rep, err)
		}
		if m := c.StaticMetrics(context.Background(), cand); m.PylintScore == nil || *m.PylintScore != 4 {
			t.Fatalf("StaticMetrics = %s", showMetrics(m))
		}
	}
	c.spares.running.Wait()
	// Check primed the zygote; it measured all three, and no spare was
	// primed.
	if got, want := served(p), "[[compile compile compile] [zygote confined confined confined]]"; got != want {
		t.Errorf("tools served %s, want %s", got, want)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
}

// TestZygoteRetired: a zygote that did not measure cleanly serves no
// more; the next measurement primes a new one.
func TestZygoteRetired(t *testing.T) {
	tests := []struct {
		name   string
		answer *platform.Invocation
		note   string
	}{
		{"could not clean up", &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(
			`{"cyclomatic": 1, "halstead": 2, "maintainability": 3, "pylint": null, "notes": ["metrics: the zygote could not clean up after this measurement"], "retire": true}`)},
			"metrics: the zygote could not clean up after this measurement"},
		{"tools raised", &platform.Invocation{Status: platform.StatusError, ErrorType: "RuntimeError", ErrorMessage: "no fork server"},
			"metrics: the tools function ended with error: RuntimeError: no fork server"},
		{"tools crashed", &platform.Invocation{Status: platform.StatusCrash, ErrorType: "Runtime.ExitError", ErrorMessage: "signal: killed"},
			"metrics: the tools function ended with crash: Runtime.ExitError: signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakePlatform(t, nil)
			p.metrics, p.zygoteAnswer = tt.answer, fakeConfines
			c := &Checker{Platform: p}
			fn := function(t, "handler.handler", nil)
			if m := c.StaticMetrics(context.Background(), fn); m.Note != tt.note {
				t.Errorf("StaticMetrics = %s, want note %q", showMetrics(m), tt.note)
			}
			p.mu.Lock()
			p.metrics = fakeMeasured
			p.mu.Unlock()
			if m := c.StaticMetrics(context.Background(), fn); m.Note != "" || m.PylintScore == nil {
				t.Errorf("next StaticMetrics = %s", showMetrics(m))
			}
			c.spares.running.Wait()
			if got, want := served(p), "[[zygote confined] [zygote confined] (closed)]"; got != want {
				t.Errorf("tools served %s, want %s", got, want)
			}
			if err := c.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if p.live != 0 {
				t.Errorf("%d deployments left open", p.live)
			}
		})
	}
}

// TestZygotePrimeFails: a zygote whose priming fails (not for want of
// confinement) fails that measurement only; the next one primes again.
func TestZygotePrimeFails(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	p.zygoteAnswer = &platform.Invocation{Status: platform.StatusError, ErrorType: "ImportError", ErrorMessage: "no pylint"}
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	fn := function(t, "handler.handler", nil)
	if m := c.StaticMetrics(context.Background(), fn); !strings.Contains(m.Note, "prime zygote: error: ImportError: no pylint") {
		t.Errorf("StaticMetrics = %s, want the priming's error", showMetrics(m))
	}
	p.mu.Lock()
	p.zygoteAnswer = fakeConfines
	p.mu.Unlock()
	if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
		t.Errorf("next StaticMetrics = %s", showMetrics(m))
	}
	if got, want := served(p), "[[zygote confined] [zygote] (closed)]"; got != want {
		t.Errorf("tools served %s, want %s", got, want)
	}
}

// TestZygoteConcurrent measures from many goroutines: each zygote serves
// one measurement at a time (the fake's Invoke would race otherwise),
// and there are no more zygotes than measurements at once.
func TestZygoteConcurrent(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics, p.zygoteAnswer = fakeMeasured, fakeConfines
	c := &Checker{Platform: p}
	fn := function(t, "handler.handler", nil)
	var wg sync.WaitGroup
	const n, rounds = 4, 5
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
					t.Errorf("StaticMetrics = %s", showMetrics(m))
				}
			}
		}()
	}
	wg.Wait()
	c.spares.running.Wait()
	zygotes, measured := 0, 0
	for _, ops := range p.toolOps() {
		zygotes++
		measured += strings.Count(ops, "confined")
	}
	if zygotes > n || measured != n*rounds {
		t.Errorf("%d zygotes measured %d times, want at most %d measuring %d times: %s", zygotes, measured, n, n*rounds, served(p))
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open", p.live)
	}
}
