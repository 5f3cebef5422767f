package local

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
)

// Error types that the platform itself reports. The first three are
// Lambda's; ProtocolError is faaslab's, for a runtime that broke the
// Runtime API (usually code that tampered with the harness).
const (
	errTypeTimeout   = "Sandbox.Timedout"
	errTypeExit      = "Runtime.ExitError"
	errTypeOOM       = "Runtime.OutOfMemory"
	errTypeProtocol  = "Runtime.ProtocolError"
	protocolGuidance = "runtime broke faaslab's Runtime API protocol (did the function tamper with the harness?)"
)

// outcome is how one exchange with a container ended.
type outcome struct {
	status  platform.Status
	record  *harness.Record // the runtime's report, when it sent one
	errType string          // the platform's own error, when it has one
	errMsg  string
	// discard says that the container cannot serve another invocation.
	discard bool
	// err is a failure of faaslab or of the caller's context, not of the
	// function.
	err error
	// answered is when the answer arrived; zero without one.
	answered time.Time
	// unsent says that the runtime never got the event.
	unsent bool
	// initTimedOut says the runtime did not ask for work within the init
	// timeout.
	initTimedOut bool
	// host holds the host's CPU times when the event was sent and when
	// the answer came (see hostcpu.go); unset without an answer.
	host [2]hostCPU
	// note is faaslab's own line for the invocation's log.
	note string
}

// Invoke runs the function once, starting a container first when none is
// warm. It never waits much longer than the function's timeout (plus, on
// a cold start, the init timeout), whatever the function does.
func (d *deployment) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	if len(event) > maxEventBytes {
		return platform.Invocation{}, fmt.Errorf("invoke %s: event of %d bytes exceeds Lambda's %d", d.fn.Name, len(event), maxEventBytes)
	}
	if !json.Valid(event) {
		return platform.Invocation{}, fmt.Errorf("invoke %s: event is not valid JSON", d.fn.Name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return platform.Invocation{}, fmt.Errorf("invoke %s: deployment is closed", d.fn.Name)
	}

	inv := platform.Invocation{Start: time.Now().UTC()}
	defer d.p.contention.enter(d.limits.cpuQuotaUS)()
	begin := time.Now()
	out, err := d.run(ctx, event, &inv)
	if err != nil {
		return inv, fmt.Errorf("invoke %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
	}
	end := out.answered
	if end.IsZero() {
		end = time.Now()
	}
	inv.RoundTrip = end.Sub(begin)
	d.report(&out, &inv)

	switch {
	case out.discard || d.fn.Cold || out.err != nil:
		err = d.discard()
	case !d.p.opts.NoFreeze:
		// Lambda freezes an environment between invocations; so does
		// faaslab, so that work left behind does not run meanwhile. The
		// freeze happens after the answer is handed back; the next
		// invocation waits for it to be complete (see settle).
		d.c.freeze()
	}
	if out.err != nil {
		return inv, errors.Join(fmt.Errorf("invoke %s: %w", d.fn.Name, out.err), err)
	}
	if err != nil {
		return inv, fmt.Errorf("invoke %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
	}
	return inv, nil
}

// run runs one invocation in the warm container, or in a new one (setting
// inv.Cold). A warm container that died or broke while idle, before it
// got the event, is replaced by a new one, as Lambda would, with a note in
// inv.Log. The error is the platform's own failure.
func (d *deployment) run(ctx context.Context, event []byte, inv *platform.Invocation) (outcome, error) {
	for {
		if d.c == nil {
			c, err := d.startContainer()
			if err != nil {
				return outcome{}, err
			}
			d.c, inv.Cold = c, true
		} else if err := d.c.settle(); err != nil {
			return outcome{}, errors.Join(fmt.Errorf("freeze: %w", err), d.discard())
		} else if !d.c.marked {
			d.c.cg.markCPU() // idle, or frozen, since the last call
		}
		out, ready := d.c.awaitReady(ctx, d)
		if ready {
			out = d.c.call(ctx, d, event, inv.Cold)
		}
		if inv.Cold || !out.unsent || out.status != platform.StatusCrash && out.errType != errTypeProtocol {
			return out, nil
		}
		d.c.waitExit(time.Second)
		inv.Log = fmt.Sprintf("[faaslab: the warm container failed while idle (%s), so this invocation is cold]\n%s",
			cmp.Or(out.errMsg, d.c.exitDescription()), d.c.log.take())
		if err := d.discard(); err != nil {
			return outcome{}, err
		}
	}
}

// report fills inv in from out and the container: the runtime's record,
// the platform's own errors, the log and Lambda's REPORT figures. It sets
// out.err when the sandbox itself failed.
func (d *deployment) report(out *outcome, inv *platform.Invocation) {
	c := d.c
	died := out.record == nil && (out.status == platform.StatusCrash || out.status == platform.StatusInitError)
	if died {
		// Let the dying runtime finish, so that its exit status and last
		// words are known.
		c.waitExit(time.Second)
	}
	log := c.log.take()
	inv.Log += log + out.note
	inv.InitTimedOut = out.initTimedOut
	if died && inv.Cold && strings.HasPrefix(log, "bwrap:") {
		// The sandbox failed before Python ran: the host's fault.
		out.err = fmt.Errorf("%w: sandbox failed: %s", platform.ErrInfrastructure, strings.TrimSpace(log))
	}
	if out.record != nil {
		out.record.Apply(inv)
		// The runtime leaves the host's figures to faaslab (see hostcpu.go).
		inv.CPUUser, inv.CPUSystem, inv.CPUIdle, inv.CPUIOWait, inv.CPUSteal = out.host[1].seconds(out.host[0])
	}
	inv.Status = out.status
	if out.errType != "" {
		inv.ErrorType, inv.ErrorMessage = out.errType, out.errMsg
	}
	if died {
		inv.ErrorType, inv.ErrorMessage = c.crashError(d.fn.MemoryMB)
	}
	// Lambda bills whole milliseconds, and the whole timeout of a call
	// that times out.
	inv.BilledDuration = (inv.Duration + time.Millisecond - 1).Truncate(time.Millisecond)
	if out.status == platform.StatusTimeout {
		inv.BilledDuration = d.fn.Timeout
	}
	inv.BilledEstimated = true // Lambda bills; the sandbox only estimates
	d.reportUsage(c, inv)
}

// freeze freezes the container in the background, until settle. The
// freeze is complete when the write to the freezer returns: every process
// of the container is then marked, and the kernel stops each before it
// runs another instruction of its own (sleeping ones at once, running ones
// at their next return to user space), though the group may report
// FREEZING a while longer on a busy host. The next invocation does not
// wait for FROZEN, which would cost it a millisecond of polling and change
// nothing that the function can observe.
//
// Once the group reports FROZEN, the background also takes the CPU mark
// of the next invocation (see markCPU), which a frozen group's counters
// keep until the thaw: that spares the next invocation's path the reads.
// An invocation that comes first cancels the wait and marks itself.
func (c *container) freeze() {
	done, cancel := make(chan struct{}), make(chan struct{})
	c.freezing, c.stopMarking, c.frozen, c.marked = done, cancel, true, false
	go func() {
		defer close(done)
		if c.freezeErr = c.cg.setFrozen(true); c.freezeErr == nil && c.cg.canFreeze() {
			c.marked = c.markWhenFrozen(cancel)
		}
	}()
}

// markFrozenWithin bounds how long freeze's background waits for the
// group to report FROZEN before leaving the mark to the next invocation.
const markFrozenWithin = 50 * time.Millisecond

// markWhenFrozen waits until the group is FROZEN, within markFrozenWithin
// and until cancel is closed, and then marks its CPU usage. It reports
// whether it marked.
func (c *container) markWhenFrozen(cancel <-chan struct{}) bool {
	deadline := time.Now().Add(markFrozenWithin)
	pause := 20 * time.Microsecond
	for !c.cg.isFrozen() {
		if time.Now().After(deadline) {
			return false
		}
		t := time.NewTimer(pause)
		select {
		case <-cancel:
			t.Stop()
			return false
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Millisecond)
	}
	c.cg.markCPU()
	return true
}

// settle waits until the freeze that followed the last invocation is
// complete, so that no thaw overtakes it, and returns its error. It stops
// the background's wait to take the CPU mark; c.marked then says whether
// it took it.
func (c *container) settle() error { return c.awaitFreeze(true) }

// awaitFreeze is settle; with stopMarking false it lets the background
// wait for FROZEN and take the mark, as waitIdle does.
func (c *container) awaitFreeze(stopMarking bool) error {
	if c.freezing == nil {
		return nil
	}
	if stopMarking {
		close(c.stopMarking)
	}
	<-c.freezing
	c.freezing, c.stopMarking = nil, nil
	err := c.freezeErr
	c.freezeErr = nil
	return err
}

// thaw thaws the container if freeze froze it.
func (c *container) thaw() error {
	if !c.frozen {
		return nil
	}
	c.frozen = false
	if err := c.cg.setFrozen(false); err != nil {
		return fmt.Errorf("%w: thaw: %w", platform.ErrInfrastructure, err)
	}
	return nil
}

// waitIdle waits until the warm container, if any, is frozen, and the
// freeze's background work is done: for tests and benchmarks that must not
// overlap it.
func (d *deployment) waitIdle() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		return nil
	}
	return d.c.awaitFreeze(false)
}

// crashError describes how the runtime died: out of memory when the
// kernel killed a process of the container for its memory limit.
func (c *container) crashError(memoryMB int) (errType, msg string) {
	if c.cg.oomKills() > 0 {
		return errTypeOOM, fmt.Sprintf("Runtime exited: out of memory (memory limit %d MB): %s", memoryMB, c.exitDescription())
	}
	return errTypeExit, c.exitDescription()
}

// discard destroys the deployment's container, if any.
func (d *deployment) discard() error {
	if d.c == nil {
		return nil
	}
	d.c.settle()
	err := d.c.destroy()
	d.c = nil
	return err
}

// Close destroys the container and the code snapshot.
func (d *deployment) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.discard()
	if rerr := os.RemoveAll(d.dir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	d.p.weighContainers()
	if err != nil {
		return fmt.Errorf("close %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
	}
	return nil
}

// Reasons that await gives up; anything else it returns is the caller's
// context's error.
var (
	errTimedOut    = errors.New("deadline passed")
	errRuntimeGone = errors.New("runtime is gone")
	errProtocol    = errors.New(protocolGuidance)
)

// awaitReady waits until the runtime asks for work: at once when warm,
// after init when cold. It reports whether the runtime is ready, and if
// not, the outcome of the invocation.
func (c *container) awaitReady(ctx context.Context, d *deployment) (o outcome, ready bool) {
	defer func() { o.unsent = !ready }()
	cold := c.initTook == 0
	deadline := time.Now().Add(d.fn.Timeout)
	if cold {
		deadline = c.started.Add(d.p.opts.InitTimeout)
	}
	msg, err := c.await(ctx, deadline, nil)
	switch {
	case cold && errors.Is(err, errTimedOut):
		o := failure(err, 0)
		o.errMsg = fmt.Sprintf("Init timed out after %.2f seconds", d.p.opts.InitTimeout.Seconds())
		o.initTimedOut = true
		o.note = c.initTimeoutNote(d.p.opts.HostCPUs)
		return o, false
	case cold && errors.Is(err, errRuntimeGone):
		return outcome{status: platform.StatusInitError, discard: true}, false
	case err != nil:
		return failure(err, d.fn.Timeout), false
	case msg.Op == opInitError:
		return c.decode(msg, platform.StatusInitError, time.Since(c.started), time.Since(c.started)), false
	case msg.Op != opNext:
		return failure(fmt.Errorf("%w: runtime sent %q instead of next", errProtocol, msg.Op), 0), false
	}
	if cold {
		c.initTook = time.Since(c.started)
		if d.limits.initCPUQuotaUS != d.limits.cpuQuotaUS {
			if err := c.cg.setCPUQuota(d.limits.cpuQuotaUS); err != nil {
				return outcome{err: fmt.Errorf("%w: %w", platform.ErrInfrastructure, err), discard: true}, false
			}
		}
		if !d.p.opts.NoFreeze {
			c.unfreezeSupervisor()
		}
		c.cg.markCPU() // the call's CPU time excludes init's
	}
	return outcome{}, true
}

// initTimeoutNote tells an init that ran out of time on a busy host (it
// got little CPU: run fewer at once) from code that is slow to import (it
// used its CPU), with the figures that tell them apart.
func (c *container) initTimeoutNote(hostCPUs int) string {
	used := "an unknown CPU time"
	if u, err := c.cg.cpuUsage(); err == nil {
		used = fmt.Sprintf("%.2f CPU-s", cmp.Or(u.usage, u.user+u.system).Seconds())
	}
	load := "unknown"
	if l, err := readLoadavg(); err == nil {
		load = fmt.Sprintf("%.1f", l)
	}
	return fmt.Sprintf("[faaslab: the init used %s in %.2f s; the host's load average is %s on %d cores. "+
		"On a busy host, measure fewer cells at once (--parallel) or raise platforms.<id>.init_timeout_s]\n",
		used, time.Since(c.started).Seconds(), load, hostCPUs)
}

// call sends event to the ready runtime and waits for its answer until
// the function's deadline.
func (c *container) call(ctx context.Context, d *deployment, event json.RawMessage, cold bool) outcome {
	initBound := time.Duration(0)
	if cold {
		initBound = c.initTook
	}
	sent := time.Now()
	deadline := sent.Add(d.fn.Timeout)
	requestID := newRequestID()
	var hostBefore hostCPU
	frame := appendRequestFrame(make([]byte, 0, 256+len(event)), requestID, deadline, d.arn, event)
	// A frozen runtime cannot read: a frame that may not fit in the pipe
	// waits for the thaw. A small one goes first, so that the thawed
	// runtime finds it at once instead of waking twice (see await).
	if len(frame) > pipeMinCapacity {
		if err := c.thaw(); err != nil {
			return outcome{err: err, discard: true}
		}
	}
	c.requests.SetWriteDeadline(deadline)
	if _, err := c.requests.Write(frame); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return failure(errTimedOut, d.fn.Timeout)
		}
		o := failure(fmt.Errorf("%w: send invocation: %w", errRuntimeGone, err), 0)
		o.unsent = true
		return o
	}

	// The host's CPU is sampled once the event is on its way (await thaws
	// the runtime at once), so that the read overlaps the runtime's
	// work instead of delaying it; /proc/stat counts in hundredths of a
	// second, which the few microseconds do not shift.
	msg, err := c.await(ctx, deadline, func() { hostBefore = c.host.sample() })
	switch {
	case err != nil:
		return failure(err, d.fn.Timeout)
	case msg.Op != opResponse && msg.Op != opError:
		return failure(fmt.Errorf("%w: runtime sent %q instead of an answer", errProtocol, msg.Op), 0)
	case msg.RequestID != requestID:
		return failure(fmt.Errorf("%w: runtime answered request %q during request %q", errProtocol, msg.RequestID, requestID), 0)
	}
	status := platform.StatusOK
	if msg.Op == opError {
		status = platform.StatusError
	}
	o := c.decode(msg, status, time.Since(sent), initBound)
	o.host = [2]hostCPU{hostBefore, c.host.sample()}
	return o
}

// decode turns the runtime's record in msg into an outcome with status,
// after checking it against what faaslab saw: the call took at most
// roundTrip and init at most initBound.
func (c *container) decode(msg runtimeMessage, status platform.Status, roundTrip, initBound time.Duration) outcome {
	answered := time.Now()
	var rec harness.Record
	err := json.Unmarshal(msg.Body, &rec)
	if err == nil {
		err = rec.Validate(roundTrip, initBound)
	}
	if err == nil && (rec.Error != nil) != (status != platform.StatusOK) {
		err = fmt.Errorf("record does not match operation %q", msg.Op)
	}
	if err != nil {
		return failure(fmt.Errorf("%w: invalid record: %w", errProtocol, err), 0)
	}
	return outcome{status: status, record: &rec, discard: status == platform.StatusInitError, answered: answered}
}

// failure is the outcome of an invocation that await (or sending) ended
// with err: a timeout after timeout, a crash, a protocol violation or the
// caller's context.
func failure(err error, timeout time.Duration) outcome {
	switch {
	case errors.Is(err, errTimedOut):
		return outcome{status: platform.StatusTimeout, discard: true, errType: errTypeTimeout,
			errMsg: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}
	case errors.Is(err, errRuntimeGone):
		return outcome{status: platform.StatusCrash, discard: true}
	case errors.Is(err, errProtocol):
		return outcome{status: platform.StatusError, discard: true, errType: errTypeProtocol, errMsg: err.Error()}
	}
	return outcome{err: err, discard: true}
}

// await returns the runtime's next message, or why there is none by
// deadline: errTimedOut, errRuntimeGone, errProtocol, ctx's error or a
// failure to thaw. A message already sent is taken as it is (the next
// that a frozen runtime sent with its last answer); otherwise await thaws
// the container and waits. Unless nil, meanwhile runs once the runtime
// may run, before the wait.
func (c *container) await(ctx context.Context, deadline time.Time, meanwhile func()) (runtimeMessage, error) {
	var r received
	var ok bool
	select {
	case r, ok = <-c.messages:
		if meanwhile != nil {
			meanwhile()
		}
	default:
		if err := c.thaw(); err != nil {
			return runtimeMessage{}, err
		}
		if meanwhile != nil {
			meanwhile()
		}
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case r, ok = <-c.messages:
		case <-timer.C:
			return runtimeMessage{}, errTimedOut
		case <-ctx.Done():
			return runtimeMessage{}, context.Cause(ctx)
		}
	}
	switch {
	case !ok || errors.Is(r.err, io.EOF):
		return runtimeMessage{}, errRuntimeGone
	case r.err != nil:
		return runtimeMessage{}, fmt.Errorf("%w: %w", errProtocol, r.err)
	}
	return r.msg, nil
}

// newRequestID returns a random id in the form of Lambda's request ids.
func newRequestID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
