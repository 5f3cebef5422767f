package engine

import (
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/stats"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
)

// EndToEnd is the stage column of a pipeline cell's end-to-end row in
// pipeline_cells.
const EndToEnd = "end_to_end"

// pipelineTables adds the pipelines' tables to t: every journaled stage
// invocation and pipeline run, and per pipeline cell a summary row of
// each stage and one end to end.
func pipelineTables(p *plan.Plan, st *State, runID string, t *rows.Tables) {
	s := p.Study
	for _, pc := range p.Pipelines {
		task := s.Tasks[pc.Task]
		runs := st.PipelineRuns[pc.ID]
		stageMS := make([][]float64, len(pc.Generations))
		stageCost := make([][]float64, len(pc.Generations))
		var e2e, cost []float64
		// The first run whose final object failed the end-to-end check,
		// and whether any passed it.
		var fdRun *rows.Pipeline
		checkedOK := false
		for _, r := range runs {
			for _, row := range r.Stages {
				row.Study, row.RunID = s.Name, runID
				t.Stages = append(t.Stages, row)
				if !row.Warmup && row.Status == string(platform.StatusOK) && int(row.StageIndex) < len(stageMS) {
					stageMS[row.StageIndex] = append(stageMS[row.StageIndex], row.DurationMS)
					if row.CostUSD != nil {
						stageCost[row.StageIndex] = append(stageCost[row.StageIndex], *row.CostUSD)
					}
				}
			}
			row := r.Pipeline
			row.Study, row.RunID = s.Name, runID
			t.Pipelines = append(t.Pipelines, row)
			switch row.EndToEndClass {
			case string(check.ClassFD):
				if fdRun == nil {
					fdRun = &row
				}
			case string(check.ClassOK):
				checkedOK = true
			}
			if !row.Warmup && row.Status == string(platform.StatusOK) && row.EndToEndMS != nil {
				e2e = append(e2e, *row.EndToEndMS)
				if row.CostUSD != nil {
					cost = append(cost, *row.CostUSD)
				}
			}
		}
		base := rows.PipelineCell{Study: s.Name, RunID: runID, CellID: pc.ID, Pipeline: pc.Task, Model: pc.Model,
			Variant: pc.Variant, Platform: pc.Platform, Arch: pc.Arch}
		if w := task.Workload; w != nil {
			base.WorkloadCount, base.WorkloadUnit = w.Count, w.Unit
		}
		// The end-to-end class is the first stage's that is not OK, else
		// the end-to-end check's.
		e2eClass, e2eDetail := "", ""
		for i, gi := range pc.Generations {
			g := p.Generations[gi]
			r := base
			r.Stage, r.StageIndex, r.GenerationID, r.MemoryMB = g.Stage, int32(i), g.ID, int32(pc.StageMemoryMB[i])
			r.StageModel = g.Model
			if chk, ok := st.Checks[g.ID]; ok {
				r.Class = chk.Class
				if chk.Class != string(check.ClassOK) {
					r.Detail = chk.Detail
				}
			} else if _, ok := st.Generations[g.ID]; !ok {
				r.Class = classError
			}
			if r.Class != string(check.ClassOK) && e2eClass == "" {
				e2eClass, e2eDetail = r.Class, "stage "+g.Stage+": "+r.Detail
				if r.Class == "" {
					e2eDetail = "stage " + g.Stage + " not checked yet"
				}
			}
			summarizePipeline(&r, stageMS[i], stageCost[i])
			t.PipelineCells = append(t.PipelineCells, r)
		}
		r := base
		r.Stage, r.StageIndex, r.MemoryMB = EndToEnd, -1, int32(pc.MemoryMB)
		r.Class, r.Detail = e2eClass, e2eDetail
		if e2eClass == "" {
			// FD when any run's final object is; journals of earlier
			// versions hold one check per cell instead.
			switch chk, ok := st.PipelineChecks[pc.ID]; {
			case fdRun != nil:
				r.Class, r.Detail = fdRun.EndToEndClass, "run "+fdRun.Instance+": "+fdRun.EndToEndDetail
			case checkedOK:
				r.Class = string(check.ClassOK)
			case ok:
				r.Class, r.Detail = chk.Class, chk.Detail
			}
		}
		if status, ended := st.PipelineEnded(pc.ID); ended && (r.Class == "" || r.Class == string(check.ClassOK)) {
			r.Class = endClass(status)
			last := runs[len(runs)-1].Pipeline
			r.Detail = "run " + last.Instance + " failed at stage " + last.FailedStage
		}
		summarizePipeline(&r, e2e, cost)
		t.PipelineCells = append(t.PipelineCells, r)
	}
}

// summarizePipeline fills r's statistics of ms and its costs.
func summarizePipeline(r *rows.PipelineCell, ms, cost []float64) {
	var c rows.Cell
	summarize(&c, ms)
	r.N, r.MeanMS, r.SDMS, r.CV, r.MedianMS, r.P95MS = c.N, c.MeanMS, c.SDMS, c.CV, c.MedianMS, c.P95MS
	r.CI95LowMS, r.CI95HighMS = c.CI95LowMS, c.CI95HighMS
	if len(cost) > 0 {
		v := stats.Mean(cost)
		r.CostPerRunUSD = &v
		if r.WorkloadCount > 0 {
			w := v * float64(r.WorkloadCount)
			r.WorkloadUSD = &w
		}
	}
}

// pipelineCounts is the number of pipeline cells in t and of those with
// measured runs.
func pipelineCounts(t *rows.Tables) (pipes, measured int) {
	for _, c := range t.PipelineCells {
		if c.Stage != EndToEnd {
			continue
		}
		pipes++
		if c.N > 0 {
			measured++
		}
	}
	return pipes, measured
}
