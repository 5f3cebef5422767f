package local

import "github.com/faaslab/faaslab/runner/platform"

// reportUsage fills in what c's cgroup measured of the invocation: the CPU
// time the container used since the call began (init excluded on a cold
// call) and how much its quota held it back, its allotted vCPUs, and the
// container's peak memory as Lambda's Max Memory Used.
//
// Max Memory Used is the container's peak since it started, as Lambda's is
// its execution environment's: a warm call never reports less than the
// calls before it in the same container. It is the cgroup's peak, which
// holds everything the container charged (the runtime, its children, the
// kernel memory they used), and never less than the runtime's own peak
// resident set: pages the runtime maps from files that other processes
// of the host loaded first (the interpreter, shared libraries) are
// charged to those processes' groups, not to the container's, yet count
// in its resident set, as they would count in Lambda's environment.
func (d *deployment) reportUsage(c *container, inv *platform.Invocation) {
	inv.CPUQuotaVCPUs = float64(d.limits.cpuQuotaUS) / cpuPeriodUS
	if u, err := c.cg.cpuSinceMark(); err == nil {
		user, system := u.times()
		inv.EnvCPUUser, inv.EnvCPUSystem = user.Seconds(), system.Seconds()
		inv.CPUThrottled, inv.CPUThrottledPeriods = u.throttled, u.throttledPeriods
	}
	const mb = 1 << 20
	peak := max(c.cg.maxMemoryBytes(), inv.MaxRSSKB<<10)
	c.cg.peak = max(c.cg.peak, peak)
	inv.MaxMemoryUsedMB = int((c.cg.peak + mb - 1) / mb)
}
