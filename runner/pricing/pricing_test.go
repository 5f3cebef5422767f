package pricing

import (
	"errors"
	"math"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/faaslab/faaslab/schema"
)

func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// TestDefault checks the embedded table against the study schema's
// #Prices, so that what a study may override and what the table holds
// cannot drift apart.
func TestDefault(t *testing.T) {
	ctx := cuecontext.New()
	def := ctx.CompileBytes(schema.CUE).LookupPath(cue.ParsePath("#Prices"))
	v := ctx.CompileBytes(tableCUE).LookupPath(cue.ParsePath("prices"))
	if err := def.Unify(v).Validate(cue.Concrete(true)); err != nil {
		t.Fatalf("prices.cue does not fit #Prices: %v", err)
	}
	tb := Default()
	if tb.Date == "" || tb.Lambda.RequestPerMillion != 0.20 || len(tb.Lambda.GBSecond["arm64"]) != 3 {
		t.Errorf("default table: %+v", tb)
	}
}

var (
	afterInit  = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	beforeInit = time.Date(2025, 7, 31, 23, 0, 0, 0, time.UTC)
)

func TestCall(t *testing.T) {
	tb := Default()
	for _, tt := range []struct {
		name       string
		c          Call
		billed, us float64 // billed ms; USD per call, by hand
	}{
		{"x86 1 GB 100 ms", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 100}, 100, 2e-7 + 0.1*0.0000166667},
		{"arm 2 GB 1.2 ms rounds up", Call{Arch: "arm64", MemoryMB: 2048, DurationMS: 1.2}, 2, 2e-7 + 2*0.002*0.0000133334},
		{"under a millisecond bills one", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 0.2}, 1, 2e-7 + 0.001*0.0000166667},
		{"Lambda's billed duration wins", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 56.3, BilledMS: 57}, 57, 2e-7 + 0.057*0.0000166667},
		{"estimate when Lambda reports none", Call{Arch: "x86_64", MemoryMB: 512, DurationMS: 10.2, EstimateMS: 11}, 11, 2e-7 + 0.5*0.011*0.0000166667},
		{"INIT billed since 2025-08-01", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 100.2, BilledMS: 101, InitMS: 250.4, At: afterInit},
			351, 2e-7 + 0.351*0.0000166667},
		{"INIT already in Lambda's figure", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 100.2, BilledMS: 351, InitMS: 250.4, At: afterInit},
			351, 2e-7 + 0.351*0.0000166667},
		{"INIT free before 2025-08-01", Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 100.2, BilledMS: 101, InitMS: 250.4, At: beforeInit},
			101, 2e-7 + 0.101*0.0000166667},
		{"INIT on an estimate", Call{Arch: "arm64", MemoryMB: 1024, DurationMS: 20, EstimateMS: 20, InitMS: 80.5, At: afterInit},
			101, 2e-7 + 0.101*0.0000133334},
		{"ephemeral above 512 MB", Call{Arch: "x86_64", MemoryMB: 1024, EphemeralMB: 2560, DurationMS: 1000}, 1000,
			2e-7 + 0.0000166667 + 2*0.0000000309},
		{"ephemeral at 512 MB is free", Call{Arch: "x86_64", MemoryMB: 1024, EphemeralMB: 512, DurationMS: 1000}, 1000, 2e-7 + 0.0000166667},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tb.BilledMS(tt.c); got != tt.billed {
				t.Errorf("billed %v ms, want %v", got, tt.billed)
			}
			if got := tb.CallUSD(tt.c); !near(got, tt.us) {
				t.Errorf("call $%.12g, want $%.12g", got, tt.us)
			}
		})
	}
}

func TestLambdaUSDTiers(t *testing.T) {
	tb := Default()
	for _, tt := range []struct {
		name string
		u    Usage
		want float64
	}{
		{"x86 within the first tier", Usage{GBSeconds: map[string]float64{"x86_64": 1e6}}, 16.6667},
		{"x86 into the second tier", Usage{GBSeconds: map[string]float64{"x86_64": 10e9}}, 6e9*0.0000166667 + 4e9*0.000015},
		{"x86 into the third tier", Usage{GBSeconds: map[string]float64{"x86_64": 20e9}},
			6e9*0.0000166667 + 9e9*0.000015 + 5e9*0.0000133334},
		{"arm tiers at 7.5 and 18.75 billion", Usage{GBSeconds: map[string]float64{"arm64": 20e9}},
			7.5e9*0.0000133334 + 11.25e9*0.0000120001 + 1.25e9*0.0000106667},
		{"architectures tier apart", Usage{GBSeconds: map[string]float64{"x86_64": 5e9, "arm64": 5e9}},
			5e9*0.0000166667 + 5e9*0.0000133334},
		{"requests", Usage{Requests: 3e6}, 0.6},
		{"ephemeral", Usage{EphemeralGBSeconds: 1e6}, 0.0309},
	} {
		if got := tb.LambdaUSD(tt.u); !near(got, tt.want) {
			t.Errorf("%s: $%.6f, want $%.6f", tt.name, got, tt.want)
		}
	}
}

func TestFreeTier(t *testing.T) {
	tb, err := New([]byte(`{"lambda": {"free_tier": {"apply": true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	// 2M requests, 500k GB-s on x86 and 100k on arm: 1M requests and
	// 400k GB-s (all x86) are free.
	u := Usage{Requests: 2e6, GBSeconds: map[string]float64{"x86_64": 500e3, "arm64": 100e3}}
	want := 1e6*0.2/1e6 + 100e3*0.0000166667 + 100e3*0.0000133334
	if got := tb.LambdaUSD(u); !near(got, want) {
		t.Errorf("free tier: $%.6f, want $%.6f", got, want)
	}
	if got := tb.LambdaUSD(Usage{Requests: 10, GBSeconds: map[string]float64{"arm64": 10}}); got != 0 {
		t.Errorf("usage inside the free tier costs $%v", got)
	}
	if got := Default().LambdaUSD(Usage{Requests: 10}); got == 0 {
		t.Error("the default table applies the free tier")
	}
}

func TestPerMillion(t *testing.T) {
	tb := Default()
	c := Call{Arch: "x86_64", MemoryMB: 1024, DurationMS: 100}
	if got, want := tb.PerMillionUSD(c), 0.2+1e5*0.0000166667; !near(got, want) {
		t.Errorf("per million $%v, want $%v", got, want)
	}
	if got, want := PerMillion("x86_64", 1024, 100), 0.2+1e5*0.0000166667; !near(got, want) {
		t.Errorf("PerMillion $%v, want $%v", got, want)
	}
	if got, want := LambdaInvocation("arm64", 3008, 1000), 2e-7+3008.0/1024*0.0000133334; !near(got, want) {
		t.Errorf("LambdaInvocation $%v, want $%v", got, want)
	}
}

func TestS3(t *testing.T) {
	if got, want := Default().S3USD(2000, 10000, 1.5), 0.01+0.004+1.5*0.023; !near(got, want) {
		t.Errorf("S3 $%v, want $%v", got, want)
	}
}

func TestOverride(t *testing.T) {
	tb, err := New([]byte(`{"date": "2026-01-15", "lambda": {"request_per_million": 0.25, "gb_second": {"arm64": [{"usd": 0.00001}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if tb.Date != "2026-01-15" || tb.Lambda.RequestPerMillion != 0.25 {
		t.Errorf("override not applied: %+v", tb)
	}
	if got := tb.Lambda.GBSecond["arm64"]; len(got) != 1 || got[0].USD != 0.00001 {
		t.Errorf("arm tiers %v, want the study's one tier", got)
	}
	if got := tb.Lambda.GBSecond["x86_64"]; len(got) != 3 {
		t.Errorf("x86 tiers %v, want the table's", got)
	}
	if Default().Lambda.RequestPerMillion != 0.20 || len(Default().Lambda.GBSecond["arm64"]) != 3 {
		t.Error("an override changed the default table")
	}
	for _, tt := range []struct{ override, path string }{
		{`{"lambda": {"gb_second": {"x86_64": [{"up_to_gb_seconds": 5, "usd": 1}]}}}`, "prices.lambda.gb_second.x86_64[0].up_to_gb_seconds"},
		{`{"lambda": {"gb_second": {"x86_64": [{"up_to_gb_seconds": 5, "usd": 1}, {"up_to_gb_seconds": 4, "usd": 1}, {"usd": 1}]}}}`,
			"prices.lambda.gb_second.x86_64[1].up_to_gb_seconds"},
		{`{"lambda": {"gb_second": {"arm64": []}}}`, "prices.lambda.gb_second.arm64"},
		{`{"date": "yesterday"}`, "prices.date"},
	} {
		_, err := New([]byte(tt.override))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != tt.path {
			t.Errorf("override %s: error %v, want one at %s", tt.override, err, tt.path)
		}
	}
}
