package check_test

// These tests run real Python in the local platform's sandbox. They are
// skipped when the host cannot build one (no bubblewrap or cgroups).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/local"
)

var (
	localOnce sync.Once
	localP    *local.Platform
	localErr  error
)

// localPlatform returns the shared local platform, or skips the test.
func localPlatform(t *testing.T) *local.Platform {
	t.Helper()
	localOnce.Do(func() { localP, localErr = local.New(local.Options{}) })
	if localErr != nil {
		t.Skipf("local platform unavailable: %v", localErr)
	}
	return localP
}

// pyFunction writes one handler module and returns its Function.
func pyFunction(t *testing.T, code string) platform.Function {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return platform.Function{CodeDir: dir, Handler: "handler.handler", Runtime: "python3.12", MemoryMB: 256, Timeout: 3 * time.Second}
}

const statsReference = `
def handler(event, context):
    xs = event["values"]
    return {"size": len(xs), "total": sum(xs), "sorted": sorted(xs)}
`

func TestLocalClasses(t *testing.T) {
	p := localPlatform(t)
	c := &check.Checker{Platform: p, CacheDir: t.TempDir()}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	ref := pyFunction(t, statsReference)
	tests := []check.Test{
		{Name: "small", Event: json.RawMessage(`{"values": [3, 1, 2]}`)},
		{Name: "empty", Event: json.RawMessage(`{"values": []}`)},
	}
	cases := []struct {
		name   string
		code   string
		class  check.Class
		detail string
	}{
		{"ok", `
import functools

def handler(event, context):
    values = list(event["values"])
    values.sort()
    return {"sorted": values, "total": functools.reduce(lambda a, b: a + b, values, 0) * 1.0, "size": len(values)}
`, check.ClassOK, ""},
		{"syntax error", "def handler(event, context)\n    return {}\n", check.ClassSE, "handler.py:1:"},
		{"python 2", "def handler(event, context):\n    print 'hi'\n", check.ClassSE, "SyntaxError"},
		{"missing import", "import networkx_not_here\n\ndef handler(event, context):\n    return {}\n", check.ClassInit, "No module named 'networkx_not_here'"},
		{"raises at import", "raise RuntimeError('boom')\n\ndef handler(event, context):\n    return {}\n", check.ClassInit, "boom"},
		{"no handler", "def main(event, context):\n    return {}\n", check.ClassInit, ""},
		{"wrong", `
def handler(event, context):
    xs = event["values"]
    return {"size": len(xs), "total": sum(xs), "sorted": xs}
`, check.ClassFD, `$.sorted[0]: got 3, want 1`},
		{"raises", `
def handler(event, context):
    xs = event["values"]
    mean = sum(xs) / len(xs)
    return {"size": len(xs), "total": mean * len(xs), "sorted": sorted(xs)}
`, check.ClassFD, `test "empty": raised: ZeroDivisionError: division by zero`},
		{"not serialisable", `
def handler(event, context):
    return {"sorted": set(event["values"])}
`, check.ClassFD, "raised"},
		{"loops", "def handler(event, context):\n    while True:\n        pass\n", check.ClassTimeout, "timed out"},
		{"exits", "import os\n\ndef handler(event, context):\n    os._exit(3)\n", check.ClassCrash, "crashed"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cand := pyFunction(t, tt.code)
			if tt.class == check.ClassTimeout {
				cand.Timeout = time.Second
			}
			rep, err := c.Check(context.Background(), cand, ref, tests)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rep.Class != tt.class || !strings.Contains(rep.Detail, tt.detail) {
				t.Errorf("Check = %s %q, want %s with %q\n%+v", rep.Class, rep.Detail, tt.class, tt.detail, rep.Tests)
			}
		})
	}
}

func TestLocalComparators(t *testing.T) {
	p := localPlatform(t)
	c := &check.Checker{Platform: p}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	event := json.RawMessage(`{"words": ["pear", "apple", "fig", "apple"], "n": 10}`)
	cases := []struct {
		name      string
		cmp       check.Compare
		ref, cand string // handler bodies, indented by four spaces
		class     check.Class
		path      string
	}{
		{"json int equals float", check.Compare{Rule: check.RuleJSON},
			`return {"n": event["n"]}`, `return {"n": float(event["n"])}`, check.ClassOK, ""},
		{"json key missing", check.Compare{Rule: check.RuleJSON},
			`return {"n": event["n"], "size": 4}`, `return {"n": event["n"]}`, check.ClassFD, "$.size"},
		{"float within tolerance", check.Compare{Rule: check.RuleFloat, RelTolerance: 1e-12},
			`return {"x": sum(0.1 for _ in range(event["n"]))}`, `return {"x": 0.1 * event["n"]}`, check.ClassOK, ""},
		{"float exact differs", check.Compare{Rule: check.RuleJSON},
			`return {"x": sum(0.1 for _ in range(event["n"]))}`, `return {"x": 0.1 * event["n"]}`, check.ClassFD, "$.x"},
		// The runtime, like Lambda's, refuses to serialise NaN: an error.
		{"float NaN", check.Compare{Rule: check.RuleFloat},
			`return [0.0]`, `return [float("inf") - float("inf")]`, check.ClassFD, ""},
		{"float over tolerance", check.Compare{Rule: check.RuleFloat, Tolerance: 1e-3},
			`return {"r": [1.0, 2.0]}`, `return {"r": [1.0, 2.01]}`, check.ClassFD, "$.r[1]"},
		{"unordered", check.Compare{Rule: check.RuleUnordered},
			`return {"groups": [sorted(set(event["words"]))]}`, `return {"groups": [list(reversed(sorted(set(event["words"]))))]}`, check.ClassOK, ""},
		{"unordered duplicates count", check.Compare{Rule: check.RuleUnordered},
			`return event["words"]`, `return list(set(event["words"]))`, check.ClassFD, "$"},
		{"text", check.Compare{Rule: check.RuleText, FoldCase: true},
			`return "\n".join(event["words"])`, `return "  " + " \r\n".join(w.upper() for w in event["words"]) + "\n"`, check.ClassOK, ""},
		{"text differs", check.Compare{Rule: check.RuleText},
			`return " ".join(event["words"])`, `return ",".join(event["words"])`, check.ClassFD, "$"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := pyFunction(t, "def handler(event, context):\n    "+tt.ref+"\n")
			cand := pyFunction(t, "def handler(event, context):\n    "+tt.cand+"\n")
			rep, err := c.Check(context.Background(), cand, ref, []check.Test{{Name: "t", Event: event, Compare: tt.cmp}})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rep.Class != tt.class || rep.Tests[0].Path != tt.path {
				t.Errorf("Check = %s at %q (%s), want %s at %q", rep.Class, rep.Tests[0].Path, rep.Detail, tt.class, tt.path)
			}
		})
	}
}

// thumbnailer makes a 64×48 thumbnail of a generated picture, with the
// given resampling filter and size, and returns it as base64 PNG.
func thumbnailer(resample string, size string) string {
	return `
import base64, io
from PIL import Image, ImageDraw

def handler(event, context):
    image = Image.new("RGB", (256, 192), (30, 60, 90))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 16):
        draw.line([(i, 0), (255 - i, 191)], fill=(i, 255 - i, 128), width=3)
    image = image.resize(` + size + `, Image.Resampling.` + resample + `)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return {"thumbnail": base64.b64encode(out.getvalue()).decode(), "format": "png"}
`
}

func TestLocalImages(t *testing.T) {
	p := localPlatform(t)
	c := &check.Checker{Platform: p}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	ref := pyFunction(t, thumbnailer("LANCZOS", "(64, 48)"))
	cases := []struct {
		name  string
		code  string
		cmp   check.Compare
		class check.Class
	}{
		{"same", thumbnailer("LANCZOS", "(64, 48)"), check.Compare{}, check.ClassOK},
		{"other filter within PSNR", thumbnailer("BICUBIC", "(64, 48)"), check.Compare{Threshold: 20}, check.ClassOK},
		{"other filter over MAD", thumbnailer("NEAREST", "(64, 48)"), check.Compare{Metric: check.MetricMAD, Threshold: 0.5}, check.ClassFD},
		{"wrong size", thumbnailer("LANCZOS", "(48, 64)"), check.Compare{}, check.ClassFD},
		{"not an image", "def handler(event, context):\n    return {\"thumbnail\": \"aGVsbG8=\"}\n", check.Compare{}, check.ClassFD},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tt.cmp.Rule, tt.cmp.Field = check.RuleImage, "$.thumbnail"
			rep, err := c.Check(context.Background(), pyFunction(t, tt.code), ref, []check.Test{{Name: "t", Event: json.RawMessage(`{}`), Compare: tt.cmp}})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rep.Class != tt.class {
				t.Errorf("Check = %s (%s), want %s", rep.Class, rep.Detail, tt.class)
			}
			t.Logf("%s: %s", rep.Class, rep.Detail)
		})
	}
}

func TestLocalReferenceCache(t *testing.T) {
	p := localPlatform(t)
	dir := t.TempDir()
	ref := pyFunction(t, statsReference)
	tests := []check.Test{{Name: "small", Event: json.RawMessage(`{"values": [3, 1, 2]}`)}}
	c := &check.Checker{Platform: p, CacheDir: dir}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if rep, err := c.Check(context.Background(), pyFunction(t, statsReference), ref, tests); err != nil || rep.Class != check.ClassOK {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "reference", "*", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	if data, _ := os.ReadFile(entries[0]); !strings.Contains(string(data), `"sorted": [1, 2, 3]`) && !strings.Contains(string(data), `"sorted":[1,2,3]`) {
		t.Errorf("cache entry %s", data)
	}

	// A failing reference is an error, not a class.
	bad := pyFunction(t, "def handler(event, context):\n    return event['missing']\n")
	if _, err := c.Check(context.Background(), pyFunction(t, statsReference), bad, tests); err == nil || !strings.Contains(err.Error(), "KeyError") {
		t.Errorf("failing reference: err = %v", err)
	}
}
