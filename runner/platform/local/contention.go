package local

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A container's CPU quota caps its CPU time without guaranteeing it: on a
// host whose cores are oversubscribed, a call waits for a core as well as
// for its quota, and runs slower than on Lambda. The invocation's
// cpu_share and cpu_throttled columns show it call by call; contention
// warns, once per episode, when the host is oversubscribed: when the
// containers running at once have more vCPUs of quota than the host has
// cores, or when the load average exceeds the cores (others compete).

// contentionCalm is how long the host must stay calm before a new
// episode of oversubscription is warned about again.
const contentionCalm = time.Minute

// loadCheckEvery spaces reads of /proc/loadavg.
const loadCheckEvery = time.Second

// contention tracks the vCPUs of the calls in flight and the host's load.
// It is safe for concurrent use.
type contention struct {
	cores int
	log   *slog.Logger
	// loadavg reads the 1-minute load average; tests replace it.
	loadavg func() (float64, error)
	now     func() time.Time

	mu        sync.Mutex
	quotaUS   int64 // sum of the CPU quotas of the calls in flight
	lastLoad  float64
	loadRead  time.Time
	warned    bool      // within an episode
	calmSince time.Time // zero while oversubscribed
}

func newContention(cores int, log *slog.Logger) *contention {
	return &contention{cores: cores, log: log, loadavg: readLoadavg, now: time.Now}
}

// enter notes a call with quotaUS of CPU per period starting, checks the
// host and returns the function that notes its end.
func (c *contention) enter(quotaUS int64) (leave func()) {
	c.mu.Lock()
	c.quotaUS += quotaUS
	c.check()
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.quotaUS -= quotaUS
		c.mu.Unlock()
	}
}

// check warns at the start of an episode of oversubscription. c.mu is
// held.
func (c *contention) check() {
	now := c.now()
	if now.Sub(c.loadRead) >= loadCheckEvery {
		c.loadRead = now
		if l, err := c.loadavg(); err == nil {
			c.lastLoad = l
		}
	}
	vcpus := float64(c.quotaUS) / cpuPeriodUS
	var why string
	switch {
	case vcpus > float64(c.cores):
		why = fmt.Sprintf("the containers running at once have %.2f vCPUs of CPU quota on %d cores", vcpus, c.cores)
	case c.lastLoad > float64(c.cores):
		why = fmt.Sprintf("the 1-minute load average is %.2f on %d cores: other processes compete for the CPU", c.lastLoad, c.cores)
	}
	if why == "" {
		if c.warned && c.calmSince.IsZero() {
			c.calmSince = now
		}
		if c.warned && now.Sub(c.calmSince) >= contentionCalm {
			c.warned = false
		}
		return
	}
	c.calmSince = time.Time{}
	if !c.warned {
		c.warned = true
		c.log.Warn("host is oversubscribed: functions may get less CPU than their quota, and run slower than on Lambda; "+
			"see cpu_share and cpu_throttled_ms to find the calls affected", "why", why)
	}
}

// readLoadavg reads the 1-minute load average from /proc/loadavg.
func readLoadavg() (float64, error) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), " ")
	return strconv.ParseFloat(first, 64)
}
