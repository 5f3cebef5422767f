// Package harness holds the Python code that faaslab runs around a
// generated handler, and the Go view of what that code reports.
//
// The harness has two parts, both standard-library Python embedded in the
// binary. The measurement wrapper (faaslab_wrapper.py) times the handler
// and samples the machine around it; it is the same on every platform, and
// on AWS Lambda it is the function's handler (WrapperHandler), with
// HandlerEnv naming the generated handler. The bootstrap
// (faaslab_bootstrap.py) is the local platform's Runtime API client loop,
// which drives the wrapper; see its doc string for the wire protocol.
//
// Both parts run in the same process as untrusted code, so everything they
// report is checked by Record.Validate before a platform believes it.
package harness

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// Wrapper is the measurement wrapper's source.
//
//go:embed faaslab_wrapper.py
var Wrapper []byte

// Bootstrap is the local runtime loop's source.
//
//go:embed faaslab_bootstrap.py
var Bootstrap []byte

const (
	// WrapperFile and BootstrapFile are the names the files must keep:
	// the bootstrap imports the wrapper by module name.
	WrapperFile   = "faaslab_wrapper.py"
	BootstrapFile = "faaslab_bootstrap.py"
	// WrapperHandler is the Lambda Handler setting that runs the wrapper.
	WrapperHandler = "faaslab_wrapper.handler"
	// HandlerEnv is the environment variable through which the wrapper
	// learns the generated handler on Lambda.
	HandlerEnv = "FAASLAB_HANDLER"
	// BootstrapNoHostCPU is the bootstrap's argument by which a platform
	// that samples the host's CPU around each call itself tells the
	// wrapper to leave those figures out of its records.
	BootstrapNoHostCPU = "--no-host-cpu"
	// MaxResponseBytes is Lambda's limit on a synchronous response.
	MaxResponseBytes = 6291556
	// maxText bounds error texts in bytes: the wrapper's MAX_TEXT
	// characters at up to 4 bytes each in UTF-8, and its truncation note.
	maxText = 4*64*1024 + 256
)

// WriteDir writes the wrapper and the bootstrap into dir, readable by
// everyone, replacing each file atomically so that a sandbox never sees a
// half-written one.
func WriteDir(dir string) error {
	for name, data := range map[string][]byte{WrapperFile: Wrapper, BootstrapFile: Bootstrap} {
		tmp, err := os.CreateTemp(dir, "."+name+".*")
		if err != nil {
			return fmt.Errorf("write harness: %w", err)
		}
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Chmod(0o644)
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write harness %s: %w", name, err)
		}
	}
	return nil
}

// Record is what the wrapper reports for one invocation (or for a failed
// init): the handler's value as JSON, or its error, and the measurements.
type Record struct {
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	Metrics Metrics         `json:"metrics"`
}

// Error describes a failure with Lambda's field names.
type Error struct {
	Type      string `json:"errorType"`
	Message   string `json:"errorMessage"`
	Traceback string `json:"stackTrace"`
}

// Metrics are the wrapper's measurements. CPU times are deltas over the
// handler call in seconds, from /proc/stat (the whole machine, as on
// Lambda), and zero when the bootstrap ran with BootstrapNoHostCPU; faults
// are deltas for the runtime process.
type Metrics struct {
	DurationNS  int64   `json:"duration_ns"`
	InitNS      int64   `json:"init_ns"`
	Cold        bool    `json:"cold"`
	ContainerID string  `json:"container_id"`
	CPUModel    string  `json:"cpu_model"`
	Arch        string  `json:"arch"`
	CPUUser     float64 `json:"cpu_user_s"`
	CPUSystem   float64 `json:"cpu_system_s"`
	CPUIdle     float64 `json:"cpu_idle_s"`
	CPUIOWait   float64 `json:"cpu_iowait_s"`
	CPUSteal    float64 `json:"cpu_steal_s"`
	MaxRSSKB    int64   `json:"max_rss_kb"`
	MinorFaults int64   `json:"minor_faults"`
	MajorFaults int64   `json:"major_faults"`
}

var containerIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Validate checks that r is something the wrapper could have produced for
// a call that took roundTrip as seen from outside, and for an init that
// took at most initBound (zero means no init happened). The code under
// test runs in the wrapper's process and can forge a record; Validate
// catches forgeries that are impossible, not ones that are merely false.
func (r *Record) Validate(roundTrip, initBound time.Duration) error {
	m := r.Metrics
	switch {
	case r.Error == nil && len(r.Result) == 0:
		return fmt.Errorf("record has neither result nor error")
	case r.Error != nil && len(r.Result) != 0:
		return fmt.Errorf("record has both result and error")
	case len(r.Result) > MaxResponseBytes:
		return fmt.Errorf("result of %d bytes exceeds %d", len(r.Result), MaxResponseBytes)
	case r.Error != nil && (r.Error.Type == "" || len(r.Error.Type) > 256 ||
		len(r.Error.Message) > maxText || len(r.Error.Traceback) > maxText):
		return fmt.Errorf("malformed error")
	case m.DurationNS < 0 || time.Duration(m.DurationNS) > roundTrip:
		return fmt.Errorf("duration %v outside the round trip %v", time.Duration(m.DurationNS), roundTrip)
	case m.InitNS < 0 || time.Duration(m.InitNS) > initBound:
		return fmt.Errorf("init duration %v outside %v", time.Duration(m.InitNS), initBound)
	case !containerIDPattern.MatchString(m.ContainerID):
		return fmt.Errorf("malformed container id %q", m.ContainerID)
	case len(m.CPUModel) > 256 || len(m.Arch) > 32:
		return fmt.Errorf("malformed CPU facts")
	case m.MaxRSSKB < 0 || m.MinorFaults < 0 || m.MajorFaults < 0:
		return fmt.Errorf("negative memory counters")
	}
	for _, v := range []float64{m.CPUUser, m.CPUSystem, m.CPUIdle, m.CPUIOWait, m.CPUSteal} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("CPU time %v is not a non-negative number", v)
		}
	}
	return nil
}

// Apply copies r's measurements, value and error into inv. It sets
// neither Status, Cold nor the round trip, which are the platform's own
// observations.
func (r *Record) Apply(inv *platform.Invocation) {
	m := r.Metrics
	inv.Duration = time.Duration(m.DurationNS)
	inv.InitDuration = time.Duration(m.InitNS)
	inv.ContainerID = m.ContainerID
	inv.CPUModel = m.CPUModel
	inv.CPUArch = m.Arch
	inv.CPUUser, inv.CPUSystem, inv.CPUIdle = m.CPUUser, m.CPUSystem, m.CPUIdle
	inv.CPUIOWait, inv.CPUSteal = m.CPUIOWait, m.CPUSteal
	inv.MaxRSSKB = m.MaxRSSKB
	inv.MinorFaults, inv.MajorFaults = m.MinorFaults, m.MajorFaults
	inv.Result = r.Result
	if r.Error != nil {
		inv.ErrorType, inv.ErrorMessage, inv.Traceback = r.Error.Type, r.Error.Message, r.Error.Traceback
	}
}
