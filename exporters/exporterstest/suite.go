package exporterstest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
)

// Suite runs the conformance tests of the Exporter contract against e,
// reading its files back with r. Every exporter runs the same suite.
func Suite(t *testing.T, e exporters.Exporter, r Reader) {
	s := suite{e: e, r: r, ext: "." + e.Format()}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("EmptyTables", s.emptyTables)
	t.Run("ManyRows", s.manyRows)
	t.Run("Overwrite", s.overwrite)
	t.Run("CancelMidway", s.cancelMidway)
	t.Run("CancelledBeforeStart", s.cancelledBeforeStart)
	t.Run("SourceError", s.sourceError)
	t.Run("UnwritableDir", s.unwritableDir)
}

type suite struct {
	e   exporters.Exporter
	r   Reader
	ext string // ".parquet"
}

// path returns the path of table's file in dir.
func (s *suite) path(dir, table string) string {
	return filepath.Join(dir, table+s.ext)
}

// export runs an export that must succeed and checks that dir then holds
// exactly the five files.
func (s *suite) export(t *testing.T, dir string, src exporters.Source) {
	t.Helper()
	if err := s.e.Export(context.Background(), dir, src); err != nil {
		t.Fatalf("Export: %v", err)
	}
	s.wantFiles(t, dir, exporters.TableNames...)
}

// wantFiles checks that dir holds the files of tables and nothing else: no
// temporary file, no file of another table.
func (s *suite) wantFiles(t *testing.T, dir string, tables ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for _, table := range tables {
		want = append(want, table+s.ext)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files in %s = %q, want %q", dir, got, want)
	}
}

func (s *suite) read(t *testing.T, dir string) *rows.Tables {
	t.Helper()
	got, err := s.r.Tables(dir)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	return Normalize(got)
}

func (s *suite) roundTrip(t *testing.T) {
	dir := t.TempDir()
	s.export(t, dir, exporters.FromTables(Tables()))
	if d := Diff(Normalize(Tables()), s.read(t, dir)); d != "" {
		t.Errorf("tables read back differ from tables written:\n%s", d)
	}
	s.wantColumns(t, dir)
}

// wantColumns checks the column names, in order, of every file in dir.
func (s *suite) wantColumns(t *testing.T, dir string) {
	t.Helper()
	want := map[string][]string{
		exporters.GenerationsTable: ColumnNames[rows.Generation](),
		exporters.ChecksTable:      ColumnNames[rows.Check](),
		exporters.InvocationsTable: ColumnNames[rows.Invocation](),
		exporters.CellsTable:       ColumnNames[rows.Cell](),
		exporters.ManifestTable:    ColumnNames[rows.Manifest](),
		exporters.EndpointsTable:   ColumnNames[rows.Endpoint](),

		exporters.StagesTable:        ColumnNames[rows.Stage](),
		exporters.PipelinesTable:     ColumnNames[rows.Pipeline](),
		exporters.PipelineCellsTable: ColumnNames[rows.PipelineCell](),
		exporters.ModelsTable:        ColumnNames[rows.Model](),
	}
	for _, table := range exporters.TableNames {
		got, err := s.r.Columns(s.path(dir, table))
		if err != nil {
			t.Errorf("columns of %s: %v", table, err)
			continue
		}
		if !slices.Equal(got, want[table]) {
			t.Errorf("columns of %s = %q, want %q", table, got, want[table])
		}
	}
}

func (s *suite) emptyTables(t *testing.T) {
	for name, src := range map[string]exporters.Source{
		"NilSequences": {},
		"EmptySlices":  exporters.FromTables(&rows.Tables{}),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s.export(t, dir, src)
			s.wantColumns(t, dir)
			if d := Diff(&rows.Tables{}, s.read(t, dir)); d != "" {
				t.Errorf("empty tables read back with rows:\n%s", d)
			}
		})
	}
}

func (s *suite) manyRows(t *testing.T) {
	dir := t.TempDir()
	want := &rows.Tables{Invocations: Invocations(2500)}
	s.export(t, dir, exporters.FromTables(want))
	if d := Diff(Normalize(want), s.read(t, dir)); d != "" {
		t.Errorf("tables read back differ from tables written:\n%s", d)
	}
}

func (s *suite) overwrite(t *testing.T) {
	dir := t.TempDir()
	s.export(t, dir, exporters.FromTables(Tables()))
	second := &rows.Tables{Invocations: Invocations(3)}
	s.export(t, dir, exporters.FromTables(second))
	if d := Diff(Normalize(second), s.read(t, dir)); d != "" {
		t.Errorf("second export did not replace the first:\n%s", d)
	}
}

// cancelMidway cancels the context while the invocations table is being
// written, over the files of an earlier complete export.
func (s *suite) cancelMidway(t *testing.T) {
	for _, n := range []int{1, 1500} { // before and after the first context check
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			old := Tables()
			s.export(t, dir, exporters.FromTables(old))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := exporters.FromTables(&rows.Tables{})
			src.Invocations = func(yield func(rows.Invocation, error) bool) {
				for i, inv := range Invocations(n + 2000) {
					if i == n {
						cancel()
					}
					if !yield(inv, nil) {
						return
					}
				}
			}
			err := s.e.Export(ctx, dir, src)
			s.wantError(t, err, context.Canceled, s.path(dir, exporters.InvocationsTable))
			s.wantFiles(t, dir, exporters.TableNames...)

			// The tables before invocations are new; the others are the
			// earlier export's, complete.
			got := s.read(t, dir)
			want := Normalize(old)
			want.Generations, want.Checks = nil, nil
			if d := Diff(want, got); d != "" {
				t.Errorf("files after a cancelled export:\n%s", d)
			}
		})
	}
}

func (s *suite) cancelledBeforeStart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.e.Export(ctx, dir, exporters.FromTables(Tables()))
	s.wantError(t, err, context.Canceled, s.path(dir, exporters.GenerationsTable))
	s.wantFiles(t, dir)
}

var errSource = errors.New("journal entry 3 is corrupt")

func (s *suite) sourceError(t *testing.T) {
	dir := t.TempDir()
	src := exporters.FromTables(Tables())
	src.Cells = failAfter(Tables().Cells, 2)
	err := s.e.Export(context.Background(), dir, src)
	s.wantError(t, err, errSource, s.path(dir, exporters.CellsTable))
	s.wantFiles(t, dir, exporters.GenerationsTable, exporters.ChecksTable, exporters.InvocationsTable)
}

// failAfter yields n rows of rs, then errSource.
func failAfter[T any](rs []T, n int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, r := range rs[:n] {
			if !yield(r, nil) {
				return
			}
		}
		var zero T
		yield(zero, errSource)
	}
}

func (s *suite) unwritableDir(t *testing.T) {
	t.Run("UnderAFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "results")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "run-1")
		err := s.e.Export(context.Background(), dir, exporters.FromTables(Tables()))
		s.wantError(t, err, nil, dir)
	})
	t.Run("ReadOnly", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may write into a read-only directory")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		err := s.e.Export(context.Background(), dir, exporters.FromTables(Tables()))
		s.wantError(t, err, os.ErrPermission, s.path(dir, exporters.GenerationsTable))
		s.wantFiles(t, dir)
	})
}

// wantError checks that err is not nil, wraps target (unless nil) and
// names path.
func (s *suite) wantError(t *testing.T, err, target error, path string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("Export succeeded, want an error naming %s", path)
	case target != nil && !errors.Is(err, target):
		t.Errorf("Export error %q does not wrap %q", err, target)
	case !strings.Contains(err.Error(), path):
		t.Errorf("Export error %q does not name %s", err, path)
	}
}

// Invocations returns n invocation rows with varied values, of a few cells.
func Invocations(n int) []rows.Invocation {
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	out := make([]rows.Invocation, n)
	for i := range out {
		cell := i / 100
		inv := rows.Invocation{
			Study:        "many",
			RunID:        "run-2",
			CellID:       fmt.Sprintf("cell-%d", cell),
			GenerationID: fmt.Sprintf("gen-%d", cell/2),
			Model:        []string{"gpt-4o", "claude", "reference"}[cell%3],
			Task:         "thumbnail",
			Variant:      []string{"long", "short"}[cell%2],
			Sample:       int32(cell % 5),
			Platform:     "local",
			Arch:         "x86_64",
			MemoryMB:     1024,
			Seq:          int32(i % 100),
			Warmup:       i%100 == 0,
			Cold:         i%100 == 0,
			Status:       "ok",
			StartedAt:    t0.Add(time.Duration(i) * 1500 * time.Microsecond),
			DurationMS:   float64(i%997) * 0.37,
			RoundTripMS:  float64(i%997)*0.37 + 2.5,
			MaxRSSKB:     int64(40000 + i),
			ContainerID:  fmt.Sprintf("ctr-%d", cell),
			CPUModel:     "AMD EPYC",
			CPUArch:      "x86_64",
		}
		if inv.Cold {
			inv.InitMS = ptr(float64(i) / 7)
		}
		if i%3 == 0 {
			inv.BilledMS = ptr(float64(i % 11))
		}
		out[i] = inv
	}
	return out
}

// Diff describes the first differences between two sets of tables, or
// returns "" when they are equal. Empty and nil tables are equal.
func Diff(want, got *rows.Tables) string {
	var b strings.Builder
	wt, gt := tableFiles(want), tableFiles(got)
	for i := range wt {
		w := reflect.ValueOf(wt[i].dst).Elem()
		g := reflect.ValueOf(gt[i].dst).Elem()
		if w.Len() != g.Len() {
			fmt.Fprintf(&b, "%s: %d rows, want %d\n", wt[i].name, g.Len(), w.Len())
			continue
		}
		shown := 0
		for r := range w.Len() {
			for f := range w.Index(r).NumField() {
				wv, gv := w.Index(r).Field(f), g.Index(r).Field(f)
				if reflect.DeepEqual(wv.Interface(), gv.Interface()) || shown >= 5 {
					continue
				}
				shown++
				col, _, _ := strings.Cut(w.Type().Elem().Field(f).Tag.Get("parquet"), ",")
				fmt.Fprintf(&b, "%s row %d column %s: got %s, want %s\n",
					wt[i].name, r, col, show(gv), show(wv))
			}
		}
	}
	return b.String()
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "null"
		}
		v = v.Elem()
	}
	return fmt.Sprintf("%#v", v.Interface())
}
