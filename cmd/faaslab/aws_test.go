package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/fake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestQuickstartOnAWS runs experiments/quickstart.cue on the aws platform
// end to end against the fake Lambda server, as a user would against
// LocalStack: AWS_ENDPOINT_URL and fake credentials, nothing else. The
// invocations table names the aws platform with Lambda's billed duration
// and request ids, the run deletes its functions, destroy deletes what a
// killed run left behind (and the role the study let faaslab create), and
// no file the run wrote holds a credential.
func TestQuickstartOnAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart")
	}
	// The quickstart's thumbnail task imports PIL: its checks (on the
	// fake local platform) and its functions (on the fake Lambda) run
	// with a Python that has it.
	python := ""
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import PIL").Run() == nil {
			python = py
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with PIL (Debian's python3-pil) for the quickstart")
	}
	open := func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		if cfg.Kind != "local" {
			return platform.Open(ctx, cfg)
		}
		return fake.New(fake.Options{Python: python, Refuse: refuseMetrics})
	}
	s := lambdafake.Start(t, lambdafake.Options{Python: python})
	study, err := filepath.Abs("../../experiments/quickstart.cue")
	if err != nil {
		t.Fatal(err)
	}
	// Not under /tmp: the fake platforms map /tmp to each environment's
	// own, which would hide the run's files from the functions.
	out, err := os.MkdirTemp("/var/tmp", "faaslab-quickstart-aws-")
	if err != nil {
		t.Skip("no /var/tmp:", err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	faaslab := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		st := &State{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Cwd: out,
			HostArch: platform.HostArch(), OpenPlatform: open, CanOpen: platforms.canOpen}
		if code := run(context.Background(), st, args); code != exitOK {
			logs, _ := filepath.Glob(filepath.Join(out, "*", "*", "log.jsonl"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				for _, line := range strings.Split(string(data), "\n") {
					if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
						t.Log(line)
					}
				}
			}
			t.Fatalf("faaslab %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, &stdout, &stderr)
		}
		return stdout.String()
	}
	faaslab("run", study, "-t", "platform=aws", "--out", out, "--quiet")

	tables, _ := filepath.Glob(filepath.Join(out, "quickstart", "*", "tables", "invocations.csv"))
	if len(tables) != 1 {
		t.Fatalf("invocations tables %v, want one", tables)
	}
	f, err := os.Open(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(records) < 2 {
		t.Fatalf("invocations.csv: %d records, %v", len(records), err)
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	ok := 0
	runID := records[1][col["run_id"]]
	for _, tags := range s.CreatedTags() {
		if tags[platform.TagStudy] != "quickstart" || tags[platform.TagRun] != runID || tags[platform.TagCell] == "" {
			t.Errorf("a function of the run was tagged %v, want study quickstart, run %s and its cell", tags, runID)
		}
	}
	for _, r := range records[1:] {
		if r[col["platform"]] != "aws" {
			t.Errorf("invocation on platform %q, want aws", r[col["platform"]])
		}
		if r[col["status"]] != "ok" {
			continue
		}
		ok++
		if r[col["billed_ms"]] == "" || r[col["billed_estimate_ms"]] != "" || r[col["request_id"]] == "" ||
			r[col["max_memory_used_mb"]] == "" || r[col["cpu_model"]] == "" {
			t.Errorf("invocation without Lambda's figures: billed %q (estimate %q), request %q, max memory %q, cpu %q",
				r[col["billed_ms"]], r[col["billed_estimate_ms"]], r[col["request_id"]], r[col["max_memory_used_mb"]], r[col["cpu_model"]])
		}
		if r[col["seq"]] == "0" && (r[col["cold"]] != "true" || r[col["init_ms"]] == "") {
			t.Errorf("first call of a cell: cold %q init %q, want a cold start with Lambda's init", r[col["cold"]], r[col["init_ms"]])
		}
	}
	if ok < 100 {
		t.Errorf("%d successful invocations on aws, want the quickstart's measured cells", ok)
	}
	if left := s.Functions(); len(left) > 0 {
		t.Errorf("the run left functions behind: %v", left)
	}
	if roles := s.Roles(); len(roles) != 1 || roles[0] != aws.RoleName("quickstart") {
		t.Errorf("roles %v, want the created %s", roles, aws.RoleName("quickstart"))
	}

	// A killed run leaves its functions; destroy finds them by tag.
	p, err := platform.Open(context.Background(), platform.Config{Name: "aws", Kind: aws.Kind, Region: lambdafake.Region,
		Role: aws.RoleCreate, Study: "quickstart"})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"killed", "other"} {
		fn := platformtest.Function(t, "def handler(event, context):\n    return 1\n", func(fn *platform.Function) {
			fn.Tags = map[string]string{platform.TagStudy: "quickstart", platform.TagRun: run, platform.TagCell: "c"}
		})
		if _, err := p.Deploy(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}
	report := faaslab("destroy", study, "-t", "platform=aws", "--run", "killed")
	if left := s.Functions(); len(left) != 1 || len(s.Roles()) != 1 || !strings.Contains(report, "platform aws: 1 functions deleted") {
		t.Errorf("destroy --run killed: left %v and roles %v; reported:\n%s", left, s.Roles(), report)
	}
	report = faaslab("destroy", study, "-t", "platform=aws")
	if left := s.Functions(); len(left) > 0 {
		t.Errorf("destroy left functions: %v", left)
	}
	if len(s.Roles()) > 0 {
		t.Errorf("destroy left the role: %v", s.Roles())
	}
	if !strings.Contains(report, "deleted function faaslab-") || !strings.Contains(report, "deleted role faaslab-quickstart") {
		t.Errorf("destroy reported:\n%s", report)
	}

	// No credential in anything the run wrote.
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, secret := range []string{lambdafake.SecretAccessKey, lambdafake.AccessKeyID} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a credential", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
