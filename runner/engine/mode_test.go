package engine

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// coldRecorder is a fakePlatform that records whether each deployed
// function was asked to start cold on every call.
type coldRecorder struct {
	*fakePlatform
	mu   sync.Mutex
	cold []bool
}

func (r *coldRecorder) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	r.mu.Lock()
	r.cold = append(r.cold, fn.Cold)
	r.mu.Unlock()
	return r.fakePlatform.Deploy(ctx, fn)
}

// TestMeasurePlatformModeOverridesMatrix: a platform's mode decides whether
// its functions are deployed cold, whatever matrix.mode says.
func TestMeasurePlatformModeOverridesMatrix(t *testing.T) {
	for _, tc := range []struct{ matrix, platform, want string }{
		{"warm", "cold", "cold"},
		{"cold", "warm", "warm"},
		{"cold", "", "cold"},
		{"", "", "warm"},
	} {
		rec := &coldRecorder{fakePlatform: &fakePlatform{}}
		e, p := measureEngine(t, rec.fakePlatform)
		e.Platforms = func(string) (platform.Platform, error) { return rec, nil }
		p.Study.Matrix.Mode = tc.matrix
		p.Study.Platforms["local"] = schema.Platform{Kind: "local", Mode: tc.platform}
		if err := e.Run(context.Background(), StageMeasure); err != nil {
			t.Fatal(err)
		}
		if len(rec.cold) != len(p.Cells) {
			t.Fatalf("matrix %q platform %q: %d deployments, want %d", tc.matrix, tc.platform, len(rec.cold), len(p.Cells))
		}
		for i, cold := range rec.cold {
			if cold != (tc.want == "cold") {
				t.Errorf("matrix %q platform %q: deployment %d cold = %v, want mode %s", tc.matrix, tc.platform, i, cold, tc.want)
			}
		}
	}
}

// TestTablesColdAndWarmPlatformsInOneRun: cells on a cold platform keep
// their cold calls and say mode "cold"; cells on a warm one leave cold
// starts out and say "warm".
func TestTablesColdAndWarmPlatformsInOneRun(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("prompt"), 0o644)
	s := &schema.Study{
		Name:   "t",
		Models: map[string]schema.Model{"ref": {Provider: "reference"}},
		Tasks:  map[string]schema.Task{"a": {Variants: map[string]schema.Variant{"long": {Prompt: "p.md"}}}},
		Platforms: map[string]schema.Platform{
			"local-cold": {Kind: "local", Mode: "cold"},
			"local-warm": {Kind: "local"},
		},
		Matrix: schema.Matrix{MemoryMB: []int{1024}, Arch: []string{"x86_64"}, Platforms: []string{"local-cold", "local-warm"},
			Samples: 1, Repetitions: 3, Warmup: 1, Mode: "warm"},
		Source: schema.Source{Dir: dir},
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 2 || p.Cells[0].ID == p.Cells[1].ID {
		t.Fatalf("want two cells with their own IDs, got %+v", p.Cells)
	}
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	invs := map[string][]rows.Invocation{}
	for _, c := range p.Cells {
		cold := c.Platform == "local-cold"
		invs[c.ID] = []rows.Invocation{
			inv(c.ID, 0, 900, true, "ok", ""),
			inv(c.ID, 1, 800, cold, "ok", ""), inv(c.ID, 2, 700, true, "ok", ""), inv(c.ID, 3, 600, cold, "ok", ""),
		}
	}
	tables := tablesOf(t, p, st, invs)
	for _, c := range tables.Cells {
		switch c.Platform {
		case "local-cold":
			if c.Mode != "cold" || c.N != 3 {
				t.Errorf("cold platform: mode %q n %d, want cold and 3 (every call but the warm-up)", c.Mode, c.N)
			}
			near(t, "cold mean", c.MeanMS, 700)
		case "local-warm":
			if c.Mode != "warm" || c.N != 2 {
				t.Errorf("warm platform: mode %q n %d, want warm and 2 (the cold start left out)", c.Mode, c.N)
			}
			near(t, "warm mean", c.MeanMS, 700)
		default:
			t.Errorf("unexpected platform %q", c.Platform)
		}
	}
}
