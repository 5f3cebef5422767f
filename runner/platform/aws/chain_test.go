package aws_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// stageFixture is a trusted pipeline stage: it reads the object of its S3
// event with boto3 and writes it, with "|<STAGE>" appended, under
// $OUTPUT_PREFIX, keeping the input's stem. What the input says steers
// it: "fail at <i>" makes stage i raise, "nothing at <i>" return without
// writing, "sleep at <i>" sleep past the run's timeout.
const stageFixture = `
import os
import time
import urllib.parse

import boto3

s3 = boto3.client("s3")
STAGE = os.environ["STAGE"]


def handler(event, context):
    rec = event["Records"][0]["s3"]
    key = urllib.parse.unquote_plus(rec["object"]["key"])
    body = s3.get_object(Bucket=rec["bucket"]["name"], Key=key)["Body"].read()
    says = body.decode()
    if "fail at " + STAGE in says:
        raise ValueError("told to fail at stage " + STAGE)
    if "nothing at " + STAGE in says:
        return None
    if "sleep at " + STAGE in says:
        time.sleep(8)
    out = os.environ["OUTPUT_PREFIX"] + key.rsplit("/", 1)[-1].split(".", 1)[0] + ".s" + STAGE
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out, Body=body + b"|" + STAGE.encode())
    return {"wrote": out}
`

func needBoto3(t *testing.T) {
	if exec.Command("python3", "-c", "import boto3").Run() != nil {
		t.Skip("no python3 with boto3 (Debian's python3-boto3)")
	}
}

// testChain is a chain of n fixture stages of study and run.
func testChain(t *testing.T, n int, study, run string) platform.Chain {
	prefixes := []string{"0-input/", "1-a/", "2-b/", "3-c/"}[:n+1]
	c := platform.Chain{Name: "tcss562-pipeline-c1", Prefixes: prefixes,
		Tags: map[string]string{platform.TagStudy: study, platform.TagRun: run, platform.TagCell: "c1"}}
	for i := range n {
		c.Stages = append(c.Stages, platformtest.Function(t, stageFixture, func(fn *platform.Function) {
			fn.Name = "stage-" + string(rune('0'+i))
			fn.Env = map[string]string{"STAGE": string(rune('0' + i))}
			fn.MemoryMB, fn.Timeout = 1024, 30*time.Second
		}))
	}
	return c
}

// chainRun runs d and fails the test on an error.
func chainRun(t *testing.T, d platform.ChainDeployment, name, data string, timeout time.Duration) platform.ChainRun {
	t.Helper()
	run, err := d.Run(context.Background(), name, []byte(data), timeout)
	if err != nil {
		t.Fatalf("Run %s: %v", name, err)
	}
	return run
}

func summary(run platform.ChainRun) string {
	b, _ := json.MarshalIndent(run, "", " ")
	return string(b)
}

// TestChain deploys a three-stage chain on the fake (S3 notifications
// invoking the stages asynchronously, their logs in CloudWatch Logs) with
// the role faaslab creates, and checks what is created, whole runs (cold,
// then warm), a failing stage, a stage that writes nothing, a run past
// its timeout, and that Close leaves nothing, in both log formats.
func TestChain(t *testing.T) {
	needBoto3(t)
	// The JSON format's logs become visible late, as CloudWatch Logs
	// ingests them.
	for _, o := range []lambdafake.Options{{LogFormat: lambdafake.FormatText}, {LogFormat: lambdafake.FormatJSON, LogDelay: time.Second}} {
		t.Run(o.LogFormat, func(t *testing.T) {
			o.InitTimeout = time.Minute // Python and boto3 on a busy host
			testChainOn(t, o)
		})
	}
}

func testChainOn(t *testing.T, opts lambdafake.Options) {
	ctx := context.Background()
	s := lambdafake.Start(t, opts)
	p := open(t, func(o *aws.Options) { o.Config.Role = aws.RoleCreate })
	c := testChain(t, 3, "conformance", "r1")
	d, err := p.DeployChain(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close(context.Background())
		}
	})

	// What DeployChain created.
	buckets := s.Buckets()
	if len(buckets) != 1 || !strings.HasPrefix(buckets[0], "faaslab-tcss562-pipeline-c1-") || len(buckets[0]) > 63 {
		t.Fatalf("buckets %v, want one faaslab bucket", buckets)
	}
	bucket := buckets[0]
	tags := s.BucketTags(bucket)
	for k, v := range map[string]string{aws.TagManaged: "true", platform.TagStudy: "conformance", platform.TagRun: "r1"} {
		if tags[k] != v {
			t.Errorf("bucket tag %s = %q, want %q", k, tags[k], v)
		}
	}
	fns := s.Functions()
	if len(fns) != 3 {
		t.Fatalf("functions %v, want 3 stages", fns)
	}
	for _, f := range fns {
		info, _ := s.Function(f)
		env := info.Config.Environment.Variables
		if env[platform.EnvOutputBucket] != bucket || !strings.HasSuffix(env[platform.EnvOutputPrefix], "/") ||
			info.Tags[platform.TagStudy] != "conformance" {
			t.Errorf("function %s: environment %v, tags %v", f, env, info.Tags)
		}
	}
	policies := s.RolePolicies(aws.RoleName("conformance"))
	if len(policies) != 1 {
		t.Fatalf("role policies %v, want the chain's", policies)
	}
	for _, doc := range policies {
		if !strings.Contains(doc, "arn:aws:s3:::"+bucket+"/0-input/*") || !strings.Contains(doc, "arn:aws:s3:::"+bucket+"/3-c/*") ||
			strings.Contains(doc, "/3-c/*\"],\"Effect\":\"Allow\",\"Action\":\"s3:GetObject") {
			t.Errorf("role policy %s", doc)
		}
	}

	// Whole runs: the first cold, the second warm.
	for i, name := range []string{"c1-0001.txt", "c1-0002.txt"} {
		run := chainRun(t, d, name, "hello "+name, 2*time.Minute)
		if run.TimedOut || len(run.Stages) != 3 {
			t.Fatalf("run %s: %s", name, summary(run))
		}
		last := run.Uploaded
		for j, st := range run.Stages {
			inv := st.Invocation
			if inv.Status != platform.StatusOK || st.Output == nil || inv.RequestID == "" || inv.BilledDuration <= 0 ||
				inv.Duration <= 0 || inv.MaxMemoryUsedMB <= 0 || inv.ContainerID == "" || inv.Cold != (i == 0) {
				t.Errorf("run %s stage %d: %+v, output %v", name, j, inv, st.Output)
				continue
			}
			stem := strings.TrimSuffix(name, ".txt")
			if want := c.Prefixes[j+1] + stem + ".s" + string(rune('0'+j)); st.Output.Key != want {
				t.Errorf("run %s stage %d wrote %s, want %s", name, j, st.Output.Key, want)
			}
			if st.Output.Modified.Before(last) || inv.Start.Before(last.Add(-time.Second)) {
				t.Errorf("run %s stage %d: started %v, output at %v, after %v", name, j, inv.Start, st.Output.Modified, last)
			}
			last = st.Output.Modified
		}
		if len(run.Stages) == 3 && run.Stages[2].Output != nil {
			got, err := d.Get(ctx, run.Stages[2].Output.Key)
			if want := "hello " + name + "|0|1|2"; err != nil || string(got) != want {
				t.Errorf("final object %q, %v; want %q", got, err, want)
			}
		}
	}

	// A failing stage ends the run with its error.
	run := chainRun(t, d, "c1-0003.txt", "fail at 1", 2*time.Minute)
	if run.TimedOut || len(run.Stages) != 2 || run.Stages[1].Invocation.Status != platform.StatusError ||
		run.Stages[1].Output != nil || !strings.Contains(run.Stages[1].Invocation.ErrorMessage, "told to fail at stage 1") ||
		run.Stages[1].Invocation.ErrorType != "ValueError" {
		t.Errorf("a failing stage 1: %s", summary(run))
	}
	// A stage that writes nothing ends it too.
	run = chainRun(t, d, "c1-0004.txt", "nothing at 0", 2*time.Minute)
	if run.TimedOut || len(run.Stages) != 1 || run.Stages[0].Invocation.Status != platform.StatusOK || run.Stages[0].Output != nil {
		t.Errorf("stage 0 writing nothing: %s", summary(run))
	}
	// A run past its timeout.
	run = chainRun(t, d, "c1-0005.txt", "sleep at 1", 3*time.Second)
	if !run.TimedOut || len(run.Stages) > 2 || len(run.Stages) == 2 && run.Stages[1].Output != nil {
		t.Errorf("a run past its timeout: %s", summary(run))
	}
	// Asynchronous invocations are not retried, and every one was the
	// fake's: nothing was lost.
	for _, f := range fns {
		for _, inv := range s.Invocations(f) {
			if inv.Attempt > 1 {
				t.Errorf("%s: invocation %s attempted %d times", f, inv.RequestID, inv.Attempt)
			}
		}
	}

	// Close leaves nothing, twice.
	for range 2 {
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	closed = true
	if _, err := d.Get(ctx, "0-input/c1-0001.txt"); err == nil {
		t.Errorf("Get after Close succeeded")
	}
	s.WaitIdle(ctx)
	if b, f, g, pol := s.Buckets(), s.Functions(), s.LogGroups(), s.RolePolicies(aws.RoleName("conformance")); len(b)+len(f)+len(g)+len(pol) > 0 {
		t.Errorf("Close left buckets %v, functions %v, log groups %v, role policies %v", b, f, g, pol)
		for _, x := range g {
			t.Logf("%s: %q", x, s.LogEvents(x))
		}
	}
}

// TestChainRefused checks that chains S3 could not notify, or that would
// loop, are refused before anything is created.
func TestChainRefused(t *testing.T) {
	s := lambdafake.Start(t, lambdafake.Options{})
	p := open(t, nil)
	c := testChain(t, 2, "conformance", "r1")
	c.Prefixes = []string{"in/", "in/1/", "out/"}
	if _, err := p.DeployChain(context.Background(), c); err == nil || !strings.Contains(err.Error(), "trigger prefix") {
		t.Errorf("overlapping prefixes: %v", err)
	}
	c.Prefixes = c.Prefixes[:2]
	if _, err := p.DeployChain(context.Background(), c); err == nil {
		t.Errorf("too few prefixes: deployed")
	}
	if len(s.Buckets())+len(s.Functions()) > 0 {
		t.Errorf("refused chains created %v %v", s.Buckets(), s.Functions())
	}
}

// TestChainDeployFailure checks that a chain whose deployment fails half
// way deletes what it created.
func TestChainDeployFailure(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	p := open(t, func(o *aws.Options) { o.Attempts = 2 })
	s.Inject(lambdafake.Fault{Op: "PutBucketNotificationConfiguration", Kind: lambdafake.AccessDenied})
	if _, err := p.DeployChain(context.Background(), testChain(t, 2, "conformance", "r1")); err == nil {
		t.Fatal("deployed despite the refused notifications")
	}
	if b, f := s.Buckets(), s.Functions(); len(b)+len(f) > 0 {
		t.Errorf("a failed deployment left buckets %v, functions %v", b, f)
	}
}

// TestDestroyChain "kills" a run with a chain (never closes it) and
// checks that Destroy finds its bucket by tag and deletes it with its
// objects and role policy, and the functions with their log groups, and
// leaves another study's chain alone.
func TestDestroyChain(t *testing.T) {
	needBoto3(t)
	s := lambdafake.Start(t, lambdafake.Options{InitTimeout: time.Minute})
	ctx := context.Background()
	pa := open(t, func(o *aws.Options) { o.Config.Study, o.Config.Role = "alpha", aws.RoleCreate })
	pb := open(t, func(o *aws.Options) { o.Config.Study = "beta" })
	da, err := pa.DeployChain(ctx, testChain(t, 2, "alpha", "killed"))
	if err != nil {
		t.Fatal(err)
	}
	if run := chainRun(t, da, "c1-0001.txt", "x", 2*time.Minute); len(run.Stages) != 2 || run.Stages[1].Output == nil {
		t.Fatalf("run: %s", summary(run))
	}
	db, err := pb.DeployChain(ctx, testChain(t, 1, "beta", "r1"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if len(s.Buckets()) != 2 || len(s.LogGroups()) != 2 {
		t.Fatalf("buckets %v, log groups %v", s.Buckets(), s.LogGroups())
	}
	cfg := platform.Config{Name: "aws", Kind: aws.Kind, Region: lambdafake.Region, Role: aws.RoleCreate, Study: "alpha"}
	done, err := aws.Destroy(ctx, cfg, "killed")
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Buckets) != 1 || len(done.Functions) != 2 || len(done.LogGroups) != 2 {
		t.Errorf("destroy: %+v", done)
	}
	if b := s.Buckets(); len(b) != 1 || s.BucketTags(b[0])[platform.TagStudy] != "beta" {
		t.Errorf("buckets left %v, want beta's", b)
	}
	if g := s.LogGroups(); len(g) != 0 {
		t.Errorf("log groups left %v", g)
	}
	if pol := s.RolePolicies(aws.RoleName("alpha")); len(pol) != 0 {
		t.Errorf("role policies left %v", pol)
	}
	if len(s.Functions()) != 1 {
		t.Errorf("functions left %v, want beta's stage", s.Functions())
	}
}

// TestChainConformance runs the Chainer conformance suite against the
// aws platform on the fake: S3 notifications deliver the events.
func TestChainConformance(t *testing.T) {
	needBoto3(t)
	s := lambdafake.Start(t, lambdafake.Options{InitTimeout: time.Minute})
	t.Run("suite", func(t *testing.T) {
		platformtest.RunChain(t, func(t *testing.T) platform.Chainer { return open(t, nil) })
	})
	s.WaitIdle(context.Background())
	if b, f, g := s.Buckets(), s.Functions(), s.LogGroups(); len(b)+len(f)+len(g) > 0 {
		t.Errorf("the suite left buckets %v, functions %v, log groups %v", b, f, g)
	}
}

// TestChainFaults runs a chain through throttled S3 and CloudWatch Logs
// calls, a stage's event delivered twice (S3 delivers at least once) and
// one delivered late, and checks that each run still gets one invocation
// per stage; and that closing the platform deletes a chain left open.
func TestChainFaults(t *testing.T) {
	needBoto3(t)
	s := lambdafake.Start(t, lambdafake.Options{InitTimeout: time.Minute, LogDelay: 500 * time.Millisecond})
	p := open(t, nil)
	ctx := context.Background()
	d, err := p.DeployChain(ctx, testChain(t, 2, "conformance", "r1"))
	if err != nil {
		t.Fatal(err)
	}
	run := chainRun(t, d, "c1-0001.txt", "warm up", 2*time.Minute)
	if len(run.Stages) != 2 || run.Stages[1].Output == nil {
		t.Fatalf("run: %s", summary(run))
	}
	fns := s.Functions()
	for _, f := range []lambdafake.Fault{
		{Op: "PutObject", Kind: lambdafake.Throttle},
		{Op: "ListObjectsV2", Kind: lambdafake.ServerError},
		{Op: "FilterLogEvents", Kind: lambdafake.Throttle, Times: 2},
		{Op: "S3Event", Function: fns[0], Kind: lambdafake.DuplicateEvent},
		{Op: "S3Event", Function: fns[1], Kind: lambdafake.DelayEvent, Delay: 2 * time.Second},
	} {
		s.Inject(f)
	}
	run = chainRun(t, d, "c1-0002.txt", "faults", 2*time.Minute)
	if run.TimedOut || len(run.Stages) != 2 {
		t.Fatalf("run through faults: %s", summary(run))
	}
	for i, st := range run.Stages {
		if st.Invocation.Status != platform.StatusOK || st.Output == nil || st.Invocation.Cold {
			t.Errorf("stage %d: %+v, output %v", i, st.Invocation, st.Output)
		}
	}
	if run.Stages[0].Invocation.RequestID == "" || run.Stages[0].Invocation.RequestID == run.Stages[1].Invocation.RequestID {
		t.Errorf("request ids %q, %q", run.Stages[0].Invocation.RequestID, run.Stages[1].Invocation.RequestID)
	}
	// The platform closes the chain left open.
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s.WaitIdle(ctx)
	if b, f, g := s.Buckets(), s.Functions(), s.LogGroups(); len(b)+len(f)+len(g) > 0 {
		t.Errorf("closing the platform left buckets %v, functions %v, log groups %v", b, f, g)
	}
}

// TestChainPolicyPending checks that a stage denied access to the bucket
// just after faaslab put the role's policy (IAM applies it within
// seconds) makes the run run again, and the run's result is the second
// attempt's.
func TestChainPolicyPending(t *testing.T) {
	needBoto3(t)
	s := lambdafake.Start(t, lambdafake.Options{InitTimeout: time.Minute})
	p := open(t, func(o *aws.Options) { o.Config.Role = aws.RoleCreate })
	ctx := context.Background()
	d, err := p.DeployChain(ctx, testChain(t, 1, "conformance", "r1"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	s.Inject(lambdafake.Fault{Op: "GetObject", Kind: lambdafake.AccessDenied})
	run := chainRun(t, d, "c1-0001.txt", "x", 2*time.Minute)
	if run.TimedOut || len(run.Stages) != 1 || run.Stages[0].Invocation.Status != platform.StatusOK || run.Stages[0].Output == nil {
		t.Fatalf("run: %s", summary(run))
	}
	if n := len(s.Invocations(s.Functions()[0])); n != 2 {
		t.Errorf("%d invocations of the stage, want the denied one and the second attempt", n)
	}
}
