package exporters

import (
	"context"
	"io"
	"iter"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// DefaultRowGroupRows is the number of rows in a full Parquet row group.
const DefaultRowGroupRows = 128 * 1024

// Parquet writes each table as a Parquet file (<table>.parquet) with
// github.com/parquet-go/parquet-go. The schema comes from the `parquet`
// struct tags of the row types: strings are UTF-8 (STRING), dictionary
// encoded where the tag says "dict"; pointer fields are OPTIONAL columns;
// times are TIMESTAMP(MICROS, isAdjustedToUTC=true); doubles are stored
// with BYTE_STREAM_SPLIT and integers with DELTA_BINARY_PACKED encoding.
// Pages are compressed with zstd and a row group holds at most
// RowGroupRows rows, so writing needs memory for one row group (tens of
// megabytes for invocations), not for the whole table.
//
// The zero value is ready to use. A Parquet is safe for concurrent use as
// long as its fields do not change.
type Parquet struct {
	// RowGroupRows caps the number of rows in one row group; zero means
	// DefaultRowGroupRows.
	RowGroupRows int64
}

// Format returns "parquet".
func (p *Parquet) Format() string { return "parquet" }

// Export writes the five tables of src as Parquet files into dir, following
// the contract of Exporter.
func (p *Parquet) Export(ctx context.Context, dir string, src Source) error {
	return writeTables(ctx, dir, []tableFile{
		parquetTable(p, GenerationsTable, src.Generations),
		parquetTable(p, ChecksTable, src.Checks),
		parquetTable(p, InvocationsTable, src.Invocations),
		parquetTable(p, CellsTable, src.Cells),
		parquetTable(p, ManifestTable, src.Manifest),
		parquetTable(p, EndpointsTable, src.Endpoints),
		parquetTable(p, StagesTable, src.Stages),
		parquetTable(p, PipelinesTable, src.Pipelines),
		parquetTable(p, PipelineCellsTable, src.PipelineCells),
		parquetTable(p, ModelsTable, src.Models),
	})
}

func parquetTable[T any](p *Parquet, name string, seq iter.Seq2[T, error]) tableFile {
	return tableFile{
		name: name + ".parquet",
		encode: func(ctx context.Context, w io.Writer) error {
			return writeParquet(ctx, w, seq, p.rowGroupRows())
		},
	}
}

func (p *Parquet) rowGroupRows() int64 {
	if p.RowGroupRows > 0 {
		return p.RowGroupRows
	}
	return DefaultRowGroupRows
}

// parquetOptions are the writer settings shared by every table.
var parquetOptions = []parquet.WriterOption{
	// zstd at its default speed, about level 3, as DuckDB and pyarrow use.
	parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
	// Larger pages than the 256 KiB default give zstd more to work with.
	parquet.PageBufferSize(1 << 20),
	// Measurements are mostly distinct doubles: splitting their bytes
	// into streams lets zstd find the repeated exponents and high
	// mantissa bytes. Integers and times (int64 microseconds) are often
	// close to their neighbours, which delta encoding stores in a few
	// bits. Strings are dictionary encoded where the struct tag says so.
	// DuckDB, pyarrow and Polars read all of these encodings.
	parquet.DefaultEncodingFor(parquet.Double, &parquet.ByteStreamSplit),
	parquet.DefaultEncodingFor(parquet.Int64, &parquet.DeltaBinaryPacked),
	parquet.DefaultEncodingFor(parquet.Int32, &parquet.DeltaBinaryPacked),
}

// writeParquet writes the rows of seq to w as one Parquet file.
func writeParquet[T any](ctx context.Context, w io.Writer, seq iter.Seq2[T, error], rowGroupRows int64) error {
	opts := append(slices.Clip(parquetOptions), parquet.MaxRowsPerRowGroup(rowGroupRows))
	pw := parquet.NewGenericWriter[T](w, opts...)
	// Rows go to the writer in batches rather than one by one.
	batch := make([]T, 0, checkEvery)
	flush := func() error {
		_, err := pw.Write(batch)
		clear(batch) // drop references to strings already encoded
		batch = batch[:0]
		return err
	}
	err := eachRow(ctx, seq, func(row *T) error {
		batch = append(batch, *row)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return pw.Close()
}
