package engine

import (
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

func TestTallyInvocations(t *testing.T) {
	// Five cells of 11 planned calls each (1 warm-up + 10).
	p := &plan.Plan{
		Study:       &schema.Study{},
		Generations: []plan.Generation{{ID: "ok"}, {ID: "fd"}, {ID: "unchecked"}},
		Cells: []plan.Cell{
			{ID: "done", Generation: 0, Warmup: 1, Repetitions: 10},   // all made
			{ID: "half", Generation: 0, Warmup: 1, Repetitions: 10},   // 5 made, 6 left
			{ID: "ended", Generation: 0, Warmup: 1, Repetitions: 10},  // ended by its 3rd call
			{ID: "failed", Generation: 1, Warmup: 1, Repetitions: 10}, // code failed its checks
			{ID: "notyet", Generation: 2, Warmup: 1, Repetitions: 10}, // not checked yet
		},
	}
	st := &State{
		Checks:     map[string]CheckRecord{"ok": {Class: "OK"}, "fd": {Class: "FD"}},
		Made:       map[string]int{"done": 11, "half": 5, "ended": 3},
		LastStatus: map[string]string{"done": "ok", "half": "ok", "ended": "timeout"},
	}
	got := TallyInvocations(p, st)
	want := Tally{Planned: 55, Made: 19, NotToBeMade: 8 + 11, Left: 6 + 11}
	if got != want {
		t.Errorf("TallyInvocations = %+v, want %+v", got, want)
	}
	if got.Made+got.NotToBeMade+got.Left != got.Planned {
		t.Errorf("%+v does not add up", got)
	}
	for _, tc := range []struct {
		tally Tally
		want  string
	}{
		{Tally{Planned: 12, Made: 12}, "12 of 12 planned invocations made"},
		{Tally{Planned: 12, Made: 8, NotToBeMade: 4}, "8 of 12 planned invocations made (4 not to be made: only code that passes its checks is measured, and a cell ends at its first failed call)"},
		{Tally{Planned: 12, Made: 8, Left: 4}, "8 of 12 planned invocations made (4 left to make: run the same command again)"},
	} {
		if got := tc.tally.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.tally, got, tc.want)
		}
	}
}

// TestInvocationRowBilled checks that an estimated billed duration (the
// local sandbox's) goes to billed_estimate_ms, and billed_ms stays for
// what Lambda reported.
func TestInvocationRowBilled(t *testing.T) {
	c, g := plan.Cell{ID: "c"}, plan.Generation{ID: "g"}
	for _, tc := range []struct {
		name              string
		inv               platform.Invocation
		billed, estimated bool
	}{
		{"reported", platform.Invocation{Status: platform.StatusOK, BilledDuration: 3 * time.Millisecond}, true, false},
		{"estimated", platform.Invocation{Status: platform.StatusOK, BilledDuration: 3 * time.Millisecond, BilledEstimated: true}, false, true},
		{"none", platform.Invocation{Status: platform.StatusOK}, false, false},
	} {
		r := invocationRow(c, g, 0, false, tc.inv, "")
		if (r.BilledMS != nil) != tc.billed || (r.BilledEstMS != nil) != tc.estimated {
			t.Errorf("%s: billed_ms %v, billed_estimate_ms %v; want set %v, %v", tc.name, r.BilledMS, r.BilledEstMS, tc.billed, tc.estimated)
		}
		if r.BilledMS != nil && *r.BilledMS != 3 || r.BilledEstMS != nil && *r.BilledEstMS != 3 {
			t.Errorf("%s: billed %v / %v, want 3 ms", tc.name, r.BilledMS, r.BilledEstMS)
		}
	}
}
