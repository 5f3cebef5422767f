// Package fake is a platform for tests only. It runs each function as a
// plain Python process on the host, with no bubblewrap, no cgroups and no
// isolation at all, so that faaslab's own behaviour (the engine, the
// checker, the command line) can be tested on any machine that has a
// python3, without root.
//
// The fake is deliberately close to the real thing where that costs
// nothing: it runs the same harness as the local sandbox (the bootstrap
// and the measurement wrapper of runner/harness, speaking the same
// framed Runtime API over fds 3 and 4), so results, errors, init errors,
// cold and warm starts, the context object and the wrapper's measurements
// are real. It differs where only a sandbox can deliver: there are no
// memory or process limits, CPU figures are the host's, and /tmp is
// separated per execution environment only by a start-up shim that
// rewrites /tmp paths in Python's os functions and open (shim.py), which
// code can get around. Timeouts kill the function's process group.
//
// Because nothing is contained, the fake must only ever run trusted code:
// the fixtures of faaslab's own tests. No program outside tests imports
// this package, so no study can select it in a production build; a test
// wires it in by opening it in place of a registered kind.
package fake

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"crypto/rand"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
)

//go:embed shim.py
var shim []byte

// Name is what Platform.Name returns.
const Name = "fake"

// initTimeout bounds an environment's start and init, as Lambda's 10 s
// init phase does.
const initTimeout = 10 * time.Second

// maxFrame bounds a frame from the runtime.
const maxFrame = harness.MaxResponseBytes + 2<<20

// maxLog bounds the log kept per invocation.
const maxLog = 64 << 10

// Error types the fake reports itself, as Lambda and the local platform
// name them.
const (
	ErrTypeTimeout  = "Sandbox.Timedout"
	ErrTypeExit     = "Runtime.ExitError"
	ErrTypeProtocol = "Runtime.ProtocolError"
	// ErrTypeRefused is the error type of an invocation Options.Refuse
	// declined to run.
	ErrTypeRefused = "Fake.Refused"
)

// Options adjust the fake.
type Options struct {
	// Python is the interpreter that runs functions; default "python3"
	// from PATH.
	Python string
	// Refuse, when set, is asked before each invocation; a non-empty
	// answer ends the invocation with StatusError, ErrTypeRefused and the
	// answer as the message, without running anything. Tests use it to
	// keep work off the host that only a sandbox should do (the checker's
	// radon and pylint, which import the code they analyse).
	Refuse func(fn platform.Function, event []byte) string
	// InitTimeout replaces Lambda's 10 s init limit, for tests on hosts
	// too busy to start Python in time.
	InitTimeout time.Duration
}

func (p *Platform) initTimeout() time.Duration {
	if p.opts.InitTimeout > 0 {
		return p.opts.InitTimeout
	}
	return initTimeout
}

// Platform is the fake platform. It is safe for concurrent use.
type Platform struct {
	opts Options
}

var _ platform.Platform = (*Platform)(nil)

// New returns the fake platform, or an error when there is no Python.
func New(opts Options) (*Platform, error) {
	if opts.Python == "" {
		opts.Python = "python3"
	}
	path, err := exec.LookPath(opts.Python)
	if err != nil {
		return nil, fmt.Errorf("fake platform: no Python: %w", err)
	}
	// Resolve the interpreter itself: a version manager's shim (pyenv)
	// would add a second to every cold start.
	out, err := exec.Command(path, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return nil, fmt.Errorf("fake platform: Python %s: %w", path, err)
	}
	if exe := strings.TrimSpace(string(out)); exe != "" {
		path = exe
	}
	opts.Python = path
	return &Platform{opts: opts}, nil
}

// Name is "fake".
func (p *Platform) Name() string { return Name }

// Deploy writes the harness and the shim into a directory of the
// deployment's own; the function's code stays where it is (CodeDir is
// never written). Nothing runs until the first Invoke.
func (p *Platform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	if fn.Handler == "" || fn.CodeDir == "" {
		return nil, fmt.Errorf("fake deploy %s: empty handler or code directory", fn.Name)
	}
	dir, err := os.MkdirTemp("", "faaslab-fake-")
	if err != nil {
		return nil, fmt.Errorf("fake deploy %s: %w", fn.Name, err)
	}
	if err := harness.WriteDir(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("fake deploy %s: %w", fn.Name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shim.py"), shim, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("fake deploy %s: %w", fn.Name, err)
	}
	codeDir, err := filepath.Abs(fn.CodeDir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fn.CodeDir = codeDir
	d := &deployment{p: p, fn: fn, dir: dir}
	if fn.S3 != nil {
		// Unlike the sandbox's, the fake's endpoint is on the host's
		// loopback, where any local process could reach it: tests only.
		d.s3 = httptest.NewServer(fn.S3)
	}
	return d, nil
}

// deployment is one deployed function: at most one warm environment.
type deployment struct {
	p   *Platform
	fn  platform.Function
	dir string           // the harness and the shim
	s3  *httptest.Server // serves fn.S3, when set

	mu     sync.Mutex // serialises Invoke and Close
	env    *environment
	closed bool
}

// environment is one Python process that serves invocations.
type environment struct {
	cmd     *exec.Cmd
	tmp     string        // the environment's /tmp
	logPath string        // the process's stdout and stderr
	logOff  int64         // how much of the log earlier calls took
	toRT    *os.File      // requests to the runtime (its fd 3)
	frames  chan []byte   // frames from the runtime (its fd 4); closed at EOF
	exited  chan struct{} // closed when the runtime has exited
	stop    chan struct{} // closed by kill; ends the frame reader
	state   *os.ProcessState
	started time.Time
	ready   bool // the runtime asked for its next invocation
}

// Invoke runs the function once, starting an environment when none is
// warm.
func (d *deployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	if !json.Valid(event) {
		return platform.Invocation{}, fmt.Errorf("invoke %s: event is not valid JSON", d.fn.Name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return platform.Invocation{}, fmt.Errorf("invoke %s: deployment is closed", d.fn.Name)
	}
	inv := platform.Invocation{Start: time.Now().UTC()}
	if d.p.opts.Refuse != nil {
		if why := d.p.opts.Refuse(d.fn, event); why != "" {
			inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusError, ErrTypeRefused, why
			return inv, nil
		}
	}
	if d.env == nil {
		env, err := d.start()
		if err != nil {
			return inv, fmt.Errorf("invoke %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
		}
		d.env, inv.Cold = env, true
	}
	discard, err := d.call(ctx, event, &inv)
	if discard || d.fn.Cold || err != nil {
		d.discard()
	}
	if err != nil {
		return inv, fmt.Errorf("invoke %s: %w", d.fn.Name, err)
	}
	return inv, nil
}

// call sends event to the environment and fills inv in from its answer.
// discard says the environment cannot serve another call.
func (d *deployment) call(ctx context.Context, event []byte, inv *platform.Invocation) (discard bool, err error) {
	env := d.env
	defer func() { inv.Log += env.takeLog() }()
	if !env.ready {
		// The init phase: the runtime's first frame is "next" or its init error.
		timer := time.NewTimer(d.p.initTimeout())
		defer timer.Stop()
		select {
		case frame, ok := <-env.frames:
			if !ok {
				env.wait()
				inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeExit, env.exitText()
				return true, nil
			}
			var msg struct {
				Op   string          `json:"op"`
				Body json.RawMessage `json:"body"`
			}
			if json.Unmarshal(frame, &msg) != nil || msg.Op != "next" && msg.Op != "init_error" {
				inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeProtocol, "bad first frame from the runtime"
				return true, nil
			}
			if msg.Op == "init_error" {
				inv.RoundTrip = time.Since(env.started)
				var rec harness.Record
				if json.Unmarshal(msg.Body, &rec) != nil || rec.Error == nil {
					inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeProtocol, "bad init error record"
					return true, nil
				}
				rec.Apply(inv)
				inv.Status = platform.StatusInitError
				return true, nil
			}
			env.ready = true
		case <-timer.C:
			inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusTimeout, ErrTypeTimeout, "Init timed out"
			inv.InitTimedOut = true
			return true, nil
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	id := make([]byte, 8)
	rand.Read(id)
	requestID := hex.EncodeToString(id)
	deadline := time.Now().Add(d.fn.Timeout)
	req, err := json.Marshal(map[string]any{
		"request_id":   requestID,
		"deadline_ms":  deadline.UnixMilli(),
		"function_arn": "arn:aws:lambda:us-east-1:000000000000:function:" + d.fn.Name,
		"event":        json.RawMessage(event),
	})
	if err != nil {
		return true, err
	}
	begin := time.Now()
	inv.Start = begin.UTC()
	env.ready = false
	if err := writeFrame(env.toRT, req); err != nil {
		env.wait()
		inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeExit, env.exitText()
		return true, nil
	}
	timer := time.NewTimer(d.fn.Timeout)
	defer timer.Stop()
	select {
	case frame, ok := <-env.frames:
		inv.RoundTrip = time.Since(begin)
		if !ok {
			env.wait()
			inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeExit, env.exitText()
			return true, nil
		}
		var msg struct {
			Op        string          `json:"op"`
			RequestID string          `json:"request_id"`
			Body      json.RawMessage `json:"body"`
		}
		var rec harness.Record
		initBound := time.Duration(0)
		if inv.Cold {
			initBound = time.Since(env.started)
		}
		if json.Unmarshal(frame, &msg) != nil || msg.RequestID != requestID ||
			json.Unmarshal(msg.Body, &rec) != nil || rec.Validate(inv.RoundTrip, initBound) != nil {
			inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeProtocol, "bad answer from the runtime"
			return true, nil
		}
		rec.Apply(inv)
		switch msg.Op {
		case "response":
			inv.Status = platform.StatusOK
		case "error":
			inv.Status = platform.StatusError
		default:
			inv.Status, inv.ErrorType, inv.ErrorMessage = platform.StatusCrash, ErrTypeProtocol, "unknown operation "+strconv.Quote(msg.Op)
			return true, nil
		}
		// The runtime sends its next "next" with the answer.
		select {
		case frame, ok := <-env.frames:
			env.ready = ok && bytes.Contains(frame, []byte(`"next"`))
			return !env.ready, nil
		case <-time.After(d.p.initTimeout()):
			return true, nil
		}
	case <-timer.C:
		inv.RoundTrip = time.Since(begin)
		inv.Status, inv.ErrorType = platform.StatusTimeout, ErrTypeTimeout
		inv.ErrorMessage = fmt.Sprintf("Task timed out after %.2f seconds", d.fn.Timeout.Seconds())
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// start starts a new environment: the shim, then the bootstrap, in a
// process group of their own.
func (d *deployment) start() (*environment, error) {
	tmp, err := os.MkdirTemp("", "faaslab-fake-tmp-")
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp(d.dir, "log-*")
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	defer logFile.Close()
	rtIn, toRT, err := os.Pipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	fromRT, rtOut, err := os.Pipe()
	if err != nil {
		rtIn.Close()
		toRT.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	cmd := exec.Command(d.p.opts.Python, "-B", "-u", "-c", string(shim), d.dir, tmp)
	cmd.Dir = d.fn.CodeDir
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"_HANDLER=" + d.fn.Handler,
		"LAMBDA_TASK_ROOT=" + d.fn.CodeDir,
		"AWS_EXECUTION_ENV=AWS_Lambda_" + d.fn.Runtime,
		"AWS_LAMBDA_FUNCTION_NAME=" + d.fn.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(d.fn.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + d.fn.Name,
		"AWS_REGION=us-east-1",
	}
	for k, v := range d.fn.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if d.s3 != nil {
		// SDKs need credentials to sign with; the endpoint checks none.
		cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_S3="+d.s3.URL, "AWS_ACCESS_KEY_ID=faaslab-fake",
			"AWS_SECRET_ACCESS_KEY=faaslab-fake")
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{rtIn, rtOut} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now()
	err = cmd.Start()
	rtIn.Close()
	rtOut.Close()
	if err != nil {
		toRT.Close()
		fromRT.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	env := &environment{cmd: cmd, tmp: tmp, logPath: logFile.Name(), toRT: toRT,
		frames: make(chan []byte), exited: make(chan struct{}), stop: make(chan struct{}), started: started}
	go func() {
		defer close(env.frames)
		defer fromRT.Close()
		for {
			frame, err := readFrame(fromRT)
			if err != nil {
				return
			}
			select {
			case env.frames <- frame:
			case <-env.stop:
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		env.state = cmd.ProcessState
		close(env.exited)
	}()
	return env, nil
}

// wait waits a little for the runtime to exit, so its exit status and
// last words are known.
func (e *environment) wait() {
	select {
	case <-e.exited:
	case <-time.After(2 * time.Second):
	}
}

// exitText says how the runtime ended.
func (e *environment) exitText() string {
	select {
	case <-e.exited:
		return "Runtime exited: " + e.state.String()
	default:
		return "Runtime closed the Runtime API without exiting"
	}
}

// takeLog returns the log written since the last call, at most maxLog
// bytes of it.
func (e *environment) takeLog() string {
	f, err := os.Open(e.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, e.logOff, 1<<40))
	e.logOff += int64(len(b))
	if len(b) > maxLog {
		b = append(b[:maxLog:maxLog], "\n[faaslab: log truncated]"...)
	}
	return string(b)
}

// kill ends the environment's every process and removes its /tmp.
func (e *environment) kill() {
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	close(e.stop)
	e.toRT.Close()
	<-e.exited
	os.RemoveAll(e.tmp)
	os.Remove(e.logPath)
}

// discard ends the warm environment, if any.
func (d *deployment) discard() {
	if d.env != nil {
		d.env.kill()
		d.env = nil
	}
}

// Close ends the environment and removes the deployment's files.
func (d *deployment) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.discard()
	if d.s3 != nil {
		d.s3.Close()
	}
	if err := os.RemoveAll(d.dir); err != nil {
		return fmt.Errorf("close %s: %w", d.fn.Name, err)
	}
	return nil
}

func writeFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(header[:])
	if n > maxFrame {
		return nil, errors.New("frame too large")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	return payload, nil
}
