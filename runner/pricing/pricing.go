// Package pricing turns measured or expected durations and token counts into
// US dollars. Cloud prices come from a dated table in CUE (prices.cue,
// embedded): AWS Lambda's duration tiers by architecture, request fee,
// billed INIT, ephemeral storage and free tier, and S3's request and
// storage prices. A study overrides any part of the table with its own
// `prices` field (schema #Prices); New merges the two.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

//go:embed prices.cue
var tableCUE []byte

// Table is a price table in USD. It is a value: methods never modify it,
// and it is safe for concurrent use.
type Table struct {
	// Date is the day the prices were read (YYYY-MM-DD).
	Date   string `json:"date"`
	Region string `json:"region"`
	Lambda Lambda `json:"lambda"`
	S3     S3     `json:"s3"`
}

// Lambda holds AWS Lambda's on-demand prices.
type Lambda struct {
	// GBSecond prices duration per architecture ("x86_64", "arm64"), in
	// tiers of a month's GB-seconds, ascending; the last has no bound.
	GBSecond          map[string][]Tier `json:"gb_second"`
	RequestPerMillion float64           `json:"request_per_million"`
	// EphemeralGBSecond prices ephemeral storage above the free 512 MB.
	EphemeralGBSecond float64 `json:"ephemeral_gb_second"`
	// InitBilledSince is the day (YYYY-MM-DD) from which the INIT phase
	// of on-demand zip functions on managed runtimes is billed.
	InitBilledSince string   `json:"init_billed_since"`
	FreeTier        FreeTier `json:"free_tier"`
}

// Tier is one duration price tier: USD per GB-second for a month's
// GB-seconds up to UpToGBSeconds (0 for the last, unbounded, tier).
type Tier struct {
	UpToGBSeconds float64 `json:"up_to_gb_seconds,omitempty"`
	USD           float64 `json:"usd"`
}

// FreeTier is Lambda's monthly free usage, shared by both architectures.
// Apply is false unless the study says its account uses Lambda for
// nothing else.
type FreeTier struct {
	Apply     bool    `json:"apply"`
	Requests  int64   `json:"requests"`
	GBSeconds float64 `json:"gb_seconds"`
}

// S3 holds S3 Standard's prices, for pipelines.
type S3 struct {
	// PutPer1000 prices PUT, COPY, POST and LIST requests; GetPer1000 GET
	// and SELECT requests.
	PutPer1000     float64 `json:"put_per_1000"`
	GetPer1000     float64 `json:"get_per_1000"`
	StorageGBMonth float64 `json:"storage_gb_month"`
}

// FieldError is a problem with a field of a price table, at Path (as in
// the study: "prices.lambda.gb_second.arm64").
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// defaultJSON is the embedded table as JSON, the base every New merges
// onto.
var defaultJSON = sync.OnceValues(func() (map[string]any, error) {
	v := cuecontext.New().CompileBytes(tableCUE, cue.Filename("runner/pricing/prices.cue")).LookupPath(cue.ParsePath("prices"))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
})

var defaultTable = sync.OnceValues(func() (*Table, error) { return New(nil) })

// Default is faaslab's own table, prices.cue; callers must not modify
// it. It panics if the embedded table is broken, which TestDefault rules
// out.
func Default() *Table {
	t, err := defaultTable()
	if err != nil {
		panic(err)
	}
	return t
}

// New returns the default table with override (the JSON of a study's
// prices field; nil or empty for none) merged over it: objects merge
// field by field, anything else (a number, a list of tiers) replaces the
// table's value. The result is checked: an error is a *FieldError.
func New(override []byte) (*Table, error) {
	base, err := defaultJSON()
	if err != nil {
		return nil, err
	}
	merged := clone(base).(map[string]any)
	if len(override) > 0 {
		var o map[string]any
		if err := json.Unmarshal(override, &o); err != nil {
			return nil, &FieldError{Path: "prices", Msg: err.Error()}
		}
		merge(merged, o)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var t Table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, &FieldError{Path: "prices", Msg: err.Error()}
	}
	return &t, t.check()
}

func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = clone(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = clone(x)
		}
		return l
	}
	return v
}

// merge writes src over dst: objects field by field, other values whole.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = clone(v)
	}
}

// check rejects a table the cost functions cannot use: a missing
// architecture, tiers out of order or bounded at the end, a bad date.
func (t *Table) check() error {
	for _, d := range []struct{ path, v string }{{"prices.date", t.Date}, {"prices.lambda.init_billed_since", t.Lambda.InitBilledSince}} {
		if _, err := time.Parse(time.DateOnly, d.v); err != nil {
			return &FieldError{Path: d.path, Msg: fmt.Sprintf("%q is not a date (YYYY-MM-DD)", d.v)}
		}
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		path := "prices.lambda.gb_second." + arch
		tiers := t.Lambda.GBSecond[arch]
		if len(tiers) == 0 {
			return &FieldError{Path: path, Msg: "no price tiers"}
		}
		prev := 0.0
		for i, tr := range tiers {
			last := i == len(tiers)-1
			switch {
			case last && tr.UpToGBSeconds != 0:
				return &FieldError{Path: fmt.Sprintf("%s[%d].up_to_gb_seconds", path, i), Msg: "the last tier has no bound: remove it"}
			case !last && tr.UpToGBSeconds <= prev:
				return &FieldError{Path: fmt.Sprintf("%s[%d].up_to_gb_seconds", path, i), Msg: "tiers' bounds must rise: every tier but the last needs one above the tier before"}
			}
			prev = tr.UpToGBSeconds
		}
	}
	return nil
}

// FreeEphemeralMB is the ephemeral storage every function has at no charge.
const FreeEphemeralMB = 512

// Call is one function invocation as Lambda bills it.
type Call struct {
	Arch        string
	MemoryMB    int
	EphemeralMB int // 0 or up to 512: nothing billed
	// BilledMS is the Billed Duration Lambda reported; 0 when it reported
	// none, and then EstimateMS (a platform's estimate, such as the local
	// sandbox's), else DurationMS rounded up, is billed.
	BilledMS   float64
	EstimateMS float64
	DurationMS float64
	// InitMS is a cold start's INIT phase, 0 on a warm call.
	InitMS float64
	// At is when the call was made: INIT is billed from
	// Lambda.InitBilledSince on. Zero means now.
	At time.Time
}

// BilledMS is the duration Lambda bills for c, in whole milliseconds, at
// least 1: Lambda's own figure where it reported one, else the estimate
// or the duration rounded up. On or after InitBilledSince a cold call's
// INIT is billed too; where Lambda's figure already holds it (at least
// duration plus INIT) it is not added again.
func (t *Table) BilledMS(c Call) float64 {
	billed := c.BilledMS
	if billed <= 0 {
		billed = c.EstimateMS
	}
	if billed <= 0 {
		billed = c.DurationMS
	}
	billed = math.Ceil(billed)
	if c.InitMS > 0 && t.initBilled(c.At) {
		run := c.DurationMS
		if run <= 0 {
			run = billed
		}
		billed = max(billed, math.Ceil(run+c.InitMS))
	}
	return max(billed, 1)
}

func (t *Table) initBilled(at time.Time) bool {
	since, err := time.Parse(time.DateOnly, t.Lambda.InitBilledSince)
	if err != nil {
		return true
	}
	if at.IsZero() {
		at = time.Now()
	}
	return !at.Before(since)
}

// Usage is Lambda usage to price: requests and GB-seconds by
// architecture. The zero value is empty and ready to use.
type Usage struct {
	Requests           float64
	GBSeconds          map[string]float64
	EphemeralGBSeconds float64
}

// Add adds n calls like c to u.
func (u *Usage) Add(t *Table, c Call, n float64) {
	billedS := t.BilledMS(c) / 1000
	if u.GBSeconds == nil {
		u.GBSeconds = map[string]float64{}
	}
	u.Requests += n
	u.GBSeconds[c.Arch] += n * float64(c.MemoryMB) / 1024 * billedS
	if c.EphemeralMB > FreeEphemeralMB {
		u.EphemeralGBSeconds += n * float64(c.EphemeralMB-FreeEphemeralMB) / 1024 * billedS
	}
}

// Scale returns u times k.
func (u Usage) Scale(k float64) Usage {
	out := Usage{Requests: u.Requests * k, EphemeralGBSeconds: u.EphemeralGBSeconds * k, GBSeconds: map[string]float64{}}
	for a, g := range u.GBSeconds {
		out.GBSeconds[a] = g * k
	}
	return out
}

// LambdaUSD is the price of u as one month's usage: duration through
// each architecture's tiers, less the free tier when it applies (its
// GB-seconds go to x86_64 first, then arm64), plus requests and
// ephemeral storage.
func (t *Table) LambdaUSD(u Usage) float64 {
	l := t.Lambda
	req := u.Requests
	freeGBs := 0.0
	if l.FreeTier.Apply {
		req = max(0, req-float64(l.FreeTier.Requests))
		freeGBs = l.FreeTier.GBSeconds
	}
	usd := req / 1e6 * l.RequestPerMillion
	archs := make([]string, 0, len(u.GBSeconds))
	for a := range u.GBSeconds {
		archs = append(archs, a)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(archs))) // x86_64 before arm64
	for _, a := range archs {
		gbs := u.GBSeconds[a]
		free := min(gbs, freeGBs)
		freeGBs -= free
		// Free GB-seconds come off the first (dearest) tier.
		usd += tiered(l.GBSecond[a], free, gbs)
	}
	return usd + u.EphemeralGBSeconds*l.EphemeralGBSecond
}

// tiered prices the GB-seconds from..to of a month through tiers.
func tiered(tiers []Tier, from, to float64) float64 {
	usd, lo := 0.0, 0.0
	for _, tr := range tiers {
		hi := tr.UpToGBSeconds
		if hi == 0 {
			hi = math.Inf(1)
		}
		if a, b := max(lo, from), min(hi, to); b > a {
			usd += (b - a) * tr.USD
		}
		lo = hi
	}
	return usd
}

// CallUSD is the price of one call like c: the request fee and its
// GB-seconds at the first tier's price, as a small study's calls are
// billed. No free tier.
func (t *Table) CallUSD(c Call) float64 {
	var u Usage
	u.Add(t, c, 1)
	l := t.Lambda
	usd := l.RequestPerMillion / 1e6
	if tiers := l.GBSecond[c.Arch]; len(tiers) > 0 {
		usd += u.GBSeconds[c.Arch] * tiers[0].USD
	}
	return usd + u.EphemeralGBSeconds*l.EphemeralGBSecond
}

// PerMillionUSD is the price of a million calls like c as one month's
// usage: tiers and (when it applies) the free tier included. It is the
// "cost of 1M executions" of the studies faaslab reproduces.
func (t *Table) PerMillionUSD(c Call) float64 {
	var u Usage
	u.Add(t, c, 1e6)
	return t.LambdaUSD(u)
}

// S3USD is the price of S3 requests and storage: puts (PUT, COPY, POST,
// LIST) and gets, and gbMonths of storage.
func (t *Table) S3USD(puts, gets int64, gbMonths float64) float64 {
	return float64(puts)/1000*t.S3.PutPer1000 + float64(gets)/1000*t.S3.GetPer1000 + gbMonths*t.S3.StorageGBMonth
}

// LambdaInvocation is the price of one warm invocation of durationMS at
// memoryMB on arch, by the default table: CallUSD with the duration
// rounded up to the millisecond.
func LambdaInvocation(arch string, memoryMB int, durationMS float64) float64 {
	return Default().CallUSD(Call{Arch: arch, MemoryMB: memoryMB, DurationMS: durationMS})
}

// PerMillion is a million of LambdaInvocation's calls, at the first
// tier's price and without free tier (LambdaInvocation × 1e6).
func PerMillion(arch string, memoryMB int, durationMS float64) float64 {
	return LambdaInvocation(arch, memoryMB, durationMS) * 1e6
}

// Tokens is the price of a generation with the given token counts at prices
// in USD per million tokens.
func Tokens(input, output int64, inputPerMTok, outputPerMTok float64) float64 {
	return float64(input)/1e6*inputPerMTok + float64(output)/1e6*outputPerMTok
}
