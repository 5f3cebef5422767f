package check

// These tests cover the spare metrics containers with the fake platform,
// which checks on every request that a container that measured code
// serves nothing else (see fakePlatform.runTools).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

var fakeMeasured = &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(
	`{"cyclomatic": 1, "halstead": 2, "maintainability": 3, "pylint": 4, "notes": []}`)}

// served returns the tools deployments' requests, sorted, as toolOps.
func served(p *fakePlatform) string {
	ops := p.toolOps()
	sort.Strings(ops)
	return fmt.Sprint(ops)
}

func TestSpareOverlapsCheck(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square, "ok.handler": square})
	p.metrics = fakeMeasured
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
	// Check primed a zygote, which said that the fake cannot confine,
	// and the first measurement primed spares; each measurement used one
	// and primed the next: one shared compiler, three measured, two
	// spares left.
	want := "[[compile compile compile] [prime metrics] (closed) [prime metrics] (closed) [prime metrics] (closed) [prime] [prime] [zygote] (closed)]"
	if got := served(p); got != want {
		t.Errorf("tools served %s, want %s", got, want)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
}

func TestSpareOtherRuntime(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	fn := function(t, "handler.handler", nil)
	c.prepareSpare(fn)
	other := fn
	other.Runtime = "python3.11"
	if m := c.StaticMetrics(context.Background(), other); m.Note != "" {
		t.Fatalf("StaticMetrics = %s", showMetrics(m))
	}
	c.spares.running.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.tools {
		if len(d.ops) == 2 && d.fn.Runtime != "python3.11" {
			t.Errorf("python3.11 code measured by a %s container", d.fn.Runtime)
		}
	}
}

func TestSparePrimeFails(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	p.primeAnswer = &platform.Invocation{Status: platform.StatusError, ErrorType: "ImportError", ErrorMessage: "no pylint"}
	c := &Checker{Platform: p}
	fn := function(t, "handler.handler", nil)
	m := c.StaticMetrics(context.Background(), fn)
	if want := "metrics: check tools: prime: error: ImportError: no pylint"; m.PylintScore != nil || m.Note != want {
		t.Errorf("StaticMetrics = %s, want a note %q", showMetrics(m), want)
	}
	// The failure is not kept: the replacement, which failed too, is
	// dropped, and the next measurement primes anew.
	c.spares.running.Wait()
	p.mu.Lock()
	p.primeAnswer = nil
	p.mu.Unlock()
	if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
		t.Errorf("after a failed prime: %s", showMetrics(m))
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
}

func TestSpareCancelled(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	p.primeGate = make(chan struct{})
	c := &Checker{Platform: p}
	fn := function(t, "handler.handler", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if m := c.StaticMetrics(ctx, fn); m.PylintScore != nil || !strings.Contains(m.Note, "deadline exceeded") {
		t.Errorf("StaticMetrics while priming is held = %s, want a note on the deadline", showMetrics(m))
	}
	// The spare waited for, untouched, goes back to the pool: it and its
	// replacements, no more.
	c.spares.mu.Lock()
	n := len(c.spares.byKey[toolsKey{runtime: fn.Runtime, arch: fn.Arch}])
	c.spares.mu.Unlock()
	if n != 1+minSpares {
		t.Errorf("%d spares after a cancelled wait, want %d", n, 1+minSpares)
	}
	close(p.primeGate)
	if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
		t.Errorf("after a cancelled wait: %s", showMetrics(m))
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
}

// TestSpareClose closes the Checker while spares are still priming: Close
// stops them and tears everything down, and the Checker works again.
func TestSpareClose(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	p.primeGate = make(chan struct{}) // never opened: priming hangs until cancelled
	c := &Checker{Platform: p}
	fn := function(t, "handler.handler", nil)
	c.prepareSpare(fn)
	done := make(chan error)
	go func() { done <- c.Close(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not stop priming")
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
	p.mu.Lock()
	p.primeGate = nil
	p.mu.Unlock()
	if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
		t.Errorf("after Close: %s", showMetrics(m))
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open: %s", p.live, served(p))
	}
}

// TestSpareConcurrent measures from many goroutines: each measurement has
// a container of its own, and the spares stay bounded.
func TestSpareConcurrent(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	c := &Checker{Platform: p}
	fn := function(t, "handler.handler", nil)
	var wg sync.WaitGroup
	const n = 16
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m := c.StaticMetrics(context.Background(), fn); m.Note != "" {
				t.Errorf("StaticMetrics = %s", showMetrics(m))
			}
		}()
	}
	wg.Wait()
	c.spares.running.Wait()
	measured, idle, probes := 0, 0, 0
	for _, ops := range p.toolOps() {
		switch ops {
		case "[prime metrics] (closed)":
			measured++
		case "[prime]":
			idle++
		case "[zygote] (closed)":
			if probes++; probes > 1 {
				t.Errorf("more than one zygote primed to learn that the fake cannot confine")
			}
		default:
			t.Errorf("a tools container served %s", ops)
		}
	}
	if measured != n || idle < 1 || idle > maxSpares {
		t.Errorf("%d containers measured and %d are spare, want %d and 1 to %d", measured, idle, n, maxSpares)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open", p.live)
	}
}

// TestSpareRetireFails: a measuring container that cannot be torn down
// does not change the metrics; Close reports it.
func TestSpareRetireFails(t *testing.T) {
	p := newFakePlatform(t, nil)
	p.metrics = fakeMeasured
	p.measuredCloseErr = errors.New("cgroup busy")
	c := &Checker{Platform: p}
	if m := c.StaticMetrics(context.Background(), function(t, "handler.handler", nil)); m.Note != "" || m.PylintScore == nil {
		t.Errorf("StaticMetrics = %s", showMetrics(m))
	}
	err := c.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cgroup busy") {
		t.Errorf("Close = %v, want the teardown's error", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v, want nil: the error was reported", err)
	}
}
