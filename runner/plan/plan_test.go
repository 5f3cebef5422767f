package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/schema"
)

func ptr[T any](v T) *T { return &v }

// testStudy builds a study in memory with prompt files in a temp dir:
// models m1, m2; tasks a (variants long, short) and b (long); one platform.
func testStudy(t testing.TB) *schema.Study {
	dir := t.TempDir()
	for _, f := range []string{"a_long.md", "a_short.md", "b_long.md"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("prompt "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &schema.Study{
		Name:   "t",
		Models: map[string]schema.Model{"m1": {Provider: "files"}, "m2": {Provider: "openai", Model: "gpt-4o", Price: &schema.Price{InputPerMTok: 2.5, OutputPerMTok: 10}}},
		Tasks: map[string]schema.Task{
			"a": {Variants: map[string]schema.Variant{"long": {Prompt: "a_long.md"}, "short": {Prompt: "a_short.md"}}, Tests: []schema.Test{{Name: "x"}, {Name: "y"}}},
			"b": {Variants: map[string]schema.Variant{"long": {Prompt: "b_long.md"}}, Tests: []schema.Test{{Name: "x"}}},
		},
		Platforms: map[string]schema.Platform{"local": {Kind: "local"}, "aws": {Kind: "aws"}},
		Matrix: schema.Matrix{MemoryMB: []int{512, 1024}, Arch: []string{"x86_64"}, Platforms: []string{"local"},
			Samples: 1, Repetitions: 10, Warmup: 1},
		Budget: schema.Budget{USD: 10},
		Source: schema.Source{Dir: dir},
	}
}

func cellNames(p *Plan) []string {
	var out []string
	for _, c := range p.Cells {
		out = append(out, fmt.Sprintf("%s/%s/%s/%d/%s/%s/%d:%d+%d", c.Model, c.Task, c.Variant, c.Sample, c.Platform, c.Arch, c.MemoryMB, c.Warmup, c.Repetitions))
	}
	return out
}

var expandTests = []struct {
	name   string
	modify func(*schema.Matrix)
	want   []string
}{
	{"full product in plan order", func(m *schema.Matrix) { m.MemoryMB = []int{512} }, []string{
		"m1/a/long/0/local/x86_64/512:1+10", "m1/a/short/0/local/x86_64/512:1+10", "m1/b/long/0/local/x86_64/512:1+10",
		"m2/a/long/0/local/x86_64/512:1+10", "m2/a/short/0/local/x86_64/512:1+10", "m2/b/long/0/local/x86_64/512:1+10",
	}},
	{"exclude matches on the keys it names", func(m *schema.Matrix) {
		m.Exclude = []schema.Pattern{{Variant: ptr("short")}, {Model: ptr("m2"), MemoryMB: ptr(1024)}, {Task: ptr("b")}}
	}, []string{"m1/a/long/0/local/x86_64/512:1+10", "m1/a/long/0/local/x86_64/1024:1+10", "m2/a/long/0/local/x86_64/512:1+10"}},
	{"include merges overrides into matching cells", func(m *schema.Matrix) {
		m.MemoryMB = []int{512}
		m.Exclude = []schema.Pattern{{Task: ptr("a")}}
		m.Include = []schema.Pattern{{Model: ptr("m2"), Repetitions: ptr(100), Warmup: ptr(0)}}
	}, []string{"m1/b/long/0/local/x86_64/512:1+10", "m2/b/long/0/local/x86_64/512:0+100"}},
	{"include that matches nothing adds cells over the dimensions it leaves out", func(m *schema.Matrix) {
		m.MemoryMB = []int{512}
		m.Exclude = []schema.Pattern{{Task: ptr("a")}}
		m.Include = []schema.Pattern{{Model: ptr("m1"), MemoryMB: ptr(10240)}}
	}, []string{"m1/b/long/0/local/x86_64/512:1+10", "m2/b/long/0/local/x86_64/512:1+10",
		"m1/a/long/0/local/x86_64/10240:1+10", "m1/a/short/0/local/x86_64/10240:1+10", "m1/b/long/0/local/x86_64/10240:1+10"}},
	{"include of an excluded combination adds it back once", func(m *schema.Matrix) {
		m.MemoryMB = []int{512}
		m.Exclude = []schema.Pattern{{Model: ptr("m2")}, {Task: ptr("a")}}
		m.Include = []schema.Pattern{{Model: ptr("m2"), Task: ptr("a"), Variant: ptr("short")}, {Model: ptr("m2"), Task: ptr("a"), Variant: ptr("short")}}
	}, []string{"m1/b/long/0/local/x86_64/512:1+10", "m2/a/short/0/local/x86_64/512:1+10"}},
	{"include may name a platform the matrix leaves out", func(m *schema.Matrix) {
		m.MemoryMB = []int{512}
		m.Exclude = []schema.Pattern{{Task: ptr("a")}, {Model: ptr("m2")}}
		m.Include = []schema.Pattern{{Model: ptr("m1"), Task: ptr("b"), Platform: ptr("aws"), MemoryMB: ptr(1024)}}
	}, []string{"m1/b/long/0/local/x86_64/512:1+10", "m1/b/long/0/aws/x86_64/1024:1+10"}},
	{"samples multiply generations", func(m *schema.Matrix) {
		m.MemoryMB = []int{512}
		m.Samples = 2
		m.Exclude = []schema.Pattern{{Model: ptr("m2")}, {Task: ptr("a")}}
	}, []string{"m1/b/long/0/local/x86_64/512:1+10", "m1/b/long/1/local/x86_64/512:1+10"}},
}

func TestExpand(t *testing.T) {
	for _, tt := range expandTests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStudy(t)
			tt.modify(&s.Matrix)
			p, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := cellNames(p); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("cells:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			ids := map[string]bool{}
			for _, c := range p.Cells {
				if ids[c.ID] {
					t.Errorf("duplicate cell ID %s", c.ID)
				}
				ids[c.ID] = true
				g := p.Generations[c.Generation]
				if g.Model != c.Model || g.Task != c.Task || g.Variant != c.Variant || g.Sample != c.Sample {
					t.Errorf("cell %v points at generation %v", c, g)
				}
			}
		})
	}
}

func TestCounts(t *testing.T) {
	p, err := New(testStudy(t))
	if err != nil {
		t.Fatal(err)
	}
	// 2 models x (a: 2 variants, b: 1) = 6 generations; checks: 2 models x (2x2 + 1) = 10.
	if len(p.Generations) != 6 || p.Checks() != 10 || len(p.Cells) != 12 || p.Invocations() != 132 {
		t.Errorf("generations %d checks %d cells %d invocations %d", len(p.Generations), p.Checks(), len(p.Cells), p.Invocations())
	}
	e := p.Estimate()
	// Only m2 calls an API: prompts of 15, 17 and 15 bytes are 4+5+4 tokens;
	// 1024 output tokens each.
	if e.OutputTokens != 3*DefaultOutputTokens || e.InputTokens != 13 {
		t.Errorf("tokens in %d out %d", e.InputTokens, e.OutputTokens)
	}
	if want := (13*2.5 + 3*1024*10) / 1e6; fmt.Sprintf("%.9f", e.LLMUSD) != fmt.Sprintf("%.9f", want) {
		t.Errorf("llm usd %v, want %v", e.LLMUSD, want)
	}
}

// TestIDsStable pins IDs: they are the keys of every journal and table, so
// an accidental change to their inputs must fail here (then bump IDVersion).
func TestIDsStable(t *testing.T) {
	s := testStudy(t)
	p1, _ := New(s)
	s.Matrix.Repetitions = 99 // not part of an ID
	p2, _ := New(s)
	if p1.Cells[0].ID != p2.Cells[0].ID {
		t.Fatal("repetitions changed a cell ID")
	}
	if got, want := p1.Cells[0].ID, "c344b6c6225e496a13b9"; got != want {
		t.Fatalf("cell ID %s, pinned %s: IDs changed; bump IDVersion and update the pin", got, want)
	}
	if err := os.WriteFile(s.Path("a_long.md"), []byte("another prompt"), 0o644); err != nil {
		t.Fatal(err)
	}
	p3, _ := New(s)
	if p1.Cells[0].ID == p3.Cells[0].ID || p1.Generations[0].ID == p3.Generations[0].ID {
		t.Fatal("a new prompt text kept the old IDs")
	}
	m := s.Models["m1"]
	m.Model = "v2"
	s.Models["m1"] = m
	p4, _ := New(s)
	if p3.Cells[0].ID == p4.Cells[0].ID {
		t.Fatal("a new model name kept the old cell ID")
	}
	m.Params.ReasoningEffort = "high"
	s.Models["m1"] = m
	p5, _ := New(s)
	if p4.Generations[0].ID == p5.Generations[0].ID {
		t.Fatal("a new reasoning effort kept the old generation ID")
	}
	limit := 8192
	m.Params.MaxCompletionTokens = &limit
	s.Models["m1"] = m
	p6, _ := New(s)
	if p5.Generations[0].ID == p6.Generations[0].ID {
		t.Fatal("a new max_completion_tokens kept the old generation ID")
	}
	// m1 reads files; m2 calls an API, whose estimate takes the limit.
	api := s.Models["m2"]
	before := p6.Estimate().OutputTokens
	api.Params.MaxCompletionTokens = &limit
	s.Models["m2"] = api
	p7, _ := New(s)
	n := int64(0)
	for _, g := range p7.Generations {
		if g.Model == "m2" {
			n++
		}
	}
	if d, want := p7.Estimate().OutputTokens-before, n*int64(limit-DefaultOutputTokens); d != want {
		t.Errorf("max_completion_tokens %d raised the estimated output tokens by %d, want %d", limit, d, want)
	}
}

func TestLambdaEstimate(t *testing.T) {
	s := testStudy(t)
	s.Platforms = map[string]schema.Platform{"aws": {Kind: "aws"}}
	s.Matrix.Platforms = []string{"aws"}
	s.Matrix.MemoryMB = []int{1024}
	ta := s.Tasks["a"]
	ta.Benchmark.ExpectedMS = ptr(100.0)
	s.Tasks["a"] = ta
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	e := p.Estimate()
	// Task a: 2 models x 2 variants = 4 cells x 11 invocations of 100 ms at 1 GB.
	want := 44 * (0.20/1e6 + 0.1*0.0000166667)
	if fmt.Sprintf("%.12f", e.LambdaUSD) != fmt.Sprintf("%.12f", want) {
		t.Errorf("lambda usd %v, want %v", e.LambdaUSD, want)
	}
	if len(e.Notes) != 1 || !strings.Contains(e.Notes[0], "task b has no benchmark.expected_ms") {
		t.Errorf("notes %q", e.Notes)
	}
}
