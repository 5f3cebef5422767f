package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
)

// BenchmarkExport exports the invocations of a large journal (500,000) to
// Parquet two ways side by side: streamed from the journal, as Export does,
// and with every row first held in memory, as a table slice would need. It
// reports time and the peak of the live heap during each.
//
//	go test -run '^$' -bench Export -benchtime 1x ./runner/engine/
func BenchmarkExport(b *testing.B) {
	const n = 500_000
	e, p := measureEngine(b, &fakePlatform{})
	path := filepath.Join(e.Dir, "journal.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	start := time.Now().UTC()
	for i := 0; i < n; i++ {
		c := p.Cells[i%len(p.Cells)]
		inv := rows.Invocation{CellID: c.ID, GenerationID: p.Generations[0].ID, Model: c.Model, Task: c.Task,
			Variant: c.Variant, Platform: c.Platform, Arch: c.Arch, MemoryMB: int32(c.MemoryMB), Seq: int32(i / len(p.Cells)),
			Status: "ok", StartedAt: start.Add(time.Duration(i) * time.Millisecond), DurationMS: 10 + float64(i%97)/7,
			RoundTripMS: 11, MaxRSSKB: 20000, ContainerID: fmt.Sprintf("c%04d", i/1000), CPUModel: "Intel(R) Xeon(R) Processor", CPUArch: "x86_64"}
		line, _ := json.Marshal(Record{Time: inv.StartedAt, Invocation: &inv})
		w.Write(append(line, '\n'))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	st, err := ReadJournal(path)
	if err != nil {
		b.Fatal(err)
	}
	runID := filepath.Base(e.Dir)
	each := func(fn func(rows.Invocation) error) error { return EachInvocation(path, st, fn) }
	parquet := []exporters.Exporter{&exporters.Parquet{}}

	b.Run("streamed", func(b *testing.B) {
		for b.Loop() {
			peak := watchHeap(b, func() {
				if _, err := e.Export(context.Background(), parquet); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(peak, "peak-heap-MB")
		}
	})
	b.Run("in-memory", func(b *testing.B) {
		for b.Loop() {
			peak := watchHeap(b, func() {
				t, err := Tables(p, st, runID, each)
				if err != nil {
					b.Fatal(err)
				}
				if err := each(func(inv rows.Invocation) error {
					t.Invocations = append(t.Invocations, inv)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if err := parquet[0].Export(context.Background(), b.TempDir(), exporters.FromTables(t)); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(peak, "peak-heap-MB")
		}
	})
}

// watchHeap runs f and returns the peak of the live heap while it ran, in
// MB, sampled every millisecond after a GC.
func watchHeap(b *testing.B, f func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	f()
	close(done)
	return float64(peak.Load()) / 1e6
}
