package plan_test

import (
	"path/filepath"
	"testing"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// TestExperiments loads and plans every study in experiments/, so that the
// examples cannot rot.
func TestExperiments(t *testing.T) {
	studies, err := filepath.Glob("../../experiments/*.cue")
	if err != nil || len(studies) == 0 {
		t.Fatalf("no studies in experiments/ (%v)", err)
	}
	for _, path := range studies {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := schema.Load(path, schema.Options{HostArch: platform.HostArch()})
			if err != nil {
				t.Fatal(err)
			}
			p, err := plan.New(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Cells)+len(p.Pipelines) == 0 || p.Invocations() == 0 {
				t.Fatalf("%s plans nothing", path)
			}
			if e := p.Estimate(); e.OverBudget() > 0 {
				t.Errorf("%s is over its budget by $%.2f", path, e.OverBudget())
			}
		})
	}
}
