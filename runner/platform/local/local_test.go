package local

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestMain checks, after all tests, that the package left no goroutine
// and no pipe behind in the runner. Unless -parallel is given, it runs 8
// tests at once: most hostile functions wait for their timeout rather than
// compute.
func TestMain(m *testing.M) {
	if os.Getenv("FAASLAB_LOCAL_HELPER") == "runner" {
		helperRunner()
		return
	}
	flag.Parse()
	if !parallelSet() {
		flag.Set("test.parallel", "8")
	}
	pipes := openPipes()
	code := m.Run()
	if code == 0 {
		if err := checkRunnerClean(pipes); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func parallelSet() bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	return set
}

// openPipes counts the runner's open pipe descriptors.
func openPipes() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

func checkRunnerClean(pipesBefore int) error {
	var stacks string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			// The fork thread lives as long as the process.
			if strings.Contains(g, "platform/local.") && !strings.Contains(g, "local.TestMain") &&
				!strings.Contains(g, "local.checkRunnerClean") && !strings.Contains(g, "local.forkThread") {
				leaked = true
			}
		}
		if !leaked && openPipes() <= pipesBefore {
			return nil
		}
	}
	return fmt.Errorf("leaked goroutines or pipes (pipes %d, before %d):\n%s", openPipes(), pipesBefore, stacks)
}

// newPlatform returns a platform for one test and checks, when the test
// ends, that none of its cgroups or processes survive.
func newPlatform(t *testing.T, opts Options) *Platform {
	t.Helper()
	if opts.InitTimeout == 0 {
		// Generous: a cold start takes a second on a loaded 2-core host.
		opts.InitTimeout = 30 * time.Second
	}
	p, err := New(opts)
	if IsUnavailable(err) && !inV2VM() {
		t.Skipf("local platform unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { checkNoLeftovers(t, p) })
	if _, v2 := p.cgroups.driver.(*cgroupV2); inV2VM() && !v2 {
		t.Fatalf("in TestCgroupV2VM's VM the platform uses %s, want cgroup v2", p.cgroups.driver.describe())
	}
	return p
}

// checkNoLeftovers fails t if a cgroup of p, or a process in one, or a
// deployment directory remains.
func checkNoLeftovers(t *testing.T, p *Platform) {
	t.Helper()
	entries, err := os.ReadDir(p.deployDir)
	if err != nil {
		t.Errorf("deployment dir: %v", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "etc-") && !strings.HasPrefix(e.Name(), "tmp-template-") {
			t.Errorf("deployment left behind: %s", filepath.Join(p.deployDir, e.Name()))
		}
	}
	for _, what := range tmpLeftovers(p.deployDir) {
		t.Errorf("/tmp left behind: %s", what)
	}
	prefix := "/" + p.opts.CgroupParent + "/" + p.groupPrefix
	for _, pattern := range p.cgroups.dirs(p.groupPrefix + "*") {
		matches, _ := filepath.Glob(pattern)
		if len(matches) > 0 {
			t.Errorf("cgroups left behind: %v", matches)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	deadline := time.Now().Add(time.Minute)
	for _, path := range procs {
		data, err := os.ReadFile(path)
		for err == nil && strings.Contains(string(data), prefix) && exiting(data) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			data, err = os.ReadFile(path)
		}
		if err == nil && strings.Contains(string(data), prefix) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "stat"))
			t.Errorf("process left behind: %s: %s (stat %s)", path, bytes.TrimSpace(data), bytes.TrimSpace(stat))
		}
	}
}

// exiting reports whether the process whose /proc/<pid>/cgroup holds data
// is past leaving its group, which the runner then removed: the kernel
// removes a group only once no live process is in it. Such a process is
// still listed until it has finished exiting and been reaped, which for a
// fork bomb's thousand children on a loaded host (their pid namespace's
// init waits for them all) takes a while (seen in TestCgroupV2VM's VM).
func exiting(data []byte) bool {
	return bytes.Contains(data, []byte(" (deleted)"))
}

// deployDir deploys the function in testdata/<dir> and closes it when the
// test ends.
func deployDir(t *testing.T, p *Platform, dir string, change func(*platform.Function)) platform.Deployment {
	t.Helper()
	fn := platform.Function{
		Name: strings.ReplaceAll(dir, "/", "-"), CodeDir: filepath.Join("testdata", dir),
		Handler: "handler.handler", Runtime: "python3.12", MemoryMB: 256, Timeout: 30 * time.Second,
	}
	if change != nil {
		change(&fn)
	}
	return platformtest.Deploy(t, p, fn)
}

func TestConformance(t *testing.T) {
	platformtest.Grace = 30 * time.Second // a loaded host's cold start and kill
	platformtest.Run(t, func(t *testing.T) platform.Platform { return newPlatform(t, Options{}) })
}

func TestNewChecksHost(t *testing.T) {
	_, err := New(Options{Bwrap: "/nonexistent/bwrap"})
	if !IsUnavailable(err) {
		t.Errorf("New with a missing bwrap: %v, want unavailable", err)
	}
	if _, err := New(Options{Python: "/opt/python3"}); err == nil || IsUnavailable(err) {
		t.Errorf("New with Python outside /usr: %v, want an error", err)
	}
}

func TestDeployChecksFunction(t *testing.T) {
	p := newPlatform(t, Options{})
	good := platform.Function{Name: "f", CodeDir: "testdata/normal", Handler: "handler.handler"}
	for _, tc := range []struct {
		name   string
		change func(*platform.Function)
	}{
		{"no code", func(fn *platform.Function) { fn.CodeDir = "testdata/none" }},
		{"bad handler", func(fn *platform.Function) { fn.Handler = "handler" }},
		{"too little memory", func(fn *platform.Function) { fn.MemoryMB = 64 }},
		{"foreign arch", func(fn *platform.Function) { fn.Arch = "sparc" }},
		{"reserved variable", func(fn *platform.Function) { fn.Env = map[string]string{"AWS_SECRET_ACCESS_KEY": "x"} }},
		{"not python", func(fn *platform.Function) { fn.Runtime = "nodejs20.x" }},
	} {
		fn := good
		tc.change(&fn)
		if d, err := p.Deploy(context.Background(), fn); err == nil {
			d.Close(context.Background())
			t.Errorf("%s: Deploy succeeded", tc.name)
		}
	}
}

func TestNormal(t *testing.T) {
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "normal", func(fn *platform.Function) {
		fn.MemoryMB = 384
		fn.Env = map[string]string{"GREETING": "hi"}
	})
	var first, second struct {
		Calls     int
		Tmp       string
		Memory    string
		MemoryEnv string `json:"memory_env"`
		Greeting  string
		UID       int
		Cwd       string
		NumpySum  float64 `json:"numpy_sum"`
		Networkx  int
		Igraph    int
		PIL       []int    `json:"pil"`
		EnvKeys   []string `json:"env_keys"`
	}
	inv1 := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv1, platform.StatusOK, "")
	platformtest.Result(t, inv1, &first)
	inv2 := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv2, platform.StatusOK, "")
	platformtest.Result(t, inv2, &second)

	if first.Calls != 1 || second.Calls != 2 || second.Tmp != "1" {
		t.Errorf("calls %d, %d and /tmp %q: want state kept while warm", first.Calls, second.Calls, second.Tmp)
	}
	if !inv1.Cold || inv2.Cold || inv1.ContainerID != inv2.ContainerID || inv1.InitDuration <= 0 {
		t.Errorf("cold %v/%v containers %s/%s init %v: want cold then warm in one container",
			inv1.Cold, inv2.Cold, inv1.ContainerID, inv2.ContainerID, inv1.InitDuration)
	}
	if first.Memory != "384" || first.MemoryEnv != "384" || first.Greeting != "hi" {
		t.Errorf("memory %q env %q greeting %q", first.Memory, first.MemoryEnv, first.Greeting)
	}
	if first.UID != 65534 || first.Cwd != "/var/task" {
		t.Errorf("uid %d cwd %q, want 65534 in /var/task", first.UID, first.Cwd)
	}
	if first.NumpySum != 6 || first.Networkx != 3 || first.Igraph != 3 || len(first.PIL) != 2 {
		t.Errorf("Debian packages misbehave: %+v", first)
	}
	// The runtime adds the log stream name; bwrap's --chdir adds PWD.
	allowed := map[string]bool{"GREETING": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "PWD": true}
	for _, kv := range p.environment(d.(*deployment)) {
		k, _, _ := strings.Cut(kv, "=")
		allowed[k] = true
	}
	for _, k := range first.EnvKeys {
		if !allowed[k] {
			t.Errorf("unexpected environment variable %s", k)
		}
	}
	if inv1.MaxMemoryUsedMB <= 0 || inv1.BilledDuration < inv1.Duration {
		t.Errorf("report: max memory %d MB, billed %v for %v", inv1.MaxMemoryUsedMB, inv1.BilledDuration, inv1.Duration)
	}
	if !inv1.BilledEstimated {
		t.Errorf("the sandbox's billed duration is not marked as an estimate")
	}
}

// TestCPUShare checks that CPU follows memory: 128 MB buys 128/1769 of a
// vCPU, so 50 ms of CPU time take about 0.7 s.
func TestCPUShare(t *testing.T) {
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "cpu", func(fn *platform.Function) { fn.MemoryMB = 128 })
	inv := platformtest.Invoke(t, d, `{"cpu_ms": 50}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	if inv.Duration < 400*time.Millisecond {
		t.Errorf("50 ms of CPU took %v at 128 MB, want about 0.7 s", inv.Duration)
	}
}

func TestInitErrorLocal(t *testing.T) {
	p := newPlatform(t, Options{})
	for _, tc := range []struct {
		handler, errType string
	}{
		{"syntax_error.handler", "Runtime.UserCodeSyntaxError"},
		{"missing_import.handler", "Runtime.ImportModuleError"},
		{"handler.nonexistent", "Runtime.HandlerNotFound"},
		{"exits_at_import.handler", "Runtime.ExitError"},
	} {
		d := deployDir(t, p, "init_errors", func(fn *platform.Function) { fn.Handler = tc.handler })
		inv := platformtest.Invoke(t, d, `{}`)
		platformtest.Want(t, inv, platform.StatusInitError, "")
		if inv.ErrorType != tc.errType || !inv.Cold {
			t.Errorf("%s: %s %q (cold %v), want %s", tc.handler, inv.ErrorType, inv.ErrorMessage, inv.Cold, tc.errType)
		}
	}
}

func TestInitTimeout(t *testing.T) {
	p := newPlatform(t, Options{InitTimeout: time.Second})
	d := deployDir(t, p, "init_errors", func(fn *platform.Function) { fn.Handler = "slow_import.handler" })
	inv := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv, platform.StatusTimeout, "Init timed out")
	if !inv.InitTimedOut {
		t.Error("an init past the init timeout does not say so in InitTimedOut")
	}
	if !strings.Contains(inv.Log, "CPU-s in") || !strings.Contains(inv.Log, "init_timeout_s") {
		t.Errorf("the log of an init past its limit does not say what CPU the init got and what to do:\n%s", inv.Log)
	}
}

func TestCloseAndInvoke(t *testing.T) {
	p := newPlatform(t, Options{})
	d, err := p.Deploy(context.Background(), platform.Function{Name: "close", CodeDir: "testdata/normal", Handler: "handler.handler"})
	if err != nil {
		t.Fatal(err)
	}
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
	for i := 0; i < 2; i++ {
		if err := d.Close(context.Background()); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
	}
	if _, err := d.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Errorf("Invoke after Close succeeded")
	}
	if _, err := d.Invoke(context.Background(), []byte(`{`)); err == nil {
		t.Errorf("Invoke with invalid JSON succeeded")
	}
}

func TestContextCancel(t *testing.T) {
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "hostile/sleep_past_timeout", func(fn *platform.Function) { fn.Timeout = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.Invoke(ctx, []byte(`{}`))
	if err == nil || time.Since(start) > 30*time.Second {
		t.Errorf("Invoke with a cancelled context: %v after %v, want an error soon", err, time.Since(start))
	}
}

// TestIdleDeath checks that a warm container that dies between
// invocations costs the next invocation a cold start, not a crash: its
// handler never ran.
func TestIdleDeath(t *testing.T) {
	p := newPlatform(t, Options{NoFreeze: true})
	d := deployDir(t, p, "idle_death", nil)
	first := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, first, platform.StatusOK, "")
	// The runtime ends itself 100 ms after it answers, later on a loaded
	// host: wait for the sandbox to exit.
	select {
	case <-d.(*deployment).c.exited:
	case <-time.After(time.Minute):
		t.Fatal("the runtime did not end while idle")
	}
	second := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, second, platform.StatusOK, "")
	if !second.Cold || second.ContainerID == first.ContainerID || !strings.Contains(second.Log, "failed while idle") {
		t.Errorf("after the container died idle: cold=%v container %s (was %s), log %q; want a new cold container",
			second.Cold, second.ContainerID, first.ContainerID, second.Log)
	}
}

// helperRunner is a runner for TestRunnerDeath. In mode "idle" it leaves
// a frozen warm container; in mode "busy" it invokes a function that
// sleeps. When the container is running it prints its cgroup prefix and
// deployment directory and waits for a signal. Like faaslab's run command,
// it turns SIGINT into a cancelled context, closes its deployment and
// exits.
func helperRunner() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	p, err := New(Options{})
	if err != nil {
		fail(err)
	}
	fn := platform.Function{Name: "orphan", CodeDir: "testdata/echo", Handler: "handler.handler"}
	busy := os.Getenv("FAASLAB_LOCAL_HELPER_MODE") == "busy"
	if busy {
		fn.CodeDir, fn.Timeout = "testdata/hostile/sleep_past_timeout", time.Minute
	}
	d, err := p.Deploy(ctx, fn)
	if err != nil {
		fail(err)
	}
	invoked := make(chan error, 1)
	go func() {
		_, err := d.Invoke(ctx, []byte(`{}`))
		invoked <- err
	}()
	if !busy {
		if err := <-invoked; err != nil {
			fail(err)
		}
		// The freeze follows the invocation: wait for it.
		if err := d.(*deployment).waitIdle(); err != nil {
			fail(err)
		}
	} else {
		// Wait for the handler's process.
		for len(processesIn("/"+p.opts.CgroupParent+"/"+p.groupPrefix)) < 3 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // past the import, into the handler
	}
	fmt.Println(p.groupPrefix, p.deployDir)
	<-ctx.Done()
	<-invoked
	if err := d.Close(context.Background()); err != nil {
		fail(err)
	}
}

// processesIn lists the /proc/<pid>/cgroup files of the processes in
// cgroups whose paths contain group.
func processesIn(group string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, path := range procs {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), group) {
			found = append(found, path)
		}
	}
	return found
}

// TestRunnerDeath stops a runner that holds a container, idle and frozen
// or busy, with SIGKILL or SIGINT, and checks that nothing of it survives
// the next New: no process, no cgroup, no deployment directory. A frozen
// container survives its runner's SIGKILL (frozen processes ignore the
// kill that --die-with-parent sends) until New reaps it; a runner stopped
// by SIGINT mid-invocation closes its deployment, leaving only its
// deployment directory's /etc files and /tmp templates for New to reap.
func TestRunnerDeath(t *testing.T) {
	newPlatform(t, Options{}) // skips when the platform is unavailable
	for _, tc := range []struct {
		mode   string
		signal os.Signal
	}{
		{"idle", os.Kill},
		{"busy", os.Kill},
		{"busy", os.Interrupt},
	} {
		t.Run(fmt.Sprintf("%s-%v", tc.mode, tc.signal), func(t *testing.T) {
			helper := exec.Command(os.Args[0])
			helper.Env = append(os.Environ(), "FAASLAB_LOCAL_HELPER=runner", "FAASLAB_LOCAL_HELPER_MODE="+tc.mode)
			out, err := helper.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			helper.Process.Signal(tc.signal)
			waitErr := helper.Wait()
			prefix, deployDir, _ := strings.Cut(strings.TrimSpace(line), " ")
			if !strings.HasSuffix(prefix, "-") || deployDir == "" {
				t.Fatalf("helper runner: %s", line)
			}
			group := "/faaslab/" + prefix
			if tc.signal == os.Interrupt {
				if waitErr != nil {
					t.Errorf("helper runner after SIGINT: %v", waitErr)
				}
				// Closed by the runner itself.
				if left := processesIn(group); len(left) > 0 {
					t.Errorf("the runner's Close left processes: %v", left)
				}
				entries, _ := os.ReadDir(deployDir)
				for _, e := range entries {
					if !strings.HasPrefix(e.Name(), "etc-") && !strings.HasPrefix(e.Name(), "tmp-template-") {
						t.Errorf("the runner's Close left deployment %s", e.Name())
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
			if tc.mode == "idle" && len(processesIn(group)) == 0 {
				t.Logf("no orphans to reap: the helper's container died with it")
			}
			p := newPlatform(t, Options{})
			if left := processesIn(group); len(left) > 0 {
				t.Errorf("New left the dead runner's processes alive: %v", left)
			}
			for _, pattern := range p.cgroups.dirs(prefix + "*") {
				if groups, _ := filepath.Glob(pattern); len(groups) > 0 {
					t.Errorf("New left the dead runner's cgroups: %v", groups)
				}
			}
			if _, err := os.Stat(deployDir); !os.IsNotExist(err) {
				t.Errorf("New left the dead runner's deployment dir %s: %v", deployDir, err)
			}
			for _, what := range tmpLeftovers(deployDir) {
				t.Errorf("New left the dead runner's /tmp: %s", what)
			}
		})
	}
}

func TestObjectStorage(t *testing.T) {
	platformtest.RunObjectStorage(t, func(t *testing.T) platform.Platform {
		return newPlatform(t, Options{InitTimeout: platformtest.S3InitTimeout})
	})
}
