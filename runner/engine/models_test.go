package engine

import (
	"testing"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/schema"
)

// TestTablesModels: the models table holds every model of the study, in id
// order, with what its study file says about it and nulls where it says
// nothing.
func TestTablesModels(t *testing.T) {
	p := tablesPlan(t, "warm", "")
	p.Study.Models["cand"] = schema.Model{Provider: "openai", Model: "gpt-4o", Vendor: "OpenAI", Class: "large",
		Hosting: "cloud", Style: "traditional", SizeB: 1800, ContextWindow: 128000, ReleaseDate: "2024-05-13",
		Updated: "2025-03", Price: &schema.Price{InputPerMTok: 2.5, OutputPerMTok: 10}}
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	got := tablesOf(t, p, st, map[string][]rows.Invocation{}).Models
	if len(got) != 2 || got[0].Model != "cand" || got[1].Model != "ref" {
		t.Fatalf("models %+v: want cand and ref, in order", got)
	}
	c, r := got[0], got[1]
	if c.Study != "t" || c.RunID != "run" || c.Provider != "openai" || c.ModelName != "gpt-4o" || c.Vendor != "OpenAI" ||
		c.Class != "large" || c.Hosting != "cloud" || c.Style != "traditional" || c.ReleaseDate != "2024-05-13" ||
		c.Updated != "2025-03" || c.Reasoning {
		t.Errorf("cand row %+v", c)
	}
	near(t, "size_b", c.SizeB, 1800)
	near(t, "input price", c.InputUSDMTok, 2.5)
	near(t, "output price", c.OutputUSDMTok, 10)
	if c.ContextWindow == nil || *c.ContextWindow != 128000 {
		t.Errorf("context window %v", c.ContextWindow)
	}
	if r.Provider != "reference" || r.SizeB != nil || r.ContextWindow != nil || r.InputUSDMTok != nil || r.Class != "" {
		t.Errorf("reference row %+v: want nulls and empty strings", r)
	}
}
