package local

import (
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
	// sent and answered time the request; answered is zero without an
	// answer.
	sent, answered time.Time
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
	begin := time.Now()
	if d.c == nil {
		c, err := d.startContainer()
		if err != nil {
			return inv, fmt.Errorf("invoke %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
		}
		d.c, inv.Cold = c, true
	} else if err := d.c.cg.setFrozen(false); err != nil {
		return inv, errors.Join(fmt.Errorf("invoke %s: %w: thaw: %w", d.fn.Name, platform.ErrInfrastructure, err), d.discard())
	}

	c := d.c
	out := c.exchange(ctx, d, event)
	end := out.answered
	if end.IsZero() {
		end = time.Now()
	}
	inv.RoundTrip = end.Sub(begin)
	died := out.record == nil && (out.status == platform.StatusCrash || out.status == platform.StatusInitError)
	if died {
		// Let the dying runtime finish, so that its exit status and last
		// words are known.
		c.waitExit(time.Second)
	}
	inv.Log = c.log.take()
	if died && inv.Cold && strings.HasPrefix(inv.Log, "bwrap:") {
		// The sandbox failed before Python ran: the host's fault.
		out.err = fmt.Errorf("%w: sandbox failed: %s", platform.ErrInfrastructure, strings.TrimSpace(inv.Log))
	}
	if out.record != nil {
		out.record.Apply(&inv)
	}
	inv.Status = out.status
	if out.errType != "" {
		inv.ErrorType, inv.ErrorMessage = out.errType, out.errMsg
	}
	if died {
		inv.ErrorType, inv.ErrorMessage = c.crashError(d.fn.MemoryMB)
	}
	inv.BilledDuration = inv.Duration.Round(time.Millisecond)
	if inv.BilledDuration < inv.Duration {
		inv.BilledDuration += time.Millisecond
	}
	inv.MaxMemoryUsedMB = int((c.cg.maxMemoryBytes() + 1<<20 - 1) >> 20)

	var err error
	switch {
	case out.discard || d.fn.Cold || out.err != nil:
		err = d.discard()
	default:
		// Lambda freezes an environment between invocations; so does
		// faaslab, so that work left behind does not run meanwhile.
		if ferr := c.cg.setFrozen(true); ferr != nil {
			err = d.discard()
		}
	}
	if out.err != nil {
		return inv, errors.Join(fmt.Errorf("invoke %s: %w", d.fn.Name, out.err), err)
	}
	if err != nil {
		return inv, fmt.Errorf("invoke %s: %w: %w", d.fn.Name, platform.ErrInfrastructure, err)
	}
	return inv, nil
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

// exchange runs one invocation on c: it waits for the runtime to ask for
// work (at once when warm, after init when cold), sends the event, and
// waits for the answer until the function's deadline.
func (c *container) exchange(ctx context.Context, d *deployment, event json.RawMessage) outcome {
	cold := c.initTook == 0
	ready := time.Now().Add(d.fn.Timeout)
	if cold {
		ready = c.started.Add(d.p.opts.InitTimeout)
	}
	msg, err := c.await(ctx, ready)
	switch {
	case cold && errors.Is(err, errTimedOut):
		o := timedOut(time.Time{})
		o.errMsg = fmt.Sprintf("Init timed out after %.2f seconds", d.p.opts.InitTimeout.Seconds())
		return o
	case cold && errors.Is(err, errRuntimeGone):
		return outcome{status: platform.StatusInitError, discard: true}
	case err != nil:
		return failure(err, d.fn.Timeout, time.Time{})
	case msg.Op == opInitError:
		return c.decode(msg, platform.StatusInitError, time.Since(c.started), time.Since(c.started), time.Time{})
	case msg.Op != opNext:
		return failure(fmt.Errorf("%w: runtime sent %q instead of next", errProtocol, msg.Op), 0, time.Time{})
	}
	initBound := time.Duration(0)
	if cold {
		c.initTook = time.Since(c.started)
		initBound = c.initTook
		if d.limits.initCPUQuotaUS != d.limits.cpuQuotaUS {
			if err := c.cg.setCPUQuota(d.limits.cpuQuotaUS); err != nil {
				return outcome{err: fmt.Errorf("%w: %w", platform.ErrInfrastructure, err), discard: true}
			}
		}
	}

	sent := time.Now()
	deadline := sent.Add(d.fn.Timeout)
	requestID := newRequestID()
	payload, err := json.Marshal(invocationRequest{
		RequestID: requestID, DeadlineMS: deadline.UnixMilli(), FunctionARN: d.arn, Event: event,
	})
	if err != nil {
		return outcome{err: fmt.Errorf("encode invocation: %w", err), discard: true}
	}
	c.requests.SetWriteDeadline(deadline)
	if err := writeFrame(c.requests, payload); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errTimedOut
		} else {
			err = fmt.Errorf("%w: send invocation: %w", errRuntimeGone, err)
		}
		return failure(err, d.fn.Timeout, sent)
	}

	msg, err = c.await(ctx, deadline)
	switch {
	case err != nil:
		return failure(err, d.fn.Timeout, sent)
	case msg.Op != opResponse && msg.Op != opError:
		return failure(fmt.Errorf("%w: runtime sent %q instead of an answer", errProtocol, msg.Op), 0, sent)
	case msg.RequestID != requestID:
		return failure(fmt.Errorf("%w: runtime answered request %q during request %q", errProtocol, msg.RequestID, requestID), 0, sent)
	case msg.Op == opError:
		return c.decode(msg, platform.StatusError, time.Since(sent), initBound, sent)
	}
	return c.decode(msg, platform.StatusOK, time.Since(sent), initBound, sent)
}

// decode turns the runtime's record in msg into an outcome with status,
// after checking it against what faaslab saw: the call took at most
// roundTrip and init at most initBound.
func (c *container) decode(msg runtimeMessage, status platform.Status, roundTrip, initBound time.Duration, sent time.Time) outcome {
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
		return failure(fmt.Errorf("%w: invalid record: %w", errProtocol, err), 0, sent)
	}
	return outcome{status: status, record: &rec, discard: status == platform.StatusInitError, sent: sent, answered: answered}
}

// failure is the outcome of an invocation that await (or sending) ended
// with err: a timeout after timeout, a crash, a protocol violation or the
// caller's context.
func failure(err error, timeout time.Duration, sent time.Time) outcome {
	switch {
	case errors.Is(err, errTimedOut):
		o := timedOut(sent)
		o.errMsg = fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())
		return o
	case errors.Is(err, errRuntimeGone):
		return outcome{status: platform.StatusCrash, discard: true, sent: sent}
	case errors.Is(err, errProtocol):
		return outcome{status: platform.StatusError, discard: true, sent: sent, errType: errTypeProtocol, errMsg: err.Error()}
	}
	return outcome{err: err, discard: true, sent: sent}
}

func timedOut(sent time.Time) outcome {
	return outcome{status: platform.StatusTimeout, discard: true, sent: sent, errType: errTypeTimeout}
}

// await returns the runtime's next message, or why there is none by
// deadline: errTimedOut, errRuntimeGone, errProtocol or ctx's error.
func (c *container) await(ctx context.Context, deadline time.Time) (runtimeMessage, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r, ok := <-c.messages:
		switch {
		case !ok || errors.Is(r.err, io.EOF):
			return runtimeMessage{}, errRuntimeGone
		case r.err != nil:
			return runtimeMessage{}, fmt.Errorf("%w: %w", errProtocol, r.err)
		}
		return r.msg, nil
	case <-timer.C:
		return runtimeMessage{}, errTimedOut
	case <-ctx.Done():
		return runtimeMessage{}, context.Cause(ctx)
	}
}

// newRequestID returns a random id in the form of Lambda's request ids.
func newRequestID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
