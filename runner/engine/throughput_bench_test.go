package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/llm/throttle"
	"github.com/faaslab/faaslab/schema"
)

// Scaled time. A provider counts its limits per minute, and a benchmark of
// minutes is too slow to run often, so the benchmark runs on a clock that
// is scale times faster than the wall's: the fake server counts its limit
// over a window of one scaled minute (three seconds of wall time at scale 20)
// and states its resets in scaled time, and the engine's limiters read the
// same clock, so "rpm" keeps its meaning on both sides. Latency is wall
// time: the server holds each answer for it.
type scaledClock struct {
	start time.Time
	scale float64
}

func (c scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.scale))
}

func (c scaledClock) After(d time.Duration) <-chan time.Time {
	return time.After(time.Duration(float64(d) / c.scale))
}

// fakeLimitedServer is a fake OpenAI-compatible server that answers after a
// fixed latency and enforces a limit of rpm requests in any sliding minute
// of its clock: past it, it answers 429 with Retry-After-Ms and the
// x-ratelimit headers, and counts the refusal. Its answers carry the
// x-ratelimit headers too, as OpenAI's do.
type fakeLimitedServer struct {
	*httptest.Server
	rpm     int
	latency time.Duration
	clock   throttle.Clock

	mu       sync.Mutex
	accepted []time.Time // in the last minute, oldest first
	served   int
	refused  int
}

func newFakeLimitedServer(rpm int, latency time.Duration, clock throttle.Clock) *fakeLimitedServer {
	f := &fakeLimitedServer{rpm: rpm, latency: latency, clock: clock}
	f.Server = httptest.NewServer(http.HandlerFunc(f.handle))
	return f
}

func (f *fakeLimitedServer) handle(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	now := f.clock.Now()
	f.mu.Lock()
	for len(f.accepted) > 0 && !f.accepted[0].After(now.Add(-time.Minute)) {
		f.accepted = f.accepted[1:]
	}
	reset := time.Duration(0)
	if len(f.accepted) > 0 {
		reset = f.accepted[0].Add(time.Minute).Sub(now)
	}
	ok := len(f.accepted) < f.rpm
	if ok {
		f.accepted = append(f.accepted, now)
		f.served++
	} else {
		f.refused++
	}
	remaining := f.rpm - len(f.accepted)
	f.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(f.rpm))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(remaining))
	h.Set("x-ratelimit-reset-requests", reset.String())
	if !ok {
		h.Set("Retry-After-Ms", strconv.FormatInt(reset.Milliseconds()+1, 10))
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"fake rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		return
	}
	time.Sleep(f.latency)
	io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"fake-1",
 "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"`+"```python\\ndef handler(e, c):\\n    return 1\\n```"+`"}}],
 "usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}}`)
}

func (f *fakeLimitedServer) counts() (served, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served, f.refused
}

// BenchmarkGenerateThroughput drives generations through the engine's
// generate stage (its limiters and retry loop) and the real
// OpenAI-compatible generator to a fake server with a fixed latency of 50
// ms and a requests-per-minute limit, at scale 20 (a minute lasts three
// seconds; the limiter's margin of 1% of a minute is 30 ms of wall time,
// which a busy machine's delays between taking a permit and the request
// reaching the server may exceed more often at a larger scale).
// It reports throughput as a ratio of the best the limits allow,
// min(concurrency / latency, rpm), and the requests the server refused.
//
// Each generation is made durable (the journal's records and the artifact
// store's files are fsync'd), which on a busy shared disk costs more than
// the 50 ms answer; TMPDIR=/dev/shm puts the run on memory and measures the
// scheduling alone. "ratio-seen" is the same ratio with the latency the
// client saw (the server's and this machine's) in place of the 50 ms.
//
//	go test -run '^$' -bench GenerateThroughput -benchtime 1x ./runner/engine/
//	TMPDIR=/dev/shm go test -run '^$' -bench GenerateThroughput -benchtime 1x ./runner/engine/
func BenchmarkGenerateThroughput(b *testing.B) {
	const (
		scale   = 20.0
		latency = 50 * time.Millisecond
	)
	cases := []struct {
		name        string
		rpm, conc   int
		generations int
	}{
		{"rpm-bound", 300, 8, 750},         // 8/50ms = 160/s > 300 rpm at scale 20 = 100/s
		{"concurrency-bound", 600, 4, 480}, // 4/50ms = 80/s < 200/s
		{"rpm-bound-wide", 450, 16, 1050},  // 320/s > 150/s
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				clock := scaledClock{start: time.Now(), scale: scale}
				srv := newFakeLimitedServer(c.rpm, latency, clock)
				gen, err := llm.New("openai-compatible", nil, srv.Client())
				if err != nil {
					b.Fatal(err)
				}
				noStream := false // the fake answers in one JSON document
				e := apiEngine(b, map[string]schema.Model{"m": {Provider: "openai-compatible", Model: "fake", BaseURL: srv.URL + "/v1",
					Stream: &noStream, Limits: &schema.Limits{RPM: c.rpm, Concurrency: c.conc}}}, c.generations,
					map[string]llm.Generator{"openai-compatible": gen}, nil)
				e.Clock = clock
				e.GenerateParallel = c.conc
				start := time.Now()
				if err := e.Run(context.Background(), StageGenerate); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				srv.Close()
				served, refused := srv.counts()
				if served != c.generations {
					b.Fatalf("server served %d, want %d", served, c.generations)
				}
				got := float64(served) / elapsed.Seconds()
				best := min(float64(c.conc)/latency.Seconds(), float64(c.rpm)*scale/60)
				b.ReportMetric(got/best, "ratio")
				b.ReportMetric(float64(refused), "refused")
				b.ReportMetric(got, "req/s")
				var lat float64
				atts := attempts(b, e)
				for _, a := range atts {
					lat += a.LatencyMS
				}
				lat /= float64(len(atts))
				b.ReportMetric(lat, "ms/request")
				// The same ratio with the latency the client saw, the
				// server's and this machine's: what the scheduler makes of it.
				seen := min(float64(c.conc)/(lat/1000), float64(c.rpm)*scale/60)
				b.ReportMetric(got/seen, "ratio-seen")
				fmt.Printf("%s: %d generations in %v: %.1f req/s of min(concurrency/latency, rpm) = %.1f req/s: ratio %.3f; %d refused by the server; %d attempts, mean latency seen by the client %.1f ms (ratio %.3f of the best with it)\n",
					c.name, served, elapsed.Round(time.Millisecond), got, best, got/best, refused, len(atts), lat, got/seen)
			}
		})
	}
}
