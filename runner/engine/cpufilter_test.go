package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
)

// onCPU is call n of a platform whose environments land on the wanted CPU
// when want(n) says so, and on another otherwise.
func onCPU(want func(n int) bool) func(n int) (platform.Invocation, error) {
	return func(n int) (platform.Invocation, error) {
		inv := ok(n)
		inv.CPUModel = "AMD EPYC 7R13 Processor"
		if want(n) {
			inv.CPUModel = "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"
		}
		return inv, nil
	}
}

// checkFiltered checks a filtered cell's calls: every call journaled in
// order, cpu_match saying whether it ran on the filter's CPU, and the
// cell's statistics from matching calls only.
func checkFiltered(t *testing.T, e *Engine, p *plan.Plan, wantMatched int, wantCalls ...int) {
	t.Helper()
	st := state(t, e)
	tables, err := Tables(p, &st.State, "run", func(fn func(rows.Invocation) error) error {
		for _, c := range p.Cells {
			for _, inv := range st.Invocations[c.ID] {
				if err := fn(inv); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range p.Cells {
		invs := st.Invocations[c.ID]
		matched, other := 0, 0
		for j, inv := range invs {
			if int(inv.Seq) != j || inv.Warmup != (j < c.Warmup) {
				t.Errorf("cell %s call %d: seq %d warmup %v", c.ID, j, inv.Seq, inv.Warmup)
			}
			if inv.CPUMatch != strings.Contains(inv.CPUModel, "8259CL") {
				t.Errorf("cell %s call %d: cpu_match %v on %q", c.ID, j, inv.CPUMatch, inv.CPUModel)
			}
			switch {
			case inv.Warmup:
			case inv.CPUMatch:
				matched++
			default:
				other++
			}
		}
		if matched != wantMatched || len(invs)-c.Warmup != wantCalls[i] {
			t.Errorf("cell %s: %d matching of %d measured calls, want %d of %d", c.ID, matched, len(invs)-c.Warmup, wantMatched, wantCalls[i])
		}
		if st.Matched[c.ID] != matched {
			t.Errorf("cell %s: journal state counts %d matching calls, the file %d", c.ID, st.Matched[c.ID], matched)
		}
		row := tables.Cells[i]
		if int(row.N) != matched || int(row.FilteredOutCPU) != other {
			t.Errorf("cell %s: n %d filtered out %d, want %d and %d", c.ID, row.N, row.FilteredOutCPU, matched, other)
		}
	}
}

func TestCPUFilterInvokesUntilRepetitionsMatch(t *testing.T) {
	// Every third call lands on the wanted CPU.
	pl := &fakePlatform{invoke: onCPU(func(n int) bool { return n%3 == 0 })}
	e, p := measureEngine(t, pl)
	p.Study.Matrix.CPUFilter = "8259CL"
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	// Cell 1: calls 0 (warm-up) .. 15: matches at 3, 6, 9, 12, 15.
	// Cell 2 starts at call 16 (warm-up), matches at 18, ..., 30: 14 calls.
	checkFiltered(t, e, p, 5, 15, 14)
	st := state(t, e)
	if got := TallyInvocations(p, &st.State); got.Made != got.Planned || got.Left != 0 {
		t.Errorf("tally %+v: want every planned call made", got)
	}
}

func TestCPUFilterStopsAtTheCap(t *testing.T) {
	pl := &fakePlatform{invoke: onCPU(func(n int) bool { return n == 4 })} // one match, then none
	e, p := measureEngine(t, pl)
	p.Study.Matrix.CPUFilter = "8259CL"
	p.Study.Matrix.CPUFilterCap = 7
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	st := state(t, e)
	if got := len(st.Invocations[p.Cells[0].ID]); got != 8 {
		t.Fatalf("first cell: %d calls, want 1 warm-up and 7", got)
	}
	tally := TallyInvocations(p, &st.State)
	// Per cell 6 planned: the first made 8 of which 2 stand for planned
	// calls (the warm-up and one match); nothing is left to make.
	if tally.Left != 0 || tally.Planned != 12 {
		t.Errorf("tally %+v: want nothing left", tally)
	}
	// Running again makes no call: the cap ended both cells.
	calls := pl.calls
	if err := e.Run(context.Background(), StageMeasure); err != nil || pl.calls != calls {
		t.Errorf("second run: %v, %d new calls", err, pl.calls-calls)
	}
	// The default cap is 5 × repetitions.
	pl2 := &fakePlatform{invoke: onCPU(func(int) bool { return false })}
	e2, p2 := measureEngine(t, pl2)
	p2.Study.Matrix.CPUFilter = "8259CL"
	if err := e2.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	checkFiltered(t, e2, p2, 0, 25, 25)
}

func TestCPUFilterResumesAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	match := func(n int) bool { return n%2 == 1 }
	pl := &fakePlatform{}
	pl.invoke = func(n int) (platform.Invocation, error) {
		if n == 6 {
			cancel() // Ctrl-C in the middle of the first cell
		}
		return onCPU(match)(n)
	}
	e, p := measureEngine(t, pl)
	p.Study.Matrix.CPUFilter = "8259CL"
	if err := e.Run(ctx, StageMeasure); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st := state(t, e)
	if n, m := st.Made[p.Cells[0].ID], st.Matched[p.Cells[0].ID]; n != 7 || m != 3 {
		t.Fatalf("before the cancel: %d calls, %d matching; want 7 and 3", n, m)
	}
	pl.invoke = onCPU(match)
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		t.Fatal(err)
	}
	// However the resumed calls fall, each cell ends with exactly
	// repetitions matching calls, its last call a match.
	st = state(t, e)
	for _, c := range p.Cells {
		invs := st.Invocations[c.ID]
		if st.Matched[c.ID] != 5 || !invs[len(invs)-1].CPUMatch {
			t.Errorf("cell %s: %d matching calls, last %+v", c.ID, st.Matched[c.ID], invs[len(invs)-1])
		}
	}
	noColdWarmCalls(t, st)
}
