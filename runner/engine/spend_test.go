package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

func TestMayRequest(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		spent, worst, budget float64
		want                 bool
	}{
		{"nothing spent, fits", 0, 1, 5, true},
		{"fits exactly", 4, 1, 5, true},
		{"fits exactly after float rounding", 0.1 + 0.2, 0.7, 1, true},
		{"would pass by a cent", 4.01, 1, 5, false},
		{"spent already past", 6, 0.001, 5, false},
		{"free request past the budget still fits nothing", 5.5, 0, 5, false},
		{"free request at the budget", 5, 0, 5, true},
		{"no budget: no limit", 1e9, 1e9, 0, true},
		{"negative budget: no limit", 1, 1, -1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayRequest(tt.spent, tt.worst, tt.budget); got != tt.want {
				t.Errorf("mayRequest(%v, %v, %v) = %v, want %v", tt.spent, tt.worst, tt.budget, got, tt.want)
			}
		})
	}
}

func TestSpendLimitCountsRequestsUnderWay(t *testing.T) {
	l := &spendLimit{budget: 10}
	if err := l.reserve(4); err != nil {
		t.Fatal(err)
	}
	if err := l.reserve(4); err != nil {
		t.Fatal(err)
	}
	// 8 booked by two requests under way: a third could pass 10.
	if err := l.reserve(4); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("third reservation: %v, want ErrSpendLimit", err)
	}
	// Once stopped, the stage sends nothing more, even what would fit.
	l.settle(4, 1)
	l.settle(4, 1)
	if err := l.reserve(1); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("after the stop: %v, want ErrSpendLimit", err)
	}
	var se *SpendLimitError
	if err := l.err(); !errors.As(err, &se) || se.SpentUSD != 2 || se.BudgetUSD != 10 {
		t.Fatalf("stage error %v, want $2 spent of $10", err)
	}
}

func TestWorstCost(t *testing.T) {
	max := 100
	priced := schema.Model{Provider: "openai", Price: &schema.Price{InputPerMTok: 1e6, OutputPerMTok: 2e6}, Params: schema.Params{MaxTokens: &max}}
	g := plan.Generation{PromptBytes: 9} // 3 tokens, rounded up
	if got := worstCost(priced, g); got != 3+200 {
		t.Errorf("worst cost %v, want 3 input and 100 output tokens priced: 203", got)
	}
	noMax := priced
	noMax.Params = schema.Params{}
	if got := worstCost(noMax, g); got != 3+2*plan.DefaultOutputTokens {
		t.Errorf("worst cost without max_tokens %v, want the default output allowance", got)
	}
	for _, m := range []schema.Model{{Provider: "openai"}, {Provider: "files", Price: priced.Price}} {
		if got := worstCost(m, g); got != 0 {
			t.Errorf("worst cost of %+v = %v, want 0 (unpriced or no API)", m, got)
		}
	}
}

// spendEngine is an engine over four generations of one API model priced
// at a dollar per token, whose fake answers bill 10 input and 20 output
// tokens ($30) while each request's worst case is $22 (2 prompt tokens and
// max_tokens 20): the estimate says four fit in $100, the answers do not.
func spendEngine(t *testing.T, g *fakeGenerator, budget float64) *Engine {
	t.Helper()
	e := generateEngine(t, g, llm.Store{Dir: t.TempDir()})
	s := e.Plan.Study
	m := s.Models["m"]
	max := 20
	m.Price = &schema.Price{InputPerMTok: 1e6, OutputPerMTok: 1e6}
	m.Params.MaxTokens = &max
	s.Models["m"] = m
	s.Matrix.Samples = 4
	s.Budget.USD = budget
	p, err := plan.New(s)
	if err != nil {
		t.Fatal(err)
	}
	e.Plan = p
	return e
}

func TestGenerationStopsBeforePassingTheBudget(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 100)
	if est := e.Plan.Estimate(); est.OverBudget() > 0 {
		t.Fatalf("estimate $%v over a budget of $100: the test needs one within it", est.TotalUSD)
	}
	err := e.Run(context.Background(), StageGenerate, StageCheck)
	var se *SpendLimitError
	if !errors.As(err, &se) || !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("err = %v, want a SpendLimitError", err)
	}
	// $0 + 22, $30 + 22, $60 + 22 fit in $100; $90 + 22 does not.
	if g.calls != 3 || se.SpentUSD != 90 {
		t.Errorf("%d requests sent, $%v spent; want 3 and $90", g.calls, se.SpentUSD)
	}
	msg := err.Error()
	for _, want := range []string{"generation stopped: the next request could pass budget.usd ($90.00 spent of $100.00)", "raise budget.usd", "run the same command again to resume"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	st := state(t, e)
	if len(st.Generations) != 3 || len(st.Failures) != 0 || len(st.Checks) != 0 {
		t.Errorf("journal: %d generations, %d failures, %d checks; want 3, 0 and no check (the run stops)",
			len(st.Generations), len(st.Failures), len(st.Checks))
	}

	// Resumed with a larger budget: only the missing generation is made,
	// and the spend of the first session counts.
	e.Plan.Study.Budget.USD = 120
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	if g.calls != 4 || len(state(t, e).Generations) != 4 {
		t.Errorf("after resuming: %d requests, %d generations; want 4 and 4", g.calls, len(state(t, e).Generations))
	}
}

func TestSpendCountsEarlierSessions(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 100)
	e.Plan.Study.Budget.USD = 40 // one request
	if err := e.Run(context.Background(), StageGenerate); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("err = %v, want ErrSpendLimit", err)
	}
	// Nothing changed: the $30 journaled leaves no room for the next $22.
	if err := e.Run(context.Background(), StageGenerate); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("second session: err = %v, want ErrSpendLimit", err)
	}
	if g.calls != 1 {
		t.Errorf("%d requests sent, want 1", g.calls)
	}
}

func TestCachedAnswersAreNotLimited(t *testing.T) {
	g := &fakeGenerator{gen: func(n int) (llm.Result, error) { return code(n), nil }}
	e := spendEngine(t, g, 1000)
	if err := e.Run(context.Background(), StageGenerate); err != nil {
		t.Fatal(err)
	}
	// A new run of the same study (a new journal) over the same store
	// sends no request: the cache holds every answer, and costs nothing.
	e2 := spendEngine(t, g, 1)
	e2.Store = e.Store
	if err := e2.Run(context.Background(), StageGenerate); err != nil {
		t.Fatalf("cached generations stopped by the budget: %v", err)
	}
	if g.calls != 4 {
		t.Errorf("%d requests, want 4 (the second run's all cached)", g.calls)
	}
}
