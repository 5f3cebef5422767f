package lambdafake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// CloudWatch Logs, as Lambda writes to it: every invocation appends its
// START, output, END and REPORT lines (or the JSON log format's records)
// to the function's log group (/aws/lambda/<name> unless its
// LoggingConfig names another), one event per line, in a log stream per
// execution environment; the group and the stream are created when first
// written. The API is CloudWatch Logs' JSON 1.1 protocol (X-Amz-Target
// Logs_20140328.<op>).

type logGroup struct {
	name    string
	created time.Time
	streams map[string]*logStream
}

type logStream struct {
	name    string
	created time.Time
	events  []logEvent
}

type logEvent struct {
	ts, ingested int64 // milliseconds since the epoch; ingested may be ahead (Options.LogDelay)
	seq          int64 // order of ingestion, server-wide
	message      string
}

// record writes an invocation's log to CloudWatch Logs and notes it for
// Invocations. rec carries the asynchronous fields.
func (s *Server) record(f *function, c Configuration, id string, inv platform.Invocation, out outcome, stream string, rec InvocationRecord) {
	group := "/aws/lambda/" + c.FunctionName
	if c.LoggingConfig != nil && c.LoggingConfig.LogGroup != "" {
		group = c.LoggingConfig.LogGroup
	}
	start := inv.Start
	if start.IsZero() {
		start = time.Now().Add(-inv.Duration)
	}
	end := start.Add(inv.Duration)
	lines := strings.SplitAfter(string(out.log), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.logGroups[group]
	if g == nil {
		g = &logGroup{name: group, created: time.Now(), streams: map[string]*logStream{}}
		s.logGroups[group] = g
	}
	st := g.streams[stream]
	if st == nil {
		st = &logStream{name: stream, created: time.Now()}
		g.streams[stream] = st
	}
	now := time.Now().Add(s.opts.LogDelay).UnixMilli()
	for i, line := range lines {
		ts := start
		if i >= len(lines)-2 { // END and REPORT (or runtimeDone and report)
			ts = end
		}
		s.logSeq++
		st.events = append(st.events, logEvent{ts: ts.UnixMilli(), ingested: now, seq: s.logSeq, message: line})
	}
	rec.Function, rec.RequestID, rec.LogStream = c.FunctionName, id, stream
	rec.Status, rec.FunctionError = string(out.rep.Status), out.functionError
	s.invocations = append(s.invocations, rec)
}

// streamName is a new log stream's name, as Lambda names them.
func streamName() string {
	return time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + strings.ReplaceAll(requestID(), "-", "")
}

// serveLogs answers a CloudWatch Logs call.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.")
	if f := s.take(op, ""); f != nil {
		switch f.Kind {
		case Throttle:
			s.logsError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded (injected)")
			return
		case ServerError:
			s.logsError(w, http.StatusInternalServerError, "ServiceUnavailableException", "The service cannot complete the request (injected)")
			return
		case AccessDenied:
			s.logsError(w, http.StatusBadRequest, "AccessDeniedException",
				"User: arn:aws:iam::"+Account+":user/fake is not authorized to perform: logs:"+op+" (injected)")
			return
		case Drop:
			drop(w)
			return
		}
	}
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupNamePrefix  string   `json:"logGroupNamePrefix"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               int      `json:"limit"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.logsError(w, http.StatusBadRequest, "SerializationException", "Could not parse the request: "+err.Error())
		return
	}
	switch op {
	case "FilterLogEvents":
		s.filterLogEvents(w, in.LogGroupName, in.LogStreamNames, in.LogStreamNamePrefix, in.StartTime, in.EndTime,
			in.FilterPattern, in.NextToken, in.Limit)
	case "DescribeLogGroups":
		s.describeLogGroups(w, in.LogGroupNamePrefix, in.NextToken, in.Limit)
	case "DescribeLogStreams":
		s.describeLogStreams(w, in.LogGroupName, in.LogStreamNamePrefix, in.NextToken, in.Limit)
	case "DeleteLogGroup":
		s.mu.Lock()
		_, ok := s.logGroups[in.LogGroupName]
		delete(s.logGroups, in.LogGroupName)
		s.mu.Unlock()
		if !ok {
			s.logsError(w, http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
			return
		}
		s.logsJSON(w, struct{}{})
	default:
		s.logsError(w, http.StatusBadRequest, "UnknownOperationException", "lambdafake does not implement "+op)
	}
}

func (s *Server) logsJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) logsError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(status)
	w.Write(b)
}

// pageLimit is the page size of a listing asked for limit items, at most
// max and at most Options.LogPageSize.
func (s *Server) pageLimit(limit, max int) int {
	if limit <= 0 || limit > max {
		limit = max
	}
	if s.opts.LogPageSize > 0 && limit > s.opts.LogPageSize {
		limit = s.opts.LogPageSize
	}
	return limit
}

// logEventOut is a FilteredLogEvent.
type logEventOut struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
	ts, seq       int64
}

func (s *Server) filterLogEvents(w http.ResponseWriter, group string, streams []string, streamPrefix string, startTime, endTime *int64,
	pattern, token string, limit int) {
	if len(streams) > 0 && streamPrefix != "" {
		s.logsError(w, http.StatusBadRequest, "InvalidParameterException", "logStreamNames and logStreamNamePrefix cannot both be specified")
		return
	}
	match, err := compilePattern(pattern)
	if err != nil {
		s.logsError(w, http.StatusBadRequest, "InvalidParameterException", "Invalid filter pattern: "+err.Error())
		return
	}
	// The token is where the last page ended: (timestamp, sequence).
	var afterTS, afterSeq int64 = -1 << 62, 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if _, err2 := fmt.Sscanf(string(raw), "%d/%d", &afterTS, &afterSeq); err != nil || err2 != nil {
			s.logsError(w, http.StatusBadRequest, "InvalidParameterException", "The specified nextToken is invalid.")
			return
		}
	}
	want := map[string]bool{}
	for _, n := range streams {
		want[n] = true
	}
	s.mu.Lock()
	g := s.logGroups[group]
	if g == nil {
		s.mu.Unlock()
		s.logsError(w, http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	var events []logEventOut
	visible := time.Now().UnixMilli()
	for _, st := range g.streams {
		if len(want) > 0 && !want[st.name] || !strings.HasPrefix(st.name, streamPrefix) {
			continue
		}
		for _, e := range st.events {
			if startTime != nil && e.ts < *startTime || endTime != nil && e.ts > *endTime {
				continue
			}
			if e.ingested > visible || e.ts < afterTS || e.ts == afterTS && e.seq <= afterSeq || !match(e.message) {
				continue
			}
			events = append(events, logEventOut{LogStreamName: st.name, Timestamp: e.ts, Message: e.message,
				IngestionTime: e.ingested, EventID: fmt.Sprintf("%056d", e.seq), ts: e.ts, seq: e.seq})
		}
	}
	s.mu.Unlock()
	sort.Slice(events, func(i, j int) bool {
		if events[i].ts != events[j].ts {
			return events[i].ts < events[j].ts
		}
		return events[i].seq < events[j].seq
	})
	out := map[string]any{"searchedLogStreams": []any{}}
	if n := s.pageLimit(limit, 10000); len(events) > n {
		events = events[:n]
		last := events[n-1]
		out["nextToken"] = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d/%d", last.ts, last.seq)))
	}
	if events == nil {
		events = []logEventOut{}
	}
	out["events"] = events
	s.logsJSON(w, out)
}

// page returns one page of the names that start with prefix, in order,
// after token (the last name of the page before), and sets out's
// nextToken when more follow: how DescribeLogGroups and
// DescribeLogStreams page.
func (s *Server) page(names []string, prefix, token string, limit int, out map[string]any) []string {
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, prefix) || n <= token })
	slices.Sort(names)
	if n := s.pageLimit(limit, 50); len(names) > n {
		names = names[:n]
		out["nextToken"] = names[n-1]
	}
	return names
}

func (s *Server) describeLogGroups(w http.ResponseWriter, prefix, token string, limit int) {
	s.mu.Lock()
	out := map[string]any{}
	names := s.page(slices.Collect(maps.Keys(s.logGroups)), prefix, token, limit, out)
	groups := []map[string]any{}
	for _, n := range names {
		g := s.logGroups[n]
		var size int
		for _, st := range g.streams {
			for _, e := range st.events {
				size += len(e.message)
			}
		}
		arn := "arn:aws:logs:" + Region + ":" + Account + ":log-group:" + n
		groups = append(groups, map[string]any{"logGroupName": n, "creationTime": g.created.UnixMilli(),
			"metricFilterCount": 0, "arn": arn + ":*", "logGroupArn": arn, "storedBytes": size, "logGroupClass": "STANDARD"})
	}
	s.mu.Unlock()
	out["logGroups"] = groups
	s.logsJSON(w, out)
}

func (s *Server) describeLogStreams(w http.ResponseWriter, group, prefix, token string, limit int) {
	s.mu.Lock()
	g := s.logGroups[group]
	if g == nil {
		s.mu.Unlock()
		s.logsError(w, http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	out := map[string]any{}
	names := s.page(slices.Collect(maps.Keys(g.streams)), prefix, token, limit, out)
	streams := []map[string]any{}
	for _, n := range names {
		st := g.streams[n]
		m := map[string]any{"logStreamName": n, "creationTime": st.created.UnixMilli(),
			"arn": "arn:aws:logs:" + Region + ":" + Account + ":log-group:" + group + ":log-stream:" + n, "storedBytes": 0}
		if k := len(st.events); k > 0 {
			m["firstEventTimestamp"], m["lastEventTimestamp"] = st.events[0].ts, st.events[k-1].ts
			m["lastIngestionTime"] = st.events[k-1].ingested
		}
		streams = append(streams, m)
	}
	s.mu.Unlock()
	out["logStreams"] = streams
	s.logsJSON(w, out)
}

// compilePattern turns a CloudWatch Logs filter pattern into a matcher.
// It knows the patterns of unstructured events: terms that must all
// appear (case-sensitive), "quoted phrases", ?terms of which one must
// appear, and -terms that must not; and JSON patterns of equalities and
// inequalities of string or number fields joined by && or ||
// ({ $.type = "platform.report" }).
func compilePattern(p string) (func(string) bool, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return func(string) bool { return true }, nil
	}
	if strings.HasPrefix(p, "{") {
		return compileJSONPattern(p)
	}
	var all, any, none []string
	for p != "" {
		kind := byte(0)
		if p[0] == '?' || p[0] == '-' {
			kind, p = p[0], p[1:]
		}
		var term string
		if strings.HasPrefix(p, `"`) {
			end := strings.Index(p[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			term, p = p[1:end+1], p[end+2:]
		} else {
			i := strings.IndexAny(p, " \t")
			if i < 0 {
				i = len(p)
			}
			term, p = p[:i], p[i:]
		}
		p = strings.TrimSpace(p)
		switch kind {
		case '?':
			any = append(any, term)
		case '-':
			none = append(none, term)
		default:
			all = append(all, term)
		}
	}
	return func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(any) == 0 {
			return true
		}
		for _, t := range any {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}, nil
}

// compileJSONPattern compiles { $.a.b = "x" && $.n != 3 || ... }: &&
// binds tighter than ||; no parentheses.
func compileJSONPattern(p string) (func(string) bool, error) {
	body := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(p, "{"), "}"))
	type cond struct {
		path  []string
		neq   bool
		value string
	}
	var alts [][]cond
	for _, alt := range strings.Split(body, "||") {
		var conds []cond
		for _, c := range strings.Split(alt, "&&") {
			c = strings.TrimSpace(c)
			op := "="
			i := strings.Index(c, "!=")
			if i >= 0 {
				op = "!="
			} else if i = strings.Index(c, "="); i < 0 {
				return nil, fmt.Errorf("%q: want $.field = value or $.field != value", c)
			}
			field := strings.TrimSpace(c[:i])
			if !strings.HasPrefix(field, "$.") {
				return nil, fmt.Errorf("%q: a field starts with $.", c)
			}
			v := strings.TrimSpace(c[i+len(op):])
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			conds = append(conds, cond{path: strings.Split(field[2:], "."), neq: op == "!=", value: v})
		}
		alts = append(alts, conds)
	}
	return func(msg string) bool {
		var doc any
		if json.Unmarshal([]byte(msg), &doc) != nil {
			return false
		}
		for _, conds := range alts {
			ok := true
			for _, c := range conds {
				v := doc
				for _, k := range c.path {
					m, _ := v.(map[string]any)
					v = m[k]
				}
				got := ""
				switch x := v.(type) {
				case string:
					got = x
				case float64:
					got = strconv.FormatFloat(x, 'f', -1, 64)
				case bool:
					got = strconv.FormatBool(x)
				case nil:
					ok = ok && c.neq
					continue
				}
				if (got == c.value) == c.neq {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

// LogGroups lists the log groups that exist, sorted by name.
func (s *Server) LogGroups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.logGroups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LogEvents returns the messages of a log group's events, in time order
// (nil when the group does not exist).
func (s *Server) LogEvents(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.logGroups[group]
	if g == nil {
		return nil
	}
	var all []logEvent
	for _, st := range g.streams {
		all = append(all, st.events...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ts != all[j].ts {
			return all[i].ts < all[j].ts
		}
		return all[i].seq < all[j].seq
	})
	out := make([]string, len(all))
	for i, e := range all {
		out[i] = e.message
	}
	return out
}
