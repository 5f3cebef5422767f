package engine

import (
	"fmt"
	"strings"

	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/plan"
)

// Tally accounts for every planned invocation of a run: made, not to be
// made, or left to make. Planned = Made + NotToBeMade + Left.
type Tally struct {
	Planned int
	// Made were journaled.
	Made int
	// NotToBeMade never will be: the cell's code failed its checks (only
	// correct code is measured), or the cell ended at its first failed
	// call.
	NotToBeMade int
	// Left are still to make: cells not reached yet, or that failed past
	// their retries; running the same command again makes them.
	Left int
}

// TallyInvocations accounts for p's invocations in the journal state st.
func TallyInvocations(p *plan.Plan, st *State) Tally {
	var t Tally
	for _, c := range p.Cells {
		total := c.Invocations()
		made := min(st.Made[c.ID], total)
		t.Planned += total
		t.Made += made
		g := p.Generations[c.Generation]
		chk, checked := st.Checks[g.ID]
		_, ended := st.Ended(c.ID)
		switch {
		case ended, checked && chk.Class != string(check.ClassOK), cellComplete(p.Study, c, st.Made[c.ID], st.Matched[c.ID]):
			// A cell the CPU filter's cap ended may have made fewer.
			t.NotToBeMade += total - made
		default:
			t.Left += total - made
		}
	}
	for _, pc := range p.Pipelines {
		total := pc.StageInvocations()
		made := 0
		for _, r := range st.PipelineRuns[pc.ID] {
			made += len(r.Stages)
		}
		made = min(made, total)
		t.Planned += total
		t.Made += made
		_, ended := st.PipelineEnded(pc.ID)
		failed := false
		for _, gi := range pc.Generations {
			if chk, ok := st.Checks[p.Generations[gi].ID]; ok && chk.Class != string(check.ClassOK) {
				failed = true
			}
		}
		if ended || failed {
			t.NotToBeMade += total - made
		} else {
			t.Left += total - made
		}
	}
	return t
}

// String says how many of the planned invocations were made, and why the
// others were not, in one phrase: "154 of 198 planned invocations made
// (44 not to be made: code that failed its checks, or a cell ended by a
// failed call)".
func (t Tally) String() string {
	s := fmt.Sprintf("%d of %d planned invocations made", t.Made, t.Planned)
	var notes []string
	if t.NotToBeMade > 0 {
		notes = append(notes, fmt.Sprintf("%d not to be made: only code that passes its checks is measured, and a cell ends at its first failed call", t.NotToBeMade))
	}
	if t.Left > 0 {
		notes = append(notes, fmt.Sprintf("%d left to make: run the same command again", t.Left))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}
