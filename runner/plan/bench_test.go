package plan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// bigStudy writes a study of 20 models x 10 tasks x 4 variants x samples
// x 2 architectures x len(memory) memory sizes, each cell invoked
// 1 + repetitions times, and returns its path.
func bigStudy(b *testing.B, samples int, memory string, repetitions int) string {
	dir := b.TempDir()
	var s strings.Builder
	s.WriteString("package study\nname: \"big\"\nmodels: {\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&s, "\t\"m%02d\": {provider: \"openai\", model: \"model-%d\", price: {input_per_mtok: 1, output_per_mtok: 4}}\n", i, i)
	}
	s.WriteString("}\ntasks: {\n")
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	os.WriteFile(filepath.Join(dir, "ref.py"), []byte("def handler(e, c): return 1\n"), 0o644)
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&s, "\t\"t%d\": {reference: \"ref.py\", benchmark: {event: {n: %d}, expected_ms: 200}, tests: [{name: \"a\", event: {n: 1}}]\n\t\tvariants: {", i, i)
		for _, v := range []string{"long", "short", "nolib_long", "nolib_short"} {
			f := fmt.Sprintf("p/t%d_%s.md", i, v)
			os.WriteFile(filepath.Join(dir, f), []byte(strings.Repeat("Write a function. ", 50)+f), 0o644)
			fmt.Fprintf(&s, "%s: prompt: %q, ", v, f)
		}
		s.WriteString("}}\n")
	}
	s.WriteString(`}
platforms: aws: {kind: "aws", region: "us-west-2", role: "arn:aws:iam::1:role/r"}
matrix: {memory_mb: [` + memory + `], arch: ["x86_64", "arm64"]
	samples: ` + fmt.Sprint(samples) + `, repetitions: ` + fmt.Sprint(repetitions) + `, warmup: 1, exclude: [{model: "m00", task: "t0", variant: "short"}]}
budget: usd: 1e9
`)
	path := filepath.Join(dir, "big.cue")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPlan splits planning a study into its two costs: CUE evaluation
// (load, unify with the schema, validate, decode) and matrix expansion
// (cells, IDs, counts, estimate): for a 1.45M-invocation study of the
// studies' own shape, 100 repetitions a cell (14,400 cells), and for an 8M
// one of 80,000 cells. CUE's cost does not grow with the matrix, the
// expansion's grows with the number of cells.
//
//	go test -run '^$' -bench Plan -benchmem ./runner/plan/
func BenchmarkPlan(b *testing.B) {
	b.Run("1.45M", func(b *testing.B) { benchmarkPlan(b, bigStudy(b, 3, "512, 1769, 3008", 100)) })
	b.Run("8M", func(b *testing.B) {
		benchmarkPlan(b, bigStudy(b, 5, "128, 256, 512, 1024, 1769, 2048, 3008, 4096, 8192, 10240", 100))
	})
}

func benchmarkPlan(b *testing.B, path string) {
	s, err := schema.Load(path, schema.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := plan.New(s)
	if err != nil {
		b.Fatal(err)
	}
	if p.Invocations() < 1_000_000 {
		b.Fatalf("only %d invocations", p.Invocations())
	}
	b.Logf("study: %d generations, %d cells, %d invocations", len(p.Generations), len(p.Cells), p.Invocations())

	b.Run("cue-evaluation", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := schema.Load(path, schema.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("matrix-expansion", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := plan.New(s)
			if err != nil {
				b.Fatal(err)
			}
			p.Summarize(false)
		}
	})
}
