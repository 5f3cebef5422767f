package local

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// The host's CPU time over a call (the host_cpu_* columns) is sampled by
// faaslab around the call, not by the measurement wrapper inside the
// sandbox: the sandbox's /proc/stat is the host's, so the figures are the
// same, but reading and parsing it twice in Python cost about a tenth of a
// warm no-op's round trip, and figures that faaslab reads itself cannot be
// forged by the function. The runtime is started with
// harness.BootstrapHostCPUOutside so that the wrapper skips its own
// sampling.

// hostCPU is a sample of the host's CPU times from /proc/stat's first line,
// in USER_HZ ticks.
type hostCPU struct {
	user, system, idle, iowait, steal int64
	ok                                bool
}

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux
// architecture (the ABI fixes it, whatever the kernel's tick rate).
const userHZ = 100

// seconds returns the CPU times of the span from earlier to s, in seconds;
// zeros where either sample failed.
func (s hostCPU) seconds(earlier hostCPU) (user, system, idle, iowait, steal float64) {
	if !s.ok || !earlier.ok {
		return 0, 0, 0, 0, 0
	}
	d := func(a, b int64) float64 { return float64(max(a-b, 0)) / userHZ }
	return d(s.user, earlier.user), d(s.system, earlier.system), d(s.idle, earlier.idle),
		d(s.iowait, earlier.iowait), d(s.steal, earlier.steal)
}

// hostStat reads /proc/stat's first line through a descriptor kept open:
// a pread at offset 0 makes the kernel produce the file afresh. Its
// methods are not safe for concurrent use; each container has its own.
type hostStat struct {
	f   *os.File
	buf [512]byte // the first line fits: "cpu" and ten counters
}

// sample reads the host's CPU times now. A failure gives a sample whose
// deltas are zero, as the wrapper reports when /proc/stat cannot be read.
func (h *hostStat) sample() hostCPU {
	if h.f == nil {
		f, err := os.Open("/proc/stat")
		if err != nil {
			return hostCPU{}
		}
		h.f = f
	}
	n, _ := h.f.ReadAt(h.buf[:], 0)
	s, err := parseHostCPU(h.buf[:n])
	if err != nil {
		return hostCPU{}
	}
	return s
}

// close closes the descriptor.
func (h *hostStat) close() {
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
}

// parseHostCPU parses /proc/stat's first line: "cpu  user nice system idle
// iowait irq softirq steal ...".
func parseHostCPU(data []byte) (hostCPU, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return hostCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(string(fields[i+1]), 10, 64)
		if err != nil {
			return hostCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = n
	}
	return hostCPU{user: v[0], system: v[2], idle: v[3], iowait: v[4], steal: v[7], ok: true}, nil
}
