package check

// These tests measure hostile code in zygotes on the local platform's
// sandbox: code that pylint surely runs (astroid imports a package named
// gi to infer what it holds) and that attacks the zygote, the fork server
// and the artifacts before and after it.

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
)

// zygoteAttack runs inside pylint, confined. Each attack that succeeds
// sets a bit, and the attack forges pylint's rating as 5 + bits/100, so
// 5.00 says that the attack ran and every part of it failed. It then
// leaves a process behind, which the next attack looks for.
const zygoteAttack = `import ctypes, os, resource, time
libc = ctypes.CDLL(None, use_errno=True)
bits = 0
me, parent = os.getpid(), os.getppid()
# Every other process in the sandbox: the zygote, the fork server, the
# sandbox's init, and any left behind. Not the parent, which measures
# this artifact: stopping it only spoils this artifact's metrics.
pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, parent)]
for pid in pids:
    try:
        os.kill(pid, 0)
        bits |= 1
    except OSError:
        pass
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (4, 4))
        bits |= 2
    except OSError:
        pass
    if libc.ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
        bits |= 4
    try:
        open("/proc/%d/mem" % pid, "rb").close()
        bits |= 8
    except OSError:
        pass
    try:
        if open("/proc/%d/comm" % pid).read().strip() == "faaslab-left":
            bits |= 32
    except OSError:
        pass
for path in ("/tmp/faaslab-escape", os.path.join(os.path.dirname(os.getcwd()), "..", "faaslab-escape")):
    try:
        open(path, "w").close()
        bits |= 16
    except OSError:
        pass
if libc.shmget(0, 4096, 0o1600) >= 0:  # IPC_PRIVATE, IPC_CREAT
    bits |= 64
if libc.syscall(248 if os.uname().machine == "x86_64" else 217, b"user", b"faaslab", b"x", 1, -4) >= 0:  # add_key
    bits |= 64
for top in ("/tmp", "/var", "/dev/shm"):
    for root, dirs, files in os.walk(top):
        if any(f.startswith("previous_marker_") for f in files):
            bits |= 128
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        libc.prctl(15, b"faaslab-left", 0, 0, 0)  # PR_SET_NAME
        time.sleep(600)
    os._exit(0)
print("Your code has been rated at %.2f/10" % (5 + bits / 100), flush=True)
os._exit(0)
`

// zygoteEscapes names the attack's bits.
var zygoteEscapes = []string{"signalled another process", "changed another process's limits", "traced another process",
	"opened another process's memory", "wrote outside its directory", "found a process left behind",
	"made a SysV IPC object or key", "read an earlier artifact's files"}

func TestLocalZygoteHostile(t *testing.T) {
	c := localChecker(t)
	fn := quickstartArtifacts(t, "primes")[0].cand
	td, err := c.takeZygote(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	if td == nil {
		c.spares.mu.Lock()
		why := c.spares.zygotes.missing[toolsKey{runtime: fn.Runtime, arch: fn.Arch}]
		c.spares.mu.Unlock()
		t.Skipf("the sandbox cannot confine measurements: %s", why)
	}
	c.releaseZygote(td)

	sample := fn
	gi := fn
	gi.CodeDir = codeDir(t, map[string]string{"handler.py": "from gi.repository import Gtk\n\n\ndef handler(event, context):\n    return Gtk\n",
		"gi/__init__.py": zygoteAttack, "gi/repository/__init__.py": zygoteAttack})
	previous := fn
	previous.CodeDir = codeDir(t, map[string]string{"handler.py": "def handler(event, context):\n    return 1\n",
		"previous_marker_" + fmt.Sprint(os.Getpid()) + ".py": "X = 1\n"})

	want := c.StaticMetrics(context.Background(), sample)
	if want.PylintScore == nil || want.Note != "" {
		t.Fatalf("sample: %s", showMetrics(want))
	}
	if m := c.StaticMetrics(context.Background(), previous); m.PylintScore == nil {
		t.Fatalf("previous: %s", showMetrics(m))
	}
	for _, name := range []string{"attack", "attack after attack"} {
		m := c.StaticMetrics(context.Background(), gi)
		t.Logf("%s: %s", name, showMetrics(m))
		if m.PylintScore == nil {
			t.Fatalf("%s: no score (did the attack run?): %s", name, showMetrics(m))
		}
		bits := int(math.Round((*m.PylintScore - 5) * 100))
		if bits < 0 || bits > 255 {
			t.Fatalf("%s: pylint score %g, want the attack's forged 5.xx (the attack did not run)", name, *m.PylintScore)
		}
		for i, escape := range zygoteEscapes {
			if bits&(1<<i) != 0 {
				t.Errorf("%s: the candidate's code %s", name, escape)
			}
		}
	}
	// The next artifact is measured as before, by the same zygote.
	if got := c.StaticMetrics(context.Background(), sample); showMetrics(got) != showMetrics(want) {
		t.Errorf("sample after the attacks: %s, want %s", showMetrics(got), showMetrics(want))
	}
	wantOneZygote(t, c, td, "all")
	if _, err := os.Stat("/tmp/faaslab-escape"); err == nil {
		t.Errorf("/tmp/faaslab-escape exists on the host")
	}
}

// TestLocalZygoteTimeout measures code that hangs pylint and leaves
// processes that ignore SIGTERM: the measurement times out, and the same
// zygote measures the next artifact.
func TestLocalZygoteTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out pylint's timeout")
	}
	c := localChecker(t)
	fn := quickstartArtifacts(t, "primes")[0].cand
	hang := "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nos.fork()\nwhile True:\n    time.sleep(1)\n"
	td := primedZygote(t, c, fn)
	hung := giAttack(t, fn, hang)
	m := c.StaticMetrics(context.Background(), hung)
	if m.PylintScore != nil || !strings.Contains(m.Note, "timed out") {
		t.Errorf("hanging code: %s, want no pylint score and a timeout", showMetrics(m))
	}
	if m := c.StaticMetrics(context.Background(), fn); m.PylintScore == nil || m.Note != "" {
		t.Errorf("after hanging code: %s", showMetrics(m))
	}
	wantOneZygote(t, c, td, "both")
}

// TestLocalZygoteBombs measures code that, run by pylint, starts a fork
// bomb that outlives pylint, or fills the zygote's memory: the first is
// killed whole after its measurement, the second is the OOM killer's
// choice, not the zygote; the same zygote measures the next artifact as
// before.
func TestLocalZygoteBombs(t *testing.T) {
	c := localChecker(t)
	fn := quickstartArtifacts(t, "primes")[0].cand
	td := primedZygote(t, c, fn)
	want := c.StaticMetrics(context.Background(), fn)
	if want.PylintScore == nil || want.Note != "" {
		t.Fatalf("sample: %s", showMetrics(want))
	}
	gi := func(attack string) Metrics {
		return c.StaticMetrics(context.Background(), giAttack(t, fn, attack))
	}
	forkBomb := `import os
if os.fork() == 0:
    os.setsid()
    while True:
        try:
            os.fork()
        except OSError:
            pass
print("Your code has been rated at 5.00/10", flush=True)
os._exit(0)
`
	if m := gi(forkBomb); m.PylintScore == nil || *m.PylintScore != 5 {
		t.Errorf("fork bomb: %s, want the attack's forged 5.00", showMetrics(m))
	}
	memoryBomb := "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))\n"
	if m := gi(memoryBomb); m.PylintScore != nil || !strings.Contains(m.Note, "pylint: no score") {
		t.Errorf("memory bomb: %s, want no pylint score and a reason", showMetrics(m))
	}
	if got := c.StaticMetrics(context.Background(), fn); showMetrics(got) != showMetrics(want) {
		t.Errorf("after the bombs: %s, want %s", showMetrics(got), showMetrics(want))
	}
	wantOneZygote(t, c, td, "all")
}

// TestLocalZygoteResultFiles measures code that replaces the files the
// zygote reads after a measurement (result.json, error.txt, which the
// zygote, unconfined, opens) by a FIFO and a symbolic link, then kills
// the measurement: the zygote must neither block on the FIFO (until the
// tools' timeout, and be retired) nor read what the link names into the
// artifact's notes.
func TestLocalZygoteResultFiles(t *testing.T) {
	c := localChecker(t)
	fn := quickstartArtifacts(t, "primes")[0].cand
	td := primedZygote(t, c, fn)
	// pylint runs in a directory of its own inside the measurement's.
	attack := `import os, signal
top = os.path.dirname(os.getcwd())
os.mkfifo(os.path.join(top, "result.json"))
os.symlink("/proc/self/status", os.path.join(top, "error.txt"))
os.kill(os.getppid(), signal.SIGKILL)
os._exit(0)
`
	m := c.StaticMetrics(context.Background(), giAttack(t, fn, attack))
	t.Logf("attack: %s", showMetrics(m))
	if m.PylintScore != nil || !strings.Contains(m.Note, "no result") {
		t.Errorf("attack: %s, want no score and no result", showMetrics(m))
	}
	if strings.Contains(m.Note, "Cpus_allowed") || strings.Contains(m.Note, "voluntary_ctxt_switches") {
		t.Errorf("attack: the zygote read the file a link named into the note: %s", m.Note)
	}
	if m := c.StaticMetrics(context.Background(), fn); m.PylintScore == nil || m.Note != "" {
		t.Errorf("after the attack: %s", showMetrics(m))
	}
	wantOneZygote(t, c, td, "both")
}

// primedZygote primes a zygote for fn's runtime and returns it, idle, or
// skips the test where the kernel cannot confine measurements.
func primedZygote(t *testing.T, c *Checker, fn platform.Function) *toolDeployment {
	t.Helper()
	td, err := c.takeZygote(context.Background(), fn)
	if err != nil || td == nil {
		t.Skipf("no zygote: %v", err)
	}
	c.releaseZygote(td)
	return td
}

// wantOneZygote checks that td, the zygote primed first, is the only
// tools deployment and still live: it measured all the test's artifacts
// ("both" or "all").
func wantOneZygote(t *testing.T, c *Checker, td *toolDeployment, artifacts string) {
	t.Helper()
	c.toolsMu.Lock()
	n, live := len(c.tools), c.tools[td]
	c.toolsMu.Unlock()
	if n != 1 || !live {
		t.Errorf("%d tools deployments (first zygote live: %v), want the one zygote that measured %s", n, live, artifacts)
	}
}

// giAttack returns fn with code that imports gi.repository, whose package
// runs attack when astroid, inside pylint, imports it to infer what it
// holds.
func giAttack(t *testing.T, fn platform.Function, attack string) platform.Function {
	t.Helper()
	fn.CodeDir = codeDir(t, map[string]string{"handler.py": "from gi.repository import Gtk\n",
		"gi/__init__.py": attack, "gi/repository/__init__.py": ""})
	return fn
}

// codeDir writes files, named by their paths, into a new temporary
// directory and returns it. (codeFunction, in the external test package,
// does the same for the metrics tests.)
func codeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	for name, text := range files {
		path := filepath.Join(d, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
