package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// benchPlatform is newPlatform for benchmarks.
func benchPlatform(b *testing.B, opts Options) (*Platform, func(dir string, memoryMB int) *deployment) {
	b.Helper()
	p, err := New(opts)
	if IsUnavailable(err) {
		b.Skipf("local platform unavailable: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	deploy := func(dir string, memoryMB int) *deployment {
		d, err := p.Deploy(context.Background(), platform.Function{
			Name: dir, CodeDir: "testdata/" + dir, Handler: "handler.handler", MemoryMB: memoryMB, Timeout: time.Minute,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close(context.Background()) })
		return d.(*deployment)
	}
	return p, deploy
}

// percentile returns the p-th percentile of ds, which it sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// BenchmarkOverhead measures a warm invocation of a no-op handler as the
// caller sees it, beside two peers run in the same loop, so that all see
// the same machine:
//
//   - the floor of the design: a bare frame round trip over the same
//     pipes, to a Python loop that echoes frames, in the same sandbox and
//     cgroups;
//   - aws-lambda-rie, when FAASLAB_RIE names its binary (build it from its
//     public source; never commit it): the Runtime Interface Emulator with
//     a standard-library Python runtime (testdata/rie), invoked over HTTP on
//     the loopback with keep-alive, as faaslab's peer.
//
// It reports the p50 and p95 of each, the ratios p50/floor-p50 and
// p50/rie-p50, and p50 minus floor-p50. All run at 1,769 MB (one vCPU). The freeze variant freezes
// the container between invocations, as Lambda does; the freeze happens
// after Invoke returns and is waited for before the peers run, so that it
// does not slow them. The nofreeze variant leaves the container running.
//
//	FAASLAB_RIE=/tmp/aws-lambda-rie go test -run '^$' -bench Overhead -benchtime 3000x ./runner/platform/local/
//
// Under taskset -c 0 everything shares one core, the floor's fast case.
func BenchmarkOverhead(b *testing.B) {
	b.Run("freeze", func(b *testing.B) { benchmarkOverhead(b, Options{}) })
	b.Run("nofreeze", func(b *testing.B) { benchmarkOverhead(b, Options{NoFreeze: true}) })
}

func benchmarkOverhead(b *testing.B, opts Options) {
	_, deploy := benchPlatform(b, opts)
	noop := deploy("echo", 1769)
	floorDeployment := deploy("floor", 1769)
	floor, err := floorDeployment.startProgram(floorDeployment.p.opts.Python, "-B", "-u", taskMount+"/echo_loop.py")
	if err != nil {
		b.Fatal(err)
	}
	defer floor.destroy()
	ctx := context.Background()
	event := []byte(`{}`)
	payload, _ := json.Marshal(invocationRequest{RequestID: newRequestID(), FunctionARN: noop.arn, Event: event})
	roundTrip := func() {
		if err := writeFrame(floor.requests, payload); err != nil {
			b.Fatal(err)
		}
		if r := <-floor.messages; r.err != nil {
			b.Fatal(r.err)
		}
	}
	rie := startRIE(b)
	invoke := func() {
		inv, err := noop.Invoke(ctx, event)
		if err != nil || inv.Status != platform.StatusOK {
			b.Fatalf("invoke: %v %+v", err, inv)
		}
		if err := noop.waitIdle(); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ { // warm up all
		invoke()
		roundTrip()
		if rie != nil {
			rie()
		}
	}

	var platformTimes, floorTimes, rieTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		inv, err := noop.Invoke(ctx, event)
		platformTimes = append(platformTimes, time.Since(start))
		if err != nil || inv.Status != platform.StatusOK || inv.Cold {
			b.Fatalf("invoke: %v %+v", err, inv)
		}
		if err := noop.waitIdle(); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		roundTrip()
		floorTimes = append(floorTimes, time.Since(start))
		if rie != nil {
			start = time.Now()
			rie()
			rieTimes = append(rieTimes, time.Since(start))
		}
	}
	b.StopTimer()
	p50, p95 := percentile(platformTimes, 0.50), percentile(platformTimes, 0.95)
	f50, f95 := percentile(floorTimes, 0.50), percentile(floorTimes, 0.95)
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p95.Microseconds()), "p95-µs")
	b.ReportMetric(float64(f50.Microseconds()), "floor-p50-µs")
	b.ReportMetric(float64(f95.Microseconds()), "floor-p95-µs")
	b.ReportMetric(float64(p50)/float64(f50), "p50/floor")
	// The ratio depends on whether the floor's two ends share a core (see
	// README, "Speed of a warm local call"); the difference is what each
	// warm call costs beyond the bare round trip either way.
	b.ReportMetric(float64((p50 - f50).Microseconds()), "p50-floor-µs")
	if rie == nil {
		return
	}
	r50, r95 := percentile(rieTimes, 0.50), percentile(rieTimes, 0.95)
	b.ReportMetric(float64(r50.Microseconds()), "rie-p50-µs")
	b.ReportMetric(float64(r95.Microseconds()), "rie-p95-µs")
	b.ReportMetric(float64(p50)/float64(r50), "p50/rie")
}

// startRIE starts aws-lambda-rie from FAASLAB_RIE with testdata/rie's
// runtime, on free loopback ports, and returns a function that invokes
// it once; nil, with a message, without FAASLAB_RIE.
func startRIE(b *testing.B) func() {
	bin := os.Getenv("FAASLAB_RIE")
	if bin == "" {
		b.Log("FAASLAB_RIE is not set: no aws-lambda-rie peer, only the floor ratio")
		return nil
	}
	freePort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	invokeAddr, apiAddr := freePort(), freePort()
	bootstrap, err := filepath.Abs("testdata/rie/bootstrap.py")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr,
		"/usr/bin/python3", "-B", bootstrap)
	// RIE logs every invocation: to a file, so that no goroutine of the
	// benchmark copies its output while the platform is timed.
	log, err := os.Create(filepath.Join(b.TempDir(), "rie.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatalf("start aws-lambda-rie: %v", err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	url := "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"
	invoke := func() error {
		resp, err := client.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != http.StatusOK || string(body) != `{}`) {
			err = fmt.Errorf("status %s: %s", resp.Status, body)
		}
		return err
	}
	// RIE listens a moment after it starts.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := invoke()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			b.Fatalf("aws-lambda-rie does not answer: %v\n%s", err, out)
		}
	}
	return func() {
		if err := invoke(); err != nil {
			b.Fatalf("aws-lambda-rie: %v", err)
		}
	}
}

// fidelityLoop is a pure-Python loop that takes about a second on one
// full vCPU of the development machine.
const fidelityLoop = 20_000_000

// BenchmarkFidelity runs the same single-threaded CPU-bound handler at
// 885 MB and at 1,769 MB, where Lambda gives half a vCPU and one vCPU, and
// reports the handler's own durations and their ratio, which should be
// near 2.
func BenchmarkFidelity(b *testing.B) {
	_, deploy := benchPlatform(b, Options{})
	half, full := deploy("cpu", 885), deploy("cpu", 1769)
	event := []byte(`{"loop": ` + strconv.Itoa(fidelityLoop) + `}`)
	var steal float64
	run := func(d *deployment) time.Duration {
		inv, err := d.Invoke(context.Background(), event)
		if err != nil || inv.Status != platform.StatusOK {
			b.Fatalf("invoke: %v %+v", err, inv)
		}
		steal += inv.CPUSteal
		return inv.Duration
	}
	run(half) // warm up
	run(full)
	var halfTime, fullTime time.Duration
	var ratios []float64
	steal = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, f := run(half), run(full)
		halfTime, fullTime = halfTime+h, fullTime+f
		ratios = append(ratios, float64(h)/float64(f))
	}
	slices.Sort(ratios)
	b.ReportMetric(halfTime.Seconds()/float64(b.N), "s-885MB")
	b.ReportMetric(fullTime.Seconds()/float64(b.N), "s-1769MB")
	// The median of the per-iteration ratios resists the host's noise.
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	// Time stolen by the hypervisor, which skews the ratio on a VM.
	b.ReportMetric(steal/float64(b.N), "steal-s")
}
