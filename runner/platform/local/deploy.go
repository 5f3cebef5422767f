package local

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// Lambda's bounds and defaults for a function's configuration.
const (
	defaultMemoryMB    = 128
	minMemoryMB        = 128
	maxMemoryMB        = 10240
	defaultTimeout     = 3 * time.Second
	maxTimeout         = 15 * time.Minute
	defaultEphemeralMB = 512
	maxEphemeralMB     = 10240
	// mbPerVCPU is the memory size at which Lambda gives a full vCPU.
	mbPerVCPU = 1769
	// maxCodeBytes is Lambda's limit on unzipped code.
	maxCodeBytes = 250 << 20
	// maxEventBytes is Lambda's limit on a synchronous request.
	maxEventBytes = 6291456
)

// reservedEnv are the environment variables that Lambda sets itself and
// refuses in a function's configuration; faaslab adds its own prefix.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

var (
	envNamePattern     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	functionNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)
)

// deployment is a deployed function with at most one container. Its lock
// serialises Invoke and Close.
type deployment struct {
	p  *Platform
	fn platform.Function // with defaults filled in
	// name is fn.Name in Lambda's alphabet; arn is the function's ARN.
	name, arn string
	dir       string // the deployment's directory under the work dir
	taskDir   string // the code snapshot, mounted at /var/task
	env       []string
	limits    limits

	// tmpTemplate is the Platform's empty /tmp image of the function's
	// ephemeral size, which containers copy.
	tmpTemplate string

	mu     sync.Mutex
	c      *container // nil until the next cold start
	closed bool
}

var _ platform.Deployment = (*deployment)(nil)

// Deploy checks fn against Lambda's limits and snapshots its code; it
// starts no process. The first Invoke starts a container, as Lambda's
// first invocation does. Errors about fn itself are plain errors; those
// of the host wrap platform.ErrInfrastructure.
func (p *Platform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	fn, err := withFunctionDefaults(fn)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	if fn.S3 != nil && p.rootless {
		// unshare(CLONE_NEWNET) in the runner's own user namespace.
		return nil, fmt.Errorf("deploy %s: object storage in the local sandbox needs root: faaslab makes the network namespace it is served in (see README, \"Object storage in the local sandbox\")", fn.Name)
	}
	d := &deployment{p: p, fn: fn}
	d.name = functionNameUnsafe.ReplaceAllString(fn.Name, "-")
	if len(d.name) > 64 {
		d.name = d.name[:64]
	}
	d.arn = fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", p.opts.Region, d.name)
	d.env = p.environment(d)
	d.limits = p.limitsFor(fn)

	d.dir, err = os.MkdirTemp(p.deployDir, d.name+"-")
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w: %w", fn.Name, platform.ErrInfrastructure, err)
	}
	if err := os.Chmod(d.dir, 0o711); err != nil {
		os.RemoveAll(d.dir)
		return nil, fmt.Errorf("deploy %s: %w: %w", fn.Name, platform.ErrInfrastructure, err)
	}
	d.taskDir = filepath.Join(d.dir, "task")
	if err := copyCode(ctx, fn.CodeDir, d.taskDir); err != nil {
		os.RemoveAll(d.dir)
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	// Rootless, /tmp is a tmpfs (see newContainerTmp).
	if !p.rootless {
		if d.tmpTemplate, err = p.tmpTemplate(fn.EphemeralMB); err != nil {
			os.RemoveAll(d.dir)
			return nil, fmt.Errorf("deploy %s: %w: %w", fn.Name, platform.ErrInfrastructure, err)
		}
	}
	// Once deployed, before its first container starts (see weighContainers).
	p.weighContainers()
	return d, nil
}

// withFunctionDefaults fills in Lambda's defaults and checks fn.
func withFunctionDefaults(fn platform.Function) (platform.Function, error) {
	if fn.Name == "" {
		return fn, fmt.Errorf("function has no name")
	}
	if fi, err := os.Stat(fn.CodeDir); err != nil || !fi.IsDir() {
		return fn, fmt.Errorf("code directory %q is not a directory", fn.CodeDir)
	}
	if i := strings.LastIndex(fn.Handler, "."); i <= 0 || i == len(fn.Handler)-1 {
		return fn, fmt.Errorf("handler %q is not module.function", fn.Handler)
	}
	if fn.Runtime != "" && !strings.HasPrefix(fn.Runtime, "python3") {
		return fn, fmt.Errorf("runtime %q: the local platform runs Python 3 only", fn.Runtime)
	}
	if host := platform.HostArch(); fn.Arch != "" && fn.Arch != host {
		return fn, fmt.Errorf("architecture %q: this host is %s", fn.Arch, host)
	}
	if fn.MemoryMB == 0 {
		fn.MemoryMB = defaultMemoryMB
	}
	if fn.MemoryMB < minMemoryMB || fn.MemoryMB > maxMemoryMB {
		return fn, fmt.Errorf("memory %d MB outside %d–%d MB", fn.MemoryMB, minMemoryMB, maxMemoryMB)
	}
	if fn.Timeout == 0 {
		fn.Timeout = defaultTimeout
	}
	if fn.Timeout < 0 || fn.Timeout > maxTimeout {
		return fn, fmt.Errorf("timeout %v outside 0–%v", fn.Timeout, maxTimeout)
	}
	if fn.EphemeralMB == 0 {
		fn.EphemeralMB = defaultEphemeralMB
	}
	if fn.EphemeralMB < defaultEphemeralMB || fn.EphemeralMB > maxEphemeralMB {
		return fn, fmt.Errorf("ephemeral storage %d MB outside %d–%d MB", fn.EphemeralMB, defaultEphemeralMB, maxEphemeralMB)
	}
	for k, v := range fn.Env {
		switch {
		case !envNamePattern.MatchString(k):
			return fn, fmt.Errorf("environment variable name %q is invalid", k)
		case reservedEnv[k] || strings.HasPrefix(k, "FAASLAB_"):
			return fn, fmt.Errorf("environment variable %s is reserved", k)
		case strings.ContainsRune(v, 0):
			return fn, fmt.Errorf("environment variable %s holds a NUL byte", k)
		}
	}
	return fn, nil
}

// environment is a container's whole environment: Lambda's own variables
// and the function's, never the runner's.
func (p *Platform) environment(d *deployment) []string {
	fn := d.fn
	runtimeName := fn.Runtime
	if runtimeName == "" {
		runtimeName = "python3"
	}
	vars := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        d.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + d.name,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_EXECUTION_ENV":               "AWS_Lambda_" + runtimeName,
		"AWS_REGION":                      p.opts.Region,
		"AWS_DEFAULT_REGION":              p.opts.Region,
		"LAMBDA_TASK_ROOT":                taskMount,
		"LAMBDA_RUNTIME_DIR":              runtimeMount,
		"_HANDLER":                        fn.Handler,
		"TZ":                              ":UTC",
		"LANG":                            "C.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"HOME":                            "/tmp",
	}
	for k, v := range fn.Env {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// limitsFor gives fn Lambda's resources: its memory, and CPU in proportion
// to memory, a full vCPU per 1,769 MB, as many as the host has at most.
// Init gets at least one vCPU unless Options.StrictInitCPU is set, as AWS
// describes an on-demand function's init: a full, unthrottled vCPU for up
// to 10 s ("Effectively running Java on Serverless", serverlessland.com;
// provisioned concurrency gets no such burst).
func (p *Platform) limitsFor(fn platform.Function) limits {
	vcpus := math.Min(float64(fn.MemoryMB)/mbPerVCPU, float64(p.opts.HostCPUs))
	lim := limits{
		memoryBytes: int64(fn.MemoryMB) << 20,
		cpuQuotaUS:  max(int64(math.Round(vcpus*cpuPeriodUS)), 1000),
		pidsMax:     p.opts.PidsMax,
	}
	lim.initCPUQuotaUS = lim.cpuQuotaUS
	if !p.opts.StrictInitCPU {
		lim.initCPUQuotaUS = max(lim.cpuQuotaUS, cpuPeriodUS)
	}
	return lim
}

// copyCode snapshots the code in src into dst, readable by the sandbox and
// writable by nobody there: the function is a value, so later edits to src
// must not reach a deployed function. Symbolic links are copied as links;
// they resolve inside the sandbox.
func copyCode(ctx context.Context, src, dst string) error {
	var total int64
	return filepath.WalkDir(src, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy code: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return fmt.Errorf("copy code: %w", err)
		}
		target := filepath.Join(dst, rel)
		switch mode := entry.Type(); {
		case mode.IsDir():
			// Modes are set explicitly, whatever the umask: the sandbox's
			// user must read the code.
			if err := os.Mkdir(target, 0o755); err != nil {
				return fmt.Errorf("copy code: %w", err)
			}
			return os.Chmod(target, 0o755)
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err == nil {
				err = os.Symlink(link, target)
			}
			return err
		case mode.IsRegular():
			info, err := entry.Info()
			if err != nil {
				return fmt.Errorf("copy code: %w", err)
			}
			if total += info.Size(); total > maxCodeBytes {
				return fmt.Errorf("code in %s exceeds Lambda's %d MB", src, maxCodeBytes>>20)
			}
			perm := os.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				perm = 0o755
			}
			return copyFile(path, target, perm)
		default:
			return fmt.Errorf("copy code: %s is not a regular file, directory or link", path)
		}
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy code: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("copy code: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(perm)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy code %s: %w", src, err)
	}
	return nil
}

// The CPU weight of faaslab's containers.
//
// The kernel divides the CPU between sibling groups by their weight (cgroup
// v1's cpu.shares, v2's cpu.weight), and by default a group weighs what one
// nice-0 process does; so does each session of processes outside any group
// (the kernel's autogroup schedules a session as one entity). Every
// container of every runner on the host sits in faaslab's one parent group:
// at the default weight, all of them together got what one shell session
// gets. Under load a container's init then waited for a CPU many times
// longer than the same import run from a shell, though it used the same
// CPU time and its quota never held it back (BenchmarkInitUnderLoad; see
// README, "Slow cold starts on a busy host"). So each Deploy gives the
// parent one session's weight per deployment that may run a container (at
// least one per group under it): each container then competes for the CPU
// as a session of the host does, and its quota still caps it at Lambda's
// share. The count is taken again after each Deploy and each Close, so
// that the weight goes back to one session's when the last deployment
// closes. A runner that was killed, or one whose count raced another
// runner's, leaves its weight until the next Deploy or Close of any
// runner; an empty group takes no CPU meanwhile, whatever its weight.

// sessionWeight is the weight of one nice-0 entity: cgroup v1's cpu.shares
// and v2's cpu.weight by default, and their maxima.
const (
	sessionSharesV1, maxSharesV1 = 1024, 262144
	sessionWeightV2, maxWeightV2 = 100, 10000
)

// warnWeightOnce logs the first failure of weighContainers in the
// process.
var warnWeightOnce sync.Once

// weighContainers sets the parent group's CPU weight (see above). It does
// its best: where it may not, containers keep the default weight, and the
// first failure is logged.
func (p *Platform) weighContainers() {
	// The count and the write go together: a count taken before another
	// Deploy or Close must not be written after theirs.
	p.weighMu.Lock()
	defer p.weighMu.Unlock()
	n := liveDeployments(filepath.Dir(p.deployDir))
	if groups, err := p.cgroups.driver.children(); err == nil {
		n = max(n, len(groups))
	}
	if err := setParentWeight(p.cgroups.driver, max(n, 1)); err != nil {
		warnWeightOnce.Do(func() {
			p.opts.Logger.Warn("cannot weigh faaslab's containers as sessions of the host: under load they get less CPU than the host's processes", "err", err)
		})
	}
}

// liveDeployments counts the deployment directories of the running
// runners under deployments (one directory per runner, named as in
// stale.go).
func liveDeployments(deployments string) int {
	runners, _ := os.ReadDir(deployments)
	n := 0
	for _, r := range runners {
		if !r.IsDir() || ownerDead(r.Name()) {
			continue
		}
		entries, _ := os.ReadDir(filepath.Join(deployments, r.Name()))
		for _, e := range entries {
			if e.IsDir() {
				n++
			}
		}
	}
	return n
}

// setParentWeight gives the driver's parent group the CPU weight of n
// nice-0 entities, as far as the kernel allows.
func setParentWeight(driver cgroupDriver, n int) error {
	switch h := driver.(type) {
	case *cgroupV1:
		if _, ok := h.mounts["cpu"]; !ok {
			return nil
		}
		return writeFile(filepath.Join(h.dir("cpu", "/"+h.parent), "cpu.shares"), strconv.Itoa(min(n*sessionSharesV1, maxSharesV1)))
	case *cgroupV2:
		if !slices.Contains(h.controllers, "cpu") {
			return nil // the driver's core, in tests
		}
		return h.fs.write(filepath.Join(h.parentDir(), "cpu.weight"), strconv.Itoa(min(n*sessionWeightV2, maxWeightV2)))
	}
	return nil
}
