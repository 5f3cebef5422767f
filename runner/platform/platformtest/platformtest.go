// Package platformtest is the conformance suite for platform.Platform:
// the behaviours every platform shares, whatever runs the functions (the
// local sandbox, AWS Lambda). A platform's own tests call Run.
package platformtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// Timeout is the function timeout in the timeout test: Lambda's timeouts
// are whole seconds, and one is the shortest.
const Timeout = time.Second

// Grace is how much longer than its timeout an invocation may take to
// return, allowing for a platform's overhead and a cold start.
var Grace = 10 * time.Second

// Run runs the suite. newPlatform returns the platform under test; it is
// called once per subtest, which may run in parallel, and each subtest
// closes every deployment it makes.
func Run(t *testing.T, newPlatform func(t *testing.T) platform.Platform) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, platform.Platform)
	}{
		{"Echo", testEcho},
		{"WarmReuse", testWarmReuse},
		{"InitError", testInitError},
		{"Exception", testException},
		{"MarshalError", testMarshalError},
		{"Timeout", testTimeout},
		{"ColdMode", testColdMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newPlatform(t))
		})
	}
}

// Function returns a function named after the test whose handler.py is
// source; its memory is 512 MB and its timeout 10 s unless change alters
// them.
func Function(t *testing.T, source string, change func(*platform.Function)) platform.Function {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := regexp.MustCompile(`[^A-Za-z0-9-]+`).ReplaceAllString(t.Name(), "-")
	fn := platform.Function{
		Name:     strings.ToLower(name) + "-" + hex.EncodeToString(suffix),
		CodeDir:  dir,
		Handler:  "handler.handler",
		Runtime:  "python3.12",
		MemoryMB: 512,
		Timeout:  10 * time.Second,
	}
	if change != nil {
		change(&fn)
	}
	return fn
}

// Deploy deploys fn on p and closes it when the test ends.
func Deploy(t *testing.T, p platform.Platform, fn platform.Function) platform.Deployment {
	t.Helper()
	d, err := p.Deploy(context.Background(), fn)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// Invoke invokes d with event and fails the test on an infrastructure
// error.
func Invoke(t *testing.T, d platform.Deployment, event string) platform.Invocation {
	t.Helper()
	inv, err := d.Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return inv
}

// Want fails the test unless inv ended with status and, for failures, an
// error message containing text.
func Want(t *testing.T, inv platform.Invocation, status platform.Status, text string) {
	t.Helper()
	if inv.Status != status || !strings.Contains(inv.ErrorMessage, text) {
		t.Fatalf("got %s %s: %q, want %s with %q\ntraceback: %s\nlog: %.2000s",
			inv.Status, inv.ErrorType, inv.ErrorMessage, status, text, inv.Traceback, inv.Log)
	}
}

// Result decodes inv's result into v.
func Result(t *testing.T, inv platform.Invocation, v any) {
	t.Helper()
	if err := json.Unmarshal(inv.Result, v); err != nil {
		t.Fatalf("result %s: %v", inv.Result, err)
	}
}

func testEcho(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
import os
def handler(event, context):
    print("echo", event["n"])
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        "remaining_ms": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
    }
`, nil))
	inv := Invoke(t, d, `{"n": 42, "s": "héllo"}`)
	Want(t, inv, platform.StatusOK, "")
	var got struct {
		Event        map[string]any
		RequestID    string `json:"request_id"`
		FunctionName string `json:"function_name"`
		Memory       any
		MemoryEnv    string `json:"memory_env"`
		RemainingMS  int64  `json:"remaining_ms"`
		ARN          string
	}
	Result(t, inv, &got)
	if got.Event["n"] != 42.0 || got.Event["s"] != "héllo" {
		t.Errorf("event came back as %v", got.Event)
	}
	if got.RequestID == "" || got.FunctionName == "" || !strings.HasPrefix(got.ARN, "arn:aws:lambda:") {
		t.Errorf("context = %+v, want request id, function name and ARN", got)
	}
	if got.MemoryEnv != "512" || got.Memory != "512" && got.Memory != 512.0 {
		t.Errorf("memory = %v (env %q), want 512", got.Memory, got.MemoryEnv)
	}
	if got.RemainingMS <= 0 || got.RemainingMS > 10000 {
		t.Errorf("remaining time %d ms, want in (0, 10000]", got.RemainingMS)
	}
	if !inv.Cold || inv.InitDuration <= 0 {
		t.Errorf("first call: cold=%v init=%v, want cold with an init duration", inv.Cold, inv.InitDuration)
	}
	if inv.Duration <= 0 || inv.Duration > inv.RoundTrip {
		t.Errorf("duration %v, round trip %v: want 0 < duration <= round trip", inv.Duration, inv.RoundTrip)
	}
	if inv.ContainerID == "" || inv.CPUArch == "" || inv.CPUModel == "" || inv.MaxRSSKB <= 0 {
		t.Errorf("missing measurements: %+v", inv)
	}
	if inv.Start.IsZero() || inv.Start.Location() != time.UTC {
		t.Errorf("start %v, want a UTC time", inv.Start)
	}
	if !strings.Contains(inv.Log, "echo 42") {
		t.Errorf("log %q lacks the function's output", inv.Log)
	}
}

func testWarmReuse(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
import os
calls = 0
def handler(event, context):
    global calls
    calls += 1
    path = "/tmp/faaslab-warm"
    before = open(path).read() if os.path.exists(path) else ""
    with open(path, "a") as f:
        f.write("x")
    return {"calls": calls, "tmp": before}
`, nil))
	first, second := Invoke(t, d, `{}`), Invoke(t, d, `{}`)
	Want(t, first, platform.StatusOK, "")
	Want(t, second, platform.StatusOK, "")
	var a, b struct {
		Calls int
		Tmp   string
	}
	Result(t, first, &a)
	Result(t, second, &b)
	if a.Calls != 1 || b.Calls != 2 || a.Tmp != "" || b.Tmp != "x" {
		t.Errorf("calls %d then %d, /tmp %q then %q: want globals and /tmp kept between warm calls", a.Calls, b.Calls, a.Tmp, b.Tmp)
	}
	if !first.Cold || second.Cold || second.InitDuration != 0 {
		t.Errorf("cold %v then %v (init %v): want cold then warm", first.Cold, second.Cold, second.InitDuration)
	}
	if first.ContainerID == "" || first.ContainerID != second.ContainerID {
		t.Errorf("container %q then %q, want the same", first.ContainerID, second.ContainerID)
	}
}

func testInitError(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
raise RuntimeError("no config at import")
def handler(event, context):
    return 1
`, nil))
	for i := 0; i < 2; i++ {
		inv := Invoke(t, d, `{}`)
		Want(t, inv, platform.StatusInitError, "no config at import")
		if inv.ErrorType == "" {
			t.Errorf("init error without a type")
		}
	}
}

func testException(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
def handler(event, context):
    if event.get("fail"):
        raise ValueError("bad input %d" % event["fail"])
    return "fine"
`, nil))
	inv := Invoke(t, d, `{"fail": 7}`)
	Want(t, inv, platform.StatusError, "bad input 7")
	if inv.ErrorType != "ValueError" || !strings.Contains(inv.Traceback, "handler.py") {
		t.Errorf("type %q traceback %q, want ValueError from handler.py", inv.ErrorType, inv.Traceback)
	}
	if inv.Duration <= 0 {
		t.Errorf("failed call has no duration")
	}
	// An exception does not cost the environment.
	again := Invoke(t, d, `{}`)
	Want(t, again, platform.StatusOK, "")
	if again.Cold || again.ContainerID != inv.ContainerID {
		t.Errorf("after an exception: cold=%v container %q (was %q), want the same warm container", again.Cold, again.ContainerID, inv.ContainerID)
	}
}

func testMarshalError(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
def handler(event, context):
    return {"not json": {1, 2, 3}}
`, nil))
	inv := Invoke(t, d, `{}`)
	Want(t, inv, platform.StatusError, "")
	if inv.ErrorType != "Runtime.MarshalError" {
		t.Errorf("error type %q, want Runtime.MarshalError", inv.ErrorType)
	}
}

func testTimeout(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
import time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(60)
    return "awake"
`, func(fn *platform.Function) { fn.Timeout = Timeout }))
	Want(t, Invoke(t, d, `{}`), platform.StatusOK, "")
	inv := Invoke(t, d, `{"sleep": true}`)
	Want(t, inv, platform.StatusTimeout, "")
	if inv.InitTimedOut {
		t.Errorf("a handler that ran past its timeout says its init timed out")
	}
	if inv.RoundTrip < Timeout || inv.RoundTrip > Timeout+Grace {
		t.Errorf("timed out after %v, want between %v and %v", inv.RoundTrip, Timeout, Timeout+Grace)
	}
	// The next invocation gets a new environment.
	next := Invoke(t, d, `{}`)
	Want(t, next, platform.StatusOK, "")
	if !next.Cold {
		t.Errorf("invocation after a timeout was warm, want cold")
	}
}

func testColdMode(t *testing.T, p platform.Platform) {
	d := Deploy(t, p, Function(t, `
import os
def handler(event, context):
    seen = os.path.exists("/tmp/faaslab-seen")
    open("/tmp/faaslab-seen", "w").close()
    return seen
`, func(fn *platform.Function) { fn.Cold = true }))
	ids := map[string]bool{}
	for i := 0; i < 3; i++ {
		inv := Invoke(t, d, `{}`)
		Want(t, inv, platform.StatusOK, "")
		if !inv.Cold || string(inv.Result) != "false" {
			t.Errorf("call %d: cold=%v result %s, want a cold call in a fresh environment", i, inv.Cold, inv.Result)
		}
		ids[inv.ContainerID] = true
	}
	if len(ids) != 3 {
		t.Errorf("%d container ids over 3 cold calls, want 3", len(ids))
	}
}
