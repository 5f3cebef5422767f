package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

const okHandler = `
def handler(event, context):
    return {"ok": True}
`

// deployOK deploys okHandler on p.
func deployOK(t *testing.T, p platform.Platform, change func(*platform.Function)) platform.Deployment {
	t.Helper()
	return platformtest.Deploy(t, p, platformtest.Function(t, okHandler, change))
}

// TestFaults injects each fault the platform retries and checks that
// the invocation still succeeds, with the call made again.
func TestFaults(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	p := open(t, nil)
	for _, tc := range []struct {
		name  string
		fault lambdafake.Fault
	}{
		{"throttled invoke", lambdafake.Fault{Op: "Invoke", Kind: lambdafake.Throttle, Times: 2}},
		{"conflicting invoke", lambdafake.Fault{Op: "Invoke", Kind: lambdafake.Conflict}},
		{"server error on invoke", lambdafake.Fault{Op: "Invoke", Kind: lambdafake.ServerError, Times: 2}},
		{"connection dropped on invoke", lambdafake.Fault{Op: "Invoke", Kind: lambdafake.Drop}},
		{"throttled create", lambdafake.Fault{Op: "CreateFunction", Kind: lambdafake.Throttle}},
		{"server error on create", lambdafake.Fault{Op: "CreateFunction", Kind: lambdafake.ServerError}},
		{"server error on the state poll", lambdafake.Fault{Op: "GetFunction", Kind: lambdafake.ServerError}},
		{"throttled delete", lambdafake.Fault{Op: "DeleteFunction", Kind: lambdafake.Throttle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Calls(tc.fault.Op)
			s.Inject(tc.fault)
			d, err := p.Deploy(context.Background(), platformtest.Function(t, okHandler, nil))
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			inv, err := d.Invoke(context.Background(), []byte(`{}`))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			platformtest.Want(t, inv, platform.StatusOK, "")
			if err := d.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			times := max(tc.fault.Times, 1)
			if got := s.Calls(tc.fault.Op) - before; got < times+1 {
				t.Errorf("%s called %d times, want at least %d (the faults, then success)", tc.fault.Op, got, times+1)
			}
			if left := s.Functions(); len(left) > 0 {
				t.Errorf("functions left: %v", left)
			}
		})
	}
}

// TestThrottleRetryAfter checks that a throttled call waits as long as
// Lambda's Retry-After says, though the platform's own backoff is short.
func TestThrottleRetryAfter(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	d := deployOK(t, open(t, nil), nil)
	s.Inject(lambdafake.Fault{Op: "Invoke", Kind: lambdafake.Throttle, RetryAfter: 1})
	start := time.Now()
	inv := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	if took := time.Since(start); took < time.Second {
		t.Errorf("throttled invocation returned after %v, want at least the Retry-After of 1 s", took)
	}
}

// TestRetriesExhausted checks that a fault that does not go away ends in
// an infrastructure error after the platform's attempts, and that a
// fault no retry cures (access denied) is not retried.
func TestRetriesExhausted(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	p := open(t, func(o *aws.Options) { o.Attempts = 3 })
	d := deployOK(t, p, nil)

	before := s.Calls("Invoke")
	s.Inject(lambdafake.Fault{Op: "Invoke", Kind: lambdafake.Throttle, Times: 3})
	_, err := d.Invoke(context.Background(), []byte(`{}`))
	if !errors.Is(err, platform.ErrInfrastructure) || !strings.Contains(err.Error(), "TooManyRequests") {
		t.Errorf("throttled past the attempts: %v, want an infrastructure error naming the throttling", err)
	}
	if got := s.Calls("Invoke") - before; got != 3 {
		t.Errorf("%d invoke calls, want 3 attempts", got)
	}

	before = s.Calls("Invoke")
	s.Inject(lambdafake.Fault{Op: "Invoke", Kind: lambdafake.AccessDenied})
	_, err = d.Invoke(context.Background(), []byte(`{}`))
	if err == nil || errors.Is(err, platform.ErrInfrastructure) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("access denied: %v, want a plain error naming it", err)
	}
	if got := s.Calls("Invoke") - before; got != 1 {
		t.Errorf("access denied was tried %d times, want once", got)
	}
	// The function still works afterwards.
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
}

// TestFunctionTimeout checks a timeout Lambda reports (the fake's
// injected one): status timeout, billed the whole timeout.
func TestFunctionTimeout(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	d := deployOK(t, open(t, nil), func(fn *platform.Function) { fn.Timeout = 3 * time.Second })
	s.Inject(lambdafake.Fault{Op: "Invoke", Kind: lambdafake.FunctionTimeout})
	inv := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv, platform.StatusTimeout, "Task timed out after 3.00 seconds")
	if inv.BilledDuration != 3*time.Second || inv.ErrorType != "Sandbox.Timedout" || inv.RequestID == "" {
		t.Errorf("timeout: billed %v, type %q, request %q", inv.BilledDuration, inv.ErrorType, inv.RequestID)
	}
}

// TestPendingAndUpdating runs a deployment on a fake whose functions
// stay Pending, and updates InProgress, long enough that the platform
// must wait for them (and Lambda answers 409 meanwhile).
func TestPendingAndUpdating(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{Activation: 300 * time.Millisecond, Update: 300 * time.Millisecond})
	p := open(t, nil)
	polls := s.Calls("GetFunction")
	d := deployOK(t, p, func(fn *platform.Function) { fn.Cold = true })
	if s.Calls("GetFunction")-polls < 2 {
		t.Errorf("the platform polled the pending function %d times, want it to wait", s.Calls("GetFunction")-polls)
	}
	// A conflicting update is retried; cold mode's updates are waited for.
	s.Inject(lambdafake.Fault{Op: "UpdateFunctionConfiguration", Kind: lambdafake.Conflict})
	for i := 0; i < 3; i++ {
		inv := platformtest.Invoke(t, d, `{}`)
		platformtest.Want(t, inv, platform.StatusOK, "")
		if !inv.Cold || inv.InitDuration <= 0 {
			t.Errorf("call %d in cold mode: cold=%v init=%v", i, inv.Cold, inv.InitDuration)
		}
	}
	if n := s.Calls("UpdateFunctionConfiguration"); n != 3 {
		t.Errorf("%d configuration updates for 3 cold calls (one conflicting), want 3", n)
	}
}

// TestSnapStartRestore checks that a restore counts as a cold start,
// with its duration.
func TestSnapStartRestore(t *testing.T) {
	needPython(t)
	lambdafake.Start(t, lambdafake.Options{SnapStart: true})
	d := deployOK(t, open(t, nil), nil)
	first, second := platformtest.Invoke(t, d, `{}`), platformtest.Invoke(t, d, `{}`)
	if !first.Cold || first.RestoreDuration <= 0 || first.InitDuration != 0 {
		t.Errorf("restored call: cold=%v restore=%v init=%v", first.Cold, first.RestoreDuration, first.InitDuration)
	}
	if second.Cold || second.RestoreDuration != 0 {
		t.Errorf("warm call: cold=%v restore=%v", second.Cold, second.RestoreDuration)
	}
}

// TestReportMerged checks that Lambda's figures and the wrapper's reach
// the invocation.
func TestReportMerged(t *testing.T) {
	needPython(t)
	lambdafake.Start(t, lambdafake.Options{})
	d := deployOK(t, open(t, nil), func(fn *platform.Function) { fn.MemoryMB = 1024 })
	inv := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	if inv.BilledEstimated || inv.BilledDuration < time.Millisecond || inv.BilledDuration < inv.Duration ||
		inv.MaxMemoryUsedMB <= 0 || inv.RequestID == "" || !inv.Cold || inv.InitDuration <= 0 {
		t.Errorf("REPORT figures missing: billed %v (estimated %v), duration %v, max memory %d, request %q, cold %v, init %v",
			inv.BilledDuration, inv.BilledEstimated, inv.Duration, inv.MaxMemoryUsedMB, inv.RequestID, inv.Cold, inv.InitDuration)
	}
	if inv.ContainerID == "" || inv.CPUModel == "" || inv.MaxRSSKB <= 0 || !strings.Contains(inv.Log, "REPORT RequestId: "+inv.RequestID) {
		t.Errorf("wrapper figures or log missing: %+v", inv)
	}
}

// TestCrash checks that a runtime that exits is a crash.
func TestCrash(t *testing.T) {
	needPython(t)
	lambdafake.Start(t, lambdafake.Options{})
	d := platformtest.Deploy(t, open(t, nil), platformtest.Function(t, `
import os
def handler(event, context):
    os._exit(3)
`, nil))
	inv := platformtest.Invoke(t, d, `{}`)
	platformtest.Want(t, inv, platform.StatusCrash, "Runtime exited")
	if inv.ErrorType != "Runtime.ExitError" {
		t.Errorf("error type %q, want Runtime.ExitError", inv.ErrorType)
	}
	next := platformtest.Invoke(t, d, `{}`)
	if next.Status != platform.StatusCrash || !next.Cold {
		t.Errorf("call after a crash: %s cold=%v, want a cold start", next.Status, next.Cold)
	}
}
