package check

// BenchmarkCheckArtifact checks the quickstart's artifacts end to end in
// the local platform's sandbox, as the engine's check stage does, by the
// current path and by the one before spares, side by side.
// TestLocalMetricsSamePath shows that both measure the same.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/local"
	"github.com/faaslab/faaslab/schema"
)

// quickstartArtifact is one hand-written artifact of the quickstart with
// its task's reference and tests.
type quickstartArtifact struct {
	name      string
	cand, ref platform.Function
	tests     []Test
}

func quickstartArtifacts(tb testing.TB, tasks ...string) []quickstartArtifact {
	tb.Helper()
	study, err := schema.Load("../../experiments/quickstart.cue", schema.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []quickstartArtifact
	for _, task := range tasks {
		t := study.Tasks[task]
		var tests []Test
		for _, tt := range t.Tests {
			ev, err := json.Marshal(tt.Event)
			if err != nil {
				tb.Fatal(err)
			}
			c := Compare{Rule: tt.Compare, FoldCase: tt.FoldCase, Field: tt.Field, Metric: tt.Metric}
			if tt.Tolerance != nil {
				c.Tolerance = *tt.Tolerance
			}
			if tt.RelTolerance != nil {
				c.RelTolerance = *tt.RelTolerance
			}
			if tt.Threshold != nil {
				c.Threshold = *tt.Threshold
			}
			tests = append(tests, Test{Name: tt.Name, Event: ev, Compare: c})
		}
		fn := func(src string) platform.Function {
			dir := tb.TempDir()
			code, err := os.ReadFile(study.Path(src))
			if err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "handler.py"), code, 0o644); err != nil {
				tb.Fatal(err)
			}
			for _, in := range t.Inputs {
				data, err := os.ReadFile(study.Path(in))
				if err != nil {
					tb.Fatal(err)
				}
				p := filepath.Join(dir, filepath.FromSlash(in))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					tb.Fatal(err)
				}
			}
			return platform.Function{CodeDir: dir, Handler: t.Handler, Runtime: t.Runtime, MemoryMB: 1769,
				Arch: platform.HostArch(), Timeout: time.Duration(t.TimeoutS) * time.Second, Packages: t.Packages}
		}
		ref := fn(t.Reference)
		out = append(out, quickstartArtifact{name: task + "/reference", cand: fn(t.Reference), ref: ref, tests: tests})
		variants := make([]string, 0, len(t.Variants))
		for v := range t.Variants {
			variants = append(variants, v)
		}
		sort.Strings(variants)
		for _, v := range variants {
			out = append(out, quickstartArtifact{name: task + "/" + v, cand: fn("handwritten/" + task + "/" + v + ".py"), ref: ref, tests: tests})
		}
	}
	return out
}

// localChecker returns a Checker on a local platform, or skips.
func localChecker(tb testing.TB) *Checker {
	tb.Helper()
	p, err := local.New(local.Options{})
	if err != nil {
		tb.Skipf("local platform unavailable: %v", err)
	}
	c := &Checker{Platform: p, CacheDir: tb.TempDir()}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// checkPath checks one artifact and measures its code, as the engine's
// check stage does.
type checkPath func(ctx context.Context, c *Checker, a quickstartArtifact) (Report, Metrics, error)

// currentPath is Check and StaticMetrics.
func currentPath(ctx context.Context, c *Checker, a quickstartArtifact) (Report, Metrics, error) {
	rep, err := c.Check(ctx, a.cand, a.ref, a.tests)
	if err != nil {
		return rep, Metrics{}, err
	}
	return rep, c.StaticMetrics(ctx, a.cand), nil
}

// formerPath is the path before spares: Check without priming a spare,
// then radon and pylint in a new cold tools container, pylint in an
// interpreter of its own. It is kept here only to compare with.
func formerPath(ctx context.Context, c *Checker, a quickstartArtifact) (Report, Metrics, error) {
	rep, err := c.check(ctx, a.cand, a.ref, a.tests)
	if err != nil {
		return rep, Metrics{}, err
	}
	return rep, formerStaticMetrics(ctx, c, a.cand), nil
}

func formerStaticMetrics(ctx context.Context, c *Checker, fn platform.Function) Metrics {
	files, err := readSources(fn.CodeDir)
	if err != nil {
		return Metrics{Note: err.Error()}
	}
	var res metricsResult
	inv, err := c.invokeTools(ctx, fn, true, map[string]any{"op": "metrics", "files": files, "pylint_process": "subprocess"}, &res)
	return metricsFrom(inv, err, res)
}

// cpuTime is the CPU time used so far by this process and by the
// children it has waited for, which include the sandboxes' processes.
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// runPath checks every artifact by path with workers at once, as the
// engine's CheckParallel, and returns the wall time and the CPU time
// (see cpuTime).
func runPath(tb testing.TB, c *Checker, path checkPath, arts []quickstartArtifact, workers int) (wall, cpu time.Duration) {
	ctx := context.Background()
	start, startCPU := time.Now(), cpuTime()
	next := make(chan quickstartArtifact)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range next {
				if _, _, err := path(ctx, c, a); err != nil {
					tb.Errorf("%s: %v", a.name, err)
				}
			}
		}()
	}
	for _, a := range arts {
		next <- a
	}
	close(next)
	wg.Wait()
	return time.Since(start), cpuTime() - startCPU
}

// BenchmarkCheckArtifact reports the seconds per artifact of checking
// and measuring the quickstart's nine artifacts (primes, median,
// thumbnail: reference, long, short), one at a time ("sequential") and
// two at a time as the engine does ("parallel2"), by the current path
// ("new-s/artifact") and the former one ("old-s/artifact"), alternating
// in each iteration so that both see the same load, with the CPU time
// each spent per artifact ("-cpu-s/artifact"), which depends less on what
// else the host runs. Reference outputs
// are cached, and both Checkers warmed up, before timing, as in a study
// with many artifacts per task.
//
//	go test -run XXX -bench CheckArtifact -benchtime 3x ./runner/check/
func BenchmarkCheckArtifact(b *testing.B) {
	arts := quickstartArtifacts(b, "primes", "median", "thumbnail")
	for _, workers := range []int{1, 2} {
		name := "sequential"
		if workers > 1 {
			name = fmt.Sprintf("parallel%d", workers)
		}
		b.Run(name, func(b *testing.B) {
			current, former := localChecker(b), localChecker(b)
			runPath(b, current, currentPath, arts, workers) // warm-up
			runPath(b, former, formerPath, arts, workers)
			b.ResetTimer()
			var tNew, tOld, cpuNew, cpuOld time.Duration
			for i := 0; i < b.N; i++ {
				wall, cpu := runPath(b, former, formerPath, arts, workers)
				tOld, cpuOld = tOld+wall, cpuOld+cpu
				wall, cpu = runPath(b, current, currentPath, arts, workers)
				tNew, cpuNew = tNew+wall, cpuNew+cpu
			}
			n := float64(b.N * len(arts))
			b.ReportMetric(tNew.Seconds()/n, "new-s/artifact")
			b.ReportMetric(tOld.Seconds()/n, "old-s/artifact")
			b.ReportMetric(tNew.Seconds()/tOld.Seconds(), "new/old")
			b.ReportMetric(cpuNew.Seconds()/n, "new-cpu-s/artifact")
			b.ReportMetric(cpuOld.Seconds()/n, "old-cpu-s/artifact")
		})
	}
}
