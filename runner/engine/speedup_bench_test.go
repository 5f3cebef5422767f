package engine

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/schema"
)

// speedupLatency is the fixed latency the fake Lambda server adds to every
// API call (deploys, waiters' polls, invocations): a round trip to a
// region and Lambda's own overhead, roughly.
var speedupLatency = flag.Duration("speedup.latency", 100*time.Millisecond, "latency of the fake Lambda server's every API call, for BenchmarkMeasureSpeedup")

// BenchmarkMeasureSpeedup measures the measure stage of a small study (8
// cells of 1 warm-up and 5 calls) on the aws platform against the fake
// Lambda server on loopback, with one worker (platforms.aws.concurrency
// 1) and with 8, side by side in each iteration, and reports the
// speed-up: one worker's time over eight's.
//
// The functions run as Python processes on this host (the fake runs them
// for real), so on a host with few idle cores their start-up, not the
// latency, bounds the speed-up.
//
//	go test ./runner/engine -run '^$' -bench MeasureSpeedup -benchtime 3x [-speedup.latency 200ms]
func BenchmarkMeasureSpeedup(b *testing.B) {
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skip("no python3 for the fake Lambda server's functions:", err)
	}
	lambdafake.Start(b, lambdafake.Options{Latency: *speedupLatency})
	const workers = 8
	var one, many time.Duration
	for range b.N {
		one += measureOnFake(b, 1)
		many += measureOnFake(b, workers)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64(one/n)/float64(time.Millisecond), "ms/stage-1-worker")
	b.ReportMetric(float64(many/n)/float64(time.Millisecond), fmt.Sprintf("ms/stage-%d-workers", workers))
	b.ReportMetric(float64(one)/float64(many), "speedup")
}

// measureOnFake runs the measure stage of a fresh run of the study on the
// aws platform with concurrency workers and returns how long it took.
func measureOnFake(b *testing.B, workers int) time.Duration {
	b.Helper()
	e, p := measureEngine(b, nil)
	p.Study.Platforms = map[string]schema.Platform{"aws": {Kind: aws.Kind, Region: lambdafake.Region,
		Role: "arn:aws:iam::123456789012:role/faaslab", Concurrency: workers}}
	p.Study.Matrix.Platforms = []string{"aws"}
	task := p.Study.Tasks["a"]
	task.Runtime = "python3.12"
	p.Study.Tasks["a"] = task
	p = withMemory(b, e, p, 128, 256, 512, 768, 1024, 1536, 2048, 3008)
	e.Facts.RunID = fmt.Sprintf("bench-%d", workers)
	pl, err := aws.New(context.Background(), aws.Options{
		Config: platform.Config{Name: "aws", Kind: aws.Kind, Region: lambdafake.Region, Study: p.Study.Name,
			Role: p.Study.Platforms["aws"].Role, Concurrency: workers},
		Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	if pl.MaxParallel() != workers {
		b.Fatalf("aws platform measures %d cells at once, want %d", pl.MaxParallel(), workers)
	}
	e.Platforms = func(string) (platform.Platform, error) { return pl, nil }
	var log bytes.Buffer
	e.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	if err := e.Run(context.Background(), StageMeasure); err != nil {
		b.Fatalf("%v\n%s", err, &log)
	}
	d := time.Since(start)
	st, err := ReadJournal(filepath.Join(e.Dir, "journal.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range p.Cells {
		if st.Made[c.ID] != c.Invocations() || st.LastStatus[c.ID] != string(platform.StatusOK) {
			b.Fatalf("cell %s: %d calls, last %q; want %d, ok", c.ID, st.Made[c.ID], st.LastStatus[c.ID], c.Invocations())
		}
	}
	return d
}
