package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/schema"
)

func TestLayers(t *testing.T) {
	layer := func(pkgs ...string) schema.Layer {
		return schema.Layer{ARN: "arn:aws:lambda:us-west-2:123456789012:layer:l:1", Packages: pkgs}
	}
	for _, tt := range []struct {
		name     string
		packages []string
		layers   map[string][]schema.Layer
		arch     []string
		want     string // error text, "" for none
	}{
		{"no packages need no layer", nil, nil, []string{"x86_64"}, ""},
		{"boto3 comes with the runtime", []string{"boto3", "botocore"}, nil, []string{"x86_64"}, ""},
		{"a missing layer", []string{"numpy"}, nil, []string{"x86_64"},
			`tasks.a.packages: numpy needed on platform "aws" (kind aws, x86_64): it has no layers for x86_64; add a layer that provides them at platforms.aws.layers.x86_64`},
		{"a layer of the other architecture", []string{"numpy"}, map[string][]schema.Layer{"x86_64": {layer("numpy")}}, []string{"x86_64", "arm64"},
			`tasks.a.packages: numpy needed on platform "aws" (kind aws, arm64): it has no layers for arm64`},
		{"layers that miss one", []string{"numpy", "networkx"}, map[string][]schema.Layer{"x86_64": {layer("numpy"), layer("scipy")}}, []string{"x86_64"},
			`tasks.a.packages: networkx needed on platform "aws" (kind aws, x86_64): its x86_64 layers do not provide them`},
		{"layers that provide all, names as pip compares them", []string{"PIL", "scikit_learn"},
			map[string][]schema.Layer{"arm64": {layer("Pillow"), layer("scikit-learn")}}, []string{"arm64"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := testStudy(t)
			s.Platforms = map[string]schema.Platform{"local": {Kind: "local", Layers: nil}, "aws": {Kind: "aws", Layers: tt.layers}}
			s.Matrix.Platforms = []string{"local", "aws"}
			s.Matrix.Arch = tt.arch
			ta := s.Tasks["a"]
			ta.Packages = tt.packages
			s.Tasks["a"] = ta
			_, err := New(s)
			var es schema.Errors
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
			case !errors.As(err, &es) || len(es) != 1:
				t.Fatalf("error %v, want one schema error", err)
			case !strings.Contains(es[0].Error(), tt.want):
				t.Errorf("error %q, want it to hold %q", es[0].Error(), tt.want)
			}
		})
	}
}

func TestEstimatePrices(t *testing.T) {
	s := testStudy(t)
	s.Platforms = map[string]schema.Platform{"aws": {Kind: "aws", EphemeralMB: ptr(1536)}}
	s.Matrix.Platforms = []string{"aws"}
	s.Matrix.MemoryMB = []int{1024}
	s.Matrix.Arch = []string{"arm64"}
	for _, id := range []string{"a", "b"} {
		tk := s.Tasks[id]
		tk.Benchmark.ExpectedMS = ptr(100.0)
		s.Tasks[id] = tk
	}
	s.Prices = []byte(`{"date": "2026-01-01", "lambda": {"request_per_million": 0.5}}`)
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	e := p.Estimate()
	// 6 cells x 11 calls of 100 ms at 1 GB on arm, 1 GB of ephemeral
	// storage above the free 512 MB, requests at the study's price.
	want := 66 * (0.5/1e6 + 0.1*0.0000133334 + 0.1*0.0000000309)
	if fmt.Sprintf("%.12f", e.LambdaUSD) != fmt.Sprintf("%.12f", want) || e.PricesDate != "2026-01-01" {
		t.Errorf("lambda usd %v of %s, want %v of 2026-01-01", e.LambdaUSD, e.PricesDate, want)
	}

	s.Prices = []byte(`{"lambda": {"gb_second": {"arm64": [{"up_to_gb_seconds": 3, "usd": 0.001}, {"usd": 0.0001}]}}}`)
	if p, err = New(s); err != nil {
		t.Fatal(err)
	}
	// 6.6 GB-s: 3 at the first tier, 3.6 at the second.
	want = 66*(0.2/1e6+0.1*0.0000000309) + 3*0.001 + 3.6*0.0001
	if got := p.Estimate().LambdaUSD; fmt.Sprintf("%.12f", got) != fmt.Sprintf("%.12f", want) {
		t.Errorf("tiered lambda usd %v, want %v", got, want)
	}

	s.Prices = []byte(`{"lambda": {"gb_second": {"arm64": [{"up_to_gb_seconds": 3, "usd": 0.001}]}}}`)
	_, err = New(s)
	var es schema.Errors
	if !errors.As(err, &es) || es[0].Path != "prices.lambda.gb_second.arm64[0].up_to_gb_seconds" {
		t.Errorf("a bounded last tier: error %v", err)
	}
}
