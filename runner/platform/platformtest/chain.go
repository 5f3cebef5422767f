package platformtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// RunChain runs the cases every platform.Chainer shares, whoever delivers
// the storage events (the runner on the local and fake platforms, S3
// notifications on AWS): runs followed through two and three stages by
// their stem, stages' invocations in order, a failing stage or one that
// writes nothing ending the run, the run's timeout, reading objects back,
// cold mode, and Close. open returns the platform under test; it is called
// once per subtest, which may run in parallel. The fixture stages are
// trusted Python using boto3, so platforms that run functions on the host
// need Python's boto3 (Debian's python3-boto3; skipped without it) and an
// init timeout as long as S3InitTimeout.
//
// The cases assume nothing a real S3 does not give: objects' times at a
// second's precision, and listings and notifications that may lag a write.
func RunChain(t *testing.T, open func(t *testing.T) platform.Chainer) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("no boto3 (install python3-boto3):", err)
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T, platform.Chainer)
	}{
		{"Runs", testChainRuns},
		{"ColdMode", testChainCold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// chainStage is the fixture of every stage: it reads its input object
// (from the event, as a Lambda function triggered by S3 does), and writes
// under $OUTPUT_PREFIX an object named by the input's stem and its own
// extension, holding the input upper-cased and "|<stage index>" appended.
// What the input says steers it: "fail at <i>" makes stage i raise,
// "nothing at <i>" makes it return without writing, "sleep at <i>" makes
// it sleep past any run's timeout.
const chainStage = `
import os
import time
import urllib.parse

import boto3

s3 = boto3.client("s3")
INDEX = int(os.environ["FIXTURE_STAGE"])
EXT = [".up", ".tag", ".final.txt"][INDEX]

def handler(event, context):
    rec = event["Records"][0]["s3"]
    bucket = rec["bucket"]["name"]
    key = urllib.parse.unquote_plus(rec["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    says = body.decode().lower()
    if "fail at %d" % INDEX in says:
        raise ValueError("told to fail at stage %d" % INDEX)
    if "nothing at %d" % INDEX in says:
        return {"wrote": None}
    if "sleep at %d" % INDEX in says:
        time.sleep(90)
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    out = os.environ["OUTPUT_PREFIX"] + stem + EXT
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out, Body=body.upper() + b"|%d" % INDEX)
    return {"wrote": out}
`

// ChainPrefixes are the key prefixes of the suite's chains.
var ChainPrefixes = []string{"0-input/", "1-up/", "2-tag/", "3-final/"}

// deployChain deploys a chain of n fixture stages, closed when the test
// ends.
func deployChain(t *testing.T, c platform.Chainer, n int, cold bool) (platform.Chain, platform.ChainDeployment) {
	t.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9-]+`).ReplaceAllString(t.Name(), "-")) + "-" + hex.EncodeToString(suffix)
	ch := platform.Chain{Name: name, Prefixes: ChainPrefixes[:n+1],
		Tags: map[string]string{platform.TagStudy: "platformtest", platform.TagRun: name}}
	for i := range n {
		ch.Stages = append(ch.Stages, Function(t, chainStage, func(fn *platform.Function) {
			fn.Name = name + "-" + string(rune('0'+i))
			fn.Env = map[string]string{"FIXTURE_STAGE": string(rune('0' + i))}
			// boto3's import and client take a second of CPU.
			fn.MemoryMB = 1769
			fn.Timeout = 2 * time.Minute
			fn.Cold = cold
			fn.Tags = ch.Tags
		}))
	}
	d, err := c.DeployChain(context.Background(), ch)
	if err != nil {
		t.Fatalf("DeployChain: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ch, d
}

// chainTimeout is a run's timeout where the run must finish: cold starts
// with boto3's import on a loaded host take many seconds.
const chainTimeout = 10 * time.Minute

// runChain runs d on name and data and fails the test on an error.
func runChain(t *testing.T, d platform.ChainDeployment, name, data string, timeout time.Duration) platform.ChainRun {
	t.Helper()
	run, err := d.Run(context.Background(), name, []byte(data), timeout)
	if err != nil {
		t.Fatalf("Run %s: %v", name, err)
	}
	return run
}

// wantRun checks that run reached every stage of ch with status ok and
// each stage's output, and returns the final object's key.
func wantRun(t *testing.T, ch platform.Chain, d platform.ChainDeployment, run platform.ChainRun, name, data string) string {
	t.Helper()
	if run.TimedOut || len(run.Stages) != len(ch.Stages) {
		t.Fatalf("run %s: timed out %v, %d of %d stages: %s", name, run.TimedOut, len(run.Stages), len(ch.Stages), describe(run))
	}
	stem := strings.TrimSuffix(name, path.Ext(name))
	want := strings.ToUpper(data)
	last := run.Uploaded
	for i, st := range run.Stages {
		inv := st.Invocation
		if inv.Status != platform.StatusOK || st.Output == nil {
			t.Fatalf("run %s stage %d: %s %s %q, output %v\nlog: %.2000s", name, i, inv.Status, inv.ErrorType, inv.ErrorMessage, st.Output, inv.Log)
		}
		o := st.Output
		base := path.Base(o.Key)
		if !strings.HasPrefix(o.Key, ch.Prefixes[i+1]) || !strings.HasPrefix(base, stem+".") {
			t.Errorf("run %s stage %d wrote %s, want %s%s.*", name, i, o.Key, ch.Prefixes[i+1], stem)
		}
		want += "|" + string(rune('0'+i))
		if o.Size != int64(len(want)) {
			t.Errorf("run %s stage %d: output size %d, want %d", name, i, o.Size, len(want))
		}
		// Objects' times are S3's Last-Modified, whole seconds at worst:
		// ordered, not strictly.
		if o.Modified.Before(last) {
			t.Errorf("run %s stage %d: output modified %v before the previous object's %v", name, i, o.Modified, last)
		}
		last = o.Modified
		// Stages start after their input exists (allowing for a second's
		// truncation and some clock skew) and run for a while.
		if inv.Start.Before(run.Uploaded.Add(-2*time.Second)) || inv.Start.After(time.Now().Add(2*time.Second)) {
			t.Errorf("run %s stage %d: start %v, uploaded %v", name, i, inv.Start, run.Uploaded)
		}
		if i > 0 && inv.Start.Before(run.Stages[i-1].Invocation.Start) {
			t.Errorf("run %s stage %d started %v, before stage %d (%v)", name, i, inv.Start, i-1, run.Stages[i-1].Invocation.Start)
		}
		if inv.Duration <= 0 || inv.Duration > ch.Stages[i].Timeout {
			t.Errorf("run %s stage %d: duration %v", name, i, inv.Duration)
		}
	}
	final := run.Stages[len(run.Stages)-1].Output.Key
	got, err := d.Get(context.Background(), final)
	if err != nil || string(got) != want {
		t.Errorf("run %s: final object %s = %q, %v; want %q", name, final, got, err, want)
	}
	return final
}

// describe summarises run for failure messages.
func describe(run platform.ChainRun) string {
	var b strings.Builder
	for i, st := range run.Stages {
		out := "no output"
		if st.Output != nil {
			out = st.Output.Key
		}
		b.WriteString("\n  stage " + string(rune('0'+i)) + ": " + string(st.Invocation.Status) + " " + st.Invocation.ErrorType + " " + st.Invocation.ErrorMessage + ", " + out)
	}
	return b.String()
}

// testChainRuns runs one three-stage chain through whole runs, a failing
// stage, a stage that writes nothing and a run past its timeout, then
// closes it.
func testChainRuns(t *testing.T, c platform.Chainer) {
	ctx := context.Background()
	ch, d := deployChain(t, c, 3, false)

	first := wantRun(t, ch, d, runChain(t, d, "run-0001.txt", "hello", chainTimeout), "run-0001.txt", "hello")
	// A second run is followed by its own stem: the first's objects under
	// the same prefixes are not taken for its.
	second := wantRun(t, ch, d, runChain(t, d, "run-0002.txt", "world", chainTimeout), "run-0002.txt", "world")
	if first == second {
		t.Errorf("two runs ended at the same object %s", first)
	}
	if got, err := d.Get(ctx, first); err != nil || string(got) != "HELLO|0|1|2" {
		t.Errorf("first run's final object after the second run: %q, %v", got, err)
	}

	run := runChain(t, d, "run-0003.txt", "fail at 1", chainTimeout)
	if run.TimedOut || len(run.Stages) != 2 || run.Stages[0].Output == nil ||
		run.Stages[1].Invocation.Status != platform.StatusError || run.Stages[1].Output != nil {
		t.Errorf("a run whose stage 1 fails: timed out %v, %s", run.TimedOut, describe(run))
	} else if !strings.Contains(run.Stages[1].Invocation.ErrorMessage, "told to fail at stage 1") {
		t.Errorf("failing stage's error: %s %q", run.Stages[1].Invocation.ErrorType, run.Stages[1].Invocation.ErrorMessage)
	}

	run = runChain(t, d, "run-0004.txt", "nothing at 0", chainTimeout)
	if run.TimedOut || len(run.Stages) != 1 || run.Stages[0].Invocation.Status != platform.StatusOK || run.Stages[0].Output != nil {
		t.Errorf("a run whose stage 0 writes nothing: timed out %v, %s", run.TimedOut, describe(run))
	}

	// A run past its timeout: stage 2 sleeps longer than the run may
	// take. Stages 0 and 1 are warm by now, but a loaded host may still
	// take the run's whole timeout before stage 2.
	run = runChain(t, d, "run-0005.txt", "sleep at 2", 20*time.Second)
	if !run.TimedOut {
		t.Errorf("a run past its timeout: not timed out, %s", describe(run))
	}
	if n := len(run.Stages); n > 3 || n == 3 && run.Stages[2].Output != nil {
		t.Errorf("a run past its timeout: %s", describe(run))
	}
	for i, st := range run.Stages[:max(len(run.Stages)-1, 0)] {
		if st.Invocation.Status != platform.StatusOK || st.Output == nil {
			t.Errorf("a run past its timeout: stage %d before the last did not finish: %s", i, describe(run))
		}
	}

	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Get(ctx, first); err == nil {
		t.Errorf("Get after Close read %s", first)
	}
}

// testChainCold runs a two-stage chain of cold functions twice: every
// invocation starts a new environment.
func testChainCold(t *testing.T, c platform.Chainer) {
	ch, d := deployChain(t, c, 2, true)
	for _, name := range []string{"cold-0001.txt", "cold-0002.txt"} {
		run := runChain(t, d, name, "cold", chainTimeout)
		wantRun(t, ch, d, run, name, "cold")
		for i, st := range run.Stages {
			if !st.Invocation.Cold {
				t.Errorf("run %s stage %d: warm invocation of a cold function", name, i)
			}
		}
	}
}
