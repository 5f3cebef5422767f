-- Summary of one faaslab run, read from its Parquet tables with DuckDB.
--
-- Run it from the run's tables directory:
--     cd results/<study>/<run>/tables && duckdb -c ".read /path/to/examples/summary.sql"
-- or from anywhere, after telling DuckDB where relative file names are:
--     duckdb -c "SET file_search_path = 'results/<study>/<run>/tables'" -c ".read examples/summary.sql"
-- The tables and their columns are described in docs/tables.md.

CREATE OR REPLACE TEMP VIEW generations AS FROM read_parquet('generations.parquet');
CREATE OR REPLACE TEMP VIEW checks AS FROM read_parquet('checks.parquet');
CREATE OR REPLACE TEMP VIEW invocations AS FROM read_parquet('invocations.parquet');
CREATE OR REPLACE TEMP VIEW cells AS FROM read_parquet('cells.parquet');
CREATE OR REPLACE TEMP VIEW manifest AS FROM read_parquet('manifest.parquet');

-- 1. The run.
SELECT study, run_id, faaslab_version, host, cpu_model, started_at, finished_at
FROM manifest;

-- 2. Outcome classes per model: how many artifacts passed (OK), had a
--    functional defect (FD), a syntax error (SE) or failed otherwise.
SELECT
    model,
    count(*) AS artifacts,
    count(*) FILTER (class = 'OK') AS ok,
    count(*) FILTER (class = 'FD') AS fd,
    count(*) FILTER (class = 'SE') AS se,
    count(*) FILTER (class NOT IN ('OK', 'FD', 'SE')) AS other,
    round(100 * count(*) FILTER (class = 'OK') / count(*), 1) AS pct_ok
FROM generations
GROUP BY model
ORDER BY pct_ok DESC, model;

-- 3. Warm runtime per model and task, from the raw invocations: measured
--    calls only (no warm-up, status ok), with the % difference of the mean
--    from the reference implementation's mean on the same task, platform,
--    architecture and memory size. (The cells table holds the same
--    statistics per cell, after the study's CPU-model filter, which this
--    query does not apply.)
WITH measured AS (
    SELECT * FROM invocations WHERE NOT warmup AND status = 'ok'
),
per_model AS (
    SELECT
        model, task, platform, arch, memory_mb,
        count(*) AS n,
        avg(duration_ms) AS mean_ms,
        stddev_samp(duration_ms) AS sd_ms,
        median(duration_ms) AS median_ms,
        quantile_cont(duration_ms, 0.95) AS p95_ms
    FROM measured
    GROUP BY ALL
),
reference AS (
    SELECT task, platform, arch, memory_mb, avg(duration_ms) AS reference_mean_ms
    FROM measured
    WHERE model IN (SELECT model FROM generations WHERE provider = 'reference')
    GROUP BY ALL
)
SELECT
    model, task, platform, arch, memory_mb, n,
    round(mean_ms, 3) AS mean_ms,
    round(sd_ms, 3) AS sd_ms,
    round(sd_ms / mean_ms, 4) AS cv,
    round(median_ms, 3) AS median_ms,
    round(p95_ms, 3) AS p95_ms,
    round(100 * (mean_ms - reference_mean_ms) / reference_mean_ms, 2) AS pct_diff_vs_reference
FROM per_model
LEFT JOIN reference USING (task, platform, arch, memory_mb)
ORDER BY task, platform, arch, memory_mb, mean_ms;

-- 4. Per model and prompt variant, as faaslab summarised the cells: mean
--    % difference from the reference and cost of one million invocations.
SELECT
    model, variant,
    count(*) AS cells,
    sum(n) AS invocations,
    round(avg(pct_diff_vs_reference), 2) AS mean_pct_diff_vs_reference,
    round(avg(cost_per_1m_usd), 4) AS mean_cost_per_1m_usd
FROM cells
WHERE n > 0
GROUP BY model, variant
ORDER BY model, variant;

-- 5. Cold starts per model: how often a call was cold, and how long it
--    took then, against warm calls.
SELECT
    model,
    count(*) FILTER (cold) AS cold_calls,
    round(100 * count(*) FILTER (cold) / count(*), 1) AS pct_cold,
    round(avg(round_trip_ms) FILTER (cold), 3) AS cold_round_trip_ms,
    round(avg(round_trip_ms) FILTER (NOT cold), 3) AS warm_round_trip_ms,
    round(avg(init_ms), 3) AS mean_init_ms
FROM invocations
WHERE status = 'ok'
GROUP BY model
ORDER BY model;
