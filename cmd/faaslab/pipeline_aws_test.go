package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/fake"
)

// TestPipelineOnAWS runs experiments/tcss562-pipeline.cue on the aws
// platform (x86_64, two runs per pipeline) against the fake Lambda
// server with its S3, as a user would against LocalStack: a bucket per
// pipeline cell whose notifications invoke the stages, their figures from
// the REPORT lines in their logs. The tables hold a row per stage
// invocation with Lambda's billed duration and a row per pipeline run end
// to end (its final object checked against the reference pipeline's),
// and the run leaves no bucket, function, log group or role
// policy behind; destroy deletes the role.
func TestPipelineOnAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline study")
	}
	if err := exec.Command(debianPython, "-c", "import PIL, boto3, numpy").Run(); err != nil {
		t.Skipf("%s lacks Pillow, boto3 or numpy (scripts/install-deps installs them): %v", debianPython, err)
	}
	s := lambdafake.Start(t, lambdafake.Options{Python: debianPython, InitTimeout: 2 * time.Minute})
	// Not under /tmp: the fake platforms map /tmp to each environment's
	// own.
	dir, err := os.MkdirTemp("/var/tmp", "faaslab-pipeline-aws-")
	if err != nil {
		t.Skip("no /var/tmp:", err)
	}
	if os.Getenv("FAASLAB_KEEP") == "" {
		t.Cleanup(func() { os.RemoveAll(dir) })
	} else {
		t.Log("kept", dir)
	}
	copyExperiments(t, dir)
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	saved := platforms.open
	platforms.open = func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		if cfg.Kind != "local" {
			return platform.Open(ctx, cfg)
		}
		return fake.New(fake.Options{Python: debianPython, Refuse: refuseMetrics, InitTimeout: 2 * time.Minute})
	}
	defer func() { platforms.open = saved }()
	study := filepath.Join(dir, "tcss562-pipeline.cue")
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := c.run("run", study, "-t", "platform=aws", "-t", "arch=x86_64", "-t", "runs=2", "--out", out, "--quiet"); code != exitOK {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	tables, _ := filepath.Glob(filepath.Join(out, "tcss562-pipeline", "*", "tables"))
	if len(tables) != 1 {
		t.Fatalf("%d table directories, want 1", len(tables))
	}
	stages := readTable(t, filepath.Join(tables[0], "stages.csv"))
	pipes := readTable(t, filepath.Join(tables[0], "pipelines.csv"))
	// Two measured models and the mix × (1 warm-up + 2 runs) × 5 stages.
	if len(stages.rows) != 45 || len(pipes.rows) != 9 {
		t.Errorf("%d stage rows and %d pipeline rows, want 45 and 9", len(stages.rows), len(pipes.rows))
	}
	for _, r := range stages.rows {
		if stages.get(r, "platform") != "aws" || stages.get(r, "status") != "ok" || stages.get(r, "billed_ms") == "" ||
			stages.get(r, "billed_estimate_ms") != "" || stages.get(r, "max_memory_used_mb") == "" {
			t.Errorf("stage row: platform %s status %s billed %q (estimate %q) max memory %q", stages.get(r, "platform"),
				stages.get(r, "status"), stages.get(r, "billed_ms"), stages.get(r, "billed_estimate_ms"), stages.get(r, "max_memory_used_mb"))
		}
		if stages.get(r, "seq") == "0" && stages.get(r, "cold") != "true" {
			t.Errorf("first run's stage %s: warm", stages.get(r, "stage"))
		}
	}
	for _, r := range pipes.rows {
		if pipes.get(r, "status") != "ok" || pipes.get(r, "end_to_end_ms") == "" || pipes.get(r, "end_to_end_class") != "OK" {
			t.Errorf("pipeline row: status %s end to end %q %s", pipes.get(r, "status"), pipes.get(r, "end_to_end_ms"), pipes.get(r, "end_to_end_class"))
		}
	}
	s.WaitIdle(context.Background())
	if b, f, g := s.Buckets(), s.Functions(), s.LogGroups(); len(b)+len(f)+len(g) > 0 {
		t.Errorf("the run left buckets %v, functions %v, log groups %v", b, f, g)
	}
	if pol := s.RolePolicies(aws.RoleName("tcss562-pipeline")); len(pol) > 0 {
		t.Errorf("the run left role policies %v", pol)
	}
	stdout := c.mustRun("destroy", study, "-t", "platform=aws")
	if len(s.Roles()) > 0 || !strings.Contains(stdout, "deleted role") {
		t.Errorf("destroy left roles %v; reported:\n%s", s.Roles(), stdout)
	}
}
