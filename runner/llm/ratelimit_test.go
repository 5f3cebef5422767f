package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseRateHeaders(t *testing.T) {
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name    string
		headers map[string]string
		want    RateInfo
	}{
		{"none", nil, NoRateInfo},
		{"retry-after seconds", map[string]string{"Retry-After": "7"}, RateInfo{RetryAfter: 7 * time.Second, RemainingRequests: -1, RemainingTokens: -1}},
		{"retry-after fractional seconds", map[string]string{"Retry-After": "0.5"}, RateInfo{RetryAfter: 500 * time.Millisecond, RemainingRequests: -1, RemainingTokens: -1}},
		{"retry-after http date", map[string]string{"Retry-After": date(90 * time.Second)}, RateInfo{RetryAfter: 90 * time.Second, RemainingRequests: -1, RemainingTokens: -1}},
		{"retry-after date in the past", map[string]string{"Retry-After": date(-time.Minute)}, NoRateInfo},
		{"retry-after malformed", map[string]string{"Retry-After": "soon"}, NoRateInfo},
		{"retry-after negative", map[string]string{"Retry-After": "-3"}, NoRateInfo},
		{"retry-after-ms", map[string]string{"retry-after-ms": "250"}, RateInfo{RetryAfter: 250 * time.Millisecond, RemainingRequests: -1, RemainingTokens: -1}},
		{"retry-after-ms malformed", map[string]string{"retry-after-ms": "250ms"}, NoRateInfo},
		{"the larger of both", map[string]string{"Retry-After": "1", "retry-after-ms": "1500"}, RateInfo{RetryAfter: 1500 * time.Millisecond, RemainingRequests: -1, RemainingTokens: -1}},
		{"remaining", map[string]string{"x-ratelimit-remaining-requests": "59", "x-ratelimit-remaining-tokens": "149984"},
			RateInfo{RemainingRequests: 59, RemainingTokens: 149984}},
		{"remaining zero", map[string]string{"x-ratelimit-remaining-requests": "0"}, RateInfo{RemainingRequests: 0, RemainingTokens: -1}},
		{"remaining malformed", map[string]string{"x-ratelimit-remaining-requests": "many", "x-ratelimit-remaining-tokens": "-5"}, NoRateInfo},
		{"reset seconds", map[string]string{"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"},
			RateInfo{RemainingRequests: -1, RemainingTokens: -1, ResetRequests: time.Second, ResetTokens: 6 * time.Minute}},
		{"reset milliseconds", map[string]string{"x-ratelimit-reset-requests": "20ms"}, RateInfo{RemainingRequests: -1, RemainingTokens: -1, ResetRequests: 20 * time.Millisecond}},
		{"reset compound", map[string]string{"x-ratelimit-reset-tokens": "1h2m3.5s"},
			RateInfo{RemainingRequests: -1, RemainingTokens: -1, ResetTokens: time.Hour + 2*time.Minute + 3500*time.Millisecond}},
		{"reset bare seconds", map[string]string{"x-ratelimit-reset-requests": "2.5"}, RateInfo{RemainingRequests: -1, RemainingTokens: -1, ResetRequests: 2500 * time.Millisecond}},
		{"reset malformed", map[string]string{"x-ratelimit-reset-requests": "1 minute", "x-ratelimit-reset-tokens": "-1s"}, NoRateInfo},
		{"everything", map[string]string{"Retry-After": "2", "x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": "10",
			"x-ratelimit-reset-requests": "1.2s", "x-ratelimit-reset-tokens": "30ms"},
			RateInfo{RetryAfter: 2 * time.Second, RemainingRequests: 0, RemainingTokens: 10, ResetRequests: 1200 * time.Millisecond, ResetTokens: 30 * time.Millisecond}},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.headers {
			h.Set(k, v)
		}
		if got := ParseRateHeaders(h, now); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestAPIErrorRetryable(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 408: true, 429: true, 500: true, 502: true, 503: true} {
		err := error(&APIError{Provider: "openai", Status: status, Err: errors.New("fake")})
		if got := errors.Is(err, ErrRetryable); got != want {
			t.Errorf("status %d: retryable %v, want %v", status, got, want)
		}
	}
}

// rateLimitedHandler answers every request with 429 and the rate-limit
// headers of OpenAI, as a fake.
func rateLimitedHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3")
		w.Header().Set("x-ratelimit-remaining-requests", "0")
		w.Header().Set("x-ratelimit-reset-requests", "20ms")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, body)
	}
}

func TestOpenAI429CarriesRate(t *testing.T) {
	srv := httptest.NewServer(rateLimitedHandler(`{"error":{"message":"fake rate limit","type":"requests","code":"rate_limit_exceeded"}}`))
	defer srv.Close()
	gen, err := New("openai", fakeEnv, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = gen.Generate(context.Background(), openAIRequest(srv.URL))
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	want := RateInfo{RetryAfter: 3 * time.Second, RemainingRequests: 0, RemainingTokens: -1, ResetRequests: 20 * time.Millisecond}
	if apiErr.Status != 429 || apiErr.Rate != want || !errors.Is(err, ErrRetryable) {
		t.Errorf("got status %d rate %+v retryable %v, want 429 %+v true", apiErr.Status, apiErr.Rate, errors.Is(err, ErrRetryable), want)
	}
}

func TestOpenAISuccessCarriesRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-ratelimit-remaining-requests", "41")
		w.Header().Set("x-ratelimit-remaining-tokens", "9000")
		w.Header().Set("x-ratelimit-reset-tokens", "6m0s")
		io.WriteString(w, fakeCompletion)
	}))
	defer srv.Close()
	gen, _ := New("openai", fakeEnv, srv.Client())
	res, err := gen.Generate(context.Background(), openAIRequest(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	want := RateInfo{RemainingRequests: 41, RemainingTokens: 9000, ResetTokens: 6 * time.Minute}
	if res.Rate != want {
		t.Errorf("rate %+v, want %+v", res.Rate, want)
	}
}

func TestBedrockThrottleCarriesRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"message":"fake throttling"}`)
	}))
	defer srv.Close()
	gen := NewBedrock(fakeAWSConfig(srv.Client()))
	_, err := gen.Generate(context.Background(), bedrockRequest(srv.URL))
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	if apiErr.Status != 429 || apiErr.Rate.RetryAfter != 2*time.Second || !errors.Is(err, ErrRetryable) {
		t.Errorf("got status %d rate %+v retryable %v", apiErr.Status, apiErr.Rate, errors.Is(err, ErrRetryable))
	}
}
