package exporters

import (
	"context"
	"encoding/csv"
	"io"
	"iter"
	"reflect"
	"strconv"
	"time"
)

// CSV writes each table as an RFC 4180 CSV file (<table>.csv), for tools
// that read neither Parquet nor Arrow.
//
// The first record is the header of column names (the same names as the
// Parquet and Arrow files). Strings are written as they are, quoted when
// they hold commas, quotes or line breaks; numbers in Go's shortest
// round-trip form; booleans as true and false; times in RFC 3339, in UTC,
// to the microsecond (2025-01-02T03:04:05.123456Z). A null is an empty
// field, which CSV cannot tell apart from an empty string: only pointer
// fields of the row types, never strings, are nullable.
//
// The zero value is ready to use and safe for concurrent use.
type CSV struct{}

// Format returns "csv".
func (c *CSV) Format() string { return "csv" }

// Export writes the five tables of src as CSV files into dir, following the
// contract of Exporter.
func (c *CSV) Export(ctx context.Context, dir string, src Source) error {
	return writeTables(ctx, dir, []tableFile{
		csvTable(GenerationsTable, src.Generations),
		csvTable(ChecksTable, src.Checks),
		csvTable(InvocationsTable, src.Invocations),
		csvTable(CellsTable, src.Cells),
		csvTable(ManifestTable, src.Manifest),
		csvTable(EndpointsTable, src.Endpoints),
		csvTable(StagesTable, src.Stages),
		csvTable(PipelinesTable, src.Pipelines),
		csvTable(PipelineCellsTable, src.PipelineCells),
		csvTable(ModelsTable, src.Models),
	})
}

func csvTable[T any](name string, seq iter.Seq2[T, error]) tableFile {
	return tableFile{
		name: name + ".csv",
		encode: func(ctx context.Context, w io.Writer) error {
			return writeCSV(ctx, w, seq)
		},
	}
}

// csvTimeLayout is RFC 3339 with up to six fractional digits.
const csvTimeLayout = "2006-01-02T15:04:05.999999Z07:00"

// writeCSV writes the rows of seq to w as one CSV file.
func writeCSV[T any](ctx context.Context, w io.Writer, seq iter.Seq2[T, error]) error {
	cols, err := columnsOf[T]()
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	record := make([]string, len(cols))
	for i, c := range cols {
		record[i] = c.name
	}
	if err := cw.Write(record); err != nil {
		return err
	}
	err = eachRow(ctx, seq, func(row *T) error {
		v := reflect.ValueOf(row).Elem()
		for i := range cols {
			record[i] = formatCSV(&cols[i], v)
		}
		return cw.Write(record)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// formatCSV returns the field of column c in row as CSV text.
func formatCSV(c *column, row reflect.Value) string {
	v, ok := c.value(row)
	if !ok {
		return ""
	}
	switch c.kind {
	case kindString:
		return v.String()
	case kindBool:
		return strconv.FormatBool(v.Bool())
	case kindInt32, kindInt64:
		return strconv.FormatInt(v.Int(), 10)
	case kindFloat64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case kindTime:
		return time.UnixMicro(unixMicro(v)).UTC().Format(csvTimeLayout)
	}
	panic("exporters: no CSV form for column kind")
}
