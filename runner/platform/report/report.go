// Package report reads the REPORT that AWS Lambda writes at the end of
// every invocation's log, in either of Lambda's log formats: the text
// line ("REPORT RequestId: ... Duration: 12.34 ms Billed Duration: 13 ms
// ...") and the JSON platform.report record. Lambda returns the log's
// last 4 KB with an invocation when asked (LogType Tail), so the figures
// only Lambda knows (billed duration, peak memory, init and restore
// durations, the invocation's status) reach faaslab without CloudWatch.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Report is one invocation's REPORT. Durations are zero when Lambda did
// not report them: InitDuration is set only on a cold start (the first
// invocation of a new execution environment), RestoreDuration only on a
// SnapStart restore.
type Report struct {
	RequestID             string
	Duration              time.Duration
	BilledDuration        time.Duration
	MemorySizeMB          int
	MaxMemoryUsedMB       int
	InitDuration          time.Duration
	RestoreDuration       time.Duration
	BilledRestoreDuration time.Duration
	// Status is "success" unless Lambda said otherwise: "timeout",
	// "error" or "failure" (the text format names a status only when it
	// is not success).
	Status string
	// ErrorType is Lambda's error type for a failed invocation, e.g.
	// "Runtime.ExitError" or "Runtime.OutOfMemory".
	ErrorType string
}

// Statuses Lambda reports.
const (
	StatusSuccess = "success"
	StatusTimeout = "timeout"
	StatusError   = "error"
	StatusFailure = "failure"
)

// Cold reports whether the invocation started a new execution
// environment: Lambda reports an init (or, with SnapStart, a restore)
// duration only then.
func (r Report) Cold() bool { return r.InitDuration > 0 || r.RestoreDuration > 0 }

// Find returns the last REPORT in log, a log tail in either format, and
// whether there was one. A log of several invocations yields the last
// one's, which is the invocation whose tail it is.
func Find(log string) (Report, bool) {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if r, ok := ParseLine(lines[i]); ok {
			return r, true
		}
	}
	return Report{}, false
}

// ParseLine parses one log line holding a REPORT in either format. It
// reports false for any other line, and for a REPORT without the fields
// Lambda always writes (request id, duration, billed duration, memory
// size): a tail cut in the middle of the line is no report.
func ParseLine(line string) (Report, bool) {
	line = strings.TrimSpace(line)
	var (
		r   Report
		err error
	)
	switch {
	case strings.HasPrefix(line, "REPORT "):
		r, err = parseText(line)
	case strings.HasPrefix(line, "{") && strings.Contains(line, `"platform.report"`):
		r, err = parseJSON(line)
	default:
		return Report{}, false
	}
	if err != nil {
		return Report{}, false
	}
	return r, true
}

// textField matches a field name of the text format. Names that end
// with another name come first, and a name starts the line or follows
// white space, so "Billed Duration:" is not read as "Duration:".
var textField = regexp.MustCompile(`(?:^|\s)(Billed Restore Duration|Restore Duration|Billed Duration|Init Duration|` +
	`Max Memory Used|Memory Size|Error Type|Duration|RequestId|Status|XRAY TraceId|SegmentId|Sampled):`)

// parseText parses the text format: fields "Name: value [unit]" after
// "REPORT ", separated by tabs (or spaces, as copies of the line often
// have them).
func parseText(line string) (Report, error) {
	r := Report{Status: StatusSuccess}
	rest := strings.TrimPrefix(line, "REPORT ")
	matches := textField.FindAllStringSubmatchIndex(rest, -1)
	seen := map[string]bool{}
	for i, m := range matches {
		end := len(rest)
		if i+1 < len(matches) {
			end = matches[i+1][0]
		}
		name := rest[m[2]:m[3]]
		value, _, _ := strings.Cut(rest[m[1]:end], "\t")
		value = strings.TrimSpace(value)
		if seen[name] {
			return r, fmt.Errorf("%s twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "RequestId":
			r.RequestID = value
		case "Duration":
			r.Duration, err = millis(value)
		case "Billed Duration":
			r.BilledDuration, err = millis(value)
		case "Memory Size":
			r.MemorySizeMB, err = megabytes(value)
		case "Max Memory Used":
			r.MaxMemoryUsedMB, err = megabytes(value)
		case "Init Duration":
			r.InitDuration, err = millis(value)
		case "Restore Duration":
			r.RestoreDuration, err = millis(value)
		case "Billed Restore Duration":
			r.BilledRestoreDuration, err = millis(value)
		case "Status":
			r.Status = value
		case "Error Type":
			r.ErrorType = value
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, name := range []string{"RequestId", "Duration", "Billed Duration", "Memory Size"} {
		if !seen[name] {
			return r, fmt.Errorf("no %s", name)
		}
	}
	if r.RequestID == "" {
		return r, fmt.Errorf("empty RequestId")
	}
	return r, nil
}

func millis(v string) (time.Duration, error) {
	num, ok := strings.CutSuffix(v, " ms")
	if !ok {
		return 0, fmt.Errorf("%q is not in ms", v)
	}
	return fromMillis(num)
}

func fromMillis(num string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("bad duration %q", num)
	}
	return time.Duration(math.Round(f * float64(time.Millisecond))), nil
}

func megabytes(v string) (int, error) {
	num, ok := strings.CutSuffix(v, " MB")
	if !ok {
		return 0, fmt.Errorf("%q is not in MB", v)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n, nil
}

// record is the JSON format's platform.report event.
type record struct {
	Time   string `json:"time"`
	Type   string `json:"type"`
	Record struct {
		RequestID string `json:"requestId"`
		Metrics   struct {
			DurationMS              *float64 `json:"durationMs"`
			BilledDurationMS        *float64 `json:"billedDurationMs"`
			MemorySizeMB            *int     `json:"memorySizeMB"`
			MaxMemoryUsedMB         int      `json:"maxMemoryUsedMB"`
			InitDurationMS          float64  `json:"initDurationMs"`
			RestoreDurationMS       float64  `json:"restoreDurationMs"`
			BilledRestoreDurationMS float64  `json:"billedRestoreDurationMs"`
		} `json:"metrics"`
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
	} `json:"record"`
}

func parseJSON(line string) (Report, error) {
	var rec record
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return Report{}, err
	}
	m := rec.Record.Metrics
	if rec.Type != "platform.report" || rec.Record.RequestID == "" || m.DurationMS == nil ||
		m.BilledDurationMS == nil || m.MemorySizeMB == nil {
		return Report{}, fmt.Errorf("not a complete platform.report")
	}
	r := Report{RequestID: rec.Record.RequestID, MemorySizeMB: *m.MemorySizeMB, MaxMemoryUsedMB: m.MaxMemoryUsedMB,
		Status: rec.Record.Status, ErrorType: rec.Record.ErrorType}
	if r.Status == "" {
		r.Status = StatusSuccess
	}
	for _, d := range []struct {
		to *time.Duration
		ms float64
	}{{&r.Duration, *m.DurationMS}, {&r.BilledDuration, *m.BilledDurationMS}, {&r.InitDuration, m.InitDurationMS},
		{&r.RestoreDuration, m.RestoreDurationMS}, {&r.BilledRestoreDuration, m.BilledRestoreDurationMS}} {
		v, err := fromMillis(strconv.FormatFloat(d.ms, 'f', -1, 64))
		if err != nil {
			return Report{}, err
		}
		*d.to = v
	}
	if r.MemorySizeMB < 0 || r.MaxMemoryUsedMB < 0 {
		return Report{}, fmt.Errorf("negative memory")
	}
	return r, nil
}

// Text formats r as Lambda's text REPORT line (tab-separated, without
// the trailing newline).
func (r Report) Text() string {
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %s ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		r.RequestID, ms(r.Duration), r.BilledDuration.Milliseconds(), r.MemorySizeMB, r.MaxMemoryUsedMB)
	if r.InitDuration > 0 {
		fmt.Fprintf(&b, "\tInit Duration: %s ms", ms(r.InitDuration))
	}
	if r.RestoreDuration > 0 {
		fmt.Fprintf(&b, "\tRestore Duration: %s ms\tBilled Restore Duration: %d ms", ms(r.RestoreDuration), r.BilledRestoreDuration.Milliseconds())
	}
	if r.Status != "" && r.Status != StatusSuccess {
		fmt.Fprintf(&b, "\tStatus: %s", r.Status)
		if r.ErrorType != "" {
			fmt.Fprintf(&b, "\tError Type: %s", r.ErrorType)
		}
	}
	return b.String()
}

// JSON formats r as Lambda's platform.report record at t.
func (r Report) JSON(t time.Time) string {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*1e-1) / 100 }
	metrics := map[string]any{
		"durationMs":       ms(r.Duration),
		"billedDurationMs": r.BilledDuration.Milliseconds(),
		"memorySizeMB":     r.MemorySizeMB,
		"maxMemoryUsedMB":  r.MaxMemoryUsedMB,
	}
	if r.InitDuration > 0 {
		metrics["initDurationMs"] = ms(r.InitDuration)
	}
	if r.RestoreDuration > 0 {
		metrics["restoreDurationMs"] = ms(r.RestoreDuration)
		metrics["billedRestoreDurationMs"] = r.BilledRestoreDuration.Milliseconds()
	}
	rec := map[string]any{"requestId": r.RequestID, "metrics": metrics, "status": r.Status}
	if r.Status == "" {
		rec["status"] = StatusSuccess
	}
	if r.ErrorType != "" {
		rec["errorType"] = r.ErrorType
	}
	b, _ := json.Marshal(map[string]any{"time": t.UTC().Format("2006-01-02T15:04:05.000Z"), "type": "platform.report", "record": rec})
	return string(b)
}
