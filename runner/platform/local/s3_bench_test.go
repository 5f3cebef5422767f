package local

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
)

// BenchmarkS3HandOff measures what a pipeline stage's hand-off through
// object storage costs in the local sandbox: warm invocations of one
// function at 1,769 MB (one vCPU) whose boto3 client, made at init, does
// nothing (noop), writes an object (put) or reads its input and writes its
// output (getput), interleaved in one loop so that all see the same
// machine. Objects are 1 KiB and 1 MiB. It reports the p50 of each as the
// caller sees it (round trip) and inside the handler (duration), and the
// differences and ratios against noop: the per-stage overhead of the
// store.
//
//	go test -run '^$' -bench S3HandOff -benchtime 200x ./runner/platform/local/
func BenchmarkS3HandOff(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) { benchmarkS3HandOff(b, size) })
	}
}

func benchmarkS3HandOff(b *testing.B, size int) {
	// boto3's import and client take seconds of a loaded host: the cold
	// start is not what is measured.
	p, _ := benchPlatform(b, Options{InitTimeout: 2 * time.Minute})
	ctx := context.Background()
	st := objstore.New()
	if err := st.Put(ctx, "pipe", "in/object", make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	d, err := p.Deploy(ctx, platform.Function{
		Name: "s3-bench", CodeDir: "testdata/s3_bench", Handler: "handler.handler", MemoryMB: 1769, Timeout: time.Minute,
		S3: st.Handler(objstore.Scope{Bucket: "pipe", Read: []string{"in/"}, Write: []string{"out/"}}),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)
	ops := []string{"noop", "put", "getput"}
	events := map[string][]byte{}
	for _, op := range ops {
		events[op] = fmt.Appendf(nil, `{"op": %q, "size": %d}`, op, size)
	}
	invoke := func(op string) platform.Invocation {
		inv, err := d.Invoke(ctx, events[op])
		if err != nil || inv.Status != platform.StatusOK {
			b.Fatalf("invoke %s: %v %s %s %s", op, err, inv.Status, inv.ErrorMessage, inv.Log)
		}
		if err := d.(*deployment).waitIdle(); err != nil {
			b.Fatal(err)
		}
		return inv
	}
	for range 10 { // cold start, connections, first requests
		for _, op := range ops {
			invoke(op)
		}
	}
	roundTrip := map[string][]time.Duration{}
	duration := map[string][]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, op := range ops {
			inv := invoke(op)
			if inv.Cold {
				b.Fatalf("%s: cold in the loop", op)
			}
			roundTrip[op] = append(roundTrip[op], inv.RoundTrip)
			duration[op] = append(duration[op], inv.Duration)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, op := range ops {
		rt, du := percentile(roundTrip[op], 0.5), percentile(duration[op], 0.5)
		b.ReportMetric(ms(rt), op+"-p50-ms")
		b.ReportMetric(ms(du), op+"-dur-p50-ms")
		if op != "noop" {
			base := percentile(roundTrip["noop"], 0.5)
			b.ReportMetric(float64(rt)/float64(base), op+"/noop")
			b.ReportMetric(ms(du-percentile(duration["noop"], 0.5)), op+"-extra-ms")
		}
	}
	b.ReportMetric(0, "ns/op")
}
