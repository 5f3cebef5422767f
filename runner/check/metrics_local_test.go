package check_test

// These tests measure code with radon and pylint in the local platform's
// sandbox, including code that attacks the tools. They are skipped when
// the host cannot build a sandbox.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/platform"
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

// metricsChecker returns a Checker on the local platform, or skips.
func metricsChecker(t *testing.T) *check.Checker {
	c := &check.Checker{Platform: localPlatform(t)}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

// codeFunction writes files into dir (a new one when empty) and returns
// a Function for them.
func codeFunction(t *testing.T, dir string, files map[string]string) platform.Function {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return platform.Function{CodeDir: dir, Handler: "handler.handler", Runtime: "python3.12", MemoryMB: 128, Timeout: 3 * time.Second}
}

func TestLocalStaticMetrics(t *testing.T) {
	c := metricsChecker(t)
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, m check.Metrics)
	}{
		{"sample", map[string]string{"handler.py": sampleCode}, func(t *testing.T, m check.Metrics) {
			if m.Cyclomatic == nil || m.Halstead == nil || m.Maintainability == nil || m.PylintScore == nil || m.Note != "" {
				t.Fatalf("missing metrics or a note: %s", show(m))
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
		}},
		{"several files", map[string]string{
			"handler.py":  "from lib import util\n\n\ndef handler(event, context):\n    return util.f(event)\n",
			"lib/util.py": "def f(x):\n    if x:\n        return 1\n    return 2\n",
		}, func(t *testing.T, m check.Metrics) {
			if m.Cyclomatic == nil || *m.Cyclomatic != 1.5 {
				t.Errorf("Cyclomatic = %s, want 1.5 (1 and 2)", show(m))
			}
			if m.PylintScore == nil || *m.PylintScore < 0 || *m.PylintScore > 10 {
				t.Errorf("PylintScore = %s, want in [0, 10]", show(m))
			}
		}},
		{"syntax error", map[string]string{"handler.py": "def handler(event, context)\n    return 1\n"}, func(t *testing.T, m check.Metrics) {
			if m.Cyclomatic != nil || m.Halstead != nil || m.Maintainability != nil || m.PylintScore != nil {
				t.Errorf("metrics for code that does not parse: %s", show(m))
			}
			for _, want := range []string{"radon cc: handler.py: SyntaxError: expected ':'", "radon hal: handler.py:", "radon mi: handler.py:", "pylint: no score"} {
				if !strings.Contains(m.Note, want) {
					t.Errorf("Note %q lacks %q", m.Note, want)
				}
			}
		}},
		{"no functions", map[string]string{"handler.py": "X = 1\n"}, func(t *testing.T, m check.Metrics) {
			if m.Cyclomatic != nil || m.Note != "radon cc: no functions or methods" {
				t.Errorf("got %s, want no Cyclomatic and a reason", show(m))
			}
			if m.Halstead == nil || m.Maintainability == nil || m.PylintScore == nil {
				t.Errorf("other metrics missing: %s", show(m))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fn := codeFunction(t, "", tt.files)
			tt.check(t, c.StaticMetrics(context.Background(), fn))
			if entries, _ := os.ReadDir(fn.CodeDir); len(entries) != len(tt.files) {
				t.Errorf("the code directory was written to: %v", entries)
			}
		})
	}
}

// TestLocalStaticMetricsHostile measures code that tries to make radon or
// pylint run it on the host.
func TestLocalStaticMetricsHostile(t *testing.T) {
	c := metricsChecker(t)
	marker := filepath.Join(os.TempDir(), "faaslab-pwned-"+randomHex(t))
	t.Cleanup(func() { os.Remove(marker) })
	// attack writes the marker at the host path and in the sandbox's /tmp,
	// and reports through the pylint rating whether an earlier attack
	// left its mark in the same container.
	attack := fmt.Sprintf(`import os
SEEN = os.path.exists("/tmp/faaslab-attack")
for path in (%q, "/tmp/faaslab-attack"):
    try:
        with open(path, "w") as f:
            f.write("pwned")
    except OSError:
        pass
print("Your code has been rated at", "9.99/10" if SEEN else "1.11/10", flush=True)
os._exit(0)
`, marker)
	hook := fmt.Sprintf("[MASTER]\ninit-hook=open(%q, 'w').write('pwned')\n", marker)

	// Modules that shadow what pylint, astroid or Python itself import,
	// and a package whose parent holds pylint configuration.
	shadows := map[string]string{"handler.py": sampleCode}
	for _, module := range []string{"contextvars", "enum", "typing", "tokenize", "pylint", "astroid", "sitecustomize", "usercustomize", "--rcfile=evil"} {
		shadows[module+".py"] = attack
	}
	parent := t.TempDir()
	config := map[string]string{".pylintrc": hook, "pylintrc": hook, "setup.cfg": strings.Replace(hook, "MASTER", "pylint.MASTER", 1)}
	codeFunction(t, parent, config)
	config["__init__.py"] = ""
	codeFunction(t, filepath.Join(parent, "pkg"), config)
	pkg := map[string]string{"__init__.py": "", "handler.py": sampleCode, ".pylintrc": hook, "pylintrc.py": attack}
	// astroid's brain for gi imports the package to infer what it holds:
	// this attack surely runs, and its forged rating says so.
	gi := map[string]string{"handler.py": "from gi.repository import Gtk\n\n\ndef handler(event, context):\n    return Gtk\n",
		"gi/__init__.py": attack, "gi/repository/__init__.py": attack}

	tests := []struct {
		name string
		fn   platform.Function
		ran  bool // the attack surely runs
	}{
		{"shadowing modules", codeFunction(t, "", shadows), false},
		{"shadowing modules again", codeFunction(t, "", shadows), false},
		{"configuration in parents", codeFunction(t, filepath.Join(parent, "pkg", "code"), pkg), false},
		{"imported by astroid", codeFunction(t, "", gi), true},
		{"imported by astroid again", codeFunction(t, "", gi), true},
	}
	for _, tt := range tests {
		m := c.StaticMetrics(context.Background(), tt.fn)
		t.Logf("%s: %s", tt.name, show(m))
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: the candidate's code ran on the host: %s exists", tt.name, marker)
		}
		// radon never runs the code; pylint may, in a cold container.
		if m.Cyclomatic == nil || m.Halstead == nil || m.Maintainability == nil {
			t.Errorf("%s: radon's metrics missing: %s", tt.name, show(m))
		}
		if m.PylintScore == nil && !strings.Contains(m.Note, "pylint") {
			t.Errorf("%s: no pylint score and no reason: %s", tt.name, show(m))
		}
		if m.PylintScore != nil && *m.PylintScore == 9.99 {
			t.Errorf("%s: an earlier measurement's container was reused", tt.name)
		}
		if tt.ran && !strings.Contains(m.Note, "timed out") && (m.PylintScore == nil || *m.PylintScore != 1.11) {
			t.Errorf("%s: pylint score %s, want the attack's forged 1.11 (the attack did not run)", tt.name, show(m))
		}
	}

	// Code over the size limit is not measured, and the tools still work.
	huge := codeFunction(t, "", map[string]string{"handler.py": sampleCode + strings.Repeat("# padding\n", 500_000)})
	if m := c.StaticMetrics(context.Background(), huge); m.PylintScore != nil || m.Cyclomatic != nil || !strings.Contains(m.Note, "more than") {
		t.Errorf("huge code: %s, want no metrics and a reason", show(m))
	}
	if m := c.StaticMetrics(context.Background(), codeFunction(t, "", map[string]string{"handler.py": sampleCode})); m.PylintScore == nil || m.Note != "" {
		t.Errorf("after huge code: %s", show(m))
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// show formats metrics for messages.
func show(m check.Metrics) string {
	f := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("{cc %s, hal %s, mi %s, pylint %s, note %q}", f(m.Cyclomatic), f(m.Halstead), f(m.Maintainability), f(m.PylintScore), m.Note)
}
