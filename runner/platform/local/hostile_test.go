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

// The suite holds on a loaded machine: each case is bounded by what it
// proves (the function was killed, limited or classified), not by how
// fast that happened. Only the cases about the timeout itself run with
// hostileTimeout, short to keep the suite fast; every other case has
// generousTimeout, which it reaches only if the platform fails to stop
// or classify it.
const (
	hostileTimeout  = 2 * time.Second
	generousTimeout = time.Minute
)

// killGrace is how much longer than its timeout (and a cold start) an
// invocation may take: killing up to 1,024 processes on a loaded host.
// It proves that the platform ends the call, which a function left to
// itself would never do; it measures nothing.
const killGrace = 30 * time.Second

// hostileCase is one function of testdata/hostile and how the platform
// must classify it.
type hostileCase struct {
	name     string
	memoryMB int           // default 256
	timeout  time.Duration // default generousTimeout
	// check invokes d and checks the outcome.
	check func(t *testing.T, d platform.Deployment)
}

// want invokes d with event and checks status, error type and message,
// and that the invocation ended within its timeout, init and grace.
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
	// An infinite loop never returns by itself: ending as a timeout at
	// the function's timeout (not the grace) proves it was stopped.
	{name: "infinite_loop", timeout: hostileTimeout, check: func(t *testing.T, d platform.Deployment) {
		inv := want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "Task timed out after 2.00 seconds")
		if inv.RoundTrip < hostileTimeout {
			t.Errorf("timed out after %v, before the %v timeout", inv.RoundTrip, hostileTimeout)
		}
	}},
	{name: "sleep_past_timeout", timeout: hostileTimeout, check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "")
	}},
	{name: "ignore_sigterm", timeout: hostileTimeout, check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusTimeout, "Sandbox.Timedout", "")
	}},
	{name: "fork_bomb", memoryMB: 1769, timeout: hostileTimeout, check: func(t *testing.T, d platform.Deployment) {
		inv := platformtest.Invoke(t, d, `{}`)
		// The bomb runs into the pids limit and the timeout; the memory
		// limit may strike first.
		if inv.Status != platform.StatusTimeout && inv.Status != platform.StatusCrash {
			t.Errorf("fork bomb: %s %s, want a timeout or a crash", inv.Status, inv.ErrorMessage)
		}
	}},
	// A thousand forks take seconds of CPU, minutes on a loaded host.
	{name: "fork_limit", memoryMB: 1769, timeout: 5 * time.Minute, check: func(t *testing.T, d platform.Deployment) {
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
	// host filling its memory takes seconds.
	{name: "memory_bomb", memoryMB: 128, check: func(t *testing.T, d platform.Deployment) {
		want(t, d, `{}`, platform.StatusCrash, "Runtime.OutOfMemory", "out of memory")
	}},
	// The sandbox has a network namespace of its own with nothing but a
	// loopback: listeners that the test starts on the host's loopback
	// (TCP on 127.0.0.1 and ::1, UDP, an abstract Unix socket) are out of
	// reach, and no other interface exists to route anywhere. No address
	// beyond the host's loopback is named, not even to prove it
	// unreachable.
	{name: "network", check: func(t *testing.T, d platform.Deployment) {
		var listeners []net.Listener
		listen := func(network, address string) net.Listener {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil
			}
			listeners = append(listeners, l)
			return l
		}
		defer func() {
			for _, l := range listeners {
				l.Close()
			}
		}()
		tcp4 := listen("tcp4", "127.0.0.1:0")
		if tcp4 == nil {
			t.Fatal("cannot listen on 127.0.0.1")
		}
		abstractName := fmt.Sprintf("faaslab-test-%d", time.Now().UnixNano())
		if listen("unix", "@"+abstractName) == nil {
			t.Fatal("cannot listen on an abstract Unix socket")
		}
		tcp6Port := 0
		if tcp6 := listen("tcp6", "[::1]:0"); tcp6 != nil {
			tcp6Port = tcp6.Addr().(*net.TCPAddr).Port
		}
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer udp.Close()
		event, _ := json.Marshal(map[string]any{
			"tcp4_port": tcp4.Addr().(*net.TCPAddr).Port, "tcp6_port": tcp6Port,
			"udp_port": udp.LocalAddr().(*net.UDPAddr).Port, "abstract": abstractName,
		})
		inv := want(t, d, string(event), platform.StatusOK, "", "")
		var got struct {
			Attempts   map[string]string
			Interfaces []string
		}
		platformtest.Result(t, inv, &got)
		if len(got.Attempts) < 3 {
			t.Errorf("only %d attempts: %v", len(got.Attempts), got.Attempts)
		}
		for what, result := range got.Attempts {
			if !strings.HasPrefix(result, "failed") {
				t.Errorf("%s: %s, want failure", what, result)
			}
		}
		if len(got.Interfaces) != 1 || got.Interfaces[0] != "lo" {
			t.Errorf("network interfaces %v, want only lo", got.Interfaces)
		}
		// Whatever reached a listener is queued by now: the call is over.
		for _, l := range listeners {
			l.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(100 * time.Millisecond))
			if conn, err := l.Accept(); err == nil {
				conn.Close()
				t.Errorf("the host listener %s got a connection from the sandbox", l.Addr())
			}
		}
		udp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, from, err := udp.ReadFrom(make([]byte, 16)); err == nil {
			t.Errorf("the host's UDP socket got %d bytes from %v, sent from the sandbox", n, from)
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
	{name: "print_100mb", memoryMB: 1769, check: func(t *testing.T, d platform.Deployment) {
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
				fn.Timeout = cmp.Or(tc.timeout, generousTimeout)
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
