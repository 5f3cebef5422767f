package check

// TestLocalMetricsSamePath shows that the metrics measured in a primed
// spare, with pylint in a forked child, are those of the former path, a
// cold container with pylint in an interpreter of its own, and those that
// path measured on the quickstart before spares existed.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickstartMetrics are the quickstart's hand-written artifacts' metrics
// as the former path measured them (radon 5.1.0, pylint 2.16.2, astroid
// 2.14.2, Debian's Python 3.11).
var quickstartMetrics = map[string]string{
	"primes/long":     `{cc 4.5, hal 3.25, mi 82.0065490315565, pylint 6.11, note ""}`,
	"primes/short":    `{cc 5.5, hal 7.928571428571429, mi 76.1149503752469, pylint 6.5, note ""}`,
	"median/long":     `{cc 3, hal 4.363636363636363, mi 87.33085334010394, pylint 5, note ""}`,
	"median/short":    `{cc 4, hal 2.5454545454545454, mi 86.85716751491115, pylint 6.15, note ""}`,
	"thumbnail/long":  `{cc 2, hal 2.142857142857143, mi 85.01416868786156, pylint 8.42, note ""}`,
	"thumbnail/short": "{cc nil, hal nil, mi nil, pylint nil, note \"radon cc: handler.py: SyntaxError: expected ':' (<unknown>, line 16)\nradon hal: handler.py: SyntaxError: expected ':' (<unknown>, line 16)\nradon mi: handler.py: SyntaxError: expected ':' (<unknown>, line 16)\npylint: no score (exit status 2): handler.py:16:32: E0001: Parsing failed: 'expected ':' (<unknown>, line 16)' (syntax-error)\"}",
}

func TestLocalMetricsSamePath(t *testing.T) {
	c := localChecker(t)
	ctx := context.Background()
	type code struct {
		name string
		fn   string // a directory of code
	}
	var codes []code
	for _, a := range quickstartArtifacts(t, "primes", "median", "thumbnail") {
		codes = append(codes, code{a.name, a.cand.CodeDir})
	}
	// Code with many pylint messages, several files and packages, an
	// empty file, non-ASCII text and a module that fails to import.
	more := map[string]map[string]string{
		"messy": {"handler.py": "import os, sys\nimport json\nfrom lib import *\nx=1\ndef handler(event,context):\n  l = [i for i in range(10)]\n  try:\n    return eval(event['e'])\n  except:\n    pass\n  global x\n  x = x+1\n  return {'é': l, 'x': x}\n",
			"lib/__init__.py": "", "lib/util.py": "def f(a, b, c, d, e, f, g):\n    if a:\n        if b:\n            if c:\n                return d\n    return e or f or g\n\n\nclass K(object):\n    pass\n",
			"empty.py": ""},
		"missing import":  {"handler.py": "import networkx_not_here\nimport numpy as np\n\n\ndef handler(event, context):\n    \"\"\"Return nothing.\"\"\"\n    return np.zeros(networkx_not_here.N)\n"},
		"relative import": {"pkg/__init__.py": "from .mod import VALUE\n", "pkg/mod.py": "VALUE = 'ü' * 3\n", "handler.py": "from pkg import VALUE\n\n\ndef handler(event, context):\n    return VALUE\n"},
	}
	for name, files := range more {
		dir := t.TempDir()
		for rel, text := range files {
			p := filepath.Join(dir, rel)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		codes = append(codes, code{name, dir})
	}
	for _, cd := range codes {
		fn := quickstartArtifacts(t, "primes")[0].cand
		fn.CodeDir = cd.fn
		current := c.StaticMetrics(ctx, fn)
		former := formerStaticMetrics(ctx, c, fn)
		got, want := showMetrics(current), showMetrics(former)
		if strings.Contains(former.Note, "timed out") || strings.Contains(current.Note, "timed out") {
			// pylint ran out of time on a loaded host: that is no difference.
			t.Logf("%s: pylint timed out: the spare measured %s, the former path %s", cd.name, got, want)
			continue
		}
		if got != want {
			t.Errorf("%s: the spare measured\n%s\nthe former path\n%s", cd.name, got, want)
		}
		if golden, ok := quickstartMetrics[cd.name]; ok && got != golden {
			t.Errorf("%s: measured\n%s\nbefore spares\n%s", cd.name, got, golden)
		}
		t.Logf("%s: %s", cd.name, got)
	}
}
