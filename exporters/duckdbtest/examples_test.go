package duckdbtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/exporterstest"
)

// examplesDir is the repository's examples directory, seen from this
// package's directory, where tests run.
const examplesDir = "../../examples"

// exportFixture writes the fixture tables in every format into a new
// directory and returns it.
func exportFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range exporters.All() {
		if err := e.Export(context.Background(), dir, exporters.FromTables(exporterstest.Tables())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSummarySQL runs examples/summary.sql statement by statement on the
// fixture tables, as the DuckDB CLI would, and checks that every query
// returns rows.
func TestSummarySQL(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(examplesDir, "summary.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	dir := exportFixture(t)
	if _, err := db.Exec("SET file_search_path = '" + dir + "'"); err != nil {
		t.Fatal(err)
	}
	queries := 0
	for stmt := range strings.SplitSeq(string(script), ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if !strings.Contains(stmt, "SELECT") || strings.Contains(stmt, "CREATE") {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s\n: %v", stmt, err)
			}
			continue
		}
		queries++
		r, err := db.Query(stmt)
		if err != nil {
			t.Fatalf("%s\n: %v", stmt, err)
		}
		n := 0
		for r.Next() {
			n++
		}
		if err := r.Err(); err != nil {
			t.Fatalf("%s\n: %v", stmt, err)
		}
		r.Close()
		if n == 0 {
			t.Errorf("query returned no rows:\n%s", stmt)
		}
	}
	if queries != 5 {
		t.Errorf("ran %d queries, want the 5 of summary.sql", queries)
	}

	// The raw-invocation query must find the reference: gpt-4o's cell 0
	// runs on the same task, platform, arch and memory as the reference.
	var pct float64
	q := `WITH m AS (SELECT * FROM invocations WHERE NOT warmup AND status = 'ok')
		SELECT 100 * (avg(duration_ms) FILTER (cell_id = 'cell-0') - avg(duration_ms) FILTER (model = 'reference'))
			/ avg(duration_ms) FILTER (model = 'reference') FROM m`
	if err := db.QueryRow(q).Scan(&pct); err != nil {
		t.Fatal(err)
	}
	if pct >= 0 {
		t.Errorf("fixture: gpt-4o is %.2f%% slower than the reference, want faster", pct)
	}
}

func stripComments(stmt string) string {
	var b strings.Builder
	for line := range strings.Lines(stmt) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestSummaryPy runs examples/summary.py on the fixture tables with a
// Python that has pandas, if there is one.
func TestSummaryPy(t *testing.T) {
	var python string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import pandas").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with pandas")
	}
	dir := exportFixture(t)
	out, err := exec.Command(python, filepath.Join(examplesDir, "summary.py"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("summary.py: %v\n%s", err, out)
	}
	for _, want := range []string{"study wosc25, run run-1", "Outcome classes per model", "gpt-4o", "pct_diff_vs_reference"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("summary.py output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}
