package local

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// hostileTimeout is the timeout of hostile functions: short, to keep the
// suite fast.
const hostileTimeout = 2 * time.Second

// killGrace is how much longer than its timeout an invocation may take,
// which includes killing up to 1,024 processes.
const killGrace = 2 * time.Second

// hostileCase is one function of testdata/hostile and how the platform
// must classify it.
type hostileCase struct {
	name     string
	memoryMB int // default 256
	timeout  time.Duration
	// check invokes d and checks the outcome.
	check func(t *testing.T, d platform.Deployment)
}

// want invokes d with event and checks status, error type and message,
// and that the invocation ended within its timeout and grace.
func want(t *testing.T, d platform.Deployment, event string, status platform.Status, errType, text string) platform.Invocation {
	t.Helper()
	inv := platformtest.Invoke(t, d, event)
	platformtest.Want(t, inv, status, text)
	if errType != "" && inv.ErrorType != errType {
		t.Errorf("error type %q (%q), want %q", inv.ErrorType, inv.ErrorMessage, errType)
	}
	if limit := d.(*deployment).fn.Timeout + d.(*deployment).p.opts.InitTimeout + killGrace; inv.RoundTrip > limit {
		t.Errorf("invocation took %v, want at most %v", inv.RoundTrip, limit)
	}
	return inv
}

var hostileCases = []hostileCase{
	{name: "infinite_loop", check: func(t *testing.T, d platform.Deployment) {
		inv := want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "Task timed out after 2.00 seconds")
		if inv.RoundTrip > hostileTimeout+time.Second {
			t.Errorf("timeout took %v", inv.RoundTrip)
		}
	}},
	{name: "sleep_past_timeout", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "")
	}},
	{name: "ignore_sigterm", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "")
	}},
	{name: "fork_bomb", memoryMB: 1769, check: func(t *testing.T, d platform.Deployment) {
		inv := platformtest.Invoke(t, d, `{}`)
		// The bomb runs into the pids limit and the timeout; the memory
		// limit may strike first.
		if inv.Status != platform.StatusTimeout && inv.Status != platform.StatusCrash {
			t.Errorf("fork bomb: %s %s, want a timeout or a crash", inv.Status, inv.ErrorMessage)
		}
	}},
	{name: "fork_limit", memoryMB: 1769, timeout: 10 * time.Second, check: func(t *testing.T, d platform.Deployment) {
		inv := want(t, d, `{}`, platform.StatusOK, "", "")
		var got struct {
			Children int
			Error    string
		}
		platformtest.Result(t, inv, &got)
		if got.Children < 900 || got.Children >= 1024 || !strings.Contains(got.Error, "Resource temporarily unavailable") {
			t.Errorf("forked %d children before %q, want the pids limit (1024) to stop it", got.Children, got.Error)
		}
		// The runtime still works beside its thousand children.
		again := want(t, d, `{}`, platform.StatusOK, "", "")
		if again.Cold {
			t.Errorf("second call was cold")
		}
	}},
	// At 128 MB the function gets 7% of a vCPU, as on Lambda: on a loaded
	// host filling its memory can take longer than hostileTimeout.
	{name: "memory_bomb", memoryMB: 128, timeout: 15 * time.Second, check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.OutOfMemory", "out of memory")
	}},
	{name: "network", check: func(t *testing.T, d platform.Deployment) {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer tcp.Close()
		abstractName := fmt.Sprintf("faaslab-test-%d", time.Now().UnixNano())
		unix, err := net.Listen("unix", "@"+abstractName)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close()
		event, _ := json.Marshal(map[string]any{"port": tcp.Addr().(*net.TCPAddr).Port, "abstract": abstractName})
		inv := want(t, d, string(event), platform.StatusOK, "", "")
		var got map[string]string
		platformtest.Result(t, inv, &got)
		for what, result := range got {
			if !strings.HasPrefix(result, "failed") {
				t.Errorf("%s: %s, want failure", what, result)
			}
		}
		for _, l := range []net.Listener{tcp, unix} {
			l.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(50 * time.Millisecond))
			if conn, err := l.Accept(); err == nil {
				conn.Close()
				t.Errorf("the host listener %s got a connection from the sandbox", l.Addr())
			}
		}
	}},
	{name: "write_outside_tmp", check: func(t *testing.T, d platform.Deployment) {
		for call := 0; call < 2; call++ {
			inv := want(t, d, `{}`, platform.StatusOK, "", "")
			var got struct {
				Results     map[string]string
				PreviousTmp string `json:"previous_tmp"`
			}
			platformtest.Result(t, inv, &got)
			for path, result := range got.Results {
				if path == "/tmp" {
					if result != "ok" {
						t.Errorf("writing /tmp: %s", result)
					}
				} else if !strings.HasPrefix(result, "failed") {
					t.Errorf("%s: %s, want failure", path, result)
				}
			}
			if wantTmp := []string{"", "pwned"}[call]; got.PreviousTmp != wantTmp {
				t.Errorf("call %d found %q in /tmp, want %q", call, got.PreviousTmp, wantTmp)
			}
		}
	}},
	{name: "print_100mb", memoryMB: 1769, timeout: 20 * time.Second, check: func(t *testing.T, d platform.Deployment) {
		inv := want(t, d, `{}`, platform.StatusOK, "", "")
		if len(inv.Log) > 1<<20+200 || !strings.Contains(inv.Log, "log truncated") {
			t.Errorf("log of %d bytes (ends %q), want at most 1 MiB and a truncation note", len(inv.Log), inv.Log[max(0, len(inv.Log)-100):])
		}
		if again := want(t, d, `{}`, platform.StatusOK, "", ""); again.Cold {
			t.Errorf("second call was cold")
		}
	}},
	{name: "segfault", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.ExitError", "signal: segmentation fault")
	}},
	{name: "os_exit", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.ExitError", "exit status 3")
	}},
	{name: "sys_exit", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.ExitError", "Runtime exited")
	}},
	{name: "non_serialisable", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusError, "Runtime.MarshalError", "not JSON serializable")
	}},
	{name: "recursion", check: func(t *testing.T, d platform.Deployment) {
		inv := want(t, d, `{}`, platform.StatusError, "RecursionError", "maximum recursion depth")
		if !strings.Contains(inv.Traceback, "descend") {
			t.Errorf("traceback %q lacks the recursing function", inv.Traceback)
		}
	}},
	{name: "large_response", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusError, "Function.ResponseSizeTooLarge", "exceeded")
		if inv := want(t, d, `{}`, platform.StatusOK, "", ""); inv.Cold || string(inv.Result) != "2" {
			t.Errorf("after a large response: cold=%v result %s, want the same warm container", inv.Cold, inv.Result)
		}
	}},
	{name: "background_child", check: func(t *testing.T, d platform.Deployment) {
		first := want(t, d, `{}`, platform.StatusOK, "", "")
		time.Sleep(100 * time.Millisecond) // frozen meanwhile
		second := want(t, d, `{}`, platform.StatusOK, "", "")
		if second.Cold || second.ContainerID != first.ContainerID || string(second.Result) != string(first.Result) {
			t.Errorf("second call: cold=%v result %s, want the first call's warm container (%s)", second.Cold, second.Result, first.Result)
		}
		// Closing the deployment (at cleanup) must kill the children; the
		// platform's leftover check proves it.
	}},
	{name: "tamper_harness", check: func(t *testing.T, d platform.Deployment) {
		for i := 0; i < 2; i++ {
			inv := want(t, d, `{"n": 41}`, platform.StatusOK, "", "")
			if string(inv.Result) != `{"honest":42}` || inv.Duration < 20*time.Millisecond {
				t.Errorf("result %s after %v, want {\"honest\":42} after 20 ms or more", inv.Result, inv.Duration)
			}
		}
	}},
	{name: "forge_frames", check: func(t *testing.T, d platform.Deployment) {
		for _, mode := range []string{"garbage", "huge", "wrong_id"} {
			want(t, d, `{"mode": "`+mode+`"}`, platform.StatusError, errTypeProtocol, "")
			if inv := want(t, d, `{}`, platform.StatusOK, "", ""); !inv.Cold || string(inv.Result) != `"clean"` {
				t.Errorf("after a forged frame: cold=%v result %s, want a clean cold start", inv.Cold, inv.Result)
			}
		}
	}},
	{name: "close_api_fds", check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.ExitError", "exit status 1")
	}},
}

// TestHostile runs every hostile function through the platform, checks
// how it is classified, and then that the platform still runs a normal
// function; each case's platform checks at cleanup that no cgroup or
// process survives.
func TestHostile(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPlatform(t, Options{})
			d := deployDir(t, p, "hostile/"+tc.name, func(fn *platform.Function) {
				fn.MemoryMB = cmp.Or(tc.memoryMB, 256)
				fn.Timeout = cmp.Or(tc.timeout, hostileTimeout)
			})
			tc.check(t, d)
			if err := d.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
			checkNoLeftovers(t, p)
			echo := deployDir(t, p, "echo", nil)
			platformtest.Want(t, platformtest.Invoke(t, echo, `{"still": "fine"}`), platform.StatusOK, "")
		})
	}
}

// TestHostileSecrets plants secrets in the runner's environment and checks
// that a function looking everywhere finds none of them.
func TestHostileSecrets(t *testing.T) {
	secrets := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIAFAASLABTESTKEY01",
		"AWS_SECRET_ACCESS_KEY": "faaslab-test-secret-access-key-0123456789",
		"AWS_SESSION_TOKEN":     "faaslab-test-session-token",
		"OPENAI_API_KEY":        "sk-faaslab-test-openai-key",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "hostile/secrets", nil)
	inv := want(t, d, `{}`, platform.StatusOK, "", "")
	var found map[string]any
	platformtest.Result(t, inv, &found)
	if len(found) < 5 {
		t.Fatalf("the function found too little to be convincing: %v", found)
	}
	everything := string(inv.Result) + inv.Log + inv.ErrorMessage + inv.Traceback
	for k, v := range secrets {
		if strings.Contains(everything, v) {
			t.Errorf("secret %s leaked into the sandbox", k)
		}
	}
	env, _ := found["environ"].(map[string]any)
	if _, ok := env["AWS_LAMBDA_FUNCTION_NAME"]; !ok {
		t.Errorf("environment %v lacks Lambda's variables", env)
	}
	for k := range secrets {
		if _, ok := env[k]; ok {
			t.Errorf("environment has %s", k)
		}
	}
}
