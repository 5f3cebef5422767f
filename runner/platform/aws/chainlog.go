package aws

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/report"
)

// A stage's invocations are asynchronous: S3 invokes it, and Lambda
// keeps no answer. What faaslab learns of them is in the function's log
// group, which CloudWatch Logs serves with FilterLogEvents: Lambda's
// START and REPORT lines (in the text or the JSON log format) and, when
// the handler returned, the line faaslab's wrapper writes for an S3
// event (eventLinePrefix): the request id, each object's key and S3's
// eventTime, and the wrapper's record without the handler's value.

// eventLinePrefix starts the wrapper's line for an S3 event
// (runner/harness/faaslab_wrapper.py).
const eventLinePrefix = "FAASLAB_S3_EVENT "

// maxChainLog bounds the log text kept per invocation.
const maxChainLog = 64 << 10

// eventLine is the wrapper's line.
type eventLine struct {
	RequestID string `json:"requestId"`
	// Objects are [key, eventTime] pairs, as the event named them.
	Objects [][2]string    `json:"objects"`
	Record  harness.Record `json:"record"`
}

// logInvocation is one invocation as its log tells it.
type logInvocation struct {
	requestID string
	start     time.Time // the START line's time; zero without one
	report    *report.Report
	reportAt  time.Time
	line      *eventLine
	lineAt    time.Time // when Lambda logged the wrapper's line
	log       strings.Builder
}

// readLog returns the invocations that function's log group holds from
// since on, in the order of their streams and times. A log group that
// does not exist yet (no invocation so far) holds none.
func (p *Platform) readLog(ctx context.Context, function string, since time.Time) ([]*logInvocation, error) {
	group := LogGroup(function)
	var events []logtypes.FilteredLogEvent
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &group, StartTime: sdkaws.Int64(since.UnixMilli())}
	for {
		var out *cloudwatchlogs.FilterLogEventsOutput
		err := p.retry(ctx, "read log group "+group, func() error {
			var err error
			out, err = p.logs.FilterLogEvents(ctx, in)
			return err
		})
		var nf *logtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, nil
		}
		if err != nil {
			return nil, withInfrastructure(err)
		}
		events = append(events, out.Events...)
		if out.NextToken == nil || *out.NextToken == "" || (in.NextToken != nil && *in.NextToken == *out.NextToken) {
			break
		}
		in.NextToken = out.NextToken
	}
	return parseLog(events), nil
}

// parseLog groups a log group's events into invocations. An execution
// environment runs one invocation at a time and writes to a stream of
// its own, so within a stream an invocation's lines follow its START
// and end with its REPORT; lines before a START (the init) belong to the
// invocation that follows.
func parseLog(events []logtypes.FilteredLogEvent) []*logInvocation {
	streams := map[string][]logtypes.FilteredLogEvent{}
	var order []string
	for _, e := range events {
		s := sdkaws.ToString(e.LogStreamName)
		if _, ok := streams[s]; !ok {
			order = append(order, s)
		}
		streams[s] = append(streams[s], e)
	}
	var all []*logInvocation
	for _, s := range order {
		evs := streams[s]
		slices.SortStableFunc(evs, func(a, b logtypes.FilteredLogEvent) int {
			return int(sdkaws.ToInt64(a.Timestamp) - sdkaws.ToInt64(b.Timestamp))
		})
		var (
			cur     *logInvocation
			pending strings.Builder
		)
		open := func(id string) {
			cur = &logInvocation{requestID: id}
			cur.log.WriteString(pending.String())
			pending.Reset()
			all = append(all, cur)
		}
		for _, e := range evs {
			msg := unwrap(sdkaws.ToString(e.Message))
			at := time.UnixMilli(sdkaws.ToInt64(e.Timestamp)).UTC()
			if id, ok := startLine(msg); ok {
				open(id)
				cur.start = at
				continue
			}
			if i := strings.Index(msg, eventLinePrefix); i >= 0 {
				var l eventLine
				if json.Unmarshal([]byte(strings.TrimSpace(msg[i+len(eventLinePrefix):])), &l) == nil {
					if cur == nil || cur.report != nil {
						open(l.RequestID)
					}
					cur.line, cur.lineAt = &l, at
					continue
				}
			}
			if rep, ok := report.ParseLine(msg); ok {
				if cur == nil || cur.report != nil || (cur.requestID != "" && cur.requestID != rep.RequestID && !cur.start.IsZero()) {
					open(rep.RequestID)
				}
				cur.requestID, cur.report, cur.reportAt = rep.RequestID, &rep, at
				continue
			}
			b := &pending
			if cur != nil && cur.report == nil {
				b = &cur.log
			}
			if b.Len() < maxChainLog {
				b.WriteString(strings.TrimRight(msg, "\n") + "\n")
			}
		}
	}
	return all
}

// startLine reports whether msg is Lambda's START of an invocation, in
// either log format, and its request id.
func startLine(msg string) (string, bool) {
	msg = strings.TrimSpace(msg)
	if rest, ok := strings.CutPrefix(msg, "START RequestId: "); ok {
		id, _, _ := strings.Cut(rest, " ")
		return strings.TrimSpace(id), id != ""
	}
	if strings.HasPrefix(msg, "{") && strings.Contains(msg, `"platform.start"`) {
		var rec struct {
			Type   string `json:"type"`
			Record struct {
				RequestID string `json:"requestId"`
			} `json:"record"`
		}
		if json.Unmarshal([]byte(msg), &rec) == nil && rec.Type == "platform.start" && rec.Record.RequestID != "" {
			return rec.Record.RequestID, true
		}
	}
	return "", false
}

// finished says the invocation has ended: Lambda wrote its REPORT.
func (li *logInvocation) finished() bool { return li.report != nil }

// failed says the invocation ended without the handler returning: a
// timeout, a crash, a failed init.
func (li *logInvocation) failed() bool {
	return li.report != nil && li.report.Status != "" && li.report.Status != report.StatusSuccess
}

// invocation is what li tells of the invocation of fn: Lambda's REPORT
// figures, and the wrapper's record (validated like a synchronous
// invocation's) or Lambda's failure. An asynchronous invocation has no
// round trip; Start is the START line's time.
func (li *logInvocation) invocation(fn platform.Function) platform.Invocation {
	inv := platform.Invocation{RequestID: li.requestID, Start: li.start, Log: li.log.String()}
	rep := report.Report{}
	if li.report != nil {
		rep = *li.report
		inv.Duration, inv.BilledDuration = rep.Duration, rep.BilledDuration
		inv.MaxMemoryUsedMB, inv.Cold = rep.MaxMemoryUsedMB, rep.Cold()
		if inv.Start.IsZero() {
			inv.Start = li.reportAt.Add(-rep.Duration)
		}
	}
	switch {
	case li.failed() || li.line == nil && li.report != nil:
		classify(&inv, errorPayload(inv.Log), rep, fn)
	case li.line != nil:
		rec := li.line.Record
		if rec.Error == nil {
			rec.Result = json.RawMessage("null") // the value is not logged
		}
		bound := maxTimeout
		if li.report != nil {
			bound = rep.Duration + time.Millisecond // REPORT rounds to 10 µs
			rec.Metrics.InitNS = 0                  // Lambda's Init Duration is the init
		}
		if err := rec.Validate(bound, bound); err != nil {
			inv.Status, inv.ErrorType = platform.StatusError, errTypeProtocol
			inv.ErrorMessage = "invalid record from faaslab's wrapper (did the function tamper with it?): " + err.Error()
			break
		}
		rec.Result = nil
		rec.Apply(&inv)
		if li.report == nil {
			inv.Cold = rec.Metrics.Cold
		}
		if inv.Start.IsZero() {
			inv.Start = li.lineAt.Add(-inv.Duration)
		}
		inv.Status = platform.StatusOK
		if rec.Error != nil {
			inv.Status = platform.StatusError
		}
	}
	if li.report != nil {
		inv.InitDuration, inv.RestoreDuration = rep.InitDuration, rep.RestoreDuration
	}
	return inv
}

// errorPayload is Lambda's error for a failed invocation as its log
// tells it, in the shape of a synchronous invocation's error payload:
// the runtime's JSON error line, or its "[ERROR] Type: message" line.
func errorPayload(log string) []byte {
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "{") && strings.Contains(line, `"errorType"`) {
			var le lambdaError
			if json.Unmarshal([]byte(line), &le) == nil && le.Type != "" {
				return []byte(line)
			}
		}
		if _, rest, ok := strings.Cut(line, "[ERROR] "); ok {
			typ, msg, _ := strings.Cut(rest, ": ")
			b, _ := json.Marshal(lambdaError{Type: strings.TrimSpace(typ), Message: strings.TrimSpace(msg)})
			return b
		}
		if i := strings.Index(line, "Task timed out after"); i >= 0 {
			b, _ := json.Marshal(lambdaError{Type: errTypeTimeout, Message: line[i:]})
			return b
		}
	}
	return nil
}

// unwrap is the text of a log event that a JSON log format wrapped in a
// record's "message" field, or msg itself.
func unwrap(msg string) string {
	t := strings.TrimSpace(msg)
	if !strings.HasPrefix(t, "{") || !strings.Contains(t, eventLinePrefix) {
		return msg
	}
	var rec struct {
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(t), &rec) == nil && strings.Contains(rec.Message, eventLinePrefix) {
		return rec.Message
	}
	return msg
}
