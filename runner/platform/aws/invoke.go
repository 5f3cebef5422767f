package aws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/report"
)

// Error types of failures Lambda reports itself, and faaslab's for an
// answer that breaks the wrapper's protocol.
const (
	errTypeTimeout  = "Sandbox.Timedout"
	errTypeExit     = "Runtime.ExitError"
	errTypeOOM      = "Runtime.OutOfMemory"
	errTypeProtocol = "Runtime.ProtocolError"
)

// maxEventBytes is Lambda's limit on a synchronous request.
const maxEventBytes = 6291456

// Invoke invokes the function once, synchronously, with the log tail,
// and merges Lambda's REPORT with the wrapper's record. In cold mode
// every invocation after the first is preceded by a configuration change
// that makes Lambda start a new execution environment.
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
		return platform.Invocation{}, fmt.Errorf("invoke %s: %w", d.fn.Name, errClosed)
	}
	if d.fn.Cold && d.invoked > 0 {
		if err := d.renew(ctx); err != nil {
			return platform.Invocation{}, fmt.Errorf("invoke %s: new execution environment: %w", d.fn.Name, withInfrastructure(err))
		}
	}
	var (
		out   *lambda.InvokeOutput
		start time.Time
		took  time.Duration
	)
	err := d.p.retry(ctx, "invoke "+d.name, func() error {
		start = time.Now()
		var err error
		out, err = d.p.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: &d.name, Payload: event,
			InvocationType: types.InvocationTypeRequestResponse, LogType: types.LogTypeTail})
		took = time.Since(start)
		if isNotFound(err) {
			// Deleted under faaslab's feet: a new deployment may cure it.
			return fmt.Errorf("%w: %w", platform.ErrInfrastructure, err)
		}
		return err
	})
	if err != nil {
		return platform.Invocation{}, fmt.Errorf("invoke %s: %w", d.fn.Name, err)
	}
	d.invoked++
	inv := platform.Invocation{Start: start.UTC(), RoundTrip: took}
	if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); ok {
		inv.RequestID = id
	}
	merge(&inv, out, d.fn)
	return inv, nil
}

// withInfrastructure makes err an infrastructure failure, so that the
// engine tries again with a new deployment.
func withInfrastructure(err error) error {
	if isInfrastructure(err) {
		return err
	}
	return fmt.Errorf("%w: %w", platform.ErrInfrastructure, err)
}

func isInfrastructure(err error) bool { return errors.Is(err, platform.ErrInfrastructure) }

// lambdaError is the payload Lambda returns with X-Amz-Function-Error.
type lambdaError struct {
	Type    string          `json:"errorType"`
	Message string          `json:"errorMessage"`
	Stack   json.RawMessage `json:"stackTrace"`
}

// merge fills inv in from Lambda's answer: the REPORT in the log tail,
// and the wrapper's record or Lambda's error payload.
func merge(inv *platform.Invocation, out *lambda.InvokeOutput, fn platform.Function) {
	if out.LogResult != nil {
		if b, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil {
			inv.Log = string(b)
		}
	}
	rep, hasReport := report.Find(inv.Log)
	if hasReport {
		inv.RequestID = rep.RequestID
		inv.Duration = rep.Duration // the wrapper's own figure replaces it when there is a record
		inv.BilledDuration = rep.BilledDuration
		inv.MaxMemoryUsedMB = rep.MaxMemoryUsedMB
		inv.Cold = rep.Cold()
	}
	if out.FunctionError != nil {
		classify(inv, out.Payload, rep, fn)
	} else {
		var rec harness.Record
		err := json.Unmarshal(out.Payload, &rec)
		if err == nil {
			initBound := inv.RoundTrip
			if hasReport {
				// Lambda's Init Duration is the init; the wrapper's
				// import time is part of it.
				rec.Metrics.InitNS, initBound = 0, 0
			}
			err = rec.Validate(inv.RoundTrip, initBound)
		}
		if err != nil {
			inv.Status, inv.ErrorType = platform.StatusError, errTypeProtocol
			inv.ErrorMessage = "invalid record from faaslab's wrapper (did the function tamper with it?): " + err.Error()
		} else {
			rec.Apply(inv)
			if !hasReport {
				// An endpoint that returns no REPORT (some emulators):
				// the wrapper's own view of cold starts is all there is.
				inv.Cold = rec.Metrics.Cold
			}
			inv.Status = platform.StatusOK
			if rec.Error != nil {
				inv.Status = platform.StatusError
			}
		}
	}
	if hasReport {
		inv.InitDuration, inv.RestoreDuration = rep.InitDuration, rep.RestoreDuration
	}
}

// classify sets the status of an invocation Lambda says failed (the
// X-Amz-Function-Error header). The wrapper catches the handler's
// exceptions and returns them in its record, so what Lambda reports as
// an error is a timeout, a crashed runtime or a failed init.
func classify(inv *platform.Invocation, payload []byte, rep report.Report, fn platform.Function) {
	var le lambdaError
	if json.Unmarshal(payload, &le) != nil {
		le.Message = strings.TrimSpace(string(payload))
	}
	inv.ErrorType, inv.ErrorMessage = le.Type, le.Message
	var lines []string
	if json.Unmarshal(le.Stack, &lines) == nil {
		inv.Traceback = strings.Join(lines, "")
	} else {
		var s string
		if json.Unmarshal(le.Stack, &s) == nil {
			inv.Traceback = s
		}
	}
	text := le.Message + " " + inv.Log
	switch {
	case rep.Status == report.StatusTimeout || le.Type == errTypeTimeout || strings.Contains(le.Message, "Task timed out"):
		inv.Status = platform.StatusTimeout
		inv.ErrorType = errTypeTimeout
		if inv.ErrorMessage == "" {
			inv.ErrorMessage = fmt.Sprintf("Task timed out after %.2f seconds", fn.Timeout.Seconds())
		}
		if inv.BilledDuration == 0 {
			inv.BilledDuration = fn.Timeout
		}
	case le.Type == errTypeOOM || rep.ErrorType == errTypeOOM || strings.Contains(text, "out of memory") ||
		strings.Contains(text, "signal: killed") && rep.MaxMemoryUsedMB >= rep.MemorySizeMB && rep.MemorySizeMB > 0:
		inv.Status, inv.ErrorType = platform.StatusCrash, errTypeOOM
	case le.Type == errTypeExit || rep.ErrorType == errTypeExit || strings.Contains(le.Message, "Runtime exited"):
		inv.Status = platform.StatusCrash
		if inv.ErrorType == "" {
			inv.ErrorType = errTypeExit
		}
	default:
		// The wrapper imports the handler while Lambda initialises it;
		// an exception there is the only other way an error escapes.
		inv.Status = platform.StatusInitError
		if inv.ErrorType == "" {
			inv.ErrorType = "Runtime.Unknown"
		}
	}
}
