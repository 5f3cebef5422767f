package exporters

import (
	"context"
	"errors"
	"io"
	"iter"
	"reflect"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// DefaultBatchRows is the number of rows in a full Arrow record batch.
const DefaultBatchRows = 64 * 1024

// maxBatchStringBytes ends a record batch early when its strings reach this
// many bytes, so that long texts (errors, details) cannot make a batch
// arbitrarily large.
const maxBatchStringBytes = 64 << 20

// Arrow writes each table as an Arrow IPC file (<table>.arrow), the format
// that is also called Feather version 2: pandas.read_feather,
// pyarrow.ipc.open_file and polars.read_ipc read it.
//
// The schema is derived by reflection from the `parquet` struct tags of the
// row types, so it has the same column names as the Parquet files. Strings
// are plain utf8 columns, not dictionaries: the IPC file format cannot
// replace a dictionary between batches, and zstd compression of the buffers
// already takes most of the gain. Times are timestamp[us, tz=UTC]; int32,
// int64, float64 and bool map to the Arrow types of the same name; pointer
// fields are nullable and every other field is declared non-nullable.
// Rows are written in record batches of at most BatchRows rows.
//
// The zero value is ready to use. An Arrow is safe for concurrent use as
// long as its fields do not change.
type Arrow struct {
	// BatchRows caps the number of rows in one record batch; zero means
	// DefaultBatchRows.
	BatchRows int

	// Allocator allocates the Arrow buffers; nil means a Go allocator.
	// Every buffer is released before Export returns.
	Allocator memory.Allocator

	// Uncompressed turns off the zstd compression of buffers, for readers
	// that lack it.
	Uncompressed bool
}

// Format returns "arrow".
func (a *Arrow) Format() string { return "arrow" }

// Export writes the five tables of src as Arrow IPC files into dir,
// following the contract of Exporter.
func (a *Arrow) Export(ctx context.Context, dir string, src Source) error {
	return writeTables(ctx, dir, []tableFile{
		arrowTable(a, GenerationsTable, src.Generations),
		arrowTable(a, ChecksTable, src.Checks),
		arrowTable(a, InvocationsTable, src.Invocations),
		arrowTable(a, CellsTable, src.Cells),
		arrowTable(a, ManifestTable, src.Manifest),
		arrowTable(a, EndpointsTable, src.Endpoints),
		arrowTable(a, StagesTable, src.Stages),
		arrowTable(a, PipelinesTable, src.Pipelines),
		arrowTable(a, PipelineCellsTable, src.PipelineCells),
		arrowTable(a, ModelsTable, src.Models),
	})
}

func arrowTable[T any](a *Arrow, name string, seq iter.Seq2[T, error]) tableFile {
	return tableFile{
		name: name + ".arrow",
		encode: func(ctx context.Context, w io.Writer) error {
			return writeArrow(ctx, w, seq, a)
		},
	}
}

// ArrowSchema returns the Arrow schema of the row type T, as the Arrow
// exporter writes it.
func ArrowSchema[T any]() (*arrow.Schema, error) {
	cols, err := columnsOf[T]()
	if err != nil {
		return nil, err
	}
	return arrowSchema(cols), nil
}

func arrowSchema(cols []column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: arrowType(c.kind), Nullable: c.nullable}
	}
	return arrow.NewSchema(fields, nil)
}

func arrowType(k kind) arrow.DataType {
	switch k {
	case kindString:
		return arrow.BinaryTypes.String
	case kindBool:
		return arrow.FixedWidthTypes.Boolean
	case kindInt32:
		return arrow.PrimitiveTypes.Int32
	case kindInt64:
		return arrow.PrimitiveTypes.Int64
	case kindFloat64:
		return arrow.PrimitiveTypes.Float64
	case kindTime:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	panic("exporters: no Arrow type for column kind")
}

// writeArrow writes the rows of seq to w as one Arrow IPC file.
func writeArrow[T any](ctx context.Context, w io.Writer, seq iter.Seq2[T, error], a *Arrow) error {
	cols, err := columnsOf[T]()
	if err != nil {
		return err
	}
	mem := a.Allocator
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	batchRows := a.BatchRows
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}

	schema := arrowSchema(cols)
	opts := []ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(mem)}
	if !a.Uncompressed {
		opts = append(opts, ipc.WithZstd())
	}
	fw, err := ipc.NewFileWriter(&positionWriter{w: w}, opts...)
	if err != nil {
		return err
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()

	rowsInBatch, stringBytes := 0, 0
	writeBatch := func() error {
		rec := b.NewRecord()
		defer rec.Release()
		rowsInBatch, stringBytes = 0, 0
		return fw.Write(rec)
	}
	err = eachRow(ctx, seq, func(row *T) error {
		v := reflect.ValueOf(row).Elem()
		for i := range cols {
			stringBytes += appendArrow(b.Field(i), &cols[i], v)
		}
		rowsInBatch++
		if rowsInBatch >= batchRows || stringBytes >= maxBatchStringBytes {
			return writeBatch()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rowsInBatch > 0 {
		if err := writeBatch(); err != nil {
			return err
		}
	}
	return fw.Close()
}

// appendArrow appends the value of column c in row to b and returns the
// number of string bytes it appended.
func appendArrow(b array.Builder, c *column, row reflect.Value) int {
	v, ok := c.value(row)
	if !ok {
		b.AppendNull()
		return 0
	}
	switch c.kind {
	case kindString:
		s := v.String()
		b.(*array.StringBuilder).Append(s)
		return len(s)
	case kindBool:
		b.(*array.BooleanBuilder).Append(v.Bool())
	case kindInt32:
		b.(*array.Int32Builder).Append(int32(v.Int()))
	case kindInt64:
		b.(*array.Int64Builder).Append(v.Int())
	case kindFloat64:
		b.(*array.Float64Builder).Append(v.Float())
	case kindTime:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(unixMicro(v)))
	}
	return 0
}

// positionWriter counts the bytes written through it. The Arrow file writer
// wants an io.WriteSeeker only to ask for its position with
// Seek(0, io.SeekCurrent), so an unseekable, buffered writer will do.
type positionWriter struct {
	w   io.Writer
	pos int64
}

func (p *positionWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.pos += int64(n)
	return n, err
}

func (p *positionWriter) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, errors.New("arrow output cannot seek")
	}
	return p.pos, nil
}
