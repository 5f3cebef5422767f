package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/faaslab/faaslab/report/reporttest"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/fake"
)

// TestMain runs faaslab as the command of testscript's scripts. In this
// test binary only, the local kind opens the fake platform
// (runner/platform/fake): the scripts test the command line on any
// machine, without bubblewrap or root. Every other kind goes to the
// registry as in a production build: "aws" reaches whatever endpoint the
// AWS SDK's environment names, which in these tests is always a fake on
// the loopback interface (see awsSafeEnv).
func TestMain(m *testing.M) {
	platforms.open = func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		if cfg.Kind != "local" {
			return platform.Open(ctx, cfg)
		}
		return fake.New(fake.Options{Refuse: refuseMetrics})
	}
	platforms.canOpen = func(kind string) bool { return kind == "local" || platform.Registered(kind) }
	testscript.Main(m, map[string]func(){"faaslab": main})
}

// refuseMetrics keeps the checker's radon and pylint off the host: they
// import the code they analyse, which only a sandbox may run. The static
// metrics of the scripts' runs are therefore null, with this reason.
func refuseMetrics(fn platform.Function, event []byte) string {
	if strings.HasPrefix(fn.Handler, "faaslab_check.") && bytes.Contains(event, []byte(`"op":"metrics"`)) {
		return "the fake platform does not run radon or pylint"
	}
	return ""
}

// TestScripts runs testdata/script/*.txtar. Each script starts with the
// files of testdata/fixture (prompts, references, code) and the base study
// testdata/base/study.cue in its work directory; a script changes the
// study with the edit command (see editStudy) or writes its own.
// FAASLAB_UPDATE=1 rewrites the golden outputs in the scripts.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("FAASLAB_UPDATE") == "1",
		Setup: func(env *testscript.Env) error {
			for k, v := range awsSafeEnv(env.WorkDir) {
				env.Setenv(k, v)
			}
			return setupWorkDir(env.WorkDir)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"edit":    editStudy,
			"waitfor": waitFor,
			"tables":  writeTables,
		},
	})
}

// awsSafeEnv is the environment of every script: the AWS SDK finds no
// credentials and no configuration of the host's, never asks the
// instance metadata service, and would send anything it sent to a closed
// port on the loopback interface. A script that runs on the aws platform
// points AWS_ENDPOINT_URL at a fake of its own.
func awsSafeEnv(dir string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:9",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, ".no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, ".no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// setupWorkDir copies testdata/fixture and testdata/base into dir, keeping
// the files a script brings itself (a script may replace the base study
// with its own study.cue).
func setupWorkDir(dir string) error {
	for _, from := range []string{"fixture", "base"} {
		root := filepath.Join("testdata", from)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			to := filepath.Join(dir, rel)
			if d.IsDir() {
				return os.MkdirAll(to, 0o755)
			}
			if _, err := os.Stat(to); err == nil {
				return nil // the script's own
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, 0o644)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// editStudy is the script command `edit FILE OLD NEW [OLD NEW]...`: it
// replaces the one occurrence of each OLD in FILE with NEW, where \n and
// \t in either stand for a newline and a tab. An OLD that is missing or
// occurs twice fails the script, so an overlay cannot silently stop
// applying when the base study changes. An empty NEW deletes OLD.
func editStudy(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! edit")
	}
	if len(args) < 3 || len(args)%2 != 1 {
		ts.Fatalf("usage: edit FILE OLD NEW [OLD NEW]...")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	text := string(data)
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace
	for i := 1; i < len(args); i += 2 {
		old, new := unescape(args[i]), unescape(args[i+1])
		if n := strings.Count(text, old); n != 1 {
			ts.Fatalf("edit %s: %q occurs %d times, want once", args[0], old, n)
		}
		text = strings.Replace(text, old, new, 1)
	}
	ts.Check(os.WriteFile(path, []byte(text), 0o644))
}

// writeTables is the script command `tables DIR RUN [b]`: it writes the
// made-up run RUN of package reporttest (its second variant with b) as a
// run directory DIR with Parquet tables, for report and compare.
func writeTables(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: tables DIR RUN [b]")
	}
	r := reporttest.Run{ID: args[1], B: len(args) == 3 && args[2] == "b"}
	_, err := reporttest.Write(context.Background(), ts.MkAbs(args[0]), r)
	ts.Check(err)
}

// waitFor is the script command `waitfor GLOB TEXT`: it waits until a file
// matching GLOB contains TEXT, for at most a minute (the machine may be
// loaded; the wait ends as soon as the text is there). `! waitfor` checks
// at once that no such file has the text.
func waitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfor GLOB TEXT")
	}
	found := func() bool {
		paths, _ := filepath.Glob(ts.MkAbs(args[0]))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), args[1]) {
				return true
			}
		}
		return false
	}
	if neg {
		if found() {
			ts.Fatalf("a file matching %s contains %q", args[0], args[1])
		}
		return
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if found() {
			return
		}
	}
	ts.Fatalf("waitfor %s: no %q after a minute", args[0], args[1])
}

// TestExitCodes checks the exit code of each kind of failure, which the
// scripts cannot see.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	if err := setupWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the study's path is relative to the process's directory
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"plan", []string{"plan", "study.cue"}, exitOK},
		{"bad tag", []string{"plan", "study.cue", "-t", "platform=gcp"}, exitBadStudy},
		{"export before run", []string{"export", "study.cue", "--out", "out"}, exitFailure},
		{"missing study", []string{"run", "nothere.cue"}, exitFailure},
		{"parallel on export", []string{"export", "study.cue", "--parallel", "2"}, exitFailure},
		{"quiet on plan", []string{"plan", "study.cue", "--quiet"}, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			st := &State{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Cwd: dir,
				HostArch: platform.HostArch(), OpenPlatform: platforms.open, CanOpen: platforms.canOpen}
			if got := run(context.Background(), st, tc.args); got != tc.want {
				t.Errorf("faaslab %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), got, tc.want, &stdout, &stderr)
			}
		})
	}
}

// TestFakeNotInProductionBuild checks that the fake platform is not linked
// into faaslab: no study can select it outside tests.
func TestFakeNotInProductionBuild(t *testing.T) {
	out, err := goList(t, "-deps", ".")
	if err != nil {
		t.Skip("go list:", err)
	}
	if strings.Contains(out, "runner/platform/fake") {
		t.Errorf("cmd/faaslab depends on the fake platform:\n%s", out)
	}
}

func goList(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Stdout = &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go list: %w", err)
	}
	return buf.String(), nil
}
