package main

import (
	"context"
	"encoding/csv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/fake"
)

// debianPython is the interpreter with Debian's python3-pil and
// python3-boto3, which the pipeline's stages import.
const debianPython = "/usr/bin/python3"

// TestPipelineStudy runs experiments/tcss562-pipeline.cue (two runs per
// pipeline) on the fake platform, whose functions reach their objects
// through the S3 REST API with boto3, as on the local platform, and reads
// the tables back: a row per stage invocation for all five stages, a row
// per pipeline run, the defective stand-in's rotate stage FD and its
// pipeline not measured, the mix measured on its models' stages, and
// every run's end-to-end check OK.
func TestPipelineStudy(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import PIL, boto3, numpy").Run(); err != nil {
		t.Skipf("%s lacks Pillow, boto3 or numpy (scripts/install-deps installs them): %v", debianPython, err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("FAASLAB_KEEP"); keep != "" {
		dir = keep
	}
	copyExperiments(t, dir)
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	open := func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		if cfg.Kind != "local" {
			return platform.Open(ctx, cfg)
		}
		// Starting Python with boto3 and Pillow on a loaded host can pass
		// Lambda's 10 s init limit: the test is of pipelines, not of speed.
		return fake.New(fake.Options{Python: debianPython, Refuse: refuseMetrics, InitTimeout: 2 * time.Minute})
	}
	saved := platforms.open
	platforms.open = open
	defer func() { platforms.open = saved }()
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := c.run("run", filepath.Join(dir, "tcss562-pipeline.cue"), "-t", "runs=2", "--out", out); code != exitOK {
		logs, _ := filepath.Glob(filepath.Join(out, "*", "*", "log.jsonl"))
		var failures []string
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"unit failed"`) {
					failures = append(failures, line)
				}
			}
		}
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s\nfailures:\n%s", code, stdout, stderr, strings.Join(failures, "\n"))
	}

	tables, _ := filepath.Glob(filepath.Join(out, "tcss562-pipeline", "*", "tables"))
	if len(tables) != 1 {
		t.Fatalf("%d table directories, want 1\n%s", len(tables), c.output.String())
	}
	stages := readTable(t, filepath.Join(tables[0], "stages.csv"))
	pipes := readTable(t, filepath.Join(tables[0], "pipelines.csv"))
	cells := readTable(t, filepath.Join(tables[0], "pipeline_cells.csv"))
	checks := readTable(t, filepath.Join(tables[0], "checks.csv"))

	// Two measured models and the mix × (1 warm-up + 2 runs) × 5 stages.
	perStage := map[string]int{}
	mixed := map[string]string{"greyscale": "deepseek-v2.5", "resize": "gemini-2.5-pro", "depth": "gpt-5-thinking",
		"rotate": "gemini-2.5-pro", "convert": "deepseek-v2.5"}
	for _, r := range stages.rows {
		if stages.get(r, "status") != "ok" {
			t.Errorf("stage row %v: status %s", r, stages.get(r, "status"))
		}
		model, stage := stages.get(r, "model"), stages.get(r, "stage")
		perStage[model+"/"+stage]++
		want := model
		if model == "mixed-fast" {
			want = mixed[stage]
		}
		if got := stages.get(r, "stage_model"); got != want {
			t.Errorf("%s/%s: stage_model %s, want %s", model, stage, got, want)
		}
	}
	for _, m := range []string{"gpt-5-thinking", "gemini-2.5-pro", "mixed-fast"} {
		for _, st := range []string{"greyscale", "resize", "depth", "rotate", "convert"} {
			if n := perStage[m+"/"+st]; n != 3 {
				t.Errorf("%s/%s: %d stage rows, want 3", m, st, n)
			}
		}
	}
	if len(stages.rows) != 45 || len(pipes.rows) != 9 {
		t.Errorf("%d stage rows and %d pipeline rows, want 45 and 9", len(stages.rows), len(pipes.rows))
	}
	for _, r := range pipes.rows {
		if pipes.get(r, "status") != "ok" || pipes.get(r, "end_to_end_ms") == "" || pipes.get(r, "cost_usd") == "" ||
			pipes.get(r, "end_to_end_class") != "OK" {
			t.Errorf("pipeline row %v", r)
		}
	}
	// The defective rotate stage is FD on the reference pipeline's object:
	// the stages before it are OK, and its pipeline is not measured.
	for _, r := range checks.rows {
		task, class := checks.get(r, "task"), checks.get(r, "class")
		want := "OK"
		if checks.get(r, "generation_id") != "" && strings.HasPrefix(task, "images/rotate") && isDeepseek(checks, r) {
			want = "FD"
		}
		if class != want {
			t.Errorf("check %s %s %s: %s (%s), want %s", checks.get(r, "model"), task, checks.get(r, "test"), class, checks.get(r, "detail"), want)
		}
	}
	for _, r := range cells.rows {
		if cells.get(r, "stage") != "end_to_end" {
			continue
		}
		want, n := "OK", "2"
		if cells.get(r, "model") == "deepseek-v2.5" {
			want, n = "FD", "0"
		}
		if cells.get(r, "class") != want || cells.get(r, "n") != n {
			t.Errorf("end to end of %s: class %s n %s (%s), want %s, %s", cells.get(r, "model"), cells.get(r, "class"), cells.get(r, "n"), cells.get(r, "detail"), want, n)
		}
		if want == "OK" && (cells.get(r, "workload_usd") == "" || cells.get(r, "workload_unit") != "images") {
			t.Errorf("end to end of %s: no workload cost", cells.get(r, "model"))
		}
	}
}

func isDeepseek(tb table, r []string) bool { return tb.get(r, "model") == "deepseek-v2.5" }

// table is a CSV file read whole.
type table struct {
	header []string
	rows   [][]string
}

func (tb table) get(row []string, col string) string {
	i := slices.Index(tb.header, col)
	if i < 0 {
		panic("no column " + col)
	}
	return row[i]
}

func readTable(t *testing.T, path string) table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return table{header: recs[0], rows: recs[1:]}
}

// copyExperiments copies the pipeline study and the files it names into dir.
func copyExperiments(t *testing.T, dir string) {
	t.Helper()
	root := "../../experiments"
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if !strings.Contains(rel, "tcss562") && rel != "prompts/system.md" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPipelineComparisonFails: when a run's end-to-end comparison cannot
// be made (here the check platform refuses every image comparison once
// the stages are checked), the measured run is kept in the tables with no
// verdict and the reason, and its cell ends there.
func TestPipelineComparisonFails(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import PIL, boto3, numpy").Run(); err != nil {
		t.Skipf("%s lacks Pillow, boto3 or numpy (scripts/install-deps installs them): %v", debianPython, err)
	}
	dir := t.TempDir()
	copyExperiments(t, dir)
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	refuse := refuseMetrics
	saved := platforms.open
	platforms.open = func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		if cfg.Kind != "local" {
			return platform.Open(ctx, cfg)
		}
		return fake.New(fake.Options{Python: debianPython, InitTimeout: 2 * time.Minute,
			Refuse: func(fn platform.Function, event []byte) string { return refuse(fn, event) }})
	}
	defer func() { platforms.open = saved }()
	study, out := filepath.Join(dir, "tcss562-pipeline.cue"), filepath.Join(dir, "out")
	if code, stdout, stderr := c.run("check", study, "-t", "runs=1", "--out", out); code != exitOK {
		t.Fatalf("check: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	refuse = func(fn platform.Function, event []byte) string {
		if strings.HasPrefix(fn.Handler, "faaslab_check.") && strings.Contains(string(event), `"op":"image"`) {
			return "the test refuses image comparisons"
		}
		return refuseMetrics(fn, event)
	}
	c.run("run", study, "-t", "runs=1", "--out", out)
	tables, _ := filepath.Glob(filepath.Join(out, "tcss562-pipeline", "*", "tables"))
	if len(tables) != 1 {
		t.Fatalf("%d table directories, want 1\n%s", len(tables), c.output.String())
	}
	pipes := readTable(t, filepath.Join(tables[0], "pipelines.csv"))
	unchecked := 0
	for _, r := range pipes.rows {
		class, detail := pipes.get(r, "end_to_end_class"), pipes.get(r, "end_to_end_detail")
		if class == "" && pipes.get(r, "status") == "ok" {
			unchecked++
			if !strings.Contains(detail, "end-to-end check") || pipes.get(r, "end_to_end_ms") == "" {
				t.Errorf("unchecked run %v: detail %q, want the reason and its measurements", r, detail)
			}
		}
	}
	if unchecked == 0 {
		t.Fatalf("no run kept without a verdict; pipelines:\n%v", pipes.rows)
	}
}
