package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

const validCode = "def handler(event, context):\n    return event\n"

// square returns {"n": n*n} for an event {"n": n}, like the reference.
func square(event []byte) platform.Invocation {
	var e struct{ N int }
	json.Unmarshal(event, &e)
	return platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(fmt.Sprintf(`{"n":%d}`, e.N*e.N)), Duration: time.Millisecond}
}

var squareTests = []Test{
	{Name: "two", Event: json.RawMessage(`{"n": 2}`)},
	{Name: "three", Event: json.RawMessage(`{"n": 3}`)},
}

// function returns a Function whose code is one valid module, named after
// the handler's module, unless code says otherwise.
func function(t *testing.T, handler string, code map[string]string) platform.Function {
	module, _, _ := strings.Cut(handler, ".")
	if code == nil {
		code = map[string]string{module + ".py": validCode}
	}
	return platform.Function{CodeDir: writeCode(t, code), Handler: handler, Runtime: "python3.12", Arch: "x86_64", MemoryMB: 512, Timeout: 5 * time.Second}
}

// TestToolsInitTimeout checks that faaslab's own tools failing to start
// in time (a host too busy) is an infrastructure error to retry, never a
// class of the candidate: correct code must not become SE on a loaded host.
func TestToolsInitTimeout(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square, "ok.handler": square})
	p.toolsInitTimeout = true
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	rep, err := c.Check(context.Background(), function(t, "ok.handler", nil), function(t, "ref.handler", nil),
		[]Test{{Name: "t", Event: json.RawMessage(`{"n":2}`)}})
	if !errors.Is(err, platform.ErrInfrastructure) || rep.Class != "" {
		t.Errorf("Check with tools that never start: class %q, error %v; want no class and an infrastructure error", rep.Class, err)
	}
}

func TestCheckClasses(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{
		"ref.handler":   square,
		"ok.handler":    square,
		"wrong.handler": func(e []byte) platform.Invocation { return returns(`{"n":4}`)(e) },
		"raise.handler": fails(platform.StatusError, "ZeroDivisionError", "division by zero"),
		"init.handler":  fails(platform.StatusInitError, "ModuleNotFoundError", "No module named 'networkx'"),
		"slow.handler":  fails(platform.StatusTimeout, "", "Task timed out after 5.00 seconds"),
		"crash.handler": fails(platform.StatusCrash, "Runtime.ExitError", "signal: killed"),
		// timeoutThenFD is wrong on the first test and times out on the second.
		"mixed.handler": func(e []byte) platform.Invocation {
			if strings.Contains(string(e), "3") {
				return fails(platform.StatusTimeout, "", "")(e)
			}
			return returns(`{"n":5}`)(e)
		},
	})
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	ref := function(t, "ref.handler", nil)

	tests := []struct {
		handler    string
		code       map[string]string
		class      Class
		detail     string
		testClass  []Class
		path       string // of the first test
		errorType  string // of the first test
		notInvoked bool
	}{
		{handler: "ok.handler", class: ClassOK, testClass: []Class{ClassOK, ClassOK}},
		{handler: "wrong.handler", class: ClassFD, detail: `test "three": $.n: got 4, want 9`, testClass: []Class{ClassOK, ClassFD}},
		{handler: "raise.handler", class: ClassFD, detail: "ZeroDivisionError: division by zero", testClass: []Class{ClassFD, ClassFD}, errorType: "ZeroDivisionError"},
		{handler: "init.handler", class: ClassInit, detail: "No module named", testClass: []Class{ClassInit, ClassInit}, errorType: "ModuleNotFoundError"},
		{handler: "missing.handler", code: map[string]string{"other.py": validCode}, class: ClassInit, testClass: []Class{ClassInit, ClassInit}, errorType: "Runtime.ImportModuleError"},
		{handler: "slow.handler", class: ClassTimeout, detail: "timed out", testClass: []Class{ClassTimeout, ClassTimeout}},
		{handler: "crash.handler", class: ClassCrash, detail: "signal: killed", testClass: []Class{ClassCrash, ClassCrash}, errorType: "Runtime.ExitError"},
		{handler: "mixed.handler", class: ClassTimeout, detail: `test "three"`, testClass: []Class{ClassFD, ClassTimeout}, path: "$.n"},
		{handler: "se.handler", code: map[string]string{"se.py": "def handler(event, context)\n    return 1\n"}, class: ClassSE, detail: "se.py:1:", notInvoked: true},
		{handler: "se.handler", code: map[string]string{"se.py": validCode, "pkg/util.py": "x = (1,\n"}, class: ClassSE, detail: "pkg/util.py:1:", notInvoked: true},
		{handler: "se.handler", code: map[string]string{"se.py": "def handler(event, context):\n    return 1\n      pass\n"}, class: ClassSE, detail: "IndentationError", notInvoked: true},
		{handler: "se.handler", code: map[string]string{"se.py": "x = '\x00'\n"}, class: ClassSE, detail: "se.py", notInvoked: true},
		// An answer without code (llm.ExtractCode gave "") is NOCODE, not SE.
		{handler: "empty.handler", code: map[string]string{"empty.py": ""}, class: ClassNoCode, detail: "no code", notInvoked: true},
		{handler: "blank.handler", code: map[string]string{"blank.py": "\n  \n\t\r\n", "__pycache__/blank.py": "x = 1\n", "notes.txt": "prose"},
			class: ClassNoCode, detail: "no code", notInvoked: true},
	}
	for _, tt := range tests {
		t.Run(tt.handler+"/"+string(tt.class), func(t *testing.T) {
			before := p.invokes[tt.handler]
			rep, err := c.Check(context.Background(), function(t, tt.handler, tt.code), ref, squareTests)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rep.Class != tt.class || !strings.Contains(rep.Detail, tt.detail) {
				t.Errorf("Check = %s %q, want %s with %q", rep.Class, rep.Detail, tt.class, tt.detail)
			}
			if len(rep.Tests) != len(tt.testClass) {
				t.Fatalf("got %d test results, want %d: %+v", len(rep.Tests), len(tt.testClass), rep.Tests)
			}
			for i, r := range rep.Tests {
				if r.Name != squareTests[i].Name || r.Class != tt.testClass[i] {
					t.Errorf("test %d = %s %s, want %s %s", i, r.Name, r.Class, squareTests[i].Name, tt.testClass[i])
				}
			}
			if len(rep.Tests) > 0 && (rep.Tests[0].Path != tt.path || rep.Tests[0].ErrorType != tt.errorType) {
				t.Errorf("first test path, error type = %q, %q; want %q, %q", rep.Tests[0].Path, rep.Tests[0].ErrorType, tt.path, tt.errorType)
			}
			invoked := p.invokes[tt.handler] - before
			switch {
			case tt.notInvoked && invoked != 0:
				t.Errorf("invoked %d times after a syntax error", invoked)
			case tt.class == ClassInit && invoked != 1:
				t.Errorf("invoked %d times after an init error, want 1", invoked)
			}
		})
	}
	if p.deploys["ref.handler"] != 1 || p.invokes["ref.handler"] != len(squareTests) {
		t.Errorf("reference deployed %d times and invoked %d times, want 1 and %d", p.deploys["ref.handler"], p.invokes["ref.handler"], len(squareTests))
	}
	// One shared compiler, the zygote that Check primes for the metrics
	// that usually follow, which says that the fake cannot confine, and
	// then the spares that Check primes instead.
	if p.deploys[toolsModule+".handler"] != 2+minSpares {
		t.Errorf("tools deployed %d times, want %d: %v", p.deploys[toolsModule+".handler"], 2+minSpares, p.toolOps())
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live != 0 {
		t.Errorf("%d deployments left open", p.live)
	}
}

func TestCheckReferenceCache(t *testing.T) {
	funcs := map[string]fakeFunc{"ref.handler": square, "ok.handler": square}
	p := newFakePlatform(t, funcs)
	dir := t.TempDir()
	ref := function(t, "ref.handler", nil)
	cand := function(t, "ok.handler", nil)
	ctx := context.Background()

	c := &Checker{Platform: p, CacheDir: dir}
	for range 3 {
		if rep, err := c.Check(ctx, cand, ref, squareTests); err != nil || rep.Class != ClassOK {
			t.Fatalf("Check = %+v, %v", rep, err)
		}
	}
	c.Close(ctx)
	if p.invokes["ref.handler"] != 2 {
		t.Fatalf("reference invoked %d times for 3 candidates, want 2", p.invokes["ref.handler"])
	}

	// A new checker, as in a new process, reads the disk cache. A
	// reformatted event is the same event.
	c2 := &Checker{Platform: p, CacheDir: dir}
	t.Cleanup(func() { c2.Close(ctx) })
	tests := []Test{{Name: "two", Event: json.RawMessage("{\n  \"n\" : 2\n}")}, squareTests[1]}
	if rep, err := c2.Check(ctx, cand, ref, tests); err != nil || rep.Class != ClassOK {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	if p.deploys["ref.handler"] != 1 || p.invokes["ref.handler"] != 2 {
		t.Errorf("after a disk hit: reference deployed %d and invoked %d times, want 1 and 2", p.deploys["ref.handler"], p.invokes["ref.handler"])
	}

	// A new event, another runtime or other reference code miss.
	more := append([]Test{{Name: "four", Event: json.RawMessage(`{"n":4}`)}}, squareTests...)
	c2.Check(ctx, cand, ref, more)
	if p.invokes["ref.handler"] != 3 {
		t.Errorf("new event: reference invoked %d times in all, want 3", p.invokes["ref.handler"])
	}
	ref311 := ref
	ref311.Runtime = "python3.11"
	c2.Check(ctx, cand, ref311, squareTests)
	if p.invokes["ref.handler"] != 5 {
		t.Errorf("new runtime: reference invoked %d times in all, want 5", p.invokes["ref.handler"])
	}
	refEdited := function(t, "ref.handler", map[string]string{"ref.py": validCode + "# edited\n"})
	c2.Check(ctx, cand, refEdited, squareTests)
	if p.invokes["ref.handler"] != 7 {
		t.Errorf("new code: reference invoked %d times in all, want 7", p.invokes["ref.handler"])
	}
}

func TestCheckErrors(t *testing.T) {
	ctx := context.Background()
	p := newFakePlatform(t, map[string]fakeFunc{
		"ref.handler":    square,
		"ok.handler":     square,
		"badref.handler": fails(platform.StatusError, "KeyError", "'n'"),
	})
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(ctx) })
	ref, cand := function(t, "ref.handler", nil), function(t, "ok.handler", nil)

	badTests := map[string][]Test{
		"no tests":       nil,
		"unnamed test":   {{Event: json.RawMessage(`{}`)}},
		"duplicate name": {{Name: "a", Event: json.RawMessage(`{}`)}, {Name: "a", Event: json.RawMessage(`{}`)}},
		"invalid event":  {{Name: "a", Event: json.RawMessage(`{`)}},
		"unknown rule":   {{Name: "a", Event: json.RawMessage(`{}`), Compare: Compare{Rule: "approx"}}},
	}
	for name, tests := range badTests {
		if _, err := c.Check(ctx, cand, ref, tests); err == nil {
			t.Errorf("%s: Check succeeded, want an error", name)
		}
	}

	_, err := c.Check(ctx, cand, function(t, "badref.handler", nil), squareTests)
	if err == nil || !strings.Contains(err.Error(), "reference fails test") || !strings.Contains(err.Error(), "KeyError") {
		t.Errorf("failing reference: err = %v", err)
	}

	p.invokeErr = fmt.Errorf("sandbox vanished: %w", platform.ErrInfrastructure)
	_, err = c.Check(ctx, cand, function(t, "ref.handler", map[string]string{"ref.py": validCode + "#2\n"}), squareTests)
	if !errors.Is(err, platform.ErrInfrastructure) {
		t.Errorf("infrastructure failure: err = %v, want ErrInfrastructure", err)
	}
	p.invokeErr = nil
	c.Close(ctx)
	if p.live != 0 {
		t.Errorf("%d deployments left open", p.live)
	}
}

func TestCheckConcurrent(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square, "ok.handler": square, "wrong.handler": returns(`{"n":0}`)})
	c := &Checker{Platform: p, CacheDir: t.TempDir()}
	t.Cleanup(func() { c.Close(context.Background()) })
	ref := function(t, "ref.handler", nil)
	cands := []platform.Function{function(t, "ok.handler", nil), function(t, "wrong.handler", nil)}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			cand := cands[i%2]
			rep, err := c.Check(context.Background(), cand, ref, squareTests)
			if err == nil && (rep.Class == ClassOK) != (cand.Handler == "ok.handler") {
				err = fmt.Errorf("%s: class %s", cand.Handler, rep.Class)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.invokes["ref.handler"] != len(squareTests) {
		t.Errorf("reference invoked %d times, want %d", p.invokes["ref.handler"], len(squareTests))
	}
}

func TestNoCodeIsNotDeployedNorMeasured(t *testing.T) {
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square})
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	cand := function(t, "handler.handler", map[string]string{"handler.py": " \n"})
	rep, err := c.Check(context.Background(), cand, function(t, "ref.handler", nil), squareTests)
	if err != nil || rep.Class != ClassNoCode || len(rep.Tests) != 0 {
		t.Fatalf("Check = %+v, %v; want NOCODE without tests", rep, err)
	}
	m := c.StaticMetrics(context.Background(), cand)
	if m.Cyclomatic != nil || m.PylintScore != nil || !strings.Contains(m.Note, "no code to measure") {
		t.Errorf("StaticMetrics = %+v, want no metrics and a note saying there is no code", m)
	}
	for handler, n := range p.deploys {
		t.Errorf("%s deployed %d times for a candidate without code", handler, n)
	}
}

// TestToolsPlatform checks a checker whose functions run on one platform
// (AWS Lambda, say) and its tools on another (the local sandbox):
// candidates and references go to Platform, syntax checks and metrics to
// Tools, and nothing of either to the other.
func TestToolsPlatform(t *testing.T) {
	remote := newFakePlatform(t, map[string]fakeFunc{"ref.handler": square, "ok.handler": square})
	local := newFakePlatform(t, nil)
	local.metrics = &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"cyclomatic": 1}`)}
	c := &Checker{Platform: remote, Tools: local}
	t.Cleanup(func() { c.Close(context.Background()) })
	cand := function(t, "ok.handler", nil)
	rep, err := c.Check(context.Background(), cand, function(t, "ref.handler", nil), squareTests)
	if err != nil || rep.Class != ClassOK {
		t.Fatalf("Check: %v, %v", rep, err)
	}
	c.StaticMetrics(context.Background(), cand)
	remote.mu.Lock()
	defer remote.mu.Unlock()
	local.mu.Lock()
	defer local.mu.Unlock()
	tools := toolsModule + ".handler"
	if remote.deploys["ok.handler"] != 1 || remote.deploys["ref.handler"] != 1 || remote.deploys[tools] != 0 {
		t.Errorf("remote platform deployed %v: want the candidate and the reference only", remote.deploys)
	}
	if local.deploys[tools] == 0 || local.deploys["ok.handler"]+local.deploys["ref.handler"] != 0 {
		t.Errorf("local platform deployed %v: want the tools only", local.deploys)
	}
}
