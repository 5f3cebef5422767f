package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/faaslab/faaslab/runner/platform"
)

// maxRetryAfter caps the wait Lambda asks for with Retry-After.
const maxRetryAfter = time.Minute

// retry calls op until it succeeds, fails for good, or p.opts.Attempts
// tries failed in ways a retry may cure: throttling (waiting as long as
// Lambda's Retry-After says), a conflict with an update in progress, a
// function not ready yet, a 5xx, a network failure. After the last try
// the error wraps platform.ErrInfrastructure; errors no retry can cure
// (access denied, a bad parameter) are returned at once as they are.
// what names the call in the error.
func (p *Platform) retry(ctx context.Context, what string, op func() error) error {
	wait := p.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = op()
		if err == nil {
			return nil
		}
		after, ok := p.retryable(err)
		if !ok {
			return fmt.Errorf("%s: %w", what, err)
		}
		if attempt >= p.opts.Attempts {
			break
		}
		if after <= 0 {
			after = wait
			wait = min(2*wait, 20*time.Second)
		}
		p.log.Debug("retrying", "call", what, "attempt", attempt, "wait", after, "error", err)
		timer := time.NewTimer(after)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (after %v)", what, context.Cause(ctx), err)
		}
	}
	return fmt.Errorf("%s: %w: %d attempts: %w", what, platform.ErrInfrastructure, p.opts.Attempts, err)
}

// retryable says whether err may go away when the call is made again,
// and how long Lambda asked to wait first (zero: back off as usual).
func (p *Platform) retryable(err error) (time.Duration, bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	var throttled *types.TooManyRequestsException
	if errors.As(err, &throttled) {
		return retryAfter(throttled.RetryAfterSeconds), true
	}
	var (
		conflict   *types.ResourceConflictException
		notReady   *types.ResourceNotReadyException
		service    *types.ServiceException
		ec2        *types.EC2ThrottledException
		iamLimit   *iamtypes.LimitExceededException
		iamFailure *iamtypes.ServiceFailureException
		conflictI  *iamtypes.ConcurrentModificationException
		invalid    *types.InvalidParameterValueException
	)
	switch {
	case errors.As(err, &conflict), errors.As(err, &notReady), errors.As(err, &service), errors.As(err, &ec2),
		errors.As(err, &iamLimit), errors.As(err, &iamFailure), errors.As(err, &conflictI):
		return 0, true
	case errors.As(err, &invalid):
		// A role faaslab just created is not assumable for a few seconds.
		return 0, !p.roleCreated.IsZero() && time.Since(p.roleCreated) < 2*time.Minute &&
			strings.Contains(sdkMessage(err), "cannot be assumed")
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return 0, true
	}
	if errors.As(err, &resp) && resp.HTTPStatusCode() == 429 {
		return retryAfter(headerPtr(resp.Response.Header.Get("Retry-After"))), true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "Throttling" || api.ErrorCode() == "ThrottlingException" ||
		api.ErrorCode() == "RequestLimitExceeded" || api.ErrorCode() == "SlowDown") {
		return 0, true
	}
	var t transientError
	if errors.As(err, &t) {
		return 0, true
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &send) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return 0, true
	}
	return 0, false
}

func headerPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// retryAfter is a Retry-After value in seconds, capped.
func retryAfter(s *string) time.Duration {
	if s == nil {
		return 0
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(*s), 64)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n*float64(time.Second)), maxRetryAfter)
}

// sdkMessage is the message of an API error, or the error's text.
func sdkMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorMessage()
	}
	return err.Error()
}

// isNotFound reports whether err says the resource does not exist.
func isNotFound(err error) bool {
	var lnf *types.ResourceNotFoundException
	var inf *iamtypes.NoSuchEntityException
	return errors.As(err, &lnf) || errors.As(err, &inf)
}

// transientError marks an error that a call's own context knows to be
// passing (a permission not yet visible to S3, a role policy not yet in
// effect): retry tries the call again.
type transientError struct{ err error }

func (t transientError) Error() string { return t.err.Error() }
func (t transientError) Unwrap() error { return t.err }
