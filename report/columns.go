package report

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// invocationColumns are the columns of the invocations table the report
// reads, in the order readInvocations fills an invocation from them.
var invocationColumns = []string{"model", "task", "variant", "sample", "platform", "arch", "memory_mb", "warmup", "cold", "status",
	"duration_ms", "round_trip_ms", "init_ms", "billed_ms", "billed_estimate_ms", "cpu_match"}

// columnPages reads one column chunk's values page by page.
type columnPages struct {
	pages parquet.Pages
	page  parquet.Page
	vals  parquet.ValueReader
	done  []parquet.Page // read to the end, released by release
}

// release gives the pages read to the end back to parquet-go's buffer
// pool, once the values read from them are no longer used.
func (c *columnPages) release() {
	for _, p := range c.done {
		parquet.Release(p)
	}
	c.done = c.done[:0]
}

// read fills buf with the chunk's next values; it returns fewer only at
// the chunk's end (io.EOF). Byte arrays in buf stay valid until release.
func (c *columnPages) read(buf []parquet.Value) (int, error) {
	n := 0
	for n < len(buf) {
		if c.vals == nil {
			p, err := c.pages.ReadPage()
			if err != nil {
				return n, err
			}
			c.page, c.vals = p, p.Values()
		}
		m, err := c.vals.ReadValues(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			c.done = append(c.done, c.page)
			c.page, c.vals = nil, nil
			continue
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readInvocations calls fn for each row of the invocations file, decoding
// only the columns the report uses, column by column, readBatch rows at a
// time: this skips parquet-go's row reconstruction, which costs more than
// the decoding itself on a table of millions of rows. Strings are interned,
// as a run's few models, tasks and statuses repeat on every row. A column
// the file lacks (cpu_match before the aws engine wrote it) reads as null
// or zero. fn must not keep the pointer.
func readInvocations(ctx context.Context, file tableFile, fn func(*invocation)) (ok bool, err error) {
	path := file.name
	f, pf, err := openParquet(file)
	if f == nil || err != nil {
		return false, err
	}
	defer f.Close()
	index := make([]int, len(invocationColumns))
	for i, name := range invocationColumns {
		index[i] = -1
		if leaf, ok := pf.Schema().Lookup(name); ok {
			index[i] = leaf.ColumnIndex
		}
	}
	interned := map[string]string{}
	str := func(v parquet.Value) string {
		b := v.ByteArray()
		if s, ok := interned[string(b)]; ok {
			return s
		}
		s := string(b)
		interned[s] = s
		return s
	}
	optFloat := func(v parquet.Value, dst *float64) *float64 {
		if v.IsNull() {
			return nil
		}
		*dst = v.Double()
		return dst
	}
	bufs := make([][]parquet.Value, len(invocationColumns))
	for i := range bufs {
		bufs[i] = make([]parquet.Value, readBatch)
	}
	var inv invocation
	var initMS, billedMS, billedEstMS float64
	var cpuMatch bool
	for g, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		cols := make([]*columnPages, len(invocationColumns))
		for i, ci := range index {
			if ci >= 0 {
				cols[i] = &columnPages{pages: chunks[ci].Pages()}
			}
		}
		closeAll := func() {
			for _, c := range cols {
				if c != nil {
					c.pages.Close()
				}
			}
		}
		for left := rg.NumRows(); left > 0; {
			want := int(min(left, readBatch))
			for i, c := range cols {
				if c == nil {
					clear(bufs[i][:want]) // the zero Value is null
					continue
				}
				n, err := c.read(bufs[i][:want])
				if n < want {
					closeAll()
					if err == nil || errors.Is(err, io.EOF) {
						err = io.ErrUnexpectedEOF
					}
					return true, fmt.Errorf("read %s: row group %d, column %s: %w", path, g, invocationColumns[i], err)
				}
			}
			for r := range want {
				b := func(i int) parquet.Value { return bufs[i][r] }
				inv = invocation{Model: str(b(0)), Task: str(b(1)), Variant: str(b(2)), Sample: b(3).Int32(), Platform: str(b(4)), Arch: str(b(5)),
					MemoryMB: b(6).Int32(), Warmup: b(7).Boolean(), Cold: b(8).Boolean(), Status: str(b(9)), DurationMS: b(10).Double(),
					RoundTripMS: b(11).Double()}
				inv.InitMS = optFloat(b(12), &initMS)
				inv.BilledMS = optFloat(b(13), &billedMS)
				inv.BilledEstMS = optFloat(b(14), &billedEstMS)
				if v := b(15); !v.IsNull() {
					cpuMatch = v.Boolean()
					inv.CPUMatch = &cpuMatch
				}
				fn(&inv)
			}
			for _, c := range cols {
				if c != nil {
					c.release()
				}
			}
			left -= int64(want)
			if err := ctx.Err(); err != nil {
				closeAll()
				return true, err
			}
		}
		closeAll()
	}
	return true, nil
}
