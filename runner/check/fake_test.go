package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
)

// hostPython is the interpreter that has Pillow, radon and pylint.
const hostPython = "/usr/bin/python3"

// fakeFunc is a fake function's behaviour: the invocation for an event.
type fakeFunc func(event []byte) platform.Invocation

// fakePlatform runs functions given as Go funcs, by Handler. Deploying
// an unknown handler succeeds, and its invocations are init errors, as a
// real platform's are for a missing module. The checker's own tools
// compile code and compare images for real, with the host's Python
// outside any sandbox: tests give them only trusted code and images.
// Metrics are never measured on the host (see runTools).
type fakePlatform struct {
	t     testing.TB
	funcs map[string]fakeFunc

	mu        sync.Mutex
	deploys   map[string]int       // by Handler
	invokes   map[string]int       // by Handler
	live      int                  // deployments not yet closed
	invokeErr error                // returned by every Invoke of a non-tools function when set
	metrics   *platform.Invocation // the answer to metrics requests when set
	tools     []*fakeDeployment    // the tools deployments, in the order deployed
	// primeGate, when set, holds prime requests until it is closed or
	// their context ends; primeAnswer, when set, answers them.
	primeGate   chan struct{}
	primeAnswer *platform.Invocation
	// zygoteAnswer, when set, answers zygote prime requests; by default
	// they say that the fake cannot confine measurements, so that the
	// Checker measures in spares.
	zygoteAnswer *platform.Invocation
	// measuredCloseErr is returned by Close of tools deployments that
	// measured code.
	measuredCloseErr error
	// toolsInitTimeout makes every tools container fail to start within
	// the init timeout, as on a badly overloaded host.
	toolsInitTimeout bool
}

func newFakePlatform(t testing.TB, funcs map[string]fakeFunc) *fakePlatform {
	return &fakePlatform{t: t, funcs: funcs, deploys: map[string]int{}, invokes: map[string]int{}}
}

func (p *fakePlatform) Name() string { return "fake" }

func (p *fakePlatform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	if fn.Name == "" {
		p.t.Errorf("Deploy %s: empty Name", fn.Handler)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deploys[fn.Handler]++
	p.live++
	d := &fakeDeployment{p: p, fn: fn, f: p.funcs[fn.Handler]}
	if fn.Handler == toolsModule+".handler" {
		d.f = func(event []byte) platform.Invocation {
			if p.toolsInitTimeout {
				return platform.Invocation{Status: platform.StatusTimeout, Cold: true, InitTimedOut: true,
					ErrorType: "Sandbox.Timedout", ErrorMessage: "Init timed out after 10.00 seconds"}
			}
			return p.runTools(d, event)
		}
		p.tools = append(p.tools, d)
	}
	if d.f == nil {
		d.f = func([]byte) platform.Invocation {
			return platform.Invocation{Status: platform.StatusInitError, ErrorType: "Runtime.ImportModuleError", ErrorMessage: "no module for " + fn.Handler}
		}
	}
	return d, nil
}

type fakeDeployment struct {
	p      *fakePlatform
	fn     platform.Function
	f      fakeFunc
	closed bool
	ops    []string // the tools requests it served, in order
}

func (d *fakeDeployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	d.p.mu.Lock()
	d.p.invokes[d.fn.Handler]++
	err := d.p.invokeErr
	d.p.mu.Unlock()
	if d.closed {
		d.p.t.Errorf("Invoke %s after Close", d.fn.Handler)
	}
	if err != nil && d.fn.Handler != toolsModule+".handler" {
		return platform.Invocation{}, err
	}
	if !json.Valid(event) {
		d.p.t.Errorf("Invoke %s: invalid event %s", d.fn.Handler, event)
	}
	if d.fn.Handler == toolsModule+".handler" && string(event) == string(primeRequest) {
		d.p.mu.Lock()
		gate := d.p.primeGate
		d.p.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return platform.Invocation{}, fmt.Errorf("fake: %w", ctx.Err())
			}
		}
	}
	return d.f(event), nil
}

func (d *fakeDeployment) Close(ctx context.Context) error {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.p.live--
	}
	for _, op := range d.ops {
		if op == "metrics" || op == "confined" {
			return d.p.measuredCloseErr
		}
	}
	return nil
}

// runTools runs a tools request on d. Compile requests must go to a warm
// deployment and image requests to a cold one. A metrics request must go
// to a warm deployment that served nothing but a prime request before,
// and no request may follow it there; a confined metrics request must go
// to a zygote: a warm deployment that served a zygote prime request
// first and confined metrics requests since. Metrics requests run radon
// and pylint, which must never run on the host: their result is
// p.metrics when set, else an error. ops records zygote primes as
// "zygote" and confined metrics as "confined".
func (p *fakePlatform) runTools(d *fakeDeployment, event []byte) platform.Invocation {
	var req struct {
		Op               string
		Zygote, Confined bool
	}
	json.Unmarshal(event, &req)
	op := req.Op
	switch {
	case op == "prime" && req.Zygote:
		op = "zygote"
	case op == "metrics" && req.Confined:
		op = "confined"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cold := op == "image"; cold != d.fn.Cold {
		p.t.Errorf("tools op %q deployed with Cold %v", op, d.fn.Cold)
	}
	zygote := len(d.ops) > 0 && d.ops[0] == "zygote"
	for _, done := range d.ops {
		if done == "metrics" {
			p.t.Errorf("tools op %q sent to a container that measured code (ops %v)", op, d.ops)
		}
		if op == "metrics" && done != "prime" {
			p.t.Errorf("metrics sent to a container that served %q (ops %v)", done, d.ops)
		}
	}
	if zygote && op != "confined" || op == "confined" && !zygote {
		p.t.Errorf("tools op %q sent to a container that served %v", op, d.ops)
	}
	if (op == "prime" || op == "zygote") && len(d.ops) > 0 {
		p.t.Errorf("%s sent to a container that served %v", op, d.ops)
	}
	d.ops = append(d.ops, op)
	switch op {
	case "prime":
		if p.primeAnswer != nil {
			return *p.primeAnswer
		}
		return platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"ok": true}`)}
	case "zygote":
		if p.zygoteAnswer != nil {
			return *p.zygoteAnswer
		}
		return platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"ok": true, "confine": false, "why": "the fake confines nothing"}`)}
	case "metrics", "confined":
		if p.metrics != nil {
			return *p.metrics
		}
		return platform.Invocation{Status: platform.StatusError, ErrorType: "Fake", ErrorMessage: "the fake platform does not measure code"}
	}
	p.mu.Unlock()
	defer p.mu.Lock()
	return runToolsOnHost(p.t, d.fn.CodeDir, event)
}

// runToolsOnHost runs the tools module in dir with the host's Python,
// isolated (-I) and with an empty environment.
func runToolsOnHost(t testing.TB, dir string, event []byte) platform.Invocation {
	if _, err := os.Stat(hostPython); err != nil {
		t.Skipf("no %s: %v", hostPython, err)
	}
	script := `import json, sys
sys.path.insert(0, sys.argv[1])
import faaslab_check
json.dump(faaslab_check.handler(json.load(sys.stdin), None), sys.stdout)`
	cmd := exec.Command(hostPython, "-I", "-c", script, dir)
	cmd.Env = []string{}
	cmd.Stdin = bytes.NewReader(event)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return platform.Invocation{Status: platform.StatusError, ErrorType: "HostPython", ErrorMessage: err.Error() + ": " + stderr.String()}
	}
	return platform.Invocation{Status: platform.StatusOK, Result: out}
}

// returns is a fake function that always returns result.
func returns(result string) fakeFunc {
	return func([]byte) platform.Invocation {
		return platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(result)}
	}
}

// fails is a fake function that always ends with status.
func fails(status platform.Status, errorType, message string) fakeFunc {
	return func([]byte) platform.Invocation {
		return platform.Invocation{Status: status, ErrorType: errorType, ErrorMessage: message}
	}
}

// writeCode writes files into a new directory and returns it.
func writeCode(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// toolOps returns the requests each tools deployment served, and whether
// it is closed, as "op op ... (closed)", in the order deployed.
func (p *fakePlatform) toolOps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, d := range p.tools {
		s := fmt.Sprint(d.ops)
		if d.closed {
			s += " (closed)"
		}
		out = append(out, s)
	}
	return out
}
