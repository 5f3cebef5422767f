// Package exporters writes the tables of a study run (package rows) as files
// that pandas, Polars and DuckDB read as they are: Parquet, Arrow IPC and CSV.
//
// Every exporter writes the same five tables with the same columns, named
// by the `parquet` struct tags of the row types. One exporter call writes
// one file per table, <dir>/<table>.<format>, and each file appears
// atomically: it is written to a temporary file in dir, synced, renamed over
// the final name, and the directory is synced. A reader therefore sees
// either the previous complete file or the new complete file, never a
// partial one, even if the process dies midway.
package exporters

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/durable"
)

// Exporter writes the tables of a Source into a directory in one file format.
//
// Contract:
//   - Format returns a short lower-case name ("parquet", "arrow", "csv"),
//     which is also the extension of every file Export writes.
//   - Export writes exactly the files <dir>/<table>.<Format()> for each name
//     in TableNames, in that order, creating dir if it does not exist. An
//     empty table still gets a file that carries its schema (or header).
//   - Each file is made visible atomically (temporary file, fsync, rename,
//     fsync of dir). When Export returns an error, no partial file exists
//     under a final name and no temporary file is left behind; tables
//     written completely before the failure stay in place. A crash may
//     leave a hidden temporary file (.<table>.<format>.*.tmp), never a
//     partial final file.
//   - Export iterates each table of src at most once, and stops when ctx is
//     done or the table yields an error. Errors name the path of the file
//     concerned ("export <path>: ...").
//   - An Exporter holds only configuration, so one value may run several
//     Exports at the same time, in different directories.
type Exporter interface {
	Format() string
	Export(ctx context.Context, dir string, src Source) error
}

// Table names, which are also the base names of the exported files.
const (
	GenerationsTable = "generations"
	ChecksTable      = "checks"
	InvocationsTable = "invocations"
	CellsTable       = "cells"
	ManifestTable    = "manifest"
	EndpointsTable   = "endpoints"
	// Pipelines' tables.
	StagesTable        = "stages"
	PipelinesTable     = "pipelines"
	PipelineCellsTable = "pipeline_cells"
	// ModelsTable describes the study's models.
	ModelsTable = "models"
)

// TableNames lists every table in the order exporters write them.
var TableNames = []string{GenerationsTable, ChecksTable, InvocationsTable, CellsTable, ManifestTable, EndpointsTable,
	ModelsTable, StagesTable, PipelinesTable, PipelineCellsTable}

// Source gives each table of a run as a stream of rows, so that a table
// need never be held in memory as one slice (the invocations table can hold
// millions of rows). A sequence yields a non-nil error to abort the export
// of its table; the exporter then returns that error. A nil sequence is an
// empty table.
type Source struct {
	Generations iter.Seq2[rows.Generation, error]
	Checks      iter.Seq2[rows.Check, error]
	Invocations iter.Seq2[rows.Invocation, error]
	Cells       iter.Seq2[rows.Cell, error]
	Manifest    iter.Seq2[rows.Manifest, error]
	Endpoints   iter.Seq2[rows.Endpoint, error]

	Stages        iter.Seq2[rows.Stage, error]
	Pipelines     iter.Seq2[rows.Pipeline, error]
	PipelineCells iter.Seq2[rows.PipelineCell, error]
	Models        iter.Seq2[rows.Model, error]
}

// FromTables returns a Source that reads the slices of t. The Source reads
// t while an export runs, so t must not change until the export returns.
func FromTables(t *rows.Tables) Source {
	return Source{
		Generations: FromSeq(slices.Values(t.Generations)),
		Checks:      FromSeq(slices.Values(t.Checks)),
		Invocations: FromSeq(slices.Values(t.Invocations)),
		Cells:       FromSeq(slices.Values(t.Cells)),
		Manifest:    FromSeq(slices.Values(t.Manifest)),
		Endpoints:   FromSeq(slices.Values(t.Endpoints)),

		Stages:        FromSeq(slices.Values(t.Stages)),
		Pipelines:     FromSeq(slices.Values(t.Pipelines)),
		PipelineCells: FromSeq(slices.Values(t.PipelineCells)),
		Models:        FromSeq(slices.Values(t.Models)),
	}
}

// FromSeq adapts a sequence that cannot fail to a table of a Source.
func FromSeq[T any](seq iter.Seq[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for row := range seq {
			if !yield(row, nil) {
				return
			}
		}
	}
}

// ErrUnknownFormat is returned by Lookup for a format no exporter writes.
var ErrUnknownFormat = errors.New("unknown export format")

// All returns one exporter of each format with its default configuration.
func All() []Exporter {
	return []Exporter{&Parquet{}, &Arrow{}, &CSV{}}
}

// Lookup returns the exporter of All whose Format is format.
func Lookup(format string) (Exporter, error) {
	for _, e := range All() {
		if e.Format() == format {
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want parquet, arrow or csv)", ErrUnknownFormat, format)
}

var (
	_ Exporter = (*Parquet)(nil)
	_ Exporter = (*Arrow)(nil)
	_ Exporter = (*CSV)(nil)
)

// checkEvery is how many rows an encoder writes between two looks at its
// context.
const checkEvery = 1024

// encodeFunc writes one table as one file's content to w.
type encodeFunc func(ctx context.Context, w io.Writer) error

// tableFile is one file of an export: its base name and how to encode it.
type tableFile struct {
	name   string
	encode encodeFunc
}

// writeTables creates dir if needed and writes every file into it, in
// order, each atomically. It stops at the first error.
func writeTables(ctx context.Context, dir string, files []tableFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export %s: %w", dir, err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeFileAtomic(ctx, path, f.encode); err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
	}
	return nil
}

// writeFileAtomic writes the output of encode to path durably
// (internal/durable): on error path is untouched and no temporary file
// remains, and a cancelled export never replaces a file, even a complete one.
func writeFileAtomic(ctx context.Context, path string, encode encodeFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return durable.WriteFile(path, 0o644, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := encode(ctx, w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return ctx.Err()
	})
}

// eachRow calls fn for every row of seq, in order, and stops at the first
// error of seq, of fn, or of ctx (looked at every checkEvery rows). A nil
// seq has no rows.
func eachRow[T any](ctx context.Context, seq iter.Seq2[T, error], fn func(*T) error) error {
	if seq == nil {
		return nil
	}
	n := 0
	for row, err := range seq {
		if err != nil {
			return err
		}
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(&row); err != nil {
			return err
		}
	}
	return ctx.Err()
}
