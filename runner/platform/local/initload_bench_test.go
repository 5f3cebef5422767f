package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
)

// BenchmarkInitUnderLoad compares a sandbox's cold start with the same
// import on the host, side by side, on a host that the benchmark loads
// itself. The function is testdata/init_load, which imports boto3 and
// makes an S3 client at init, as pipeline stages do. Each round deploys it
// afresh and invokes it once (a cold start), and runs the same module with
// the host's Python (/usr/bin/python3, the sandbox's), alternating which
// goes first. It reports the medians of:
//
//   - host-s and host-cpu-s: the host import's wall and CPU time;
//   - cold-invoke-s: the cold Invoke as the caller sees it, which adds
//     the container's set-up (its cgroup, /tmp, and with object storage
//     the network namespace and its servers) and the call to init-s;
//   - init-s: the sandbox's start and init (fork to the runtime's first
//     next), import-s the handler module's import inside it;
//   - init-cpu-s: the CPU time the container's cgroup used for init, and
//     init-throttled-s the time its CPU quota held it back;
//   - host-wait-s and init-wait-s: how long the Python process waited for
//     a CPU while runnable (the kernel's schedstat): contention;
//   - init/host, init-cpu/host-cpu, init-wait/host-wait: the ratios;
//   - unweighed-init-s and unweighed-init/host: init-s with faaslab's
//     containers left at the default CPU weight, as before deploy.go
//     weighed them, from a third cold start in each round.
//
// The load, started before the rounds and stopped after them:
//
//   - FAASLAB_LOAD busy loops, each in a session of its own (as the
//     commands of other users and services are; the kernel's autogroup
//     schedules each session as one entity), or all in the benchmark's own
//     session with FAASLAB_LOAD_SAME_SESSION=1;
//   - FAASLAB_LOAD_SANDBOXES containers of the same platform, each
//     running a busy handler at 1,769 MB, as a pipeline's parallel stages.
//
// The variants are 512 MB (Lambda: 0.29 vCPU after init) and 1,769 MB
// (one vCPU), and with object storage (its network namespace, DNS and CA;
// root only).
//
//	FAASLAB_LOAD=8 go test -run '^$' -bench InitUnderLoad -benchtime 5x ./runner/platform/local/
func BenchmarkInitUnderLoad(b *testing.B) {
	for _, mb := range []int{512, 1769} {
		for _, s3 := range []bool{false, true} {
			name := fmt.Sprintf("%dMB", mb)
			if s3 {
				name += "-s3"
			}
			b.Run(name, func(b *testing.B) { benchmarkInitUnderLoad(b, Options{InitTimeout: 5 * time.Minute}, mb, s3) })
		}
	}
}

// schedStat is the JSON testdata/init_load's handler returns.
type schedStat struct {
	RunNS  int64 `json:"run_ns"`
	WaitNS int64 `json:"wait_ns"`
}

func benchmarkInitUnderLoad(b *testing.B, opts Options, memoryMB int, s3 bool) {
	if s3 && os.Geteuid() != 0 {
		b.Skip("object storage in the sandbox needs root")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		b.Skipf("no boto3 for /usr/bin/python3 (install python3-boto3): %v", err)
	}
	p, _ := benchPlatform(b, opts)
	startLoad(b, p)
	ctx := context.Background()
	code, err := filepath.Abs("testdata/init_load")
	if err != nil {
		b.Fatal(err)
	}
	fn := platform.Function{Name: "init-load", CodeDir: code, Handler: "handler.handler", MemoryMB: memoryMB, Timeout: time.Minute}
	st := objstore.New()

	// The host's peer: the same module, imported by the same Python.
	hostImport := func() (wall, cpu time.Duration, sched schedStat) {
		cmd := exec.Command("/usr/bin/python3", "-B", "-c",
			"import sys, json; sys.path.insert(0, sys.argv[1]); import handler; print(json.dumps(handler.handler({}, None)))", code)
		cmd.Env = []string{"AWS_REGION=" + p.opts.Region, "PATH=/usr/bin:/bin", "HOME=/tmp"}
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("host import: %v\n%s", err, out)
		}
		wall = time.Since(start)
		if err := json.Unmarshal(out, &sched); err != nil {
			b.Fatalf("host import: %v: %s", err, out)
		}
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), sched
	}
	type sandboxInit struct {
		// cold is the whole cold Invoke as the caller sees it: set-up
		// (cgroup, /tmp, object storage's namespace) and init.
		cold, wall, imported, cpu, throttled time.Duration
		sched                                schedStat
	}
	// coldStart deploys and invokes the function once; unweighed, it
	// undoes Deploy's weighing of the containers (see deploy.go) first,
	// as faaslab did before.
	coldStart := func(unweighed bool) sandboxInit {
		f := fn
		if s3 {
			f.S3 = st.Handler(objstore.Scope{Bucket: "pipe"})
		}
		d, err := p.Deploy(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close(ctx)
		if unweighed {
			if err := setParentWeight(p.cgroups.driver, 1); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		inv, err := d.Invoke(ctx, []byte(`{}`))
		took := time.Since(start)
		if err != nil || inv.Status != platform.StatusOK || !inv.Cold {
			b.Fatalf("cold invoke: %v %s %s %s", err, inv.Status, inv.ErrorMessage, inv.Log)
		}
		var s sandboxInit
		if err := json.Unmarshal(inv.Result, &s.sched); err != nil {
			b.Fatalf("cold invoke: %v: %s", err, inv.Result)
		}
		dep := d.(*deployment)
		if err := dep.waitIdle(); err != nil {
			b.Fatal(err)
		}
		dep.mu.Lock()
		defer dep.mu.Unlock()
		u, err := dep.c.cg.cpuUsage()
		if err != nil {
			b.Fatal(err)
		}
		call := time.Duration((inv.EnvCPUUser + inv.EnvCPUSystem) * float64(time.Second))
		s.wall, s.imported, s.cpu, s.throttled = dep.c.initTook, inv.InitDuration, u.usage-call, u.throttled
		s.cold = took
		return s
	}

	var coldWall []time.Duration
	var hostWall, hostCPU, hostWait, initWall, imported, initCPU, throttled, initWait, unweighedWall []time.Duration
	load0 := loadAverage()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s, u sandboxInit
		var hw, hc time.Duration
		var hs schedStat
		// The three in turn, each first in every third round.
		for j := range 3 {
			switch (i + j) % 3 {
			case 0:
				hw, hc, hs = hostImport()
			case 1:
				s = coldStart(false)
			case 2:
				u = coldStart(true)
			}
		}
		hostWall, hostCPU, hostWait = append(hostWall, hw), append(hostCPU, hc), append(hostWait, time.Duration(hs.WaitNS))
		initWall, imported = append(initWall, s.wall), append(imported, s.imported)
		initCPU, throttled = append(initCPU, s.cpu), append(throttled, s.throttled)
		initWait = append(initWait, time.Duration(s.sched.WaitNS))
		unweighedWall = append(unweighedWall, u.wall)
		coldWall = append(coldWall, s.cold)
		b.Logf("round %d: host %.2fs (cpu %.2fs, waited %.2fs) | sandbox init %.2fs, import %.2fs, cpu %.2fs, waited %.2fs, throttled %.2fs | unweighed init %.2fs (cpu %.2fs, waited %.2fs) | load %s",
			i, hw.Seconds(), hc.Seconds(), float64(hs.WaitNS)/1e9, s.wall.Seconds(), s.imported.Seconds(), s.cpu.Seconds(),
			float64(s.sched.WaitNS)/1e9, s.throttled.Seconds(), u.wall.Seconds(), u.cpu.Seconds(), float64(u.sched.WaitNS)/1e9, loadAverage())
	}
	b.StopTimer()
	med := func(ds []time.Duration) float64 { return percentile(ds, 0.5).Seconds() }
	b.ReportMetric(med(hostWall), "host-s")
	b.ReportMetric(med(hostCPU), "host-cpu-s")
	b.ReportMetric(med(hostWait), "host-wait-s")
	b.ReportMetric(med(initWall), "init-s")
	b.ReportMetric(med(coldWall), "cold-invoke-s")
	b.ReportMetric(med(imported), "import-s")
	b.ReportMetric(med(initCPU), "init-cpu-s")
	b.ReportMetric(med(initWait), "init-wait-s")
	b.ReportMetric(med(throttled), "init-throttled-s")
	b.ReportMetric(med(initWall)/med(hostWall), "init/host")
	b.ReportMetric(med(initCPU)/med(hostCPU), "init-cpu/host-cpu")
	b.ReportMetric(med(initWait)/max(med(hostWait), 1e-3), "init-wait/host-wait")
	b.ReportMetric(med(unweighedWall), "unweighed-init-s")
	b.ReportMetric(med(unweighedWall)/med(hostWall), "unweighed-init/host")
	b.ReportMetric(0, "ns/op")
	b.Logf("load average %s before, %s after; quota at init %.2f vCPU, after %.2f vCPU", load0, loadAverage(),
		float64(p.limitsFor(fn).initCPUQuotaUS)/cpuPeriodUS, float64(p.limitsFor(fn).cpuQuotaUS)/cpuPeriodUS)
}

// startLoad starts the load that FAASLAB_LOAD, FAASLAB_LOAD_SAME_SESSION
// and FAASLAB_LOAD_SANDBOXES ask for (see BenchmarkInitUnderLoad); the
// benchmark's end stops it.
func startLoad(b *testing.B, p *Platform) {
	n, _ := strconv.Atoi(os.Getenv("FAASLAB_LOAD"))
	for range n {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if os.Getenv("FAASLAB_LOAD_SAME_SESSION") == "" {
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	sandboxes, _ := strconv.Atoi(os.Getenv("FAASLAB_LOAD_SANDBOXES"))
	ctx, cancel := context.WithCancel(context.Background())
	var busy sync.WaitGroup
	b.Cleanup(func() { cancel(); busy.Wait() })
	for i := range sandboxes {
		d, err := p.Deploy(ctx, platform.Function{Name: fmt.Sprintf("load-%d", i), CodeDir: "testdata/cpu",
			Handler: "handler.handler", MemoryMB: 1769, Timeout: 15 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		busy.Add(1)
		go func() {
			defer busy.Done()
			defer d.Close(context.Background())
			for ctx.Err() == nil {
				d.Invoke(ctx, []byte(`{"cpu_ms": 2000}`))
			}
		}()
	}
	if n+sandboxes > 0 {
		time.Sleep(2 * time.Second) // let the load start
	}
}

// loadAverage returns /proc/loadavg's three load averages.
func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// BenchmarkS3Setup measures what a container with object storage adds
// before its sandbox starts: a network namespace with its loopback up,
// the HTTP, HTTPS and DNS servers in it, and their teardown. The
// certificate authority is made once per Platform, before the loop.
//
//	go test -run '^$' -bench S3Setup -benchtime 50x ./runner/platform/local/
func BenchmarkS3Setup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("object storage in the sandbox needs root")
	}
	var names s3Names
	dir := b.TempDir()
	h := objstore.New().Handler(objstore.Scope{Bucket: "pipe"})
	if _, err := names.prepare(dir); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := newS3Endpoint(h, &names, dir)
		if err != nil {
			b.Fatal(err)
		}
		e.releaseNamespace()
		e.close()
	}
}
