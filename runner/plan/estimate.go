package plan

import (
	"fmt"

	"github.com/faaslab/faaslab/runner/pricing"
	"github.com/faaslab/faaslab/schema"
)

// BytesPerToken is the rule of thumb that turns prompt bytes into tokens for
// the estimate (English text and code average about four bytes per token).
const BytesPerToken = 4

// DefaultOutputTokens is the output assumed per generation when a model does
// not set params.max_tokens.
const DefaultOutputTokens = 1024

// Estimate is what a plan is expected to cost before it runs.
type Estimate struct {
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	LLMUSD       float64 `json:"llm_usd"`
	LambdaUSD    float64 `json:"lambda_usd"`
	TotalUSD     float64 `json:"total_usd"`
	BudgetUSD    float64 `json:"budget_usd"`
	// PricesDate is the date of the price table the Lambda cost used.
	PricesDate string `json:"prices_date"`
	// Notes say what the estimate could not price.
	Notes []string `json:"notes"`
}

// OverBudget is how many dollars the estimate exceeds the budget by, or 0.
func (e Estimate) OverBudget() float64 {
	if e.TotalUSD > e.BudgetUSD {
		return e.TotalUSD - e.BudgetUSD
	}
	return 0
}

// OutputTokens is the most output a request to model m may bill: its
// params.max_completion_tokens (a reasoning model's), else its
// params.max_tokens, else DefaultOutputTokens. The estimate and
// the spend limit during generation both assume it.
func OutputTokens(m schema.Model) int64 {
	switch {
	case m.Params.MaxCompletionTokens != nil: // a reasoning model's limit, thinking included
		return int64(*m.Params.MaxCompletionTokens)
	case m.Params.MaxTokens != nil:
		return int64(*m.Params.MaxTokens)
	}
	return DefaultOutputTokens
}

// Estimate prices the plan: model tokens from prompt sizes and the models'
// prices, and AWS Lambda requests and time, by p.Prices, for cells on aws
// platforms whose task gives benchmark.expected_ms, and for pipelines on
// aws platforms their stages' Lambda time and S3 requests. Local cells
// cost nothing.
func (p *Plan) Estimate() Estimate {
	s := p.Study
	e := Estimate{BudgetUSD: s.Budget.USD, Notes: []string{}}
	unpriced := map[string]bool{}
	for _, g := range p.Generations {
		m := s.Models[g.Model]
		if !m.CallsAPI() {
			continue
		}
		in := int64((g.PromptBytes + BytesPerToken - 1) / BytesPerToken)
		out := OutputTokens(m)
		e.InputTokens += in
		e.OutputTokens += out
		if m.Price == nil {
			unpriced[g.Model] = true
			continue
		}
		e.LLMUSD += pricing.Tokens(in, out, m.Price.InputPerMTok, m.Price.OutputPerMTok)
	}
	for _, id := range schema.SortedKeys(unpriced) {
		if s.Models[id].Hosting != "local" {
			e.Notes = append(e.Notes, fmt.Sprintf("model %s has no price: its tokens are not priced", id))
		}
	}
	untimed := map[string]bool{}
	aws := map[string]bool{}
	for name, pl := range s.Platforms {
		aws[name] = pl.Kind == "aws"
	}
	// The cells' calls are priced together as one month's usage, so that
	// a study big enough to reach a cheaper tier is priced by it.
	var usage pricing.Usage
	for _, c := range p.Cells {
		if !aws[c.Platform] {
			continue
		}
		t := s.Tasks[c.Task]
		exp := t.Benchmark.ExpectedMS
		if exp == nil {
			untimed[c.Task] = true
			continue
		}
		usage.Add(p.Prices, pricing.Call{Arch: c.Arch, MemoryMB: c.MemoryMB, DurationMS: *exp,
			EphemeralMB: schema.EphemeralMB(t, s.Platforms[c.Platform])}, float64(c.Invocations()))
	}
	untimedStages := map[string]bool{}
	var s3Puts, s3Gets int64
	for _, pc := range p.Pipelines {
		if !aws[pc.Platform] {
			continue
		}
		t := s.Tasks[pc.Task]
		n := float64(pc.Invocations())
		for i, st := range t.Stages {
			exp := st.ExpectedMS
			if exp == nil {
				exp = t.ExpectedMS
			}
			if exp == nil {
				untimedStages[pc.Task+"."+st.Name] = true
				continue
			}
			usage.Add(p.Prices, pricing.Call{Arch: pc.Arch, MemoryMB: pc.StageMemoryMB[i], DurationMS: *exp}, n)
		}
		// Each stage reads one object and writes one; every run uploads
		// its input.
		s3Puts += int64(pc.Invocations()) * int64(len(t.Stages)+1)
		s3Gets += int64(pc.Invocations()) * int64(len(t.Stages))
	}
	if usage.Requests > 0 {
		e.LambdaUSD = p.Prices.LambdaUSD(usage) + p.Prices.S3USD(s3Puts, s3Gets, 0)
		e.PricesDate = p.Prices.Date
		if s.Matrix.Mode == "cold" {
			e.Notes = append(e.Notes, fmt.Sprintf("cold starts' INIT, billed since %s, is not priced: the estimate knows no init time",
				p.Prices.Lambda.InitBilledSince))
		}
	}
	for _, t := range schema.SortedKeys(untimed) {
		e.Notes = append(e.Notes, fmt.Sprintf("task %s has no benchmark.expected_ms: its Lambda time is not priced", t))
	}
	for _, st := range schema.SortedKeys(untimedStages) {
		e.Notes = append(e.Notes, fmt.Sprintf("stage %s has no expected_ms (nor its pipeline): its Lambda time is not priced", st))
	}
	e.TotalUSD = e.LLMUSD + e.LambdaUSD
	return e
}
