// Package duckdbtest measures what reading a large run costs faaslab
// report, side by side with DuckDB summarising the same Parquet file.
package duckdbtest

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/report"
)

var benchRows = flag.Int("rows", 1_000_000, "invocation rows of the run that BenchmarkReport reads")

var (
	models = []string{"reference", "gpt-4o", "gpt-4o-mini", "o1", "o1-mini", "o3-mini", "deepseek-reasoner", "deepseek-r1-8b",
		"deepseek-r1-32b", "qwen2.5-coder", "llama3.3", "grok-3", "grok-3-mini", "gemini-2.5-pro", "gemini-2.0-flash"}
	tasks    = []string{"healthcare1", "healthcare2", "sales", "perfect", "prime", "pagerank", "thumbnailer", "mincost", "collision", "median"}
	variants = []string{"long", "short", "nolib_long", "nolib_short"}
)

// invocations yields n rows: 101 calls per cell (a warm-up first), cells
// over models, tasks and variants, with log-normal-ish times.
func invocations(n int) iter.Seq2[rows.Invocation, error] {
	return func(yield func(rows.Invocation, error) bool) {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			cell := i / 101
			seq := i % 101
			m := models[cell%len(models)]
			tk := tasks[(cell/len(models))%len(tasks)]
			v := variants[(cell/len(models)/len(tasks))%len(variants)]
			h := float64((uint64(i)*2654435761)%1000003) / 1000003
			d := 100 * (1 + float64(cell%len(models))) * math.Exp(0.1*(h-0.5))
			billed := math.Ceil(d)
			inv := rows.Invocation{Study: "wosc25", RunID: "bench", CellID: fmt.Sprintf("c%06d", cell), GenerationID: fmt.Sprintf("g%06d", cell),
				Model: m, Task: tk, Variant: v, Sample: int32(cell / (len(models) * len(tasks) * len(variants))), Platform: "lambda", Arch: "x86_64",
				MemoryMB: 3008, Seq: int32(seq), Warmup: seq == 0, Cold: seq == 0, Status: "ok", StartedAt: t0.Add(time.Duration(i) * time.Millisecond),
				DurationMS: d, RoundTripMS: d + 12, BilledMS: &billed, CPUModel: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", CPUArch: "x86_64", CPUMatch: true}
			if !yield(inv, nil) {
				return
			}
		}
	}
}

var (
	once    sync.Once
	runDir  string
	onceErr error
)

// run writes the benchmark's run once per process: its invocations table
// and empty other tables, as `faaslab export` would.
func run(b *testing.B) string {
	once.Do(func() {
		runDir, onceErr = os.MkdirTemp("", "faaslab-report-bench-")
		if onceErr != nil {
			return
		}
		src := exporters.Source{Invocations: invocations(*benchRows)}
		onceErr = (&exporters.Parquet{}).Export(context.Background(), filepath.Join(runDir, "tables"), src)
	})
	if onceErr != nil {
		b.Fatal(onceErr)
	}
	return runDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if runDir != "" {
		os.RemoveAll(runDir)
	}
	os.Exit(code)
}

// peakHeap samples the heap in use every few milliseconds until stop is
// called, which returns the highest sample in bytes.
func peakHeap() (stop func() uint64) {
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// BenchmarkReport reads a run of -rows invocations (default 1M) and builds
// and prints its report, as `faaslab report RUN` does; DuckDB computes the
// per-cell mean, SD, median and p95 from the same file as the peer. Each
// reports seconds per op and the peak heap (runtime.MemStats.HeapAlloc,
// sampled every 5 ms; DuckDB's own memory is outside the Go heap).
func BenchmarkReport(b *testing.B) {
	dir := run(b)
	b.Run("faaslab", func(b *testing.B) {
		runtime.GC()
		stop := peakHeap()
		for b.Loop() {
			dirs, err := report.FindTables("", []string{dir})
			if err != nil {
				b.Fatal(err)
			}
			d, err := report.Read(context.Background(), "", dirs)
			if err != nil {
				b.Fatal(err)
			}
			if d.Invocations != int64(*benchRows) {
				b.Fatalf("read %d invocations, want %d", d.Invocations, *benchRows)
			}
			if err := report.WriteText(io.Discard, report.Build(d, report.Options{})); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
	})
	b.Run("duckdb", func(b *testing.B) {
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		q := `SELECT model, task, variant, sample, platform, arch, memory_mb, count(*), avg(duration_ms), stddev_samp(duration_ms),
			median(duration_ms), quantile_cont(duration_ms, 0.95)
			FROM read_parquet(?) WHERE NOT warmup AND status = 'ok' AND NOT cold GROUP BY ALL`
		runtime.GC()
		stop := peakHeap()
		for b.Loop() {
			r, err := db.Query(q, filepath.Join(dir, "tables", "invocations.parquet"))
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for r.Next() {
				n++
			}
			if err := r.Close(); err != nil || n == 0 {
				b.Fatalf("duckdb: %d groups, %v", n, err)
			}
		}
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
	})
}
