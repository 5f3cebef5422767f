package duckdbtest

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
)

var benchRows = flag.Int("rows", 10_000_000, "number of invocation rows that BenchmarkInvocationsParquet writes")

// The synthetic invocations table of the benchmark: 100 invocations per
// cell, 8 cells (2 architectures x 4 memory sizes) per generation, and
// generations spread over 14 models, 4 tasks, 4 variants and 5 samples.
// Strings repeat as they do in a study; numbers vary through a
// multiplicative hash of the row number (h) and of the cell number (hc).
// benchInvocations and benchSQL compute the same rows, value for value.
var (
	benchModels = []string{
		"gpt-4o", "gpt-4o-mini", "o3-mini", "claude-3.5-sonnet", "claude-3.5-haiku",
		"gemini-1.5-pro", "gemini-1.5-flash", "deepseek-v3", "deepseek-coder", "grok-2",
		"llama-3.1-70b", "qwen2.5-coder", "codestral", "reference",
	}
	benchTasks    = []string{"pagerank", "thumbnail", "matmul", "json-transform"}
	benchVariants = []string{"long", "short", "nolib_long", "nolib_short"}
	benchArchs    = []string{"x86_64", "arm64"}
	benchMemories = []int32{128, 512, 1024, 3008}
	benchX86CPUs  = []string{"Intel(R) Xeon(R) Processor @ 2.50GHz", "Intel(R) Xeon(R) Processor @ 2.90GHz", "AMD EPYC"}
)

const (
	benchStartMicros = 1735689600000000 // 2025-01-01T00:00:00Z
	benchTimeout     = "Task timed out after 30.00 seconds"
)

// benchInvocations yields the first n rows of the synthetic table. It
// formats the strings of a cell once per cell, as a journal reader would
// hold them.
func benchInvocations(n int) iter.Seq2[rows.Invocation, error] {
	return func(yield func(rows.Invocation, error) bool) {
		var cellID, generationID string
		var containers [2]string
		for i := range int64(n) {
			seq := i % 100
			cell := i / 100
			gen := cell / 8
			h := (i * 2654435761) % 4294967296
			hc := (cell * 2246822519) % 4294967296
			if seq == 0 {
				cellID = fmt.Sprintf("%08x%08x", hc, cell)
				generationID = fmt.Sprintf("g%08x", (gen*2654435761)%4294967296)
				containers[0] = fmt.Sprintf("c%08x-0", hc)
				containers[1] = fmt.Sprintf("c%08x-1", hc)
			}
			platform := "local"
			if (gen/1120)%2 == 1 {
				platform = "lambda"
			}
			arch := benchArchs[cell%2]
			cpu := "ARM Neoverse-N1"
			if arch == "x86_64" {
				cpu = benchX86CPUs[hc%3]
			}
			base := 5 + float64(hc%20000)/10
			duration := base * (1 + float64(h%10000)/50000)
			share := 0.95
			inv := rows.Invocation{
				Study:               "bench",
				RunID:               "run-1",
				CellID:              cellID,
				GenerationID:        generationID,
				Model:               benchModels[gen%14],
				Task:                benchTasks[(gen/14)%4],
				Variant:             benchVariants[(gen/56)%4],
				Sample:              int32((gen / 224) % 5),
				Platform:            platform,
				Arch:                arch,
				MemoryMB:            benchMemories[(cell/2)%4],
				Seq:                 int32(seq),
				Warmup:              seq == 0,
				Cold:                seq == 0 || h%97 == 0,
				Status:              "ok",
				StartedAt:           time.UnixMicro(benchStartMicros + i*250000).UTC(),
				DurationMS:          duration,
				RoundTripMS:         duration + 2 + float64(h%3000)/1000,
				MaxRSSKB:            40000 + hc%60000 + h%512,
				MinorFaults:         2000 + h%3000,
				CPUUserS:            duration * 0.00085,
				CPUSystemS:          duration * 0.0001,
				CPUThrottledMS:      float64(h%5) * 10,
				CPUThrottledPeriods: h % 5,
				CPUShare:            &share,
				CPUQuotaVCPUs:       0.58,
				HostCPUUserS:        duration * 0.0017,
				HostCPUSystemS:      duration * 0.0002,
				HostCPUIdleS:        float64(h%1000) / 100000,
				HostCPUIOWaitS:      0,
				HostCPUStealS:       float64(h%7) / 10000,
				ContainerID:         containers[seq/50],
				CPUModel:            cpu,
				CPUArch:             arch,
				CPUMatch:            true,
			}
			if inv.Cold {
				initMS := 150 + float64(hc%5000)/10
				inv.InitMS = &initMS
			}
			if platform == "lambda" {
				billed := math.Ceil(duration)
				used := int32(40 + hc%60 + seq%3)
				inv.BilledMS, inv.MaxMemoryUsedMB = &billed, &used
			}
			if h%101 == 0 {
				inv.MajorFaults = 1
			}
			if h%200 == 0 {
				inv.Status, inv.Error = "error", benchTimeout
			}
			if !yield(inv, nil) {
				return
			}
		}
	}
}

// sqlList returns a DuckDB list literal of strings.
func sqlList(ss []string) string {
	return "['" + strings.Join(ss, "', '") + "']"
}

// benchSQL returns a DuckDB query that generates the same first n rows as
// benchInvocations, with the same column names, types and order. DuckDB
// lists are 1-based.
func benchSQL(n int) string {
	return fmt.Sprintf(`
WITH k AS (
	SELECT i, i %% 100 AS seq, i // 100 AS cell, i // 800 AS gen,
		(i * 2654435761) %% 4294967296 AS h,
		((i // 100) * 2246822519) %% 4294967296 AS hc
	FROM range(%[1]d) r(i)
), v AS (
	SELECT *,
		CASE WHEN (gen // 1120) %% 2 = 1 THEN 'lambda' ELSE 'local' END AS platform,
		%[2]s[cell %% 2 + 1] AS arch,
		(5 + (hc %% 20000) / 10) * (1 + (h %% 10000) / 50000) AS duration,
		seq = 0 OR h %% 97 = 0 AS cold
	FROM k
)
SELECT
	'bench' AS study,
	'run-1' AS run_id,
	printf('%%08x%%08x', hc, cell) AS cell_id,
	printf('g%%08x', (gen * 2654435761) %% 4294967296) AS generation_id,
	%[3]s[gen %% 14 + 1] AS model,
	%[4]s[(gen // 14) %% 4 + 1] AS task,
	%[5]s[(gen // 56) %% 4 + 1] AS variant,
	((gen // 224) %% 5)::INTEGER AS sample,
	platform,
	arch,
	[128, 512, 1024, 3008][(cell // 2) %% 4 + 1]::INTEGER AS memory_mb,
	seq::INTEGER AS seq,
	seq = 0 AS warmup,
	cold,
	CASE WHEN h %% 200 = 0 THEN 'error' ELSE 'ok' END AS status,
	make_timestamp(%[6]d + i * 250000)::TIMESTAMPTZ AS started_at,
	duration AS duration_ms,
	duration + 2 + (h %% 3000) / 1000 AS round_trip_ms,
	CASE WHEN cold THEN 150 + (hc %% 5000) / 10 END AS init_ms,
	CASE WHEN platform = 'lambda' THEN ceil(duration) END AS billed_ms,
	NULL::DOUBLE AS billed_estimate_ms,
	CASE WHEN platform = 'lambda' THEN (40 + hc %% 60 + seq %% 3)::INTEGER END AS max_memory_used_mb,
	40000 + hc %% 60000 + h %% 512 AS max_rss_kb,
	2000 + h %% 3000 AS minor_faults,
	CASE WHEN h %% 101 = 0 THEN 1 ELSE 0 END::BIGINT AS major_faults,
	duration * 0.00085::DOUBLE AS cpu_user_s,
	duration * 0.0001::DOUBLE AS cpu_system_s,
	(h %% 5) * 10::DOUBLE AS cpu_throttled_ms,
	h %% 5 AS cpu_throttled_periods,
	0.95::DOUBLE AS cpu_share,
	0.58::DOUBLE AS cpu_quota_vcpus,
	duration * 0.0017::DOUBLE AS host_cpu_user_s,
	duration * 0.0002::DOUBLE AS host_cpu_system_s,
	(h %% 1000) / 100000 AS host_cpu_idle_s,
	0::DOUBLE AS host_cpu_iowait_s,
	(h %% 7) / 10000 AS host_cpu_steal_s,
	printf('c%%08x-%%d', hc, seq // 50) AS container_id,
	CASE WHEN arch = 'arm64' THEN 'ARM Neoverse-N1' ELSE %[7]s[hc %% 3 + 1] END AS cpu_model,
	arch AS cpu_arch,
	true AS cpu_match,
	CASE WHEN h %% 200 = 0 THEN '%[8]s' ELSE '' END AS error,
	NULL::DOUBLE AS restore_ms,
	'' AS request_id
FROM v`,
		n, sqlList(benchArchs), sqlList(benchModels), sqlList(benchTasks), sqlList(benchVariants),
		benchStartMicros, sqlList(benchX86CPUs), benchTimeout)
}

// TestBenchRowsMatch checks, on a small scale, that the benchmark compares
// like with like: the Parquet file of benchInvocations and the one DuckDB
// writes from benchSQL hold the same columns, types and rows.
func TestBenchRowsMatch(t *testing.T) {
	const n = 20000
	db := openDB(t)
	dir := t.TempDir()
	src := exporters.Source{Invocations: benchInvocations(n)}
	if err := (&exporters.Parquet{}).Export(context.Background(), dir, src); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "invocations.parquet")
	theirs := filepath.Join(dir, "duckdb.parquet")
	copySQL := fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, COMPRESSION zstd)", benchSQL(n), theirs)
	if _, err := db.Exec(copySQL); err != nil {
		t.Fatal(err)
	}

	schema := func(path string) string {
		var s string
		q := "SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM read_parquet(?))"
		if err := db.QueryRow(q, path).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if a, b := schema(ours), schema(theirs); a != b {
		t.Fatalf("schemas differ:\nfaaslab: %s\nduckdb:  %s", a, b)
	}
	for _, pair := range [][2]string{{ours, theirs}, {theirs, ours}} {
		var diff int
		q := "SELECT count(*) FROM (FROM read_parquet(?) EXCEPT ALL FROM read_parquet(?))"
		if err := db.QueryRow(q, pair[0], pair[1]).Scan(&diff); err != nil {
			t.Fatal(err)
		}
		if diff != 0 {
			t.Errorf("%d rows of %s are not in %s", diff, filepath.Base(pair[0]), filepath.Base(pair[1]))
		}
	}
	var rowsN, models, nullInit, errs int
	q := `SELECT count(*), count(DISTINCT model), count(*) FILTER (init_ms IS NULL),
		count(*) FILTER (status = 'error') FROM read_parquet(?)`
	if err := db.QueryRow(q, ours).Scan(&rowsN, &models, &nullInit, &errs); err != nil {
		t.Fatal(err)
	}
	if rowsN != n || models < 2 || nullInit == 0 || nullInit == n || errs == 0 {
		t.Errorf("synthetic rows look wrong: %d rows, %d models, %d null init_ms, %d errors", rowsN, models, nullInit, errs)
	}
}

// BenchmarkInvocationsParquet writes the synthetic invocations table
// (-rows, 10 million by default) with the Parquet exporter and with
// DuckDB's COPY (SELECT ...) TO (FORMAT parquet, COMPRESSION zstd) from the
// same rows generated in SQL, and reports both times and sizes and their
// ratios (faaslab / DuckDB). Both sides generate the rows while they write.
// For reference it also times DuckDB's COPY of the rows already held in a
// table (created before the clock starts), which measures its writer
// alone. Run it with
//
//	go test ./exporters/duckdbtest -run '^$' -bench InvocationsParquet -benchtime 1x
func BenchmarkInvocationsParquet(b *testing.B) {
	n := *benchRows
	db := openDB(b)
	dir := b.TempDir()
	ours := filepath.Join(dir, "invocations.parquet")
	theirs := filepath.Join(dir, "duckdb.parquet")
	copySQL := fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, COMPRESSION zstd)", benchSQL(n), theirs)
	copyTableSQL := fmt.Sprintf("COPY bench TO '%s' (FORMAT parquet, COMPRESSION zstd)", filepath.Join(dir, "duckdb-table.parquet"))
	if _, err := db.Exec("CREATE TEMP TABLE bench AS " + benchSQL(n)); err != nil {
		b.Fatal(err)
	}

	var ourTime, duckTime, duckTableTime time.Duration
	timeIt := func(total *time.Duration, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		*total += time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		timeIt(&ourTime, func() error {
			src := exporters.Source{Invocations: benchInvocations(n)}
			return (&exporters.Parquet{}).Export(context.Background(), dir, src)
		})
		timeIt(&duckTime, func() error { _, err := db.Exec(copySQL); return err })
		timeIt(&duckTableTime, func() error { _, err := db.Exec(copyTableSQL); return err })
	}
	b.StopTimer()

	size := func(path string) float64 {
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return float64(st.Size()) / 1e6
	}
	ourMB, duckMB := size(ours), size(theirs)
	perOp := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	timeRatio := ourTime.Seconds() / duckTime.Seconds()
	tableRatio := ourTime.Seconds() / duckTableTime.Seconds()
	sizeRatio := ourMB / duckMB
	b.ReportMetric(perOp(ourTime), "faaslab-s/op")
	b.ReportMetric(perOp(duckTime), "duckdb-s/op")
	b.ReportMetric(perOp(duckTableTime), "duckdb-table-s/op")
	b.ReportMetric(timeRatio, "time-ratio")
	b.ReportMetric(ourMB, "faaslab-MB")
	b.ReportMetric(duckMB, "duckdb-MB")
	b.ReportMetric(sizeRatio, "size-ratio")
	fmt.Printf("%d rows: faaslab %.2fs %.1f MB | duckdb %.2fs %.1f MB | time ratio %.2f, size ratio %.3f (faaslab/duckdb)\n",
		n, perOp(ourTime), ourMB, perOp(duckTime), duckMB, timeRatio, sizeRatio)
	fmt.Printf("%d rows: duckdb COPY from a table %.2fs | time ratio %.2f (faaslab/duckdb-table)\n",
		n, perOp(duckTableTime), tableRatio)
}
