package engine

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/pricing"
	"github.com/faaslab/faaslab/schema"
)

// tablesPlan is a study of a reference and a candidate model, one task, one
// cell each at 1024 MB.
func tablesPlan(t *testing.T, mode, cpuFilter string) *plan.Plan {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("prompt"), 0o644)
	s := &schema.Study{
		Name:      "t",
		Models:    map[string]schema.Model{"cand": {Provider: "files"}, "ref": {Provider: "reference"}},
		Tasks:     map[string]schema.Task{"a": {Variants: map[string]schema.Variant{"long": {Prompt: "p.md"}}}},
		Platforms: map[string]schema.Platform{"local": {Kind: "local"}},
		Matrix: schema.Matrix{MemoryMB: []int{1024}, Arch: []string{"x86_64"}, Platforms: []string{"local"},
			Samples: 1, Repetitions: 4, Warmup: 1, Mode: mode, CPUFilter: cpuFilter},
		Source: schema.Source{Dir: dir},
	}
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fromSlices serves invocations from memory as EachInvocation serves them
// from the journal.
func fromSlices(invs map[string][]rows.Invocation) func(func(rows.Invocation) error) error {
	return func(fn func(rows.Invocation) error) error {
		for _, list := range invs {
			for _, inv := range list {
				if err := fn(inv); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// tablesOf builds the tables of st with invs as its journaled invocations.
func tablesOf(t *testing.T, p *plan.Plan, st *State, invs map[string][]rows.Invocation) *rows.Tables {
	t.Helper()
	st.Made, st.LastStatus = map[string]int{}, map[string]string{}
	for cell, list := range invs {
		st.Made[cell] = len(list)
		st.LastStatus[cell] = list[len(list)-1].Status
	}
	tables, err := Tables(p, st, "run", fromSlices(invs))
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

func inv(cell string, seq int, ms float64, cold bool, status, cpu string) rows.Invocation {
	return rows.Invocation{CellID: cell, Seq: int32(seq), Warmup: seq == 0, Cold: cold, Status: status,
		DurationMS: ms, CPUModel: cpu}
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || math.Abs(*got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, deref(got), want)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestTablesCellStatistics(t *testing.T) {
	p := tablesPlan(t, "warm", "")
	cand, ref := p.Cells[0], p.Cells[1] // models in order: cand, ref
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	invs := map[string][]rows.Invocation{}
	for _, g := range p.Generations {
		st.Generations[g.ID] = GenerationRecord{ID: g.ID}
		st.Checks[g.ID] = CheckRecord{ID: g.ID, Class: "OK"}
	}
	invs[ref.ID] = []rows.Invocation{
		inv(ref.ID, 0, 500, true, "ok", ""), // warm-up: left out
		inv(ref.ID, 1, 10, false, "ok", ""), inv(ref.ID, 2, 10, false, "ok", ""),
		inv(ref.ID, 3, 10.5, false, "ok", ""), inv(ref.ID, 4, 9.5, false, "ok", ""),
	}
	invs[cand.ID] = []rows.Invocation{
		inv(cand.ID, 0, 700, true, "ok", ""),
		inv(cand.ID, 1, 300, true, "ok", ""), // a cold start after a redeploy: not a warm sample
		inv(cand.ID, 2, 15, false, "ok", ""), inv(cand.ID, 3, 15, false, "ok", ""), inv(cand.ID, 4, 15, false, "ok", ""),
	}
	tables := tablesOf(t, p, st, invs)
	c, r := tables.Cells[0], tables.Cells[1]
	if c.N != 3 || r.N != 4 {
		t.Fatalf("n = %d and %d, want 3 (cold start left out) and 4", c.N, r.N)
	}
	near(t, "reference mean", r.MeanMS, 10)
	near(t, "candidate reference_mean_ms", c.RefMeanMS, 10)
	near(t, "candidate pct_diff_vs_reference", c.PctDiffVsRef, 50)
	near(t, "reference pct_diff_vs_reference", r.PctDiffVsRef, 0)
	// Each call is billed on its own rounding: 10.5 ms bills 11 ms, 9.5 ms 10.
	want := (2*pricing.LambdaInvocation("x86_64", 1024, 10) + pricing.LambdaInvocation("x86_64", 1024, 11) +
		pricing.LambdaInvocation("x86_64", 1024, 10)) / 4 * 1e6
	near(t, "reference cost_per_1m_usd", r.CostPer1MUSD, want)
}

func TestTablesColdModeKeepsColdCalls(t *testing.T) {
	p := tablesPlan(t, "cold", "")
	cell := p.Cells[0]
	invs := map[string][]rows.Invocation{cell.ID: {
		inv(cell.ID, 0, 100, true, "ok", ""), inv(cell.ID, 1, 90, true, "ok", ""), inv(cell.ID, 2, 110, true, "ok", ""),
	}}
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	c := tablesOf(t, p, st, invs).Cells[0]
	if c.N != 2 {
		t.Errorf("n = %d in cold mode, want 2 (every call but the warm-up)", c.N)
	}
	near(t, "mean", c.MeanMS, 100)
}

func TestTablesCPUFilter(t *testing.T) {
	p := tablesPlan(t, "warm", "8259CL")
	cell := p.Cells[0]
	const want, other = "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", "Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz"
	invs := map[string][]rows.Invocation{cell.ID: {
		inv(cell.ID, 0, 1, false, "ok", want), inv(cell.ID, 1, 10, false, "ok", want),
		inv(cell.ID, 2, 99, false, "ok", other), inv(cell.ID, 3, 20, false, "ok", want),
	}}
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	c := tablesOf(t, p, st, invs).Cells[0]
	if c.N != 2 || c.FilteredOutCPU != 1 {
		t.Errorf("n %d, filtered out %d; want 2 and 1", c.N, c.FilteredOutCPU)
	}
	near(t, "mean", c.MeanMS, 15)
}

func TestTablesFailedLastCallEndsTheCell(t *testing.T) {
	// The failed last call ends the cell.
	p := tablesPlan(t, "warm", "")
	cell := p.Cells[0]
	invs := map[string][]rows.Invocation{cell.ID: {
		inv(cell.ID, 0, 1, true, "ok", ""), inv(cell.ID, 1, 10, false, "ok", ""), inv(cell.ID, 2, 0, false, "crash", ""),
	}}
	st := &State{Checks: map[string]CheckRecord{p.Generations[0].ID: {Class: "OK"}}, Generations: map[string]GenerationRecord{}}
	c := tablesOf(t, p, st, invs).Cells[0]
	if status, ended := st.Ended(cell.ID); !ended || status != "crash" {
		t.Fatalf("Ended = %q, %v; want crash, true", status, ended)
	}
	if c.Class != "CRASH" || c.N != 1 {
		t.Errorf("class %s n %d, want CRASH and 1", c.Class, c.N)
	}
}

func TestTablesFailuresNameTheirError(t *testing.T) {
	p := tablesPlan(t, "warm", "")
	g := p.Generations[0]
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{g.ID: {ID: g.ID}},
		Failures: []FailureRecord{{Unit: StageCheck, ID: g.ID, Attempts: 4, Error: "deploy: no cgroup"}}}
	row := tablesOf(t, p, st, nil).Generations[0]
	if row.Class != "" || row.Error != "deploy: no cgroup" {
		t.Errorf("generation row class %q error %q; want no class and the check's failure", row.Class, row.Error)
	}
}

// TestInvocationRowCPU checks where an invocation's CPU figures land: the
// function's own CPU time in cpu_user_s and cpu_system_s, the host's in
// host_cpu_*, and cpu_share as the function's CPU per handler second.
func TestInvocationRowCPU(t *testing.T) {
	inv := platform.Invocation{
		Status: platform.StatusOK, Duration: 200 * time.Millisecond,
		EnvCPUUser: 0.03, EnvCPUSystem: 0.01, CPUThrottled: 45 * time.Millisecond, CPUThrottledPeriods: 3, CPUQuotaVCPUs: 0.25,
		CPUUser: 0.3, CPUSystem: 0.1, CPUIdle: 0.05, CPUIOWait: 0.02, CPUSteal: 0.01,
	}
	r := invocationRow(plan.Cell{}, plan.Generation{}, 0, false, inv, "")
	got := []float64{r.CPUUserS, r.CPUSystemS, r.CPUThrottledMS, float64(r.CPUThrottledPeriods), r.CPUQuotaVCPUs,
		r.HostCPUUserS, r.HostCPUSystemS, r.HostCPUIdleS, r.HostCPUIOWaitS, r.HostCPUStealS}
	want := []float64{0.03, 0.01, 45, 3, 0.25, 0.3, 0.1, 0.05, 0.02, 0.01}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d = %v, want %v (row %+v)", i, got[i], want[i], r)
		}
	}
	if r.CPUShare == nil || math.Abs(*r.CPUShare-0.2) > 1e-9 {
		t.Errorf("cpu_share %v, want 0.2", r.CPUShare)
	}
	inv.Duration = 0
	if r := invocationRow(plan.Cell{}, plan.Generation{}, 0, false, inv, ""); r.CPUShare != nil {
		t.Errorf("cpu_share %v for a call without duration, want null", *r.CPUShare)
	}
}

// TestTablesCostFromBilledDuration checks cost_per_1m_usd: from Lambda's
// billed duration where the row has it, else the platform's estimate, and
// with a cold start's INIT billed for calls since 2025-08-01.
func TestTablesCostFromBilledDuration(t *testing.T) {
	p := tablesPlan(t, "cold", "")
	cell := p.Cells[0]
	f := func(x float64) *float64 { return &x }
	before, after := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	call := func(seq int, ms float64, at time.Time, billed, est, init *float64) rows.Invocation {
		r := inv(cell.ID, seq, ms, true, "ok", "")
		r.StartedAt, r.BilledMS, r.BilledEstMS, r.InitMS = at, billed, est, init
		return r
	}
	invs := map[string][]rows.Invocation{cell.ID: {
		call(0, 1, after, nil, nil, nil),           // warm-up: not priced
		call(1, 20.2, after, f(21), nil, f(99.5)),  // INIT billed: 20.2 + 99.5 rounds up to 120 ms
		call(2, 20.2, before, f(21), nil, f(99.5)), // INIT not billed yet: 21 ms
		call(3, 20.2, after, nil, f(22), nil),      // the estimate: 22 ms
		call(4, 20.2, after, f(130), nil, f(99.5)), // Lambda's figure holds INIT already
	}}
	st := &State{Checks: map[string]CheckRecord{}, Generations: map[string]GenerationRecord{}}
	c := tablesOf(t, p, st, invs).Cells[0]
	// A million calls like these four at 1 GB on x86: 0.2 $ of requests
	// and (120+21+22+130)/4 ms each.
	want := 0.2 + 1e6*(120+21+22+130)/4/1000*0.0000166667
	near(t, "cost_per_1m_usd", c.CostPer1MUSD, want)
}
