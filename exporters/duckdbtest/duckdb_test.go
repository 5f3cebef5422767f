// Package duckdbtest checks the exported files with the readers analysts
// use: DuckDB (through database/sql and github.com/duckdb/duckdb-go/v2) for
// Parquet, and arrow's IPC reader for Arrow. It also benchmarks the Parquet
// exporter against DuckDB's own Parquet writer.
package duckdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/exporterstest"
	"github.com/faaslab/faaslab/exporters/rows"
)

// openDB opens an in-memory DuckDB database that reads and prints times
// in UTC.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // settings are per connection
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	return db
}

// duckdbReader reads Parquet files back with DuckDB's read_parquet,
// scanning every column into the row field of the same name.
func duckdbReader(db *sql.DB) exporterstest.Reader {
	return exporterstest.Reader{
		Tables: func(dir string) (*rows.Tables, error) {
			return exporterstest.ReadTables(dir, "parquet", func(path string, dst any) error {
				return queryRows(db, dst, "SELECT * FROM read_parquet(?)", path)
			})
		},
		Columns: func(path string) ([]string, error) {
			r, err := db.Query("SELECT * FROM read_parquet(?) LIMIT 0", path)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			return r.Columns()
		},
	}
}

// queryRows runs query and appends its rows to *dst, a pointer to a slice
// of a row type, scanning each column into the field its `parquet` tag
// names. Nullable columns scan into pointer fields, so NULL stays nil.
func queryRows(db *sql.DB, dst any, query string, args ...any) error {
	r, err := db.Query(query, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return err
	}
	slice := reflect.ValueOf(dst).Elem()
	rowType := slice.Type().Elem()
	fields := make(map[string]int)
	for i := range rowType.NumField() {
		name, _, _ := strings.Cut(rowType.Field(i).Tag.Get("parquet"), ",")
		fields[name] = i
	}
	for r.Next() {
		row := reflect.New(rowType).Elem()
		targets := make([]any, len(cols))
		for i, c := range cols {
			fi, ok := fields[c]
			if !ok {
				return fmt.Errorf("column %s is not a field of %s", c, rowType)
			}
			targets[i] = row.Field(fi).Addr().Interface()
		}
		if err := r.Scan(targets...); err != nil {
			return err
		}
		slice.Set(reflect.Append(slice, row))
	}
	return r.Err()
}

// TestParquetConformanceWithDuckDB runs the whole conformance suite on the
// Parquet exporter, reading every file back with DuckDB: every value of
// every table must come back exactly, nulls as nulls, times as the same
// instants.
func TestParquetConformanceWithDuckDB(t *testing.T) {
	exporterstest.Suite(t, &exporters.Parquet{}, duckdbReader(openDB(t)))
}

// TestParquetWithDuckDB checks what DuckDB sees in the files beyond the
// values: column types, null counts, time zone, dictionary encoding and
// compression.
func TestParquetWithDuckDB(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	want := exporterstest.Tables()
	if err := (&exporters.Parquet{}).Export(context.Background(), dir, exporters.FromTables(want)); err != nil {
		t.Fatal(err)
	}
	path := func(table string) string { return filepath.Join(dir, table+".parquet") }
	queryInt := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}

	t.Run("RowCounts", func(t *testing.T) {
		for table, n := range map[string]int{
			"generations": len(want.Generations),
			"checks":      len(want.Checks),
			"invocations": len(want.Invocations),
			"cells":       len(want.Cells),
			"manifest":    len(want.Manifest),
			"endpoints":   len(want.Endpoints),

			"stages":         len(want.Stages),
			"pipelines":      len(want.Pipelines),
			"pipeline_cells": len(want.PipelineCells),
			"models":         len(want.Models),
		} {
			if got := queryInt("SELECT count(*) FROM read_parquet(?)", path(table)); got != n {
				t.Errorf("%s: %d rows, want %d", table, got, n)
			}
		}
	})

	// A pipeline's stage times add up to its stages_ms, joined on the
	// pipeline run, and failed runs have no end-to-end time.
	t.Run("PipelineJoin", func(t *testing.T) {
		n := queryInt(`SELECT count(*) FROM read_parquet(?) p JOIN (SELECT instance, sum(duration_ms) AS ms FROM read_parquet(?) GROUP BY instance) s
			USING (instance) WHERE p.status = 'ok' AND abs(p.stages_ms - s.ms) < 1e-9`, path("pipelines"), path("stages"))
		if n != 1 {
			t.Errorf("%d whole pipeline runs whose stages add up, want 1", n)
		}
		if n := queryInt(`SELECT count(*) FROM read_parquet(?) WHERE end_to_end_ms IS NULL AND failed_stage <> ''`, path("pipelines")); n != 1 {
			t.Errorf("%d failed runs without an end-to-end time, want 1", n)
		}
	})

	t.Run("Types", func(t *testing.T) {
		var types []string
		r, err := db.Query(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))`, path("invocations"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var name, typ string
			if err := r.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			types = append(types, name+" "+typ)
		}
		for _, want := range []string{
			"model VARCHAR", "sample INTEGER", "warmup BOOLEAN", "max_rss_kb BIGINT",
			"duration_ms DOUBLE", "init_ms DOUBLE", "max_memory_used_mb INTEGER",
			"started_at TIMESTAMP WITH TIME ZONE",
		} {
			if !slices.Contains(types, want) {
				t.Errorf("no column %q in %q", want, types)
			}
		}
	})

	t.Run("Nulls", func(t *testing.T) {
		var nulls, zeros int
		for _, inv := range want.Invocations {
			switch {
			case inv.BilledMS == nil:
				nulls++
			case *inv.BilledMS == 0:
				zeros++
			}
		}
		if nulls == 0 || zeros == 0 {
			t.Fatal("fixture has no null or no zero billed_ms")
		}
		q := "SELECT count(*) FILTER (billed_ms IS NULL), count(*) FILTER (billed_ms = 0) FROM read_parquet(?)"
		var gotNulls, gotZeros int
		if err := db.QueryRow(q, path("invocations")).Scan(&gotNulls, &gotZeros); err != nil {
			t.Fatal(err)
		}
		if gotNulls != nulls || gotZeros != zeros {
			t.Errorf("billed_ms: %d nulls and %d zeros, want %d and %d", gotNulls, gotZeros, nulls, zeros)
		}
		// A non-pointer field is never null, even when its value is zero.
		if n := queryInt("SELECT count(*) FROM read_parquet(?) WHERE host_cpu_iowait_s IS NULL", path("invocations")); n != 0 {
			t.Errorf("%d null host_cpu_iowait_s, want 0", n)
		}
	})

	t.Run("UTC", func(t *testing.T) {
		// The fixture's first check time is given in IST (+05:30); the
		// file holds the same instant.
		at := want.Checks[0].CheckedAt
		q := "SELECT count(*) FROM read_parquet(?) WHERE checked_at = ?::TIMESTAMPTZ"
		if n := queryInt(q, path("checks"), at.UTC().Format("2006-01-02 15:04:05.999999+00")); n != 1 {
			t.Errorf("%d checks at %s, want 1", n, at.UTC())
		}
		var text string
		q = "SELECT strftime(checked_at, '%Y-%m-%dT%H:%M:%S.%fZ') FROM read_parquet(?) LIMIT 1"
		if err := db.QueryRow(q, path("checks")).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if w := at.UTC().Format("2006-01-02T15:04:05.000000Z"); text != w {
			t.Errorf("checked_at in UTC = %s, want %s", text, w)
		}
		var logical string
		q = "SELECT logical_type FROM parquet_schema(?) WHERE name = 'checked_at'"
		if err := db.QueryRow(q, path("checks")).Scan(&logical); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logical, "isAdjustedToUTC=1") || !strings.Contains(logical, "MICROS") {
			t.Errorf("checked_at logical type %s, want MICROS adjusted to UTC", logical)
		}
		// A nil *time.Time is null.
		var finished sql.NullTime
		if err := db.QueryRow("SELECT finished_at FROM read_parquet(?)", path("manifest")).Scan(&finished); err != nil {
			t.Fatal(err)
		}
		if finished.Valid {
			t.Errorf("finished_at = %s, want null", finished.Time)
		}
	})

	t.Run("DictionaryStrings", func(t *testing.T) {
		counts := map[string]int{}
		for _, g := range want.Generations {
			counts[g.Model]++
		}
		r, err := db.Query("SELECT model, count(*) FROM read_parquet(?) GROUP BY model", path("generations"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got := map[string]int{}
		for r.Next() {
			var model string
			var n int
			if err := r.Scan(&model, &n); err != nil {
				t.Fatal(err)
			}
			got[model] = n
		}
		if !reflect.DeepEqual(got, counts) {
			t.Errorf("generations per model = %v, want %v", got, counts)
		}
		q := `SELECT path_in_schema, encodings, compression FROM parquet_metadata(?)
			WHERE path_in_schema IN ('model', 'task', 'class', 'error')`
		r2, err := db.Query(q, path("generations"))
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		for r2.Next() {
			var column, encodings, compression string
			if err := r2.Scan(&column, &encodings, &compression); err != nil {
				t.Fatal(err)
			}
			dict := strings.Contains(encodings, "DICTIONARY")
			if dict != (column != "error") {
				t.Errorf("column %s: encodings %s, want dictionary encoding only for dict columns", column, encodings)
			}
			if compression != "ZSTD" {
				t.Errorf("column %s: compression %s, want ZSTD", column, compression)
			}
		}
	})
}

// TestArrowWithIPCReader writes the tables with the Arrow exporter and
// reads them back with arrow's ipc.FileReader, both through a checked
// allocator that must end with nothing allocated.
func TestArrowWithIPCReader(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	want := exporterstest.Tables()
	if err := (&exporters.Arrow{Allocator: mem}).Export(context.Background(), dir, exporters.FromTables(want)); err != nil {
		t.Fatal(err)
	}
	got, err := exporterstest.ArrowReader(mem).Tables(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := exporterstest.Diff(exporterstest.Normalize(want), exporterstest.Normalize(got)); d != "" {
		t.Errorf("Arrow tables read back differ:\n%s", d)
	}
}
