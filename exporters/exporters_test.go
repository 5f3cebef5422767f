package exporters_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/exporterstest"
	"github.com/faaslab/faaslab/exporters/rows"
)

func TestParquet(t *testing.T) {
	exporterstest.Suite(t, &exporters.Parquet{}, exporterstest.ParquetReader())
}

func TestParquetSmallRowGroups(t *testing.T) {
	exporterstest.Suite(t, &exporters.Parquet{RowGroupRows: 1000}, exporterstest.ParquetReader())
}

func TestArrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	exporterstest.Suite(t, &exporters.Arrow{Allocator: mem}, exporterstest.ArrowReader(mem))
}

func TestArrowSmallBatchesUncompressed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	e := &exporters.Arrow{BatchRows: 1000, Allocator: mem, Uncompressed: true}
	exporterstest.Suite(t, e, exporterstest.ArrowReader(mem))
}

func TestCSV(t *testing.T) {
	exporterstest.Suite(t, &exporters.CSV{}, exporterstest.CSVReader())
}

func TestLookup(t *testing.T) {
	for _, e := range exporters.All() {
		got, err := exporters.Lookup(e.Format())
		if err != nil || got.Format() != e.Format() {
			t.Errorf("Lookup(%q) = %v, %v", e.Format(), got, err)
		}
	}
	if _, err := exporters.Lookup("xlsx"); !errors.Is(err, exporters.ErrUnknownFormat) {
		t.Errorf("Lookup(xlsx) error = %v, want ErrUnknownFormat", err)
	}
}

// TestParquetLayout checks what the conformance suite cannot see: the
// physical layout that makes the files small and the logical types that
// make readers agree on what the values mean.
func TestParquetLayout(t *testing.T) {
	dir := t.TempDir()
	src := exporters.FromTables(&rows.Tables{Invocations: exporterstest.Invocations(2500)})
	if err := (&exporters.Parquet{RowGroupRows: 1000}).Export(context.Background(), dir, src); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "invocations.parquet")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}

	md := pf.Metadata()
	if got := len(md.RowGroups); got != 3 {
		t.Errorf("%d row groups, want 3 (2500 rows, 1000 per group)", got)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			name := strings.Join(cc.MetaData.PathInSchema, ".")
			if cc.MetaData.Codec != format.Zstd {
				t.Errorf("column %s: codec %s, want ZSTD", name, cc.MetaData.Codec)
			}
			want := map[string]format.Encoding{
				"model":       format.RLEDictionary,
				"cell_id":     format.RLEDictionary,
				"duration_ms": format.ByteStreamSplit,
				"started_at":  format.DeltaBinaryPacked,
				"seq":         format.DeltaBinaryPacked,
			}[name]
			if want != 0 && !slices.Contains(cc.MetaData.Encoding, want) {
				t.Errorf("column %s: encodings %v, want %s", name, cc.MetaData.Encoding, want)
			}
		}
	}

	schema := pf.Schema()
	for _, tc := range []struct {
		column   string
		optional bool
		logical  string
	}{
		{"model", false, "STRING"},
		{"started_at", false, "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		{"init_ms", true, ""},
		{"max_memory_used_mb", true, "INT(32,true)"},
		{"duration_ms", false, ""},
	} {
		leaf, ok := schema.Lookup(tc.column)
		if !ok {
			t.Errorf("no column %s", tc.column)
			continue
		}
		if leaf.Node.Optional() != tc.optional {
			t.Errorf("column %s: optional = %v, want %v", tc.column, leaf.Node.Optional(), tc.optional)
		}
		var logical string
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			logical = lt.String()
		}
		if logical != tc.logical {
			t.Errorf("column %s: logical type %q, want %q", tc.column, logical, tc.logical)
		}
	}
}

func TestArrowSchema(t *testing.T) {
	schema, err := exporters.ArrowSchema[rows.Invocation]()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		column   string
		typ      string
		nullable bool
	}{
		{"model", "utf8", false},
		{"seq", "int32", false},
		{"warmup", "bool", false},
		{"max_rss_kb", "int64", false},
		{"duration_ms", "float64", false},
		{"init_ms", "float64", true},
		{"max_memory_used_mb", "int32", true},
		{"started_at", "timestamp[us, tz=UTC]", false},
	} {
		fields, ok := schema.FieldsByName(tc.column)
		if !ok {
			t.Errorf("no field %s", tc.column)
			continue
		}
		f := fields[0]
		if f.Type.String() != tc.typ || f.Nullable != tc.nullable {
			t.Errorf("field %s: %s nullable=%v, want %s nullable=%v", tc.column, f.Type, f.Nullable, tc.typ, tc.nullable)
		}
	}
	if ts, ok := schema.Field(15).Type.(*arrow.TimestampType); !ok || ts.TimeZone != "UTC" {
		t.Errorf("field 15 (%s) is %s, want a UTC timestamp", schema.Field(15).Name, schema.Field(15).Type)
	}
}

// TestCSVText checks the exact text of a CSV file: header, quoting, time
// layout, nulls.
func TestCSVText(t *testing.T) {
	dir := t.TempDir()
	ist := time.FixedZone("IST", 5*3600+30*60)
	cost := 0.0
	src := exporters.FromTables(&rows.Tables{Checks: []rows.Check{{
		Study:     "s",
		Test:      "a, \"b\"\nc",
		Class:     "OK",
		Sample:    -3,
		CheckedAt: time.Date(2025, 1, 2, 8, 34, 5, 123456789, ist),
	}, {
		Detail:     "Grüße",
		DurationMS: &cost,
		CheckedAt:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}}})
	if err := (&exporters.CSV{}).Export(context.Background(), dir, src); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "checks.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "study,run_id,generation_id,model,task,variant,sample,test,class,compare,diff_path,detail,duration_ms,checked_at\n" +
		"s,,,,,,-3,\"a, \"\"b\"\"\nc\",OK,,,,,2025-01-02T03:04:05.123456Z\n" +
		",,,,,,0,,,,,Grüße,0,2025-01-02T03:04:05Z\n"
	if string(got) != want {
		t.Errorf("checks.csv =\n%s\nwant\n%s", got, want)
	}
}

// TestUnsupportedField checks that a row type the exporters cannot map is
// an error naming the field, not a panic or a silently dropped column.
func TestUnsupportedField(t *testing.T) {
	type bad struct {
		Tags map[string]string `parquet:"tags"`
	}
	if _, err := exporters.ArrowSchema[bad](); err == nil || !strings.Contains(err.Error(), "Tags") {
		t.Errorf("ArrowSchema of a map field: error %v, want one naming Tags", err)
	}
}
