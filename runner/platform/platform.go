// Package platform defines where a generated function runs: the seam between
// the engine and an execution environment (the local sandbox, AWS Lambda).
package platform

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"time"
)

// Function is one deployable function: a cell's code at a memory size and
// architecture. A Function is a value; platforms never modify it.
type Function struct {
	// Name is unique among the deployments alive at once (the engine uses the
	// cell ID). Platforms may shorten it to fit their own naming rules.
	Name string
	// CodeDir holds the function's files, with the handler module at its top.
	// Platforms read it and never write it.
	CodeDir string
	// Handler is "module.function", as Lambda's Handler setting.
	Handler string
	// Runtime is a Lambda runtime identifier such as "python3.12".
	Runtime  string
	MemoryMB int
	// Arch is "x86_64" or "arm64".
	Arch    string
	Timeout time.Duration
	// EphemeralMB caps /tmp, as Lambda's ephemeral storage (default 512).
	EphemeralMB int
	// Packages names the Python packages the code may import. The local
	// platform uses the host's Debian packages; Lambda uses a layer.
	Packages []string
	// Env is added to the function's environment. It must never hold the
	// runner's secrets; platforms add only Lambda's own variables besides it.
	Env map[string]string
	// Cold asks for a new execution environment for every invocation.
	Cold bool
	// Tags label the deployment so that its leftovers can be found and
	// deleted by study and run ("faaslab:study", "faaslab:run",
	// "faaslab:cell"); platforms that keep nothing after Close ignore them.
	Tags map[string]string
	// S3, when set, is the function's object storage: an S3-compatible
	// REST API (scoped by whoever built it to what the function may read
	// and write) that platforms hosting storage themselves serve to the
	// function at AWS_ENDPOINT_URL_S3, reachable from nowhere else. On AWS
	// Lambda functions reach real S3 and S3 is ignored.
	S3 http.Handler
}

// Tag keys of Function.Tags.
const (
	TagStudy = "faaslab:study"
	TagRun   = "faaslab:run"
	TagCell  = "faaslab:cell"
)

// Closer is implemented by platforms that keep resources across
// deployments (AWS Lambda keeps a closed deployment's function to deploy
// the same code again at another memory size). Whoever opened the
// platform calls Close once no deployment is in use, when the run ends;
// what a killed run leaves is found by its tags.
type Closer interface {
	Close(ctx context.Context) error
}

// Parallel is implemented by platforms that can invoke several
// deployments at once without them disturbing each other's timings (AWS
// Lambda): MaxParallel is how many at most. Platforms without it measure
// one cell at a time.
type Parallel interface {
	MaxParallel() int
}

// Platform deploys functions. Implementations must be safe for concurrent
// use by several goroutines, each deploying its own function.
type Platform interface {
	// Name is the platform kind, e.g. "local" or "aws".
	Name() string
	// Deploy makes fn invocable. It returns an error only when the platform
	// itself fails (ErrInfrastructure wraps those that a retry may cure); a
	// function whose init fails is deployed, and its invocations say so.
	Deploy(ctx context.Context, fn Function) (Deployment, error)
}

// Deployment is one deployed function. Invoke calls on one Deployment are
// serialised by the caller: measurements of one cell never overlap.
type Deployment interface {
	// Invoke runs the handler once on event (a JSON document). A function
	// that fails (exception, timeout, crash, bad return value) is a result,
	// reported in Invocation.Status with a nil error; the error return is
	// for infrastructure failures only. After a timeout or crash the next
	// Invoke starts a new execution environment, as Lambda does.
	Invoke(ctx context.Context, event []byte) (Invocation, error)
	// Close tears the function down and releases everything it held: no
	// process, cgroup or cloud resource outlives it. Close is idempotent.
	Close(ctx context.Context) error
}

// Status says how an invocation ended.
type Status string

const (
	StatusOK        Status = "ok"         // the handler returned a JSON-serialisable value
	StatusError     Status = "error"      // the handler raised, or its value did not serialise
	StatusInitError Status = "init_error" // importing the handler module failed
	StatusTimeout   Status = "timeout"    // the function ran past its timeout
	StatusCrash     Status = "crash"      // the runtime process died (signal, exit, out of memory)
)

// Invocation is what one Invoke measured. Durations are zero when the
// platform cannot observe them.
type Invocation struct {
	Status    Status
	Start     time.Time // UTC, when the request was sent
	RoundTrip time.Duration
	// Duration is the wall time inside the handler, by the harness's ns clock.
	Duration time.Duration
	Cold     bool
	// InitDuration is the time to import the handler module, on cold calls.
	InitDuration time.Duration
	// RestoreDuration is Lambda's SnapStart restore time, when reported.
	RestoreDuration time.Duration
	// RequestID is the platform's id of the invocation (Lambda's request id).
	RequestID string
	// InitTimedOut says the environment did not finish starting and
	// importing the handler within the platform's init timeout, so the
	// handler never ran (Status is StatusTimeout). For trusted code, such
	// as faaslab's own tools, it means a host too busy, not a fault of the
	// code.
	InitTimedOut bool
	ContainerID  string
	CPUModel     string
	CPUArch      string
	// CPU time deltas over the invocation, from /proc/stat, in seconds:
	// the whole host's (on Lambda, the whole microVM's).
	CPUUser, CPUSystem, CPUIdle, CPUIOWait, CPUSteal float64
	// EnvCPUUser and EnvCPUSystem are the CPU time, in seconds, that the
	// function's own execution environment used over the invocation (on
	// the local platform, its cgroup's: the container is frozen between
	// calls, so the deltas are the function's alone); zero when the
	// platform cannot observe them.
	EnvCPUUser, EnvCPUSystem float64
	// CPUThrottled is how long the environment's CPU quota held its
	// runnable processes back over the invocation, in CPUThrottledPeriods
	// enforcement periods.
	CPUThrottled        time.Duration
	CPUThrottledPeriods int64
	// CPUQuotaVCPUs is the CPU the environment was allotted, in vCPUs (a
	// full vCPU at 1,769 MB on Lambda); zero when unknown.
	CPUQuotaVCPUs            float64
	MaxRSSKB                 int64
	MinorFaults, MajorFaults int64
	// Lambda's REPORT line; zero on the local platform unless it emulates it.
	// MaxMemoryUsedMB is the whole environment's peak memory (on the local
	// platform, its cgroup's) since the environment started, in MB
	// rounded up.
	BilledDuration  time.Duration
	MaxMemoryUsedMB int
	// BilledEstimated says that BilledDuration is the platform's estimate
	// of what Lambda would bill (the local sandbox's: the duration rounded
	// up to the millisecond), not a figure Lambda reported.
	BilledEstimated bool
	// Result is the handler's return value as JSON, when Status is ok.
	Result json.RawMessage
	// ErrorType, ErrorMessage and Traceback describe a failure.
	ErrorType    string
	ErrorMessage string
	Traceback    string
	// Log is the function's output, truncated by the platform.
	Log string
}

// HostArch is the architecture of this host in Lambda's words ("x86_64",
// "arm64"): what the local platform can run.
func HostArch() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

// ErrInfrastructure marks platform failures that a retry may cure.
var ErrInfrastructure = errors.New("platform infrastructure failure")
