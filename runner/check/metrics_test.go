package check

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const sampleCode = `"""Sum the even numbers below n."""


def handler(event, context):
    """Return the sum of even numbers below event["n"]."""
    del context
    total = 0
    for i in range(event.get("n", 10)):
        if i % 2 == 0 and i > 1:
            total += i
        elif i == 3:
            total -= 1
    return {"total": total}


class Counter:
    """Count things."""

    def __init__(self):
        self.n = 0

    def add(self, k):
        """Add k when positive."""
        if k > 0:
            self.n += k
        return self.n
`

func needTools(t *testing.T) {
	for _, tool := range []string{"radon", "pylint"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func TestStaticMetrics(t *testing.T) {
	needTools(t)
	dir := writeCode(t, map[string]string{"handler.py": sampleCode})
	m := StaticMetrics(context.Background(), dir)
	if m.Cyclomatic == nil || m.Halstead == nil || m.Maintainability == nil || m.PylintScore == nil {
		t.Fatalf("missing metrics: %+v, note %q", m, m.Note)
	}
	// handler has complexity 5 (for, if with and, elif), __init__ 1, add 2.
	if got := *m.Cyclomatic; got < 2.6 || got > 2.7 {
		t.Errorf("Cyclomatic = %g, want 8/3", got)
	}
	if got := *m.Halstead; got <= 0 || got > 50 {
		t.Errorf("Halstead = %g, want a small positive difficulty", got)
	}
	if got := *m.Maintainability; got <= 0 || got > 100 {
		t.Errorf("Maintainability = %g, want within (0, 100]", got)
	}
	if got := *m.PylintScore; got < 5 || got > 10 {
		t.Errorf("PylintScore = %g, want a good score in [5, 10]", got)
	}
	if m.Note != "" {
		t.Errorf("Note = %q, want none", m.Note)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the code directory was written to: %v", entries)
	}
}

func TestStaticMetricsSeveralFiles(t *testing.T) {
	needTools(t)
	dir := writeCode(t, map[string]string{
		"handler.py":  "from lib import util\n\n\ndef handler(event, context):\n    return util.f(event)\n",
		"lib/util.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
	})
	m := StaticMetrics(context.Background(), dir)
	if m.Cyclomatic == nil || *m.Cyclomatic != 1.5 {
		t.Errorf("Cyclomatic = %v, want 1.5 (1 and 2); note %q", m.Cyclomatic, m.Note)
	}
	if m.PylintScore == nil || *m.PylintScore < 0 || *m.PylintScore > 10 {
		t.Errorf("PylintScore = %v, want in [0, 10]; note %q", m.PylintScore, m.Note)
	}
}

func TestStaticMetricsSyntaxError(t *testing.T) {
	needTools(t)
	dir := writeCode(t, map[string]string{"handler.py": "def handler(event, context)\n    return 1\n"})
	m := StaticMetrics(context.Background(), dir)
	if m.Cyclomatic != nil || m.Halstead != nil || m.Maintainability != nil || m.PylintScore != nil {
		t.Errorf("metrics for code that does not parse: %+v", m)
	}
	for _, want := range []string{"radon cc: handler.py: expected ':'", "radon hal:", "radon mi:", "pylint: no score"} {
		if !strings.Contains(m.Note, want) {
			t.Errorf("Note %q lacks %q", m.Note, want)
		}
	}
}

func TestStaticMetricsNoFunctions(t *testing.T) {
	needTools(t)
	m := StaticMetrics(context.Background(), writeCode(t, map[string]string{"handler.py": "X = 1\n"}))
	if m.Cyclomatic != nil || !strings.Contains(m.Note, "no functions") {
		t.Errorf("Cyclomatic = %v, note %q; want nil and a reason", m.Cyclomatic, m.Note)
	}
	if m.Halstead == nil || m.Maintainability == nil {
		t.Errorf("file metrics missing: %+v", m)
	}
}

func TestStaticMetricsWithoutTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	m := StaticMetrics(context.Background(), writeCode(t, map[string]string{"handler.py": sampleCode}))
	if m.Cyclomatic != nil || m.Halstead != nil || m.Maintainability != nil || m.PylintScore != nil {
		t.Errorf("metrics without tools: %+v", m)
	}
	for _, want := range []string{"radon: not installed", "pylint: not installed"} {
		if !strings.Contains(m.Note, want) {
			t.Errorf("Note %q lacks %q", m.Note, want)
		}
	}
}

func TestStaticMetricsNoCode(t *testing.T) {
	m := StaticMetrics(context.Background(), t.TempDir())
	if m.PylintScore != nil || !strings.Contains(m.Note, "no Python files") {
		t.Errorf("StaticMetrics(empty dir) = %+v", m)
	}
	m = StaticMetrics(context.Background(), "/nonexistent/faaslab")
	if m.PylintScore != nil || !strings.Contains(m.Note, "copy") {
		t.Errorf("StaticMetrics(missing dir) = %+v", m)
	}
}

func TestStaticMetricsCancelled(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := StaticMetrics(ctx, writeCode(t, map[string]string{"handler.py": sampleCode}))
	if m.PylintScore != nil || m.Cyclomatic != nil {
		t.Errorf("metrics after cancellation: %+v", m)
	}
}

func TestRunToolIsolation(t *testing.T) {
	dir := t.TempDir()
	out, err := runTool(context.Background(), dir, "/bin/sh", "-c", "env; pwd; cat /proc/self/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "HOME="+dir) || strings.Contains(s, "PATH=/") {
		t.Errorf("environment not empty but for HOME:\n%s", s)
	}
	if !strings.Contains(s, "\n"+dir+"\n") {
		t.Errorf("not run in %s:\n%s", dir, s)
	}
	// In a network namespace of its own, the only interface is lo.
	for _, line := range strings.Split(s, "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.ContainsAny(name, " =|/") || name == "lo" {
			continue
		}
		if os.Geteuid() == 0 {
			t.Errorf("interface %q visible: no network namespace", name)
		} else {
			t.Logf("interface %q visible: this kernel refused a network namespace", name)
		}
	}
}
