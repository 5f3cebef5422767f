package aws

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/faaslab/faaslab/runner/platform"
)

// bucketRule is S3's rule for a bucket name faaslab may give: 3-63
// lowercase letters, digits and single hyphens, starting and ending with
// a letter or digit.
var bucketRule = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9])*$`)

func TestBucketName(t *testing.T) {
	long := strings.Repeat("Pipeline_Cell.", 10)
	seen := map[string]bool{}
	for _, name := range []string{"tcss562-pipeline-c1", "TestChain/Runs-ab12", long, long + "x", "--", "ÄÖ"} {
		b := BucketName(name, "0a1b2c3d")
		if len(b) < 3 || len(b) > 63 || !bucketRule.MatchString(b) || !strings.HasPrefix(b, "faaslab-") {
			t.Errorf("BucketName(%q) = %q: not a valid bucket name", name, b)
		}
		if seen[b] {
			t.Errorf("BucketName(%q) = %q twice", name, b)
		}
		seen[b] = true
	}
	if a, b := BucketName(long, "r"), BucketName(long+"x", "r"); a[:len(a)-7] == b[:len(b)-7] {
		t.Errorf("long names that differ share a base: %s, %s", a, b)
	}
}

func TestCheckChain(t *testing.T) {
	fn := platform.Function{Name: "s"}
	for _, tc := range []struct {
		prefixes []string
		stages   int
		want     string
	}{
		{[]string{"0-in/", "1-a/", "2-b/"}, 2, ""},
		{[]string{"0-in/", "1-a/"}, 2, "2 prefixes for 2 stages"},
		{[]string{"in/", "in/a/", "out/"}, 2, "under stage 0's trigger"},
		{[]string{"in/", "out/", "in/done/"}, 2, "under stage 0's trigger"},
		{[]string{"in/", "out*/", "x/"}, 2, "without *"},
		{[]string{"in/", ""}, 1, "non-empty"},
	} {
		c := platform.Chain{Name: "c", Prefixes: tc.prefixes}
		for range tc.stages {
			c.Stages = append(c.Stages, fn)
		}
		err := checkChain(c)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("prefixes %q: %v, want %q", tc.prefixes, err, tc.want)
		}
	}
}

func event(stream string, ms int64, msg string) logtypes.FilteredLogEvent {
	return logtypes.FilteredLogEvent{LogStreamName: &stream, Timestamp: &ms, Message: sdkaws.String(msg)}
}

// TestParseLog checks that a log group's events become invocations: by
// stream, the wrapper's line and the REPORT with their START (text and
// JSON formats), a failed init's lines before its START, and an
// invocation still running.
func TestParseLog(t *testing.T) {
	line := `FAASLAB_S3_EVENT {"requestId":"r1","objects":[["0-in/run-0001.png","2026-12-02T12:00:00.123Z"]],` +
		`"record":{"metrics":{"duration_ns":5000000,"init_ns":0,"cold":true,"container_id":"0123456789abcdef","cpu_model":"x","arch":"x86_64","max_rss_kb":1,"minor_faults":0,"major_faults":0}}}` + "\n"
	events := []logtypes.FilteredLogEvent{
		event("a", 1000, "INIT_START Runtime Version: python:3.12\n"),
		event("a", 1100, "START RequestId: r1 Version: $LATEST\n"),
		event("a", 1106, line),
		event("a", 1107, "END RequestId: r1\n"),
		event("a", 1107, "REPORT RequestId: r1\tDuration: 6.00 ms\tBilled Duration: 7 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 90.00 ms\n"),
		event("b", 2000, `{"time":"2026-12-02T12:00:02.000Z","type":"platform.start","record":{"requestId":"r2"}}`),
		event("b", 2001, "[ERROR] Runtime.ExitError: exit status 1"),
		event("b", 2500, `{"time":"2026-12-02T12:00:02.500Z","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":500,"billedDurationMs":500,"memorySizeMB":128,"maxMemoryUsedMB":50},"status":"error","errorType":"Runtime.ExitError"}}`),
		event("c", 3000, "START RequestId: r3 Version: $LATEST"),
	}
	invs := parseLog(events)
	if len(invs) != 3 {
		t.Fatalf("%d invocations, want 3", len(invs))
	}
	fn := platform.Function{Timeout: time.Minute}
	r1 := invs[0].invocation(fn)
	if r1.RequestID != "r1" || r1.Status != platform.StatusOK || !r1.Cold || r1.BilledDuration != 7*time.Millisecond ||
		r1.Duration != 5*time.Millisecond || r1.InitDuration != 90*time.Millisecond || r1.MaxMemoryUsedMB != 40 ||
		!r1.Start.Equal(time.UnixMilli(1100)) || !strings.Contains(r1.Log, "INIT_START") {
		t.Errorf("r1: %+v", r1)
	}
	if at, ok := eventTime(invs[0], "0-in/"); !ok || at.UnixMilli()%1000 != 123 {
		t.Errorf("event time %v %v", at, ok)
	}
	r2 := invs[1].invocation(fn)
	if r2.RequestID != "r2" || r2.Status != platform.StatusCrash || r2.ErrorType != "Runtime.ExitError" || r2.Cold {
		t.Errorf("r2: %+v", r2)
	}
	if invs[2].finished() || invs[2].requestID != "r3" {
		t.Errorf("r3: %+v", invs[2])
	}
	// A timed-out invocation in the text format.
	invs = parseLog([]logtypes.FilteredLogEvent{
		event("d", 1, "START RequestId: r4 Version: $LATEST"),
		event("d", 3001, "2026-12-02T12:00:03.001Z r4 Task timed out after 3.00 seconds"),
		event("d", 3002, "REPORT RequestId: r4\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout"),
	})
	if len(invs) != 1 {
		t.Fatalf("%d invocations, want 1", len(invs))
	}
	if r4 := invs[0].invocation(platform.Function{Timeout: 3 * time.Second}); r4.Status != platform.StatusTimeout || r4.ErrorType != errTypeTimeout {
		t.Errorf("r4: %+v", r4)
	}
}

// TestForgedLine checks that a wrapper line claiming more time than
// Lambda reported is a protocol error, not a measurement.
func TestForgedLine(t *testing.T) {
	invs := parseLog([]logtypes.FilteredLogEvent{
		event("a", 1, "START RequestId: r1 Version: $LATEST"),
		event("a", 2, `FAASLAB_S3_EVENT {"requestId":"r1","objects":[],"record":{"metrics":{"duration_ns":9000000000,"container_id":"0123456789abcdef"}}}`),
		event("a", 3, "REPORT RequestId: r1\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB"),
	})
	if inv := invs[0].invocation(platform.Function{}); inv.Status != platform.StatusError || inv.ErrorType != errTypeProtocol {
		t.Errorf("forged line: %+v", inv)
	}
}

// TestWrappedLine checks that the wrapper's line is found when a JSON
// log format wraps stdout in a record.
func TestWrappedLine(t *testing.T) {
	inner := `FAASLAB_S3_EVENT {"requestId":"r1","objects":[["in/a.png","2026-12-02T12:00:00.5Z"]],"record":{"metrics":{"container_id":"0123456789abcdef"}}}`
	b, _ := json.Marshal(map[string]any{"timestamp": "2026-12-02T12:00:00.6Z", "level": "INFO", "message": inner})
	invs := parseLog([]logtypes.FilteredLogEvent{event("a", 1, "START RequestId: r1 Version: $LATEST"), event("a", 2, string(b))})
	if len(invs) != 1 || invs[0].line == nil || invs[0].line.RequestID != "r1" {
		t.Fatalf("wrapped line not found: %+v", invs)
	}
}
