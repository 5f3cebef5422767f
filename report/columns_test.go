package report

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/exporterstest"
	"github.com/faaslab/faaslab/report/reporttest"
)

// readBoth reads an invocations file with the column reader and with
// parquet-go's row reader, which must agree row for row.
func readBoth(t *testing.T, path string) []invocation {
	t.Helper()
	var cols, rws []invocation
	ok, err := readInvocations(context.Background(), tableFile{path, path}, func(inv *invocation) {
		c := *inv
		// The reader reuses the pointed-to values: copy them.
		for _, p := range []**float64{&c.InitMS, &c.BilledMS, &c.BilledEstMS} {
			if *p != nil {
				v := **p
				*p = &v
			}
		}
		if c.CPUMatch != nil {
			v := *c.CPUMatch
			c.CPUMatch = &v
		}
		cols = append(cols, c)
	})
	if !ok || err != nil {
		t.Fatalf("readInvocations: %v, %v", ok, err)
	}
	if err := readAll(context.Background(), tableFile{path, path}, &rws); err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 || !reflect.DeepEqual(cols, rws) {
		t.Fatalf("column reader and row reader differ: %d and %d rows\n%+v\n%+v", len(cols), len(rws), cols[:min(2, len(cols))], rws[:min(2, len(rws))])
	}
	return cols
}

func TestReadInvocationsColumns(t *testing.T) {
	// The exporters' conformance tables: nulls beside zeros, awkward
	// strings, the largest double; row groups of 7 rows, so batches cross
	// row groups and pages.
	dir := t.TempDir()
	if err := (&exporters.Parquet{RowGroupRows: 7}).Export(context.Background(), dir, exporters.FromTables(exporterstest.Tables())); err != nil {
		t.Fatal(err)
	}
	got := readBoth(t, filepath.Join(dir, "invocations.parquet"))
	if len(got) != len(exporterstest.Tables().Invocations) {
		t.Errorf("read %d rows", len(got))
	}

	// A run's worth of rows in several batches.
	run := t.TempDir()
	tables, err := reporttest.Write(context.Background(), run, reporttest.Run{ID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	readBoth(t, filepath.Join(tables, "invocations.parquet"))

	// A table with cpu_match: its values come through, null included.
	type withMatch struct {
		Model    string   `parquet:"model"`
		Status   string   `parquet:"status"`
		Duration float64  `parquet:"duration_ms"`
		CPUMatch *bool    `parquet:"cpu_match,optional"`
		InitMS   *float64 `parquet:"init_ms,optional"`
	}
	yes, no := true, false
	path := filepath.Join(t.TempDir(), "invocations.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[withMatch](f)
	if _, err := w.Write([]withMatch{{"m", "ok", 1, &yes, nil}, {"m", "ok", 2, &no, nil}, {"m", "error", 3, nil, nil}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got = readBoth(t, path)
	if *got[0].CPUMatch != true || *got[1].CPUMatch != false || got[2].CPUMatch != nil || got[2].Status != "error" || got[1].DurationMS != 2 {
		t.Errorf("cpu_match rows read as %+v", got)
	}
}
