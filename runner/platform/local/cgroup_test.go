package local

import (
	"context"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// Tests of what the container's cgroup measures, on this host's cgroups
// (v1 here; see cgroup_v2_test.go for the v2 driver).

// TestMaxMemoryUsed checks that max_memory_used_mb is the container's
// peak, never below the runtime's own peak resident set, and that it is
// the environment's peak since it started: a later, smaller call does not
// report less.
func TestMaxMemoryUsed(t *testing.T) {
	p := newPlatform(t, Options{})
	// A generous timeout: at 512 MB (0.29 vCPU) on a loaded host, touching
	// 100 MB takes seconds.
	d := deployDir(t, p, "alloc", func(fn *platform.Function) { fn.MemoryMB = 512; fn.Timeout = time.Minute })
	big := platformtest.Invoke(t, d, `{"mb": 100}`)
	platformtest.Want(t, big, platform.StatusOK, "")
	if rss := int((big.MaxRSSKB + 1023) / 1024); big.MaxMemoryUsedMB < rss || big.MaxMemoryUsedMB < 100 {
		t.Errorf("max memory used %d MB, runtime's peak RSS %d MB: want at least the RSS and the 100 MB allocated",
			big.MaxMemoryUsedMB, rss)
	}
	if big.MaxMemoryUsedMB > 512 {
		t.Errorf("max memory used %d MB above the 512 MB limit", big.MaxMemoryUsedMB)
	}
	small := platformtest.Invoke(t, d, `{"mb": 1}`)
	platformtest.Want(t, small, platform.StatusOK, "")
	if small.Cold || small.MaxMemoryUsedMB < big.MaxMemoryUsedMB {
		t.Errorf("warm call after the 100 MB one: cold %v, max memory used %d MB, want the environment's peak, %d MB",
			small.Cold, small.MaxMemoryUsedMB, big.MaxMemoryUsedMB)
	}
	t.Logf("max memory used %d MB, runtime RSS %d KiB; then %d MB, %d KiB",
		big.MaxMemoryUsedMB, big.MaxRSSKB, small.MaxMemoryUsedMB, small.MaxRSSKB)
}

// burnCPU keeps n processes spinning until the test ends: a busy
// neighbour.
func burnCPU(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// Under `nice go test` the burners would inherit the nice value,
		// and /proc/stat would count their time as nice, which the host's
		// user and system figures leave out (docs/tables.md): for the
		// second or two they run, they take the default priority.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, 0); err != nil {
			t.Logf("cannot reset the burner's nice value (its time counts as nice, not user): %v", err)
		}
	}
}

// TestInvocationCPU checks the per-invocation CPU figures from the
// container's cgroup: the function's own CPU time (not init's, not a busy
// neighbour's), its throttling under a small quota, and its quota.
func TestInvocationCPU(t *testing.T) {
	p := newPlatform(t, Options{})
	small := deployDir(t, p, "cpu", func(fn *platform.Function) { fn.MemoryMB = 128; fn.Timeout = 30 * time.Second })
	for _, cold := range []bool{true, false} {
		inv := platformtest.Invoke(t, small, `{"cpu_ms": 50}`)
		platformtest.Want(t, inv, platform.StatusOK, "")
		cpu := inv.EnvCPUUser + inv.EnvCPUSystem
		// The handler burns 50 ms of process time; the runtime adds a
		// little around it.
		if inv.Cold != cold || cpu < 0.045 || cpu > 0.3 {
			t.Errorf("cold %v: function CPU %.3f s, want about 0.05 s", inv.Cold, cpu)
		}
		if want := 128.0 / mbPerVCPU; inv.CPUQuotaVCPUs < want*0.99 || inv.CPUQuotaVCPUs > want*1.01 {
			t.Errorf("quota %.4f vCPUs, want %.4f", inv.CPUQuotaVCPUs, want)
		}
		// 50 ms at 7 ms per 100 ms period spans several periods, and
		// the quota holds it back in each, unless the host is so busy
		// that the function never gets even its quota: then it is not
		// throttled but starved, and its share shows it.
		share := cpu / inv.Duration.Seconds()
		switch starved := share < inv.CPUQuotaVCPUs/2; {
		case !starved && (inv.CPUThrottledPeriods < 2 || inv.CPUThrottled <= 0):
			t.Errorf("throttled %v in %d periods at a CPU share of %.3f, want several", inv.CPUThrottled, inv.CPUThrottledPeriods, share)
		case starved:
			t.Logf("host too busy to show throttling: CPU share %.3f of a %.3f vCPU quota, throttled %v in %d periods",
				share, inv.CPUQuotaVCPUs, inv.CPUThrottled, inv.CPUThrottledPeriods)
		}
		if share > 2*inv.CPUQuotaVCPUs {
			t.Errorf("CPU share %.3f above twice the quota %.3f", share, inv.CPUQuotaVCPUs)
		}
	}

	// A busy neighbour shows in the host's figures, not the function's.
	burnCPU(t, 2)
	big := deployDir(t, p, "cpu", func(fn *platform.Function) { fn.MemoryMB = 1769; fn.Timeout = 30 * time.Second })
	platformtest.Want(t, platformtest.Invoke(t, big, `{"cpu_ms": 1}`), platform.StatusOK, "")
	inv := platformtest.Invoke(t, big, `{"cpu_ms": 100}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	cpu, host := inv.EnvCPUUser+inv.EnvCPUSystem, inv.CPUUser+inv.CPUSystem
	if cpu < 0.095 || cpu > 0.5 {
		t.Errorf("beside a busy neighbour: function CPU %.3f s, want about 0.1 s", cpu)
	}
	// /proc/stat's ticks tell the host's CPU time only where they came:
	// a VM whose virtual CPUs its own host deschedules (the emulated one
	// of TestCgroupV2VM, on a loaded machine) loses ticks, and its
	// figures then cover a fraction of the call's CPU time.
	accounted := inv.CPUUser + inv.CPUSystem + inv.CPUIdle + inv.CPUIOWait + inv.CPUSteal
	span := inv.RoundTrip.Seconds() * float64(runtime.NumCPU())
	switch {
	case accounted < span/2:
		t.Logf("/proc/stat accounted %.2f s of the %.2f CPU-seconds the call spanned: it lost ticks, so the host's CPU is not compared", accounted, span)
	case host <= cpu:
		t.Errorf("beside a busy neighbour: function CPU %.3f s, host CPU %.3f s; want the host's more", cpu, host)
	}
	t.Logf("beside a busy neighbour: function CPU %.3f s in %v (share %.2f), throttled %v; host CPU %.3f s",
		cpu, inv.Duration, cpu/inv.Duration.Seconds(), inv.CPUThrottled, host)
}

// TestForkBombUnderLoad checks that cleaning up after a fork bomb never
// fails the call, however loaded the host: every call ends as a timeout
// or crash of the function, with no infrastructure error, and nothing
// survives (newPlatform's cleanup checks).
func TestForkBombUnderLoad(t *testing.T) {
	p := newPlatform(t, Options{})
	burnCPU(t, 2)
	d := deployDir(t, p, "hostile/fork_bomb", func(fn *platform.Function) { fn.MemoryMB = 1769 })
	for i := 0; i < 2; i++ {
		start := time.Now()
		inv, err := d.Invoke(context.Background(), []byte(`{}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// The call's timeout is 2 s; the rest is killing the bomb.
		t.Logf("call %d: %s after %v, cleanup included", i, inv.Status, time.Since(start).Round(time.Millisecond))
		if inv.Status != platform.StatusTimeout && inv.Status != platform.StatusCrash {
			t.Errorf("call %d: %s %s, want a timeout or a crash", i, inv.Status, inv.ErrorMessage)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// BenchmarkUsageReads measures what the per-invocation cgroup counters
// cost (the CPU mark before a call, the CPU and peak memory after it),
// interleaved with warm no-op invocations of the same container, and
// reports their ratio: the share of a warm round trip they add.
func BenchmarkUsageReads(b *testing.B) {
	_, deploy := benchPlatform(b, Options{})
	d := deploy("echo", 1769)
	if _, err := d.Invoke(context.Background(), []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	var reads, calls time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		d.c.cg.markCPU()
		d.c.cg.cpuSinceMark()
		d.c.cg.maxMemoryBytes()
		reads += time.Since(start)
		inv, err := d.Invoke(context.Background(), []byte(`{}`))
		if err != nil {
			b.Fatal(err)
		}
		calls += inv.RoundTrip
	}
	b.ReportMetric(float64(reads.Microseconds())/float64(b.N), "reads-µs/op")
	b.ReportMetric(float64(calls.Microseconds())/float64(b.N), "roundtrip-µs/op")
	b.ReportMetric(float64(reads)/float64(calls), "reads/roundtrip")
}
