package aws

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPackReproducible checks that the same code gives the same zip and
// CodeSha256 whatever the files' times, modes and the directory's name,
// and that the zip holds the code and the wrapper, sorted, with fixed
// times and modes.
func TestPackReproducible(t *testing.T) {
	files := map[string]string{"handler.py": "def handler(e, c):\n    return 1\n", "lib/util.py": "X = 1\n",
		"inputs/data.json": "{}", "__pycache__/handler.cpython-311.pyc": "junk"}
	a, b := writeFiles(t, files), writeFiles(t, files)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(filepath.Join(b, "handler.py"), old, old)
	os.Chmod(filepath.Join(b, "lib/util.py"), 0o755)
	pa, err := Pack(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Pack(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pa.CodeSha256 != pb.CodeSha256 || !bytes.Equal(pa.Zip, pb.Zip) {
		t.Errorf("the same code packed twice: %s and %s", pa.CodeSha256, pb.CodeSha256)
	}
	zr, err := zip.NewReader(bytes.NewReader(pa.Zip), int64(len(pa.Zip)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(zipTime) || f.Mode().Perm() != 0o644 {
			t.Errorf("%s: time %v mode %v, want fixed", f.Name, f.Modified, f.Mode())
		}
	}
	want := []string{harness.WrapperFile, "handler.py", "inputs/data.json", "lib/util.py"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("entries %v, want %v", names, want)
	}
	os.WriteFile(filepath.Join(b, "handler.py"), []byte("def handler(e, c):\n    return 2\n"), 0o644)
	if pc, _ := Pack(b, nil); pc.CodeSha256 == pa.CodeSha256 {
		t.Errorf("different code, same CodeSha256")
	}
}

func TestPackRefuses(t *testing.T) {
	if _, err := Pack(writeFiles(t, map[string]string{"handler.py": "KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'\n"}),
		[]string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("code holding a credential: %v", err)
	}
	if _, err := Pack(writeFiles(t, map[string]string{harness.WrapperFile: "x"}), nil); err == nil {
		t.Errorf("code with a file named like the wrapper was packed")
	}
}

func TestFunctionName(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	long := strings.Repeat("cell.with spaces/and-more_", 8)
	seen := map[string]bool{}
	for _, name := range []string{"3f2a9c0d11e4b7a2", "Test/Echo héllo", long, long + "x"} {
		got := FunctionName(name, "a1b2c3d4")
		if !valid.MatchString(got) || !strings.HasPrefix(got, "faaslab-") || seen[got] {
			t.Errorf("FunctionName(%q) = %q: want a unique valid Lambda name starting faaslab-", name, got)
		}
		seen[got] = true
	}
	if a, b := FunctionName("same", "r"), FunctionName("same", "r"); a == b {
		t.Errorf("two deployments of one name got the same function name %q", a)
	}
}

// TestClassify checks how Lambda's answers become statuses, for the
// failures the fake cannot produce on a host without limits (out of
// memory), in both log formats.
func TestClassify(t *testing.T) {
	fn := platform.Function{Timeout: 3 * time.Second, MemoryMB: 128}
	tail := func(s string) *string { v := base64.StdEncoding.EncodeToString([]byte(s)); return &v }
	unhandled := "Unhandled"
	for _, tc := range []struct {
		name    string
		out     lambda.InvokeOutput
		status  platform.Status
		errType string
		cold    bool
		billed  time.Duration
	}{
		{
			name: "out of memory, text",
			out: lambda.InvokeOutput{FunctionError: &unhandled,
				Payload:   []byte(`{"errorType":"Runtime.OutOfMemory","errorMessage":"RequestId: r1 Error: Runtime exited with error: signal: killed"}`),
				LogResult: tail("START RequestId: r1 Version: $LATEST\nEND RequestId: r1\nREPORT RequestId: r1\tDuration: 812.55 ms\tBilled Duration: 813 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n")},
			status: platform.StatusCrash, errType: "Runtime.OutOfMemory", billed: 813 * time.Millisecond,
		},
		{
			name: "killed at the memory limit, JSON, no type in the payload",
			out: lambda.InvokeOutput{FunctionError: &unhandled,
				Payload:   []byte(`{"errorMessage":"RequestId: r2 Error: Runtime exited with error: signal: killed"}`),
				LogResult: tail(`{"time":"t","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":100,"billedDurationMs":100,"memorySizeMB":128,"maxMemoryUsedMB":128,"initDurationMs":200},"status":"error","errorType":"Runtime.ExitError"}}` + "\n")},
			status: platform.StatusCrash, errType: "Runtime.OutOfMemory", cold: true, billed: 100 * time.Millisecond,
		},
		{
			name: "timeout, text, old payload",
			out: lambda.InvokeOutput{FunctionError: &unhandled,
				Payload:   []byte(`{"errorMessage":"2026-12-02T07:00:00.000Z r3 Task timed out after 3.00 seconds"}`),
				LogResult: tail("REPORT RequestId: r3\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout\n")},
			status: platform.StatusTimeout, errType: "Sandbox.Timedout", billed: 3 * time.Second,
		},
		{
			name: "init failure",
			out: lambda.InvokeOutput{FunctionError: &unhandled,
				Payload:   []byte(`{"errorType":"Runtime.ImportModuleError","errorMessage":"Unable to import module 'faaslab_wrapper': No module named 'numpy'","stackTrace":[]}`),
				LogResult: tail("REPORT RequestId: r4\tDuration: 120.00 ms\tBilled Duration: 120 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 300.00 ms\tStatus: error\tError Type: Runtime.Unknown\n")},
			status: platform.StatusInitError, errType: "Runtime.ImportModuleError", cold: true, billed: 120 * time.Millisecond,
		},
		{
			name:   "no REPORT: the wrapper's cold flag and init",
			out:    lambda.InvokeOutput{Payload: []byte(`{"metrics":{"duration_ns":1000000,"init_ns":2000000,"cold":true,"container_id":"0123456789abcdef"},"result":7}`)},
			status: platform.StatusOK, cold: true,
		},
		{
			name:   "a record that is not the wrapper's",
			out:    lambda.InvokeOutput{Payload: []byte(`{"statusCode":200}`)},
			status: platform.StatusError, errType: errTypeProtocol,
		},
	} {
		var inv platform.Invocation
		inv.RoundTrip = 5 * time.Second
		out := tc.out
		merge(&inv, &out, fn)
		if inv.Status != tc.status || inv.ErrorType != tc.errType || inv.Cold != tc.cold || inv.BilledDuration != tc.billed {
			t.Errorf("%s: %s %s cold=%v billed %v; want %s %s cold=%v billed %v (%s)", tc.name, inv.Status, inv.ErrorType, inv.Cold,
				inv.BilledDuration, tc.status, tc.errType, tc.cold, tc.billed, inv.ErrorMessage)
		}
	}
}
