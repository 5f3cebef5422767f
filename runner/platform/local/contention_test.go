package local

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingHandler is a slog handler that keeps the messages it gets.
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	h.msgs = append(h.msgs, msg)
	return nil
}

// TestContention checks that the platform warns once per episode of
// oversubscription, whether its own containers' quotas exceed the cores
// or the load average says that others compete, and again only after the
// host has been calm for a while.
func TestContention(t *testing.T) {
	rec := &recordingHandler{}
	c := newContention(2, slog.New(rec))
	now := time.Unix(1e9, 0)
	load := 0.5
	c.now = func() time.Time { return now }
	c.loadavg = func() (float64, error) { return load, nil }
	step := func(d time.Duration) { now = now.Add(d) }

	// One vCPU, then two at once: within the cores.
	leaveA := c.enter(cpuPeriodUS)
	leaveB := c.enter(cpuPeriodUS)
	if len(rec.msgs) != 0 {
		t.Fatalf("warned within the cores: %q", rec.msgs)
	}
	// Half a vCPU more oversubscribes the two cores: one warning, however
	// many calls follow.
	for i := 0; i < 5; i++ {
		step(time.Second)
		c.enter(cpuPeriodUS / 2)()
	}
	leaveC := c.enter(cpuPeriodUS)
	c.enter(cpuPeriodUS)()
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "2.50 vCPUs of CPU quota on 2 cores") {
		t.Fatalf("warnings %q, want one naming the quota", rec.msgs)
	}
	leaveA()
	leaveB()
	leaveC()
	// Calm, but not for long: the same episode.
	step(10 * time.Second)
	c.enter(cpuPeriodUS)()
	leaveA, leaveB, leaveC = c.enter(cpuPeriodUS), c.enter(cpuPeriodUS), c.enter(cpuPeriodUS)
	leaveA()
	leaveB()
	leaveC()
	if len(rec.msgs) != 1 {
		t.Fatalf("warned again within an episode: %q", rec.msgs)
	}
	// Calm for longer than contentionCalm: a new episode, from the load
	// average this time.
	c.enter(cpuPeriodUS)()
	step(contentionCalm + time.Second)
	c.enter(cpuPeriodUS)()
	load = 3.7
	step(loadCheckEvery)
	c.enter(cpuPeriodUS)()
	c.enter(cpuPeriodUS)()
	if len(rec.msgs) != 2 || !strings.Contains(rec.msgs[1], "load average is 3.70 on 2 cores") {
		t.Fatalf("warnings %q, want a second naming the load", rec.msgs)
	}
	if c.quotaUS != 0 {
		t.Errorf("quota in flight %d after every call left", c.quotaUS)
	}
}
