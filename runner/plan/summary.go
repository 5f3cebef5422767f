package plan

import (
	"strconv"
)

// SummaryVersion is the version of the Summary JSON shape. Adding a field
// keeps it; renaming or removing one bumps it (docs/plan-json.md).
const SummaryVersion = 1

// Summary is what `faaslab plan --json` prints: a stable, documented shape
// that other tools read.
type Summary struct {
	Version     int    `json:"version"`
	Study       string `json:"study"`
	StudySHA256 string `json:"study_sha256"`
	Counts      Counts `json:"counts"`
	// Dimensions maps a dimension (model, task, variant, sample, platform,
	// arch, memory_mb) to its values' counts, values in plan order.
	Dimensions map[string][]DimensionCount `json:"dimensions"`
	Estimate   Estimate                    `json:"estimate"`
	// Cells lists every cell, only when asked for (it can be long).
	Cells []CellSummary `json:"cells,omitempty"`
	// Pipelines lists every pipeline cell, only when cells are asked for.
	Pipelines []PipelineSummary `json:"pipelines,omitempty"`
}

// PipelineSummary is one pipeline cell as JSON: a cell whose generation is
// each stage's.
type PipelineSummary struct {
	CellSummary
	Stages []StageSummary `json:"stages"`
}

// StageSummary is one stage of a pipeline cell.
type StageSummary struct {
	Stage        string `json:"stage"`
	GenerationID string `json:"generation_id"`
	// Model is the stage's generation's: the pipeline's model, or its
	// mix's model for the stage.
	Model    string `json:"model"`
	MemoryMB int    `json:"memory_mb"`
}

// Counts are the plan's totals.
type Counts struct {
	Generations int `json:"generations"`
	Checks      int `json:"checks"`
	Cells       int `json:"cells"`
	Invocations int `json:"invocations"`
	// Pipelines are the pipeline cells (not in Cells), and
	// StageInvocations their stage functions' calls (in Invocations).
	Pipelines        int `json:"pipelines"`
	StageInvocations int `json:"stage_invocations"`
}

// DimensionCount is how much of the plan one value of a dimension holds.
type DimensionCount struct {
	Value       string `json:"value"`
	Generations int    `json:"generations"`
	Cells       int    `json:"cells"`
	Invocations int    `json:"invocations"`
}

// CellSummary is one cell as JSON.
type CellSummary struct {
	ID           string `json:"id"`
	GenerationID string `json:"generation_id"`
	Model        string `json:"model"`
	Task         string `json:"task"`
	Variant      string `json:"variant"`
	Sample       int    `json:"sample"`
	Platform     string `json:"platform"`
	Arch         string `json:"arch"`
	MemoryMB     int    `json:"memory_mb"`
	Repetitions  int    `json:"repetitions"`
	Warmup       int    `json:"warmup"`
}

// Dimensions is the order in which dimensions are listed.
var Dimensions = []string{"model", "task", "variant", "sample", "platform", "arch", "memory_mb"}

// Summarize counts the plan. withCells adds the cell list.
func (p *Plan) Summarize(withCells bool) Summary {
	s := Summary{
		Version:     SummaryVersion,
		Study:       p.Study.Name,
		StudySHA256: p.Study.Source.SHA256,
		Counts: Counts{
			Generations: len(p.Generations),
			Checks:      p.Checks(),
			Cells:       len(p.Cells),
			Invocations: p.Invocations(),

			Pipelines:        len(p.Pipelines),
			StageInvocations: p.StageInvocations(),
		},
		Dimensions: map[string][]DimensionCount{},
		Estimate:   p.Estimate(),
	}
	type key struct{ dim, value string }
	index := map[key]int{}
	add := func(dim, value string, gens, cells, invs int) {
		i, ok := index[key{dim, value}]
		if !ok {
			i = len(s.Dimensions[dim])
			index[key{dim, value}] = i
			s.Dimensions[dim] = append(s.Dimensions[dim], DimensionCount{Value: value})
		}
		d := &s.Dimensions[dim][i]
		d.Generations += gens
		d.Cells += cells
		d.Invocations += invs
	}
	// Cells are counted per generation first, so the model, task, variant
	// and sample tallies cost one step per generation, not per cell.
	cellsOf := make([]int, len(p.Generations))
	invsOf := make([]int, len(p.Generations))
	for _, c := range p.Cells {
		cellsOf[c.Generation]++
		invsOf[c.Generation] += c.Invocations()
	}
	// A pipeline counts as a cell of its first stage's generation, with
	// all its stages' calls; a mix's, under the mix's name as its model,
	// after the models (it has no generations of its own).
	mixCellsOf := make([]int, len(p.Generations))
	mixInvsOf := make([]int, len(p.Generations))
	type tally struct{ cells, invs int }
	var mixOrder []string
	mixes := map[string]*tally{}
	for _, pc := range p.Pipelines {
		cellsOf[pc.Generation]++
		invsOf[pc.Generation] += pc.StageInvocations()
		if p.Generations[pc.Generation].Model == pc.Model {
			continue
		}
		mixCellsOf[pc.Generation]++
		mixInvsOf[pc.Generation] += pc.StageInvocations()
		t := mixes[pc.Model]
		if t == nil {
			t = &tally{}
			mixes[pc.Model] = t
			mixOrder = append(mixOrder, pc.Model)
		}
		t.cells++
		t.invs += pc.StageInvocations()
	}
	for i, g := range p.Generations {
		sample := strconv.Itoa(g.Sample)
		add("model", g.Model, 1, cellsOf[i]-mixCellsOf[i], invsOf[i]-mixInvsOf[i])
		add("task", g.Task, 1, cellsOf[i], invsOf[i])
		add("variant", g.Variant, 1, cellsOf[i], invsOf[i])
		add("sample", sample, 1, cellsOf[i], invsOf[i])
	}
	for _, mix := range mixOrder {
		add("model", mix, 0, mixes[mix].cells, mixes[mix].invs)
	}
	// Platform, architecture and memory are tallied per combination, one
	// map step per cell, and spread over their dimensions after.
	type where struct {
		platform, arch string
		memoryMB       int
	}
	var order []where
	tallies := map[where]*tally{}
	for _, c := range p.Cells {
		w := where{c.Platform, c.Arch, c.MemoryMB}
		t := tallies[w]
		if t == nil {
			t = &tally{}
			tallies[w] = t
			order = append(order, w)
		}
		t.cells++
		t.invs += c.Invocations()
		if withCells {
			s.Cells = append(s.Cells, CellSummary{
				ID: c.ID, GenerationID: p.Generations[c.Generation].ID,
				Model: c.Model, Task: c.Task, Variant: c.Variant, Sample: c.Sample,
				Platform: c.Platform, Arch: c.Arch, MemoryMB: c.MemoryMB,
				Repetitions: c.Repetitions, Warmup: c.Warmup,
			})
		}
	}
	for _, pc := range p.Pipelines {
		w := where{pc.Platform, pc.Arch, pc.MemoryMB}
		t := tallies[w]
		if t == nil {
			t = &tally{}
			tallies[w] = t
			order = append(order, w)
		}
		t.cells++
		t.invs += pc.StageInvocations()
		if withCells {
			ps := PipelineSummary{CellSummary: CellSummary{
				ID: pc.ID, GenerationID: p.Generations[pc.Generation].ID,
				Model: pc.Model, Task: pc.Task, Variant: pc.Variant, Sample: pc.Sample,
				Platform: pc.Platform, Arch: pc.Arch, MemoryMB: pc.MemoryMB,
				Repetitions: pc.Repetitions, Warmup: pc.Warmup,
			}}
			for i, gi := range pc.Generations {
				g := p.Generations[gi]
				ps.Stages = append(ps.Stages, StageSummary{Stage: g.Stage, GenerationID: g.ID, Model: g.Model, MemoryMB: pc.StageMemoryMB[i]})
			}
			s.Pipelines = append(s.Pipelines, ps)
		}
	}
	for _, w := range order {
		t := tallies[w]
		add("platform", w.platform, 0, t.cells, t.invs)
		add("arch", w.arch, 0, t.cells, t.invs)
		add("memory_mb", strconv.Itoa(w.memoryMB), 0, t.cells, t.invs)
	}
	return s
}
