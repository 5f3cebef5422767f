package check

// These tests cover StaticMetrics's handling of what the tools answer,
// with the fake platform; metrics_local_test.go measures real code in the
// local platform's sandbox.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
)

func TestStaticMetricsAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer *platform.Invocation // nil: the fake's error
		want   Metrics
	}{
		{"measured", &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(
			`{"cyclomatic": 2.5, "halstead": 3, "maintainability": 80.5, "pylint": null, "notes": ["pylint: timed out after 45 s"]}`)},
			Metrics{Cyclomatic: ptr(2.5), Halstead: ptr(3), Maintainability: ptr(80.5), Note: "pylint: timed out after 45 s"}},
		{"several notes", &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(
			`{"cyclomatic": null, "halstead": null, "maintainability": null, "pylint": 7, "notes": ["radon: not installed", "x"]}`)},
			Metrics{PylintScore: ptr(7), Note: "radon: not installed\nx"}},
		{"tools raised", nil, Metrics{Note: "metrics: the tools function ended with error: Fake: the fake platform does not measure code"}},
		{"tools timed out", &platform.Invocation{Status: platform.StatusTimeout, ErrorMessage: "Task timed out after 60.00 seconds"},
			Metrics{Note: "metrics: the tools function ended with timeout: Task timed out after 60.00 seconds"}},
		{"tools crashed", &platform.Invocation{Status: platform.StatusCrash, ErrorType: "Runtime.ExitError", ErrorMessage: "signal: killed"},
			Metrics{Note: "metrics: the tools function ended with crash: Runtime.ExitError: signal: killed"}},
		{"bad answer", &platform.Invocation{Status: platform.StatusOK, Result: json.RawMessage(`{"cyclomatic": "high"}`)},
			Metrics{Note: "metrics: check tools: decode result: json: cannot unmarshal string into Go struct field metricsResult.cyclomatic of type float64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakePlatform(t, nil)
			p.metrics = tt.answer
			c := &Checker{Platform: p}
			t.Cleanup(func() { c.Close(context.Background()) })
			got := c.StaticMetrics(context.Background(), function(t, "handler.handler", nil))
			if showMetrics(got) != showMetrics(tt.want) {
				t.Errorf("StaticMetrics = %s, want %s", showMetrics(got), showMetrics(tt.want))
			}
			// The zygote said that the fake cannot confine and was
			// closed; the measuring container was primed, measured once
			// and closed; minSpares replacements were primed and are open.
			c.spares.running.Wait()
			served := p.toolOps()
			sort.Strings(served)
			ops := fmt.Sprint(served)
			if want := "[[prime metrics] (closed) [prime] [prime] [zygote] (closed)]"; ops != want {
				t.Errorf("tools deployments served %s, want %s", ops, want)
			}
		})
	}
}

func TestStaticMetricsWithoutRequest(t *testing.T) {
	empty := t.TempDir()
	huge := t.TempDir()
	if err := os.WriteFile(filepath.Join(huge, "handler.py"), make([]byte, maxSourceBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, note string
	}{
		{empty, "no Python files in " + empty},
		{"/nonexistent/faaslab", "check: read code in /nonexistent/faaslab: "},
		{huge, "more than 4194304 bytes of Python source"},
	}
	for _, tt := range tests {
		p := newFakePlatform(t, nil)
		c := &Checker{Platform: p}
		fn := function(t, "handler.handler", nil)
		fn.CodeDir = tt.dir
		m := c.StaticMetrics(context.Background(), fn)
		if m.Cyclomatic != nil || m.Halstead != nil || m.Maintainability != nil || m.PylintScore != nil || !strings.Contains(m.Note, tt.note) {
			t.Errorf("StaticMetrics(%s) = %s, want no metrics and a note with %q", tt.dir, showMetrics(m), tt.note)
		}
		if len(p.deploys) != 0 {
			t.Errorf("StaticMetrics(%s) deployed %v", tt.dir, p.deploys)
		}
	}
}

func TestReadSourcesLimit(t *testing.T) {
	half := strings.Repeat("#", maxSourceBytes/2)
	if _, err := readSources(writeCode(t, map[string]string{"a.py": half, "b.py": half})); err != nil {
		t.Errorf("readSources(exactly the limit): %v", err)
	}
	_, err := readSources(writeCode(t, map[string]string{"a.py": half, "b.py": half + "#", "notes.txt": half}))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("readSources(one byte over the limit) = %v", err)
	}
}

func ptr(v float64) *float64 { return &v }

// showMetrics formats metrics for comparison and messages.
func showMetrics(m Metrics) string {
	f := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		b, _ := json.Marshal(*v)
		return string(b)
	}
	return "{cc " + f(m.Cyclomatic) + ", hal " + f(m.Halstead) + ", mi " + f(m.Maintainability) + ", pylint " + f(m.PylintScore) + ", note " + `"` + m.Note + `"}`
}
