package report

import (
	"strings"
	"testing"
	"time"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

var lineTests = []struct {
	name string
	line string
	want Report
	ok   bool
}{
	{
		name: "text cold",
		line: "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.10 ms\t",
		want: Report{RequestID: "3604209a-e9a3-11e6-939a-754dd98c7be3", Duration: ms(12.34), BilledDuration: ms(13),
			MemorySizeMB: 128, MaxMemoryUsedMB: 70, InitDuration: ms(150.1), Status: StatusSuccess},
		ok: true,
	},
	{
		name: "text warm",
		line: "REPORT RequestId: 8b1d5c1e-0c3f-4a55-9d7e-2f0d6a1b9c44\tDuration: 1.02 ms\tBilled Duration: 2 ms\tMemory Size: 3008 MB\tMax Memory Used: 51 MB",
		want: Report{RequestID: "8b1d5c1e-0c3f-4a55-9d7e-2f0d6a1b9c44", Duration: ms(1.02), BilledDuration: ms(2),
			MemorySizeMB: 3008, MaxMemoryUsedMB: 51, Status: StatusSuccess},
		ok: true,
	},
	{
		name: "text cold, spaces instead of tabs",
		line: "REPORT RequestId: abc Duration: 100.00 ms Billed Duration: 100 ms Memory Size: 512 MB Max Memory Used: 90 MB Init Duration: 1.50 ms",
		want: Report{RequestID: "abc", Duration: ms(100), BilledDuration: ms(100), MemorySizeMB: 512, MaxMemoryUsedMB: 90,
			InitDuration: ms(1.5), Status: StatusSuccess},
		ok: true,
	},
	{
		name: "text timeout",
		line: "REPORT RequestId: 5c9d1c83-1b8b-4cd4-9b3f-a9d9f0c3e111\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 512 MB\tMax Memory Used: 40 MB\tStatus: timeout",
		want: Report{RequestID: "5c9d1c83-1b8b-4cd4-9b3f-a9d9f0c3e111", Duration: ms(1000), BilledDuration: ms(1000),
			MemorySizeMB: 512, MaxMemoryUsedMB: 40, Status: StatusTimeout},
		ok: true,
	},
	{
		name: "text out of memory",
		line: "REPORT RequestId: 0f1e2d3c-aaaa-bbbb-cccc-000000000001\tDuration: 812.55 ms\tBilled Duration: 813 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory",
		want: Report{RequestID: "0f1e2d3c-aaaa-bbbb-cccc-000000000001", Duration: ms(812.55), BilledDuration: ms(813),
			MemorySizeMB: 128, MaxMemoryUsedMB: 128, Status: StatusError, ErrorType: "Runtime.OutOfMemory"},
		ok: true,
	},
	{
		name: "text SnapStart restore",
		line: "REPORT RequestId: 9a8b7c6d-1111-2222-3333-444455556666\tDuration: 20.31 ms\tBilled Duration: 232 ms\tMemory Size: 1024 MB\tMax Memory Used: 95 MB\tRestore Duration: 474.16 ms\tBilled Restore Duration: 211 ms",
		want: Report{RequestID: "9a8b7c6d-1111-2222-3333-444455556666", Duration: ms(20.31), BilledDuration: ms(232),
			MemorySizeMB: 1024, MaxMemoryUsedMB: 95, RestoreDuration: ms(474.16), BilledRestoreDuration: ms(211), Status: StatusSuccess},
		ok: true,
	},
	{
		name: "text with X-Ray fields",
		line: "REPORT RequestId: r1\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\nXRAY TraceId: 1-5e1b4151-5ac6c58f5b5daa6532e4b8e3\tSegmentId: 6f2ec3fc4ad9f1e5\tSampled: true",
		want: Report{RequestID: "r1", Duration: ms(3), BilledDuration: ms(3), MemorySizeMB: 128, MaxMemoryUsedMB: 60, Status: StatusSuccess},
		ok:   true,
	},
	{
		name: "json cold",
		line: `{"time":"2026-12-02T07:00:00.123Z","type":"platform.report","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","metrics":{"durationMs":12.34,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":70,"initDurationMs":150.1},"status":"success"}}`,
		want: Report{RequestID: "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", Duration: ms(12.34), BilledDuration: ms(13),
			MemorySizeMB: 128, MaxMemoryUsedMB: 70, InitDuration: ms(150.1), Status: StatusSuccess},
		ok: true,
	},
	{
		name: "json warm",
		line: `{"time":"2026-12-02T07:00:01.000Z","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":0.87,"billedDurationMs":1,"memorySizeMB":1769,"maxMemoryUsedMB":52},"status":"success"}}`,
		want: Report{RequestID: "r2", Duration: ms(0.87), BilledDuration: ms(1), MemorySizeMB: 1769, MaxMemoryUsedMB: 52, Status: StatusSuccess},
		ok:   true,
	},
	{
		name: "json timeout",
		line: `{"time":"2026-12-02T07:00:02.000Z","type":"platform.report","record":{"requestId":"r3","metrics":{"durationMs":3000.0,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":45},"status":"timeout"}}`,
		want: Report{RequestID: "r3", Duration: ms(3000), BilledDuration: ms(3000), MemorySizeMB: 128, MaxMemoryUsedMB: 45, Status: StatusTimeout},
		ok:   true,
	},
	{
		name: "json error with type",
		line: `{"time":"2026-12-02T07:00:03.000Z","type":"platform.report","record":{"requestId":"r4","metrics":{"durationMs":5.5,"billedDurationMs":6,"memorySizeMB":256,"maxMemoryUsedMB":256},"status":"error","errorType":"Runtime.ExitError"}}`,
		want: Report{RequestID: "r4", Duration: ms(5.5), BilledDuration: ms(6), MemorySizeMB: 256, MaxMemoryUsedMB: 256,
			Status: StatusError, ErrorType: "Runtime.ExitError"},
		ok: true,
	},
	{
		name: "json SnapStart restore",
		line: `{"time":"2026-12-02T07:00:04.000Z","type":"platform.report","record":{"requestId":"r5","metrics":{"durationMs":20.31,"billedDurationMs":232,"memorySizeMB":1024,"maxMemoryUsedMB":95,"restoreDurationMs":474.16,"billedRestoreDurationMs":211},"status":"success","tracing":{"spanId":"x","type":"X-Amzn-Trace-Id","value":"Root=1"}}}`,
		want: Report{RequestID: "r5", Duration: ms(20.31), BilledDuration: ms(232), MemorySizeMB: 1024, MaxMemoryUsedMB: 95,
			RestoreDuration: ms(474.16), BilledRestoreDuration: ms(211), Status: StatusSuccess},
		ok: true,
	},
	{name: "json other event", line: `{"time":"2026-12-02T07:00:00.000Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}}`},
	{name: "json report without metrics", line: `{"time":"x","type":"platform.report","record":{"requestId":"r1","status":"success"}}`},
	{name: "json broken", line: `{"time":"x","type":"platform.report","record":{"requestId":"r1","metr`},
	{name: "START line", line: "START RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3 Version: $LATEST"},
	{name: "function output mentioning REPORT", line: "processing REPORT RequestId: x Duration: 1 ms"},
	{name: "cut text line", line: "REPORT RequestId: r9\tDuration: 12.34 ms\tBill"},
	{name: "bad number", line: "REPORT RequestId: r9\tDuration: twelve ms\tBilled Duration: 13 ms\tMemory Size: 128 MB"},
	{name: "negative", line: "REPORT RequestId: r9\tDuration: -1.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB"},
	{name: "no unit", line: "REPORT RequestId: r9\tDuration: 1.00\tBilled Duration: 13 ms\tMemory Size: 128 MB"},
	{name: "empty", line: ""},
	{name: "garbage", line: "\x00\xff{REPORT"},
}

func TestParseLine(t *testing.T) {
	for _, tc := range lineTests {
		got, ok := ParseLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: ParseLine = %+v, %v\nwant %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCold(t *testing.T) {
	for _, tc := range lineTests {
		if !tc.ok {
			continue
		}
		want := strings.Contains(tc.name, "cold") || strings.Contains(tc.name, "SnapStart")
		if tc.want.Cold() != want {
			t.Errorf("%s: Cold() = %v, want %v", tc.name, tc.want.Cold(), want)
		}
	}
}

// TestFindTail finds the REPORT at the end of a whole log tail as Invoke
// returns it, in both formats.
func TestFindTail(t *testing.T) {
	text := "START RequestId: r1 Version: $LATEST\nechoing 42\nEND RequestId: r1\n" +
		"REPORT RequestId: r1\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 512 MB\tMax Memory Used: 41 MB\tInit Duration: 99.00 ms\t\n"
	r, ok := Find(text)
	if !ok || r.RequestID != "r1" || r.InitDuration != ms(99) || r.BilledDuration != ms(3) {
		t.Errorf("text tail: %+v, %v", r, ok)
	}
	js := `{"time":"t","type":"platform.start","record":{"requestId":"r2","version":"$LATEST"}}` + "\n" +
		"plain print output\n" +
		`{"timestamp":"t","level":"INFO","message":"REPORT in a message","requestId":"r2"}` + "\n" +
		`{"time":"t","type":"platform.runtimeDone","record":{"requestId":"r2","status":"success"}}` + "\n" +
		`{"time":"t","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":1.5,"billedDurationMs":2,"memorySizeMB":128,"maxMemoryUsedMB":30},"status":"success"}}` + "\n"
	r, ok = Find(js)
	if !ok || r.RequestID != "r2" || r.Duration != ms(1.5) || r.Cold() {
		t.Errorf("json tail: %+v, %v", r, ok)
	}
	if _, ok := Find("START RequestId: r3\nsomething\n"); ok {
		t.Errorf("found a REPORT in a tail without one")
	}
}

// TestFormatRoundTrip checks that Text and JSON, which the fake Lambda
// server writes, parse back to the same report.
func TestFormatRoundTrip(t *testing.T) {
	for _, tc := range lineTests {
		if !tc.ok {
			continue
		}
		for _, line := range []string{tc.want.Text(), tc.want.JSON(time.Unix(0, 0))} {
			got, ok := ParseLine(line)
			if !ok || got != tc.want {
				t.Errorf("%s: %q parsed as %+v, %v", tc.name, line, got, ok)
			}
		}
	}
}
