package harness

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

// runWrapper imports handler.py (source) with the wrapper outside any
// sandbox, invokes it once with event and returns the record, as the
// bootstrap would post it. A load failure yields the init error record.
func runWrapper(t *testing.T, source, event string) Record {
	t.Helper()
	var rec Record
	out := runWrapperJSON(t, source, true)
	if err := json.Unmarshal(out, &rec); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return rec
}

// runWrapperJSON is runWrapper's record as JSON, from a wrapper that
// samples the host's CPU or not.
func runWrapperJSON(t *testing.T, source string, hostCPU bool) []byte {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no %s: %v", python, err)
	}
	runtimeDir, taskDir, stateDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := WriteDir(runtimeDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taskDir, "handler.py"), []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	driver := `
import sys
sys.path.insert(0, sys.argv[1])
import faaslab_wrapper
w = faaslab_wrapper.new(sys.argv[3], host_cpu=sys.argv[4] == "true")
out = sys.stdout
try:
    fn = w.load("handler.handler", sys.argv[2])
except faaslab_wrapper.InitError as e:
    out.write(w.to_json(e.record, None))
    raise SystemExit(0)
record, text, _ = w.measure(fn, {"x": 1}, None)
out.write(w.to_json(record, text))
`
	cmd := exec.Command(python, "-B", "-c", driver, runtimeDir, taskDir, stateDir, strconv.FormatBool(hostCPU))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wrapper: %v", err)
	}
	return out
}

// TestWrapperHostCPU checks that the wrapper samples the host's CPU
// around the handler, unless the platform does (host_cpu=False, the
// bootstrap's BootstrapNoHostCPU): then the record has no such figures.
func TestWrapperHostCPU(t *testing.T) {
	busy := "import time\ndef handler(e, c):\n    end = time.process_time() + 0.05\n    while time.process_time() < end:\n        pass\n    return 1\n"
	keys := []string{"cpu_user_s", "cpu_system_s", "cpu_idle_s", "cpu_iowait_s", "cpu_steal_s"}
	for _, hostCPU := range []bool{true, false} {
		var rec struct {
			Metrics map[string]any `json:"metrics"`
		}
		out := runWrapperJSON(t, busy, hostCPU)
		if err := json.Unmarshal(out, &rec); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		for _, k := range keys {
			if _, ok := rec.Metrics[k]; ok != hostCPU {
				t.Errorf("host_cpu=%v: metric %s present %v in %s", hostCPU, k, ok, out)
			}
		}
		if user, _ := rec.Metrics["cpu_user_s"].(float64); hostCPU && user+rec.Metrics["cpu_system_s"].(float64) <= 0 {
			t.Errorf("host_cpu=true: no host CPU over 50 ms of a busy handler: %s", out)
		}
	}
}

func TestWrapper(t *testing.T) {
	tests := []struct {
		name, source string
		result       string // want Result, when the call succeeds
		errType      string // want Error.Type otherwise
		errText      string // and a piece of its message
		init         bool   // the failure is an init error
	}{
		{name: "value", source: "def handler(e, c):\n    return {'got': e['x'], 'pi': 3.5}\n",
			result: `{"got":1,"pi":3.5}`},
		{name: "none", source: "def handler(e, c):\n    return None\n", result: `null`},
		{name: "exception", source: "def handler(e, c):\n    raise ValueError('boom')\n",
			errType: "ValueError", errText: "boom"},
		{name: "not serialisable", source: "def handler(e, c):\n    return {1, 2}\n",
			errType: "Runtime.MarshalError", errText: "set"},
		{name: "nan", source: "def handler(e, c):\n    return float('nan')\n",
			errType: "Runtime.MarshalError", errText: "Out of range"},
		{name: "too large", source: "def handler(e, c):\n    return 'x' * 7000000\n",
			errType: "Function.ResponseSizeTooLarge", errText: "exceeded"},
		{name: "unprintable exception", source: "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\ndef handler(e, c):\n    raise E()\n",
			errType: "E", errText: "could not be printed"},
		{name: "syntax error", source: "def handler(e, c)\n    return 1\n",
			errType: "Runtime.UserCodeSyntaxError", init: true},
		{name: "import error", source: "import no_such_module_faaslab\n",
			errType: "Runtime.ImportModuleError", errText: "no_such_module_faaslab", init: true},
		{name: "raises at import", source: "raise KeyError('cfg')\n",
			errType: "KeyError", errText: "cfg", init: true},
		{name: "no handler", source: "def other(e, c):\n    return 1\n",
			errType: "Runtime.HandlerNotFound", init: true},
		{name: "tampering", source: `
import json, time, sys, io, faaslab_wrapper
json.dumps = lambda *a, **k: '"forged"'
json.JSONEncoder.encode = lambda self, o: '"forged"'
json.JSONEncoder.iterencode = lambda self, o, _one_shot=False: iter(['"forged"'])
json.JSONDecoder.decode = lambda self, s: {"forged": True}
time.perf_counter_ns = lambda: 0
faaslab_wrapper.MAX_RESPONSE_BYTES = 1
faaslab_wrapper.new = None
sys.stdout = io.StringIO()
def handler(e, c):
    time.sleep(0.01)
    return {"honest": True}
`, result: `{"honest":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := runWrapper(t, tt.source, `{"x":1}`)
			roundTrip := time.Minute
			initBound := time.Duration(0)
			if rec.Metrics.Cold {
				initBound = time.Minute
			}
			if err := rec.Validate(roundTrip, initBound); err != nil {
				t.Fatalf("Validate: %v (%+v)", err, rec)
			}
			if !rec.Metrics.Cold || rec.Metrics.ContainerID == "" || rec.Metrics.Arch == "" || rec.Metrics.CPUModel == "" {
				t.Errorf("metrics = %+v, want a cold call with container and CPU facts", rec.Metrics)
			}
			if tt.errType == "" {
				if rec.Error != nil || string(rec.Result) != tt.result {
					t.Fatalf("got result %s error %+v, want result %s", rec.Result, rec.Error, tt.result)
				}
				if rec.Metrics.MaxRSSKB <= 0 {
					t.Errorf("max RSS %d, want > 0", rec.Metrics.MaxRSSKB)
				}
				if tt.name == "tampering" && rec.Metrics.DurationNS < int64(10*time.Millisecond) {
					t.Errorf("duration %v, want >= 10ms: the clock was tampered with", time.Duration(rec.Metrics.DurationNS))
				}
				return
			}
			if rec.Error == nil || rec.Error.Type != tt.errType || !strings.Contains(rec.Error.Message, tt.errText) {
				t.Fatalf("got error %+v, want %s containing %q", rec.Error, tt.errType, tt.errText)
			}
			if tt.init && rec.Metrics.InitNS <= 0 {
				t.Errorf("init error without init duration: %+v", rec.Metrics)
			}
		})
	}
}

func TestRecordValidate(t *testing.T) {
	good := func() Record {
		return Record{Result: json.RawMessage(`1`), Metrics: Metrics{
			DurationNS: int64(time.Millisecond), ContainerID: "0123456789abcdef", CPUModel: "x", Arch: "x86_64",
		}}
	}
	tests := []struct {
		name   string
		change func(*Record)
		ok     bool
	}{
		{"good", func(*Record) {}, true},
		{"no result nor error", func(r *Record) { r.Result = nil }, false},
		{"both", func(r *Record) { r.Error = &Error{Type: "E"} }, false},
		{"longer than round trip", func(r *Record) { r.Metrics.DurationNS = int64(time.Hour) }, false},
		{"negative duration", func(r *Record) { r.Metrics.DurationNS = -1 }, false},
		{"init on a warm call", func(r *Record) { r.Metrics.InitNS = 1 }, false},
		{"bad container id", func(r *Record) { r.Metrics.ContainerID = "../../x" }, false},
		{"negative CPU", func(r *Record) { r.Metrics.CPUUser = -1 }, false},
		{"negative faults", func(r *Record) { r.Metrics.MinorFaults = -1 }, false},
		{"error without type", func(r *Record) { r.Result = nil; r.Error = &Error{} }, false},
	}
	for _, tt := range tests {
		r := good()
		tt.change(&r)
		if err := r.Validate(time.Second, 0); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
