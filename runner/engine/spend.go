package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/pricing"
	"github.com/faaslab/faaslab/schema"
)

// ErrSpendLimit says generation stopped because its next request could
// have taken the study's model spend past budget.usd. The journal holds
// everything made before; raising the budget and running again resumes.
var ErrSpendLimit = errors.New("spend limit reached")

// SpendLimitError is the error of a generation stage stopped by the spend
// limit: what was spent on model APIs, by the generation records, and the
// budget. It wraps ErrSpendLimit.
type SpendLimitError struct {
	SpentUSD, BudgetUSD float64
}

func (e *SpendLimitError) Error() string {
	return fmt.Sprintf("generation stopped: the next request could pass budget.usd (%s spent of %s); "+
		"raise budget.usd and run the same command again to resume (what was generated is kept)",
		usd(e.SpentUSD), usd(e.BudgetUSD))
}

func (e *SpendLimitError) Unwrap() error { return ErrSpendLimit }

// usd formats dollars with cents, or with four decimals below a dollar,
// where token prices live.
func usd(x float64) string {
	if x >= 1 {
		return fmt.Sprintf("$%.2f", x)
	}
	return fmt.Sprintf("$%.4f", x)
}

// mayRequest decides whether a model API request may be sent: spentUSD is
// what the generations made so far cost plus the worst case of the
// requests under way, worstUSD this request's worst case (its prompt's
// estimated tokens and its whole output allowance, priced), budgetUSD the
// study's budget. A budget of zero or less sets no limit. A cent's
// millionth of slack keeps float rounding from refusing a request that
// fits exactly.
func mayRequest(spentUSD, worstUSD, budgetUSD float64) bool {
	if budgetUSD <= 0 {
		return true
	}
	return spentUSD+worstUSD <= budgetUSD+1e-8
}

// spendLimit tracks a generation stage's model spend against the budget.
// It is safe for concurrent use by the stage's workers.
type spendLimit struct {
	budget float64

	mu       sync.Mutex
	spent    float64 // by the generation records journaled
	reserved float64 // worst cases of the requests under way
	stopped  bool
}

// newSpendLimit starts from the cost of the generations st holds.
func newSpendLimit(p *plan.Plan, st *State) *spendLimit {
	l := &spendLimit{budget: p.Study.Budget.USD}
	for _, g := range p.Generations {
		if rec, ok := st.Generations[g.ID]; ok {
			l.spent += recordCost(p.Study.Models[g.Model], rec)
		}
	}
	return l
}

// recordCost is what a journaled generation cost, as the tables price it.
func recordCost(m schema.Model, rec GenerationRecord) float64 {
	if !m.CallsAPI() || m.Price == nil {
		return 0
	}
	return pricing.Tokens(int64(rec.InputTokens), int64(rec.OutputTokens), m.Price.InputPerMTok, m.Price.OutputPerMTok)
}

// worstCost is the most generation g of model m may cost: its prompt's
// estimated tokens and its whole output allowance.
func worstCost(m schema.Model, g plan.Generation) float64 {
	if !m.CallsAPI() || m.Price == nil {
		return 0
	}
	in := int64((g.PromptBytes + plan.BytesPerToken - 1) / plan.BytesPerToken)
	return pricing.Tokens(in, plan.OutputTokens(m), m.Price.InputPerMTok, m.Price.OutputPerMTok)
}

// reserve books worst for a request about to be sent, or refuses it, and
// every later one, when it could pass the budget.
func (l *spendLimit) reserve(worst float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || !mayRequest(l.spent+l.reserved, worst, l.budget) {
		l.stopped = true
		return &SpendLimitError{SpentUSD: l.spent, BudgetUSD: l.budget}
	}
	l.reserved += worst
	return nil
}

// settle replaces a request's reservation by what it cost: actual is 0
// when it failed (a failed request is not billed, or its cost is unknown).
func (l *spendLimit) settle(worst, actual float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved -= worst
	l.spent += actual
}

// err is the stage's error when the limit stopped it, else nil.
func (l *spendLimit) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		return nil
	}
	return &SpendLimitError{SpentUSD: l.spent, BudgetUSD: l.budget}
}
