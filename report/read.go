package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/stats"
	"github.com/faaslab/faaslab/runner/pricing"
)

// Table names of the pipelines issue, which this package reads when a run
// has them.
const (
	stagesTable        = "stages"
	pipelinesTable     = "pipelines"
	pipelineCellsTable = "pipeline_cells"
)

// readBatch is how many rows a reader decodes at once.
const readBatch = 1024

// openParquet opens the Parquet file of file, skipping the page index
// and bloom filters the report never uses. A missing file is a nil file
// and no error; the caller closes the file it gets.
func openParquet(file tableFile) (*os.File, *parquet.File, error) {
	f, err := os.Open(file.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", file.name, err)
	}
	info, err := f.Stat()
	if err == nil {
		var pf *parquet.File
		if pf, err = parquet.OpenFile(f, info.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)); err == nil {
			return f, pf, nil
		}
	}
	f.Close()
	return nil, nil, fmt.Errorf("read %s: %w", file.name, err)
}

// readParquet calls fn for every row of the Parquet file at path, decoded
// into T by column name: T may name a subset of the file's columns (only
// those are kept), and a column T names that the file lacks reads as its
// zero value (nil for a pointer). Rows are decoded readBatch at a time,
// page by page, so memory does not grow with the file. fn must not keep
// the pointer. A missing file is reported with ok false and no error.
func readParquet[T any](ctx context.Context, file tableFile, fn func(*T) error) (ok bool, err error) {
	path := file.name
	f, pf, err := openParquet(file)
	if f == nil || err != nil {
		return false, err
	}
	defer f.Close()
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, readBatch)
	for {
		n, err := r.Read(buf)
		for i := range buf[:n] {
			if err := fn(&buf[i]); err != nil {
				return true, fmt.Errorf("read %s: %w", path, err)
			}
		}
		clear(buf[:n])
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("read %s: %w", path, err)
		}
		if err := ctx.Err(); err != nil {
			return true, err
		}
	}
}

// invocation holds the columns of an invocations row that a report uses.
// Their names are those of rows.Invocation; cpu_match, which a run of the
// aws engine writes, is null in tables that lack it.
type invocation struct {
	Model       string   `parquet:"model"`
	Task        string   `parquet:"task"`
	Variant     string   `parquet:"variant"`
	Sample      int32    `parquet:"sample"`
	Platform    string   `parquet:"platform"`
	Arch        string   `parquet:"arch"`
	MemoryMB    int32    `parquet:"memory_mb"`
	Warmup      bool     `parquet:"warmup"`
	Cold        bool     `parquet:"cold"`
	Status      string   `parquet:"status"`
	DurationMS  float64  `parquet:"duration_ms"`
	RoundTripMS float64  `parquet:"round_trip_ms"`
	InitMS      *float64 `parquet:"init_ms,optional"`
	BilledMS    *float64 `parquet:"billed_ms,optional"`
	BilledEstMS *float64 `parquet:"billed_estimate_ms,optional"`
	CPUMatch    *bool    `parquet:"cpu_match,optional"`
}

// Stage is one stage invocation of a pipeline run (table stages).
type Stage struct {
	Pipeline   string   `parquet:"pipeline"`
	Instance   string   `parquet:"instance"`
	Warmup     bool     `parquet:"warmup"`
	Stage      string   `parquet:"stage"`
	StageIndex int32    `parquet:"stage_index"`
	Model      string   `parquet:"model"`
	StageModel string   `parquet:"stage_model"` // differs from Model in a mix
	Variant    string   `parquet:"variant"`
	Platform   string   `parquet:"platform"`
	Arch       string   `parquet:"arch"`
	MemoryMB   int32    `parquet:"memory_mb"`
	DurationMS float64  `parquet:"duration_ms"`
	Cold       bool     `parquet:"cold"`
	Status     string   `parquet:"status"`
	CostUSD    *float64 `parquet:"cost_usd,optional"`
}

// Pipeline is one end-to-end pipeline run (table pipelines).
type Pipeline struct {
	Pipeline    string   `parquet:"pipeline"`
	Instance    string   `parquet:"instance"`
	Warmup      bool     `parquet:"warmup"`
	Model       string   `parquet:"model"`
	Variant     string   `parquet:"variant"`
	Platform    string   `parquet:"platform"`
	Arch        string   `parquet:"arch"`
	MemoryMB    int32    `parquet:"memory_mb"`
	EndToEndMS  *float64 `parquet:"end_to_end_ms,optional"` // null when the run failed
	StagesMS    *float64 `parquet:"stages_ms,optional"`
	OverheadMS  *float64 `parquet:"overhead_ms,optional"`
	Status      string   `parquet:"status"`
	FailedStage string   `parquet:"failed_stage"`
	CostUSD     *float64 `parquet:"cost_usd,optional"`
}

// PipelineCell is the workload a pipeline cell's cost is scaled to (table
// pipeline_cells, its end-to-end row).
type PipelineCell struct {
	Pipeline      string `parquet:"pipeline"`
	Stage         string `parquet:"stage"`
	Model         string `parquet:"model"`
	Variant       string `parquet:"variant"`
	Platform      string `parquet:"platform"`
	Arch          string `parquet:"arch"`
	MemoryMB      int32  `parquet:"memory_mb"`
	WorkloadCount int64  `parquet:"workload_count"`
	WorkloadUnit  string `parquet:"workload_unit"`
}

// Key is a cell's coordinates, which match cells across runs (a cell's id
// and run do not).
type Key struct {
	Model, Task, Variant string
	Sample               int32
	Platform, Arch       string
	MemoryMB             int32
}

func (k Key) String() string {
	return fmt.Sprintf("%s/%s/%s/%d %s/%s/%dMB", k.Model, k.Task, k.Variant, k.Sample, k.Platform, k.Arch, k.MemoryMB)
}

func keyOfCell(c *rows.Cell) Key {
	return Key{c.Model, c.Task, c.Variant, c.Sample, c.Platform, c.Arch, c.MemoryMB}
}

// Samples are the invocations of one cell's coordinates, pooled over the
// runs read.
type Samples struct {
	// Warm and Cold are the function times (duration_ms) of the measured
	// calls: not warm-ups, status ok, on a CPU the study's filter keeps.
	Warm, Cold []float64
	// WarmRT and ColdRT are the round trips of every successful call,
	// warm-ups included; ColdInit the init times of the cold ones.
	WarmRT, ColdRT, ColdInit []float64
	// WarmUSD and ColdUSD sum the Lambda price of those calls.
	WarmUSD, ColdUSD float64
	Calls, Failed    int
}

// Measured is what a cell's statistics are of: the warm calls, or in a
// study that forces cold starts (none warm), the cold ones.
func (s *Samples) Measured() []float64 {
	if len(s.Warm) > 0 {
		return s.Warm
	}
	return s.Cold
}

// Data is what a report reads from one or more runs' tables.
type Data struct {
	Dirs          []string
	Manifest      []rows.Manifest
	Generations   []rows.Generation
	Cells         []rows.Cell
	Endpoints     []rows.Endpoint
	Stages        []Stage
	Pipelines     []Pipeline
	PipelineCells []PipelineCell
	// Samples holds each cell's invocations; Invocations counts the rows
	// read.
	Samples     map[Key]*Samples
	Invocations int64
}

// Read reads the Parquet tables of dirs (see FindTables), relative to base
// unless absolute. Invocations are
// streamed and only their function times kept, per cell coordinates; the
// other tables, one row per artifact, cell or endpoint, are kept whole.
func Read(ctx context.Context, base string, dirs []string) (*Data, error) {
	d := &Data{Dirs: dirs, Samples: map[Key]*Samples{}}
	for _, dir := range dirs {
		path := func(table string) tableFile {
			name := filepath.Join(dir, table+".parquet")
			if filepath.IsAbs(name) {
				return tableFile{name, name}
			}
			return tableFile{filepath.Join(base, name), name}
		}
		if err := readAll(ctx, path(exporters.ManifestTable), &d.Manifest); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(exporters.GenerationsTable), &d.Generations); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(exporters.CellsTable), &d.Cells); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(exporters.EndpointsTable), &d.Endpoints); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(stagesTable), &d.Stages); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(pipelinesTable), &d.Pipelines); err != nil {
			return nil, err
		}
		if err := readAll(ctx, path(pipelineCellsTable), &d.PipelineCells); err != nil {
			return nil, err
		}
		_, err := readInvocations(ctx, path(exporters.InvocationsTable), d.add)
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// tableFile is a table's file: the path to open, and its name in messages
// (as the user gave it).
type tableFile struct{ path, name string }

func readAll[T any](ctx context.Context, path tableFile, dst *[]T) error {
	_, err := readParquet(ctx, path, func(r *T) error {
		*dst = append(*dst, *r)
		return nil
	})
	return err
}

// add counts one invocation into its cell's samples.
func (d *Data) add(inv *invocation) {
	d.Invocations++
	k := Key{inv.Model, inv.Task, inv.Variant, inv.Sample, inv.Platform, inv.Arch, inv.MemoryMB}
	s := d.Samples[k]
	if s == nil {
		s = &Samples{}
		d.Samples[k] = s
	}
	s.Calls++
	if inv.Status != "ok" {
		s.Failed++
		return
	}
	billed := inv.DurationMS
	if inv.BilledMS != nil {
		billed = *inv.BilledMS
	} else if inv.BilledEstMS != nil {
		billed = *inv.BilledEstMS
	}
	price := pricing.LambdaInvocation(inv.Arch, int(inv.MemoryMB), billed)
	if inv.Cold {
		s.ColdRT = append(s.ColdRT, inv.RoundTripMS)
		s.ColdUSD += price
		if inv.InitMS != nil {
			s.ColdInit = append(s.ColdInit, *inv.InitMS)
		}
	} else {
		s.WarmRT = append(s.WarmRT, inv.RoundTripMS)
		s.WarmUSD += price
	}
	if inv.Warmup || (inv.CPUMatch != nil && !*inv.CPUMatch) {
		return
	}
	if inv.Cold {
		s.Cold = append(s.Cold, inv.DurationMS)
	} else {
		s.Warm = append(s.Warm, inv.DurationMS)
	}
}

// describe summarises xs with both confidence intervals.
func describe(xs []float64) (stats.Summary, stats.Interval, bool) {
	s := stats.Describe(xs)
	ci, _, ok := stats.MedianCI(xs, 0.95)
	return s, ci, ok
}
