package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// RateInfo is what a response's headers said of the provider's rate
// limits. The zero value of a duration means the header was not sent; a
// count of -1 means the same.
type RateInfo struct {
	// RetryAfter is how long the server asked the client to wait before
	// the next request: Retry-After (seconds or an HTTP date) or
	// retry-after-ms, the larger when both are sent.
	RetryAfter time.Duration
	// RemainingRequests and RemainingTokens are the requests and tokens
	// left in the current window (x-ratelimit-remaining-requests,
	// x-ratelimit-remaining-tokens); -1 when not sent.
	RemainingRequests, RemainingTokens int
	// ResetRequests and ResetTokens are how long until the windows of
	// requests and tokens refill (x-ratelimit-reset-requests,
	// x-ratelimit-reset-tokens, in forms such as "1s", "6m0s", "20ms").
	ResetRequests, ResetTokens time.Duration
}

// NoRateInfo is the RateInfo of a response that sent no rate-limit headers.
var NoRateInfo = RateInfo{RemainingRequests: -1, RemainingTokens: -1}

// ParseRateHeaders reads the rate-limit headers of a response received at
// now (which resolves a Retry-After given as an HTTP date). A malformed or
// negative value is ignored, as if it were not sent: a header is advice,
// never a reason to fail a generation.
func ParseRateHeaders(h http.Header, now time.Time) RateInfo {
	r := NoRateInfo
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e9 {
			r.RetryAfter = time.Duration(n * float64(time.Second))
		} else if t, err := http.ParseTime(v); err == nil && t.After(now) {
			r.RetryAfter = t.Sub(now)
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e12 {
			if d := time.Duration(n * float64(time.Millisecond)); d > r.RetryAfter {
				r.RetryAfter = d
			}
		}
	}
	count := func(name string) int {
		n, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	r.RemainingRequests = count("X-Ratelimit-Remaining-Requests")
	r.RemainingTokens = count("X-Ratelimit-Remaining-Tokens")
	r.ResetRequests = parseResetDuration(h.Get("X-Ratelimit-Reset-Requests"))
	r.ResetTokens = parseResetDuration(h.Get("X-Ratelimit-Reset-Tokens"))
	return r
}

// parseResetDuration reads a reset header: a Go-style duration such as
// "1s", "6m0s", "20ms" or "1h2m3.5s", or a bare number of seconds, which
// some compatible servers send. It returns 0 for anything else.
func parseResetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n < 0 || n > 1e9 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// APIError is an HTTP error answer of a model API: its status and what its
// headers said of rate limits. It wraps ErrRetryable for 408, 429 and 5xx.
type APIError struct {
	Provider string
	Status   int
	Rate     RateInfo
	Err      error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %v", e.Provider, e.Status, e.Err)
}

// Unwrap returns the cause and, for a status worth retrying, ErrRetryable.
func (e *APIError) Unwrap() []error {
	errs := []error{e.Err}
	if retryableStatus(e.Status) {
		errs = append(errs, ErrRetryable)
	}
	return errs
}

// retryableStatus reports whether a later attempt may cure an HTTP status.
func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// rateInfoFrom returns what resp's headers say of rate limits; NoRateInfo
// for a nil response.
func rateInfoFrom(resp *http.Response) RateInfo {
	if resp == nil {
		return NoRateInfo
	}
	return ParseRateHeaders(resp.Header, time.Now())
}

// apiError turns an error of a generator into an *APIError when it carries
// an HTTP status, with the rate information rate saw; other errors are
// returned unchanged. It does not classify: the caller wraps it as before.
func apiError(provider string, err error, rate RateInfo) error {
	var have *APIError
	if err == nil || errors.As(err, &have) {
		return err
	}
	status := httpStatus(err)
	if status == 0 {
		return err
	}
	return &APIError{Provider: provider, Status: status, Rate: rate, Err: err}
}

// headerRecorder is an http.RoundTripper that keeps the headers of the
// last response of each request whose context carries a rateSlot, so that
// a generator built on a client library that hides the response (go-openai)
// still reads the rate-limit headers of its answers.
type headerRecorder struct {
	next http.RoundTripper
}

// rateSlot receives the rate information of one request's responses.
type rateSlot struct {
	mu   sync.Mutex
	rate RateInfo
	set  bool
}

type rateSlotKey struct{}

// withRateSlot returns a context whose requests, sent through a
// headerRecorder, leave their rate information in the returned slot.
func withRateSlot(ctx context.Context) (context.Context, *rateSlot) {
	s := &rateSlot{rate: NoRateInfo}
	return context.WithValue(ctx, rateSlotKey{}, s), s
}

// Rate returns the rate information of the last response received.
func (s *rateSlot) Rate() RateInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate
}

func (t headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if s, ok := req.Context().Value(rateSlotKey{}).(*rateSlot); ok && resp != nil {
		rate := rateInfoFrom(resp)
		s.mu.Lock()
		s.rate, s.set = rate, true
		s.mu.Unlock()
	}
	return resp, err
}

// recordingClient returns a copy of c (nil: http.DefaultClient) whose
// transport records rate-limit headers for contexts made by withRateSlot.
func recordingClient(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cp := *c
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if _, ok := next.(headerRecorder); !ok {
		cp.Transport = headerRecorder{next: next}
	}
	return &cp
}

// bedrockRate returns the rate information of a Bedrock call's response:
// of the error's HTTP response when err carries one, else of the raw
// response kept in a successful call's metadata.
func bedrockRate(err error, meta middleware.Metadata) RateInfo {
	var respErr *smithyhttp.ResponseError
	if err != nil {
		if errors.As(err, &respErr) && respErr.Response != nil {
			return rateInfoFrom(respErr.Response.Response)
		}
		return NoRateInfo
	}
	if raw, ok := awsmiddleware.GetRawResponse(meta).(*smithyhttp.Response); ok && raw != nil {
		return rateInfoFrom(raw.Response)
	}
	return NoRateInfo
}
