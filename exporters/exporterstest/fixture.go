// Package exporterstest holds the conformance suite that every exporter of
// package exporters must pass, the tables it writes, and independent
// readers that load exported files back into rows.Tables. Only tests import
// it.
package exporterstest

import (
	"fmt"
	"reflect"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
)

func ptr[T any](v T) *T { return &v }

// Awkward holds strings that break naive writers: separators, quotes, line
// breaks, non-ASCII text and surrounding spaces. Carriage returns are left
// out because CSV readers differ in how they treat "\r\n" inside a quoted
// field.
var Awkward = []string{
	"",
	"plain",
	"comma, inside",
	`a "quoted" word`,
	`"`,
	"line one\nline two",
	"tab\tseparated",
	" leading and trailing ",
	"Grüße, Ελληνικά, 日本語, emoji 🚀",
	`C:\path\with\backslashes`,
	"NULL",
	"null",
	"NA",
}

// Tables returns a run with rows in every table. Its values cover what a
// faithful exporter must keep: nil pointers next to pointers to zero, every
// string of Awkward, negative and very large numbers, times with
// sub-microsecond digits and in zones other than UTC, and the zero time.
// Pass the result through Normalize before comparing it with rows read back.
func Tables() *rows.Tables {
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	ist := time.FixedZone("IST", 5*3600+30*60)

	var t rows.Tables
	for i, s := range Awkward {
		g := rows.Generation{
			Study:        "wosc25",
			RunID:        "run-1",
			GenerationID: fmt.Sprintf("gen-%02d", i),
			Model:        []string{"gpt-4o", "qwen2.5-coder", "reference"}[i%3],
			Provider:     []string{"openai", "ollama", "reference"}[i%3],
			ModelName:    "model " + s,
			ModelVersion: s,
			Task:         []string{"pagerank", "thumbnail"}[i%2],
			Variant:      []string{"long", "short", "nolib_long", "nolib_short"}[i%4],
			Sample:       int32(i),
			PromptSHA256: fmt.Sprintf("%064x", i),
			CodeSHA256:   fmt.Sprintf("%064x", 1000+i),
			Attempts:     int32(i % 3),
			Error:        s,
			Class:        []string{"OK", "SE", "FD", "TIMEOUT", "INIT", "CRASH"}[i%6],
			MetricsNote:  s,
			CreatedAt:    t0.Add(time.Duration(i) * time.Hour),
		}
		switch i % 3 {
		case 0: // measured
			g.InputTokens = ptr(int64(1200 + i))
			g.OutputTokens = ptr(int64(350 + i))
			g.CostUSD = ptr(0.0123 + float64(i)/1e4)
			g.LatencyMS = ptr(1534.25)
			g.TTFTMS = ptr(212.5)
			g.TokensPerS = ptr(66.875)
			g.ReasoningTokens = ptr(int32(1024 + i))
			g.CachedTokens = ptr(int32(2147483647))
			g.FinishReason = "stop"
			g.ReasoningEffort = "high"
			g.MaxCompletionTokens = ptr(int32(32768))
			g.Cyclomatic = ptr(3.5)
			g.Halstead = ptr(12.75)
			g.Maintain = ptr(71.2)
			g.PylintScore = ptr(8.33)
		case 1: // measured as exactly zero
			g.InputTokens = ptr(int64(0))
			g.OutputTokens = ptr(int64(0))
			g.CostUSD = ptr(0.0)
			g.LatencyMS = ptr(0.0)
			g.TTFTMS = ptr(0.0)
			g.TokensPerS = ptr(0.0)
			g.ReasoningTokens = ptr(int32(0))
			g.CachedTokens = ptr(int32(0))
			g.FinishReason = []string{"length", s}[i%2]
			g.Class = "TRUNCATED"
			g.Cyclomatic = ptr(0.0)
			g.Halstead = ptr(0.0)
			g.Maintain = ptr(0.0)
			g.PylintScore = ptr(-1.5)
		}
		t.Generations = append(t.Generations, g)

		c := rows.Check{
			Study:        "wosc25",
			RunID:        "run-1",
			GenerationID: g.GenerationID,
			Model:        g.Model,
			Task:         g.Task,
			Variant:      g.Variant,
			Sample:       g.Sample,
			Test:         []string{"small", "large", "empty input"}[i%3],
			Class:        g.Class,
			Compare:      []string{"float", "exact", "json"}[i%3],
			DiffPath:     s,
			Detail:       s,
			CheckedAt:    t0.Add(time.Duration(i) * time.Minute).In(ist),
		}
		if i%2 == 0 {
			c.DurationMS = ptr(float64(i) * 0.5) // 0 for i == 0
		}
		t.Checks = append(t.Checks, c)
	}

	for i := range 40 {
		cell := i / 10
		inv := rows.Invocation{
			Study:               "wosc25",
			RunID:               "run-1",
			CellID:              fmt.Sprintf("cell-%d", cell),
			GenerationID:        fmt.Sprintf("gen-%02d", cell),
			Model:               []string{"gpt-4o", "qwen2.5-coder", "reference"}[cell%3],
			Task:                "pagerank",
			Variant:             "long",
			Sample:              int32(cell),
			Platform:            []string{"local", "lambda"}[cell%2],
			Arch:                []string{"x86_64", "arm64"}[cell%2],
			MemoryMB:            3008,
			Seq:                 int32(i % 10),
			Warmup:              i%10 == 0,
			Cold:                i%10 == 0,
			Status:              "ok",
			StartedAt:           t0.Add(time.Duration(i) * 1234567891 * time.Nanosecond),
			DurationMS:          100 + float64(i)*1.125,
			RoundTripMS:         103 + float64(i)*1.125,
			MaxRSSKB:            65536 + int64(i),
			MinorFaults:         int64(i * 17),
			MajorFaults:         int64(i % 2),
			CPUUserS:            0.09,
			CPUSystemS:          0.01,
			CPUThrottledMS:      float64(i%3) * 12.5,
			CPUThrottledPeriods: int64(i % 3),
			CPUQuotaVCPUs:       1.7,
			HostCPUUserS:        0.18,
			HostCPUSystemS:      0.02,
			HostCPUIdleS:        1e-9,
			HostCPUIOWaitS:      0,
			HostCPUStealS:       0.002,
			ContainerID:         fmt.Sprintf("ctr-%d", cell),
			CPUModel:            "Intel(R) Xeon(R) Processor @ 2.50GHz",
			CPUArch:             "x86_64",
			CPUMatch:            i%4 != 3,
			Error:               Awkward[i%len(Awkward)],
		}
		if inv.Cold {
			inv.InitMS = ptr(250.5)
		}
		if i%10 != 2 {
			inv.CPUShare = ptr(0.1 / (inv.DurationMS / 1000))
		}
		if inv.Platform == "lambda" {
			inv.BilledMS = ptr(float64(int(inv.DurationMS) + 1))
			inv.MaxMemoryUsedMB = ptr(int32(87))
			inv.RequestID = fmt.Sprintf("%08x-1f2e-4d3c-8b4a-%012x", i, cell)
			if inv.Cold && i%2 == 0 {
				inv.RestoreMS = ptr(180.25)
			}
		} else if inv.Seq == 1 {
			inv.BilledMS = ptr(0.0)
			inv.MaxMemoryUsedMB = ptr(int32(0))
		}
		if i == 39 {
			inv.Status = "error"
			inv.MaxRSSKB = 1<<62 + 1 // beyond float64 precision
			inv.MinorFaults = -1
			inv.DurationMS = 1.7976931348623157e308
			inv.RoundTripMS = 5e-324
		}
		t.Invocations = append(t.Invocations, inv)
	}

	for cell := range 4 {
		c := rows.Cell{
			Study:          "wosc25",
			RunID:          "run-1",
			CellID:         fmt.Sprintf("cell-%d", cell),
			GenerationID:   fmt.Sprintf("gen-%02d", cell),
			Model:          []string{"gpt-4o", "qwen2.5-coder", "reference"}[cell%3],
			Task:           "pagerank",
			Variant:        "long",
			Sample:         int32(cell),
			Platform:       []string{"local", "lambda"}[cell%2],
			Arch:           []string{"x86_64", "arm64"}[cell%2],
			MemoryMB:       3008,
			Class:          "OK",
			N:              9,
			FilteredOutCPU: int32(cell),
		}
		if cell != 3 { // cell 3 has no successful invocation
			c.MeanMS = ptr(110.125 + float64(cell))
			c.SDMS = ptr(3.2)
			c.CV = ptr(3.2 / 110.125)
			c.MedianMS = ptr(110.0)
			c.P95MS = ptr(114.5)
			c.MinMS = ptr(101.125)
			c.MaxMS = ptr(115.0)
			c.CI95LowMS = ptr(107.9)
			c.CI95HighMS = ptr(112.3)
			c.RefMeanMS = ptr(100.0)
			c.PctDiffVsRef = ptr(10.125 + float64(cell))
			c.CostPer1MUSD = ptr(5.79)
		} else {
			c.Class = "FD"
			c.N = 0
			c.PctDiffVsRef = ptr(0.0)
		}
		if cell == 2 {
			c.Model = "reference"
			c.PctDiffVsRef = ptr(0.0)
		}
		t.Cells = append(t.Cells, c)
	}

	for i, s := range Awkward[:4] {
		e := rows.Endpoint{
			Study:       "wosc25",
			RunID:       "run-1",
			Model:       []string{"gpt-4o", "qwen2.5-coder", "claude", "o3"}[i],
			Provider:    []string{"openai", "ollama", "bedrock", "openai"}[i],
			Host:        "host " + s,
			Generations: int32(10 * i),
			Calls:       int32(12 * i),
			Errors:      int32(2 * i),
			Truncated:   int32(i),
		}
		switch i {
		case 1, 3: // measured; 3 with no error
			e.ErrorRate = ptr(float64(e.Errors) / float64(e.Calls))
			e.LatencyP50MS, e.LatencyP95MS = ptr(1534.25), ptr(4096.5)
			e.TTFTP50MS, e.TTFTP95MS = ptr(212.5), ptr(950.125)
			e.TokensPerSP50 = ptr(66.875)
			e.CostPerCallUSD = ptr(0.00125)
		case 2: // no streaming, no price: zero error rate
			e.ErrorRate = ptr(0.0)
			e.LatencyP50MS, e.LatencyP95MS = ptr(0.0), ptr(0.0)
		}
		t.Endpoints = append(t.Endpoints, e)
	}

	// Two pipeline runs of a three-stage pipeline: one whole, one whose
	// second stage failed (null end-to-end columns, no third stage).
	stageNames := []string{"greyscale", "resize, " + Awkward[3], "rotate"}
	for seq := range 2 {
		inst := fmt.Sprintf("c-pipe-%04d", seq)
		start := t0.Add(time.Duration(seq) * time.Second)
		p := rows.Pipeline{Study: "tcss562", RunID: "run-1", CellID: "c-pipe", Pipeline: "images", Instance: inst,
			Seq: int32(seq), Warmup: seq == 0, Model: "gemini", Variant: Awkward[8], Platform: "local", Arch: "x86_64",
			MemoryMB: 512, StartedAt: start.In(ist), Status: "ok"}
		total := 0.0
		for i, name := range stageNames {
			st := rows.Stage{Study: "tcss562", RunID: "run-1", CellID: "c-pipe", Pipeline: "images", Instance: inst,
				Seq: int32(seq), Warmup: seq == 0, Stage: name, StageIndex: int32(i), Model: "gemini", Variant: Awkward[8],
				Platform: "local", Arch: "x86_64", MemoryMB: int32(256 * (i + 1)), StartedAt: start.Add(time.Duration(i) * 30 * time.Millisecond),
				DurationMS: 12.5 * float64(i+1), BilledEstMS: ptr(13.0 * float64(i+1)), Cold: seq == 0, Status: "ok",
				MaxMemoryUsedMB: ptr(int32(60 + i)), CostUSD: ptr(2.1e-7 * float64(i+1))}
			if seq == 0 {
				st.InitMS = ptr(150.25)
			}
			if seq == 1 && i == 1 {
				st.Status, st.Error, st.CostUSD = "error", "ValueError: "+Awkward[5], nil
				p.Status, p.FailedStage = "error", name
				t.Stages = append(t.Stages, st)
				break
			}
			total += st.DurationMS
			t.Stages = append(t.Stages, st)
		}
		if p.Status == "ok" {
			p.EndToEndMS, p.StagesMS, p.OverheadMS = ptr(total+7.5), ptr(total), ptr(7.5)
			p.CostUSD = ptr(1.3e-6)
		}
		t.Pipelines = append(t.Pipelines, p)
	}
	for i, name := range append(stageNames, "end_to_end") {
		c := rows.PipelineCell{Study: "tcss562", RunID: "run-1", CellID: "c-pipe", Pipeline: "images", Stage: name,
			StageIndex: int32(i), GenerationID: fmt.Sprintf("g-%d", i), Model: "gemini", Variant: Awkward[8], Platform: "local",
			Arch: "x86_64", MemoryMB: 512, Class: "OK", N: 1, MeanMS: ptr(12.5), SDMS: ptr(0.0), MedianMS: ptr(12.5),
			P95MS: ptr(12.5), CostPerRunUSD: ptr(2.1e-7), WorkloadCount: 100000, WorkloadUnit: "images", WorkloadUSD: ptr(0.021)}
		if name == "end_to_end" {
			c.StageIndex, c.GenerationID, c.Class, c.Detail = -1, "", "FD", "PSNR 12.5 dB < 30 dB"
			c.N, c.MeanMS, c.SDMS, c.MedianMS, c.P95MS, c.CostPerRunUSD, c.WorkloadUSD = 0, nil, nil, nil, nil, nil, nil
		}
		t.PipelineCells = append(t.PipelineCells, c)
	}
	t.Models = []rows.Model{
		{Study: "wosc25", RunID: "run-1", Model: "gpt-4o", Provider: "openai", ModelName: "gpt-4o", Vendor: "OpenAI",
			Class: "large", Hosting: "cloud", Style: "traditional", SizeB: ptr(1800.0), ContextWindow: ptr(int32(128000)),
			ReleaseDate: "2024-05-13", Updated: "2025-03", InputUSDMTok: ptr(2.5), OutputUSDMTok: ptr(10.0)},
		{Study: "wosc25", RunID: "run-1", Model: "deepseek-r1:8b, \"q4\"", Provider: "ollama", ModelName: "deepseek-r1:8b",
			Vendor: "DeepSeek", Class: "small", Hosting: "local", Style: "reasoning", SizeB: ptr(8.0), Reasoning: true},
		{Study: "wosc25", RunID: "run-1", Model: "reference", Provider: "reference"},
	}

	t.Manifest = []rows.Manifest{{
		Study:          "wosc25",
		RunID:          "run-1",
		StudySHA256:    fmt.Sprintf("%064x", 42),
		FaaslabVersion: "v0.1.0",
		GitCommit:      "0123456789abcdef0123456789abcdef01234567",
		Host:           "büro-host",
		OS:             "linux",
		HostArch:       "amd64",
		CPUModel:       "AMD EPYC 7R13 Processor",
		CPUCount:       2,
		PythonVersion:  "3.12.8",
		ModelVersions:  `{"gpt-4o":["gpt-4o-2024-08-06"],"qwen2.5-coder":["7b, \"q4\""]}`,
		Tags:           "{}",
		StartedAt:      t0.In(ist),
		// FinishedAt is nil: the session was killed.
	}}
	return &t
}

// Normalize puts every time of t in UTC and drops its sub-microsecond
// digits, as every exporter does, so that tables written and tables read
// back compare with reflect.DeepEqual. It changes t in place and returns it.
func Normalize(t *rows.Tables) *rows.Tables {
	for _, table := range []any{t.Generations, t.Checks, t.Invocations, t.Cells, t.Manifest, t.Endpoints, t.Models, t.Stages, t.Pipelines, t.PipelineCells} {
		s := reflect.ValueOf(table)
		for i := range s.Len() {
			row := s.Index(i)
			for j := range row.NumField() {
				f := row.Field(j)
				switch tm := f.Interface().(type) {
				case time.Time:
					f.Set(reflect.ValueOf(tm.UTC().Truncate(time.Microsecond)))
				case *time.Time:
					if tm != nil {
						u := tm.UTC().Truncate(time.Microsecond)
						f.Set(reflect.ValueOf(&u))
					}
				}
			}
		}
	}
	return t
}
