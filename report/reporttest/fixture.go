// Package reporttest writes the tables of made-up runs for the tests of
// faaslab report and compare: rows built in Go and exported with the
// Parquet exporter, as a run would export them, with no study run. Only
// tests import it.
package reporttest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/stats"
	"github.com/faaslab/faaslab/runner/pricing"
)

func ptr[T any](v T) *T { return &v }

// model is a made-up model: how fast its code is against the reference
// (factor per task) and which of its code fails.
type model struct {
	id, provider string
	factor       map[string]float64
	class        map[string]string // "task/variant" -> class other than OK
	pylint       float64
}

// Run describes one made-up run. B is the second run of Compare's tests:
// gpt-4o's primes code 20 % slower, qwen's short pagerank fixed.
type Run struct {
	ID string
	B  bool
}

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func models(b bool) []model {
	ms := []model{
		{"reference", "reference", map[string]float64{"primes": 1, "pagerank": 1}, nil, 6.1},
		{"gpt-4o", "openai", map[string]float64{"primes": 1.02, "pagerank": 3.5}, nil, 7.4},
		{"gemini", "gemini", map[string]float64{"primes": 0.8, "pagerank": 1.4}, map[string]string{"pagerank/short": "FD"}, 6.8},
		{"qwen", "ollama", map[string]float64{"primes": 9, "pagerank": 40}, map[string]string{"pagerank/short": "SE"}, 4.2},
		{"llama", "ollama", map[string]float64{"primes": 1.5, "pagerank": 2}, map[string]string{"pagerank/long": "FD"}, 3.9},
	}
	if b {
		ms[1].factor = map[string]float64{"primes": 1.02 * 1.2, "pagerank": 3.5}
		ms[3].class = nil
	}
	return ms
}

var prompts = []struct{ task, variant string }{{"primes", "long"}, {"pagerank", "long"}, {"pagerank", "short"}}

// baseMS is the reference's mean function time per task.
var baseMS = map[string]float64{"primes": 120, "pagerank": 850}

// Tables builds the rows of run r: generations, checks, invocations,
// cells, a manifest, endpoints and the pipeline tables.
func Tables(r Run) *rows.Tables {
	rng := rand.New(rand.NewPCG(42, map[bool]uint64{false: 1, true: 2}[r.B]))
	t := &rows.Tables{}
	const study = "wosc25"
	t.Manifest = []rows.Manifest{{Study: study, RunID: r.ID, StudySHA256: fmt.Sprintf("%064x", 7), FaaslabVersion: "test", Host: "fixture",
		OS: "linux", HostArch: "x86_64", CPUModel: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", CPUCount: 2, ModelVersions: "{}", Tags: "{}",
		StartedAt: t0, FinishedAt: ptr(t0.Add(time.Hour))}}
	refMean := map[string]float64{}
	type cellOut struct {
		cell rows.Cell
		ms   []float64
	}
	var cells []cellOut
	seq := 0
	for _, m := range models(r.B) {
		for _, p := range prompts {
			gid := fmt.Sprintf("g-%s-%s-%s", m.id, p.task, p.variant)
			class := "OK"
			if c, ok := m.class[p.task+"/"+p.variant]; ok {
				class = c
			}
			g := rows.Generation{Study: study, RunID: r.ID, GenerationID: gid, Model: m.id, Provider: m.provider, ModelName: m.id,
				Task: p.task, Variant: p.variant, PromptSHA256: fmt.Sprintf("%064x", len(gid)), CodeSHA256: fmt.Sprintf("%064x", len(gid)+1),
				Attempts: 1, Class: class, CreatedAt: t0}
			if class != "SE" {
				g.Cyclomatic = ptr(2 + float64(len(m.id)%4) + rng.Float64())
				g.Halstead = ptr(5 + 10*rng.Float64())
				g.Maintain = ptr(55 + 30*rng.Float64())
				g.PylintScore = ptr(m.pylint + rng.Float64() - 0.5)
			} else {
				g.MetricsNote = "syntax error"
			}
			if m.provider != "reference" {
				g.InputTokens, g.OutputTokens = ptr(int64(300+len(p.variant)*10)), ptr(int64(400+rng.IntN(300)))
				g.LatencyMS = ptr(2000 + 3000*rng.Float64())
				g.CostUSD = ptr(0.001 + 0.004*rng.Float64())
				if m.provider != "ollama" {
					g.TTFTMS = ptr(300 + 400*rng.Float64())
				}
				g.TokensPerS = ptr(40 + 60*rng.Float64())
				g.FinishReason = "stop"
			}
			t.Generations = append(t.Generations, g)
			t.Checks = append(t.Checks, rows.Check{Study: study, RunID: r.ID, GenerationID: gid, Model: m.id, Task: p.task, Variant: p.variant,
				Test: "small", Class: class, Compare: "json", CheckedAt: t0})

			mems := []int32{3008}
			if p.task == "primes" && (m.id == "reference" || m.id == "gpt-4o" || m.id == "llama") {
				mems = []int32{512, 1024, 3008}
			}
			for _, mem := range mems {
				cid := fmt.Sprintf("c-%s-%d", gid, mem)
				c := rows.Cell{Study: study, RunID: r.ID, CellID: cid, GenerationID: gid, Model: m.id, Task: p.task, Variant: p.variant,
					Platform: "lambda", Arch: "x86_64", MemoryMB: mem, Class: class}
				var ms []float64
				price := 0.0
				if class == "OK" {
					// Below 1769 MB the function has less than one vCPU.
					speed := math.Min(1, float64(mem)/1769)
					mean := baseMS[p.task] * m.factor[p.task] / speed
					n := 20
					if m.id == "llama" && p.task == "primes" {
						n = 5 // too few calls for the median's interval
					}
					for i := -1; i < n+2; i++ {
						warm := i >= 0
						cold := i < 0 || i >= n // the warm-up and two forced cold calls
						d := mean * (1 + 0.05*rng.NormFloat64())
						if cold {
							d *= 1.1
						}
						inv := rows.Invocation{Study: study, RunID: r.ID, CellID: cid, GenerationID: gid, Model: m.id, Task: p.task,
							Variant: p.variant, Platform: "lambda", Arch: "x86_64", MemoryMB: mem, Seq: int32(i + 1), Warmup: !warm, Cold: cold,
							Status: "ok", StartedAt: t0.Add(time.Duration(seq) * time.Second), DurationMS: d, RoundTripMS: d + 15,
							BilledMS: ptr(math.Ceil(d)), CPUModel: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", CPUArch: "x86_64", CPUMatch: true}
						if cold {
							inv.InitMS = ptr(400 + 50*rng.Float64())
							inv.RoundTripMS += *inv.InitMS
						}
						seq++
						t.Invocations = append(t.Invocations, inv)
						if warm && !cold {
							ms = append(ms, d)
							price += pricing.LambdaInvocation("x86_64", int(mem), *inv.BilledMS)
						}
					}
					c.N = int32(len(ms))
					s := stats.Describe(ms)
					c.MeanMS, c.SDMS, c.MedianMS, c.P95MS, c.MinMS, c.MaxMS = ptr(s.Mean), ptr(s.SD), ptr(s.Median), ptr(s.P95), ptr(s.Min), ptr(s.Max)
					cv, _ := s.CV()
					c.CV = &cv
					c.CI95LowMS, c.CI95HighMS = ptr(s.CI95.Low), ptr(s.CI95.High)
					c.CostPer1MUSD = ptr(price / float64(len(ms)) * 1e6)
					if m.provider == "reference" {
						refMean[fmt.Sprintf("%s/%d", p.task, mem)] = s.Mean
					}
				}
				cells = append(cells, cellOut{c, ms})
			}
		}
	}
	for _, co := range cells {
		c := co.cell
		if ref, ok := refMean[fmt.Sprintf("%s/%d", c.Task, c.MemoryMB)]; ok && c.MeanMS != nil {
			c.RefMeanMS = ptr(ref)
			d, _ := stats.PctDiff(*c.MeanMS, ref)
			c.PctDiffVsRef = &d
		}
		t.Cells = append(t.Cells, c)
	}
	for _, m := range models(r.B) {
		if m.provider == "reference" {
			continue
		}
		e := rows.Endpoint{Study: study, RunID: r.ID, Model: m.id, Provider: m.provider, Host: map[string]string{"openai": "api.openai.com",
			"gemini": "generativelanguage.googleapis.com", "ollama": "127.0.0.1:11434"}[m.provider], Generations: 3, Calls: 4, Errors: 1,
			ErrorRate: ptr(0.25), LatencyP50MS: ptr(3000 + 100*float64(len(m.id))), LatencyP95MS: ptr(4800.0), TokensPerSP50: ptr(55.5),
			CostPerCallUSD: ptr(0.0025)}
		if m.provider != "ollama" {
			e.TTFTP50MS, e.TTFTP95MS = ptr(450.0), ptr(690.0)
		} else {
			e.CostPerCallUSD = nil
		}
		t.Endpoints = append(t.Endpoints, e)
	}

	names := []string{"greyscale", "resize", "colordepth", "rotate", "convert"}
	// "mixed" is a mix: its stages run gpt-4o's and gemini's code in turn.
	stageModel := func(m string, s int) string {
		if m != "mixed" {
			return m
		}
		return []string{"gpt-4o", "gemini"}[s%2]
	}
	for _, m := range []string{"gpt-4o", "gemini", "mixed"} {
		for _, arch := range []string{"x86_64", "arm64"} {
			if m == "mixed" && arch == "arm64" {
				continue
			}
			cid := fmt.Sprintf("p-%s-%s", m, arch)
			for i := -1; i < 12; i++ {
				inst := fmt.Sprintf("%s-%d", cid, i+1)
				pr := rows.Pipeline{Study: study, RunID: r.ID, CellID: cid, Pipeline: "imagepipe", Instance: inst, Seq: int32(i + 1), Warmup: i < 0,
					Model: m, Platform: "local", Arch: arch, MemoryMB: 1024, StartedAt: t0, Status: "ok"}
				stagesMS, costUSD := 0.0, 0.0
				for s, name := range names {
					d := float64(80+40*s) * (1 + 0.1*rng.NormFloat64())
					if arch == "arm64" {
						d *= 1.15
					}
					if m == "gemini" {
						d *= 0.9
					}
					cost := pricing.LambdaInvocation(arch, 1024, d)
					sr := rows.Stage{Study: study, RunID: r.ID, CellID: cid, Pipeline: "imagepipe", Instance: inst, Seq: int32(i + 1), Warmup: i < 0,
						Stage: name, StageIndex: int32(s), Model: m, StageModel: stageModel(m, s), Platform: "local", Arch: arch, MemoryMB: 1024, StartedAt: t0, DurationMS: d,
						BilledEstMS: ptr(math.Ceil(d)), Cold: i < 0, Status: "ok", CostUSD: ptr(cost)}
					if i == 11 && s == 3 && arch == "arm64" && m == "gemini" {
						sr.Status, sr.Error = "error", "ValueError: bad image"
						pr.Status, pr.FailedStage = "error", name
					}
					t.Stages = append(t.Stages, sr)
					stagesMS += d
					costUSD += cost
				}
				overhead := 30 + 5*rng.Float64()
				pr.CostUSD = ptr(costUSD)
				if pr.Status == "ok" {
					pr.StagesMS, pr.OverheadMS, pr.EndToEndMS = ptr(stagesMS), ptr(overhead), ptr(stagesMS+overhead)
				}
				t.Pipelines = append(t.Pipelines, pr)
				if pr.Seq == 0 {
					t.PipelineCells = append(t.PipelineCells, rows.PipelineCell{Study: pr.Study, RunID: pr.RunID, CellID: pr.CellID,
						Pipeline: pr.Pipeline, Stage: "end_to_end", StageIndex: -1, Model: pr.Model, Platform: pr.Platform, Arch: pr.Arch,
						MemoryMB: pr.MemoryMB, WorkloadCount: 100_000, WorkloadUnit: "images"})
				}
			}
		}
	}
	return t
}

// Write exports run r's tables as Parquet into dir/tables, as `faaslab
// export` lays out a run directory, and returns that tables directory.
func Write(ctx context.Context, dir string, r Run) (string, error) {
	tables := filepath.Join(dir, "tables")
	return tables, (&exporters.Parquet{}).Export(ctx, tables, exporters.FromTables(Tables(r)))
}
